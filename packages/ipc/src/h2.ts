// HTTP/2 (RFC 9113) and gRPC-over-HTTP/2, the parts the lean gRPC client (./client.ts) and server (./server.ts)
// share: frame types and flags, the connection preface, frame and gRPC-message encoding; one connection's frame
// reader (SETTINGS, PING, WINDOW_UPDATE, HEADERS + CONTINUATION, DATA with the receive window kept open) and its
// flow-controlled sending; the grpc-status, grpc-message and grpc-timeout fields.
import type { Socket } from 'node:net';
import { encodeHeaders, HpackDecoder } from './hpack.js';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY_FLAG = 0x20;
export const SETTINGS_ENABLE_PUSH = 0x2;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;
/** error codes (RFC 9113 §7) */
export const ERR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, FLOW_CONTROL_ERROR: 3, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9 } as const;
/** what one side lets the other send before it says more: per stream (SETTINGS) and per connection (WINDOW_UPDATE) */
export const RECV_WINDOW = 1 << 24;
/** largest frame we accept (neither side advertises one, so the protocol's default) */
const MAX_FRAME = 16384;
/** a header block in more pieces than this is refused */
const MAX_CONTINUATIONS = 64;

const EMPTY = Buffer.alloc(0);

export function frame(type: number, flags: number, stream: number, payload: Uint8Array = EMPTY): Buffer {
  const b = Buffer.allocUnsafe(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream & 0x7fffffff, 5);
  b.set(payload, 9);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/** A gRPC length-prefixed message, not compressed. */
export function grpcFrame(msg: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(5 + msg.length);
  b[0] = 0;
  b.writeUInt32BE(msg.length, 1);
  b.set(msg, 5);
  return b;
}

/** The one message of a unary call's body, or why there is none. */
export function grpcMessage(body: Buffer): Buffer | string {
  if (body.length < 5) return 'no message';
  if (body[0] !== 0) return 'compressed messages are not supported';
  const len = body.readUInt32BE(1);
  if (len !== body.length - 5) return 'bad message framing (one message expected)';
  return body.subarray(5);
}

/** grpc-message: UTF-8, bytes outside printable ASCII and '%' percent-encoded (gRPC over HTTP/2 spec). */
export function percentEncode(s: string): string {
  let out = '';
  for (const x of Buffer.from(s, 'utf8')) {
    out += x >= 0x20 && x <= 0x7e && x !== 0x25 ? String.fromCharCode(x) : `%${x.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** grpc-message as sent, decoded; a malformed encoding is kept as it came */
export function percentDecode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** an error's first line, as grpc-message carries it */
export function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/** grpc-timeout ("100m", "5S", ...) in ms, or undefined when absent or malformed */
export function parseTimeout(v: string | undefined): number | undefined {
  const m = v === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as 'H'];
  return n * unit;
}

/** A connection error: GOAWAY (server) or abort (client) with this HTTP/2 error code. */
export class H2Error extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** What each side keeps of a stream to send on it: the peer's window and the body not yet sent. */
export interface SendState {
  sendWindow: number;
  pending: Buffer | undefined;
}

/**
 * One HTTP/2 connection, either side: reads frames and answers the connection-level ones (SETTINGS, PING,
 * WINDOW_UPDATE), assembles header blocks, keeps the connection's receive window open, and sends bodies within the
 * peer's windows. What a stream means (a call made or a call served) is the subclass's.
 */
export abstract class H2Connection<S extends SendState> {
  protected readonly streams = new Map<number, S>();
  protected connSendWindow = 65535;
  protected peerInitialWindow = 65535;
  protected peerMaxFrame = 16384;
  private buf: Buffer = EMPTY;
  private readonly decoder = new HpackDecoder();
  private recvConsumed = 0;
  private continuing: { id: number; parts: Buffer[]; endStream: boolean } | undefined;

  /**
   * `expectPreface`: a server reads the client's connection preface first. `start`: what this side sends first
   * (a client's preface), before its SETTINGS and the WINDOW_UPDATE that opens the connection's receive window.
   */
  constructor(
    protected readonly sock: Socket,
    private expectPreface: boolean,
    settings: Array<[number, number]>,
    start: Buffer[] = [],
  ) {
    const s = Buffer.alloc(6 * settings.length);
    settings.forEach(([k, v], i) => {
      s.writeUInt16BE(k, 6 * i);
      s.writeUInt32BE(v, 6 * i + 2);
    });
    sock.setNoDelay?.(true);
    this.write(Buffer.concat([...start, frame(T.SETTINGS, 0, 0, s), frame(T.WINDOW_UPDATE, 0, 0, u32(RECV_WINDOW - 65535))]));
    sock.on('data', (chunk: Buffer) => {
      try {
        this.onData(chunk);
      } catch (e) {
        this.onConnectionError(e instanceof H2Error ? e : new H2Error(ERR.PROTOCOL_ERROR, (e as Error).message));
      }
    });
  }

  /** the peer broke the protocol */
  protected abstract onConnectionError(e: H2Error): void;
  /** a whole header block (headers or trailers) of stream `id` */
  protected abstract onHeaders(id: number, fields: Array<[string, string]>, endStream: boolean): void;
  /** DATA of stream `id`, padding removed (already counted against the connection's window) */
  protected abstract onStreamData(id: number, body: Buffer, endStream: boolean): void;
  protected abstract onReset(id: number, code: number): void;
  protected abstract onGoAway(lastStreamId: number): void;
  /** more window: send what waits (and, for a server, the trailers behind it) */
  protected abstract flush(id: number, s: S): void;
  /** whether reading stops (the connection is done with) */
  protected get stopped(): boolean {
    return false;
  }

  protected write(b: Buffer): void {
    if (!this.sock.destroyed) this.sock.write(b);
  }

  protected flushAll(): void {
    for (const [id, s] of [...this.streams]) this.flush(id, s);
  }

  /** Sends as much of `s.pending` as the windows allow (the last piece with END_STREAM if `endStream`); true once all is out. */
  protected sendPending(id: number, s: S, endStream: boolean): boolean {
    while (s.pending && s.pending.length > 0) {
      const n = Math.min(s.pending.length, this.peerMaxFrame, s.sendWindow, this.connSendWindow);
      if (n <= 0) return false;
      const chunk = s.pending.subarray(0, n);
      s.pending = s.pending.subarray(n);
      s.sendWindow -= n;
      this.connSendWindow -= n;
      this.write(frame(T.DATA, endStream && s.pending.length === 0 ? END_STREAM : 0, id, chunk));
    }
    s.pending = undefined;
    return true;
  }

  /** a header block, split into CONTINUATION frames when larger than the peer's frame size */
  protected writeHeaders(id: number, fields: ReadonlyArray<readonly [string, string]> | Buffer, endStream: boolean): void {
    const block = Buffer.isBuffer(fields) ? fields : encodeHeaders(fields);
    const es = endStream ? END_STREAM : 0;
    if (block.length <= this.peerMaxFrame) return this.write(frame(T.HEADERS, END_HEADERS | es, id, block));
    this.write(frame(T.HEADERS, es, id, block.subarray(0, this.peerMaxFrame)));
    for (let off = this.peerMaxFrame; off < block.length; ) {
      const end = Math.min(block.length, off + this.peerMaxFrame);
      this.write(frame(T.CONTINUATION, end === block.length ? END_HEADERS : 0, id, block.subarray(off, end)));
      off = end;
    }
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    if (this.expectPreface) {
      const n = Math.min(this.buf.length, PREFACE.length);
      if (!PREFACE.subarray(0, n).equals(this.buf.subarray(0, n))) throw new H2Error(ERR.PROTOCOL_ERROR, 'bad preface');
      if (n < PREFACE.length) return;
      this.buf = this.buf.subarray(PREFACE.length);
      this.expectPreface = false;
    }
    while (this.buf.length >= 9 && !this.stopped) {
      const len = this.buf.readUIntBE(0, 3);
      if (len > MAX_FRAME) throw new H2Error(ERR.FRAME_SIZE_ERROR, 'frame too large');
      if (this.buf.length < 9 + len) break;
      const type = this.buf[3]!;
      const flags = this.buf[4]!;
      const id = this.buf.readUInt32BE(5) & 0x7fffffff;
      const payload = this.buf.subarray(9, 9 + len);
      this.buf = this.buf.subarray(9 + len);
      this.onFrame(type, flags, id, payload);
    }
    // don't pin a large chunk for a small remainder
    if (this.buf.length && this.buf.byteOffset > 0) this.buf = Buffer.from(this.buf);
  }

  private unpad(flags: number, p: Buffer): Buffer {
    if (!(flags & PADDED)) return p;
    const pad = p[0];
    if (pad === undefined || pad >= p.length) throw new H2Error(ERR.PROTOCOL_ERROR, 'bad padding');
    return p.subarray(1, p.length - pad);
  }

  private onFrame(type: number, flags: number, id: number, p: Buffer): void {
    if (this.continuing && (type !== T.CONTINUATION || id !== this.continuing.id)) throw new H2Error(ERR.PROTOCOL_ERROR, 'expected CONTINUATION');
    switch (type) {
      case T.SETTINGS:
        return this.onSettings(flags, id, p);
      case T.PING:
        if (p.length !== 8) throw new H2Error(ERR.FRAME_SIZE_ERROR, 'bad PING');
        if (!(flags & ACK)) this.write(frame(T.PING, ACK, 0, p));
        return;
      case T.WINDOW_UPDATE: {
        if (p.length !== 4) throw new H2Error(ERR.FRAME_SIZE_ERROR, 'bad WINDOW_UPDATE');
        const inc = p.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) {
          this.connSendWindow += inc;
          this.flushAll();
        } else {
          const s = this.streams.get(id);
          if (s) {
            s.sendWindow += inc;
            this.flush(id, s);
          }
        }
        return;
      }
      case T.GOAWAY:
        if (p.length < 8) throw new H2Error(ERR.FRAME_SIZE_ERROR, 'bad GOAWAY');
        return this.onGoAway(p.readUInt32BE(0) & 0x7fffffff);
      case T.RST_STREAM:
        if (p.length !== 4) throw new H2Error(ERR.FRAME_SIZE_ERROR, 'bad RST_STREAM');
        return this.onReset(id, p.readUInt32BE(0));
      case T.HEADERS: {
        if (id === 0) throw new H2Error(ERR.PROTOCOL_ERROR, 'HEADERS on stream 0');
        let block = this.unpad(flags, p);
        if (flags & PRIORITY_FLAG) block = block.subarray(5);
        if (flags & END_HEADERS) this.headerBlock(id, block, !!(flags & END_STREAM));
        else this.continuing = { id, parts: [Buffer.from(block)], endStream: !!(flags & END_STREAM) };
        return;
      }
      case T.CONTINUATION: {
        const c = this.continuing;
        if (!c) throw new H2Error(ERR.PROTOCOL_ERROR, 'unexpected CONTINUATION');
        c.parts.push(Buffer.from(p));
        if (c.parts.length > MAX_CONTINUATIONS) throw new H2Error(ERR.PROTOCOL_ERROR, 'header block too large');
        if (flags & END_HEADERS) {
          this.continuing = undefined;
          this.headerBlock(id, Buffer.concat(c.parts), c.endStream);
        }
        return;
      }
      case T.DATA:
        if (id === 0) throw new H2Error(ERR.PROTOCOL_ERROR, 'DATA on stream 0');
        // every DATA frame counts against the connection's window, whatever became of its stream
        this.recvConsumed += p.length;
        if (this.recvConsumed >= RECV_WINDOW / 2) {
          this.write(frame(T.WINDOW_UPDATE, 0, 0, u32(this.recvConsumed)));
          this.recvConsumed = 0;
        }
        return this.onStreamData(id, this.unpad(flags, p), !!(flags & END_STREAM));
      case T.PUSH_PROMISE:
        throw new H2Error(ERR.PROTOCOL_ERROR, 'PUSH_PROMISE (push is disabled)');
      default:
        return; // PRIORITY and unknown types are ignored
    }
  }

  private onSettings(flags: number, id: number, p: Buffer): void {
    if (id !== 0 || p.length % 6) throw new H2Error(ERR.PROTOCOL_ERROR, 'bad SETTINGS');
    if (flags & ACK) return;
    for (let i = 0; i + 6 <= p.length; i += 6) {
      const k = p.readUInt16BE(i);
      const v = p.readUInt32BE(i + 2);
      if (k === SETTINGS_INITIAL_WINDOW_SIZE) {
        if (v > 0x7fffffff) throw new H2Error(ERR.FLOW_CONTROL_ERROR, 'bad window');
        for (const s of this.streams.values()) s.sendWindow += v - this.peerInitialWindow;
        this.peerInitialWindow = v;
      } else if (k === SETTINGS_MAX_FRAME_SIZE) {
        if (v < 16384 || v > 16777215) throw new H2Error(ERR.PROTOCOL_ERROR, 'bad max frame size');
        this.peerMaxFrame = v;
      }
    }
    this.write(frame(T.SETTINGS, ACK, 0));
    this.flushAll();
  }

  private headerBlock(id: number, block: Buffer, endStream: boolean): void {
    // decoded whatever the stream's fate: the dynamic table must see every block
    let fields: Array<[string, string]>;
    try {
      fields = this.decoder.decode(block);
    } catch {
      throw new H2Error(ERR.COMPRESSION_ERROR, 'bad header block');
    }
    this.onHeaders(id, fields, endStream);
  }
}
