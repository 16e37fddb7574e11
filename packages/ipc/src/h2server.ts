// A lean gRPC unary server: HTTP/2 framing (RFC 9113) and HPACK (./hpack.ts) written directly over a unix
// socket (node:net), without @grpc/grpc-js or node:http2 — the server side of ./h2client.ts. sysbox-fs, a
// long-lived daemon whose RSS counts per host, serves with it: grpc-js and node:http2 cost ~8 MB of resident
// code and heap. The wire protocol is plain gRPC (length-prefixed protobuf, grpc-status trailers): grpc-js
// clients interoperate. Scope: unary calls; SETTINGS, PING, WINDOW_UPDATE in both directions, CONTINUATION,
// RST_STREAM, GOAWAY; grpc-timeout; no compression, no server push, no streaming methods.
import { createServer, type Server, type Socket } from 'node:net';
import { GRPC_STATUS, IpcError, statusOf, type ServiceName } from './errors.js';
import { encodeHeaders, HpackDecoder } from './hpack.js';
import { ACK, END_HEADERS, END_STREAM, ERR, frame, grpcFrame, PADDED, PREFACE, PRIORITY_FLAG, RECV_WINDOW, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE, T, u32 } from './h2frame.js';
import { checkHandlers, finishBind, prepareSocket, removeIfOurs } from './listen.js';
import type { IpcServer, MethodSpec, MethodTable, ServeOptions } from './rpc.js';

/** largest request message (gRPC's default receive limit); larger ones answer RESOURCE_EXHAUSTED */
export const MAX_REQUEST = 4 << 20;
/** largest frame we accept (we advertise none, so the protocol's default) */
const MAX_FRAME = 16384;

const RESPONSE_HEADERS = encodeHeaders([
  [':status', '200'],
  ['content-type', 'application/grpc+proto'],
]);
const OK_TRAILERS = encodeHeaders([['grpc-status', '0']]);
const EMPTY = Buffer.alloc(0);

/** grpc-message: UTF-8, bytes outside printable ASCII and '%' percent-encoded (gRPC over HTTP/2 spec). */
export function percentEncode(s: string): string {
  let out = '';
  for (const x of Buffer.from(s, 'utf8')) {
    out += x >= 0x20 && x <= 0x7e && x !== 0x25 ? String.fromCharCode(x) : `%${x.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** grpc-timeout ("100m", "5S", ...) in ms, or undefined when absent or malformed */
export function parseTimeout(v: string | undefined): number | undefined {
  const m = v === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as 'H'];
  return n * unit;
}

class H2Error extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface Call {
  id: number;
  path: string;
  timeout: string | undefined;
  contentType: string;
  data: Buffer[];
  size: number;
  /** the request arrived whole (END_STREAM) and went to the handler */
  dispatched: boolean;
  /** answered, cancelled (RST_STREAM, disconnect) or timed out: nothing more is written for it */
  done: boolean;
  sendWindow: number;
  /** answer DATA not yet sent (flow control), then its trailers */
  pending: Buffer | undefined;
  trailers: Buffer | undefined;
  timer?: NodeJS.Timeout;
}

interface Dispatch {
  lookup(path: string): [string, MethodSpec] | undefined;
  run(method: string, spec: MethodSpec, req: unknown): Promise<{ res?: Uint8Array; code: number; message: string }>;
}

/** One HTTP/2 connection from a client. */
class Connection {
  private buf: Buffer = EMPTY;
  private prefaced = false;
  private readonly decoder = new HpackDecoder();
  private readonly calls = new Map<number, Call>();
  private lastId = 0;
  private connSendWindow = 65535;
  private peerInitialWindow = 65535;
  private peerMaxFrame = 16384;
  private recvConsumed = 0;
  private continuing: { id: number; parts: Buffer[]; endStream: boolean } | undefined;
  /** GOAWAY sent (server closing) or received: no new calls, close once idle */
  private goingAway = false;
  closed = false;

  constructor(
    private readonly sock: Socket,
    private readonly d: Dispatch,
    private readonly onIdle: () => void,
  ) {
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 0);
    settings.writeUInt32BE(RECV_WINDOW, 2);
    sock.setNoDelay?.(true);
    this.write(Buffer.concat([frame(T.SETTINGS, 0, 0, settings), frame(T.WINDOW_UPDATE, 0, 0, u32(RECV_WINDOW - 65535))]));
    sock.on('data', (chunk: Buffer) => {
      try {
        this.onData(chunk);
      } catch (e) {
        const code = e instanceof H2Error ? e.code : ERR.PROTOCOL_ERROR;
        this.fail(code);
      }
    });
    sock.on('error', () => this.onClosed());
    sock.on('close', () => this.onClosed());
  }

  /** calls in flight (dispatched, not yet answered) */
  get busy(): boolean {
    for (const c of this.calls.values()) if (!c.done || c.pending || c.trailers) return true;
    return false;
  }

  private write(b: Buffer): void {
    if (!this.closed && !this.sock.destroyed) this.sock.write(b);
  }

  /** connection error: GOAWAY with the code, then close */
  private fail(code: number): void {
    if (this.closed) return;
    const p = Buffer.alloc(8);
    p.writeUInt32BE(this.lastId, 0);
    p.writeUInt32BE(code, 4);
    this.write(frame(T.GOAWAY, 0, 0, p));
    this.sock.end(); // the GOAWAY goes out first
    setTimeout(() => this.sock.destroy(), 1000).unref();
    this.onClosed(false);
  }

  private onClosed(destroy = true): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.calls.values()) this.finishCall(c);
    this.calls.clear();
    if (destroy) this.sock.destroy();
    this.onIdle();
  }

  /** server closing: no new calls; in-flight ones finish; the socket closes once idle */
  goAway(): void {
    if (this.goingAway || this.closed) return;
    this.goingAway = true;
    const p = Buffer.alloc(8);
    p.writeUInt32BE(this.lastId, 0);
    p.writeUInt32BE(ERR.NO_ERROR, 4);
    this.write(frame(T.GOAWAY, 0, 0, p));
    this.maybeEnd();
  }

  destroy(): void {
    this.sock.destroy();
    this.onClosed();
  }

  private maybeEnd(): void {
    if (this.goingAway && !this.busy && !this.closed) this.sock.end();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    if (!this.prefaced) {
      if (this.buf.length < PREFACE.length) {
        if (!PREFACE.subarray(0, this.buf.length).equals(this.buf)) throw new H2Error(ERR.PROTOCOL_ERROR, 'bad preface');
        return;
      }
      if (!this.buf.subarray(0, PREFACE.length).equals(PREFACE)) throw new H2Error(ERR.PROTOCOL_ERROR, 'bad preface');
      this.buf = this.buf.subarray(PREFACE.length);
      this.prefaced = true;
    }
    while (this.buf.length >= 9 && !this.closed) {
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
      case T.SETTINGS: {
        if (id !== 0 || p.length % 6) throw new H2Error(ERR.PROTOCOL_ERROR, 'bad SETTINGS');
        if (flags & ACK) return;
        for (let i = 0; i + 6 <= p.length; i += 6) {
          const k = p.readUInt16BE(i);
          const v = p.readUInt32BE(i + 2);
          if (k === SETTINGS_INITIAL_WINDOW_SIZE) {
            if (v > 0x7fffffff) throw new H2Error(ERR.FLOW_CONTROL_ERROR, 'bad window');
            for (const c of this.calls.values()) c.sendWindow += v - this.peerInitialWindow;
            this.peerInitialWindow = v;
          } else if (k === SETTINGS_MAX_FRAME_SIZE) {
            if (v < 16384 || v > 16777215) throw new H2Error(ERR.PROTOCOL_ERROR, 'bad max frame size');
            this.peerMaxFrame = v;
          }
        }
        this.write(frame(T.SETTINGS, ACK, 0));
        this.flushAll();
        return;
      }
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
          const c = this.calls.get(id);
          if (c) {
            c.sendWindow += inc;
            this.flush(c);
          }
        }
        return;
      }
      case T.GOAWAY:
        this.goingAway = true;
        this.maybeEnd();
        return;
      case T.RST_STREAM: {
        const c = this.calls.get(id);
        if (c) {
          this.finishCall(c);
          this.calls.delete(id);
          this.maybeEnd();
        }
        return;
      }
      case T.HEADERS: {
        if (id === 0) throw new H2Error(ERR.PROTOCOL_ERROR, 'HEADERS on stream 0');
        let block = this.unpad(flags, p);
        if (flags & PRIORITY_FLAG) block = block.subarray(5);
        if (flags & END_HEADERS) this.onHeaders(id, block, !!(flags & END_STREAM));
        else this.continuing = { id, parts: [Buffer.from(block)], endStream: !!(flags & END_STREAM) };
        return;
      }
      case T.CONTINUATION: {
        const c = this.continuing;
        if (!c) throw new H2Error(ERR.PROTOCOL_ERROR, 'unexpected CONTINUATION');
        c.parts.push(Buffer.from(p));
        if (c.parts.length > 64) throw new H2Error(ERR.PROTOCOL_ERROR, 'header block too large');
        if (flags & END_HEADERS) {
          this.continuing = undefined;
          this.onHeaders(id, Buffer.concat(c.parts), c.endStream);
        }
        return;
      }
      case T.DATA: {
        if (id === 0) throw new H2Error(ERR.PROTOCOL_ERROR, 'DATA on stream 0');
        // every DATA frame counts against the connection's window, whatever became of its stream
        this.recvConsumed += p.length;
        if (this.recvConsumed >= RECV_WINDOW / 2) {
          this.write(frame(T.WINDOW_UPDATE, 0, 0, u32(this.recvConsumed)));
          this.recvConsumed = 0;
        }
        const c = this.calls.get(id);
        if (!c || c.dispatched || c.done) return;
        const body = this.unpad(flags, p);
        c.size += body.length;
        if (c.size > MAX_REQUEST + 5) {
          this.answer(c, GRPC_STATUS.RESOURCE_EXHAUSTED, `request larger than ${MAX_REQUEST} bytes`);
          this.write(frame(T.RST_STREAM, 0, id, u32(ERR.NO_ERROR)));
          c.data = [];
          return;
        }
        if (body.length) c.data.push(Buffer.from(body));
        if (flags & END_STREAM) this.dispatch(c);
        return;
      }
      case T.PUSH_PROMISE:
        throw new H2Error(ERR.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      default:
        return; // PRIORITY and unknown types are ignored
    }
  }

  private onHeaders(id: number, block: Buffer, endStream: boolean): void {
    // decoded whatever the stream's fate: the dynamic table must see every block
    let fields: Array<[string, string]>;
    try {
      fields = this.decoder.decode(block);
    } catch {
      throw new H2Error(0x9 /* COMPRESSION_ERROR */, 'bad header block');
    }
    const known = this.calls.get(id);
    if (known) {
      // trailers of a request: only END_STREAM matters
      if (endStream && !known.dispatched && !known.done) this.dispatch(known);
      return;
    }
    if (id % 2 === 0 || id <= this.lastId) return; // a closed stream: ignored
    this.lastId = id;
    if (this.goingAway) {
      this.write(frame(T.RST_STREAM, 0, id, u32(ERR.REFUSED_STREAM)));
      return;
    }
    const h = new Map(fields);
    const c: Call = {
      id,
      path: h.get(':path') ?? '',
      timeout: h.get('grpc-timeout'),
      contentType: h.get('content-type') ?? '',
      data: [],
      size: 0,
      dispatched: false,
      done: false,
      sendWindow: this.peerInitialWindow,
      pending: undefined,
      trailers: undefined,
    };
    this.calls.set(id, c);
    if (h.get(':method') !== 'POST' || !/^application\/grpc(\+|;|$)/.test(c.contentType)) {
      // not gRPC: an HTTP error, as grpc-js answers
      c.done = true;
      this.calls.delete(id);
      this.write(frame(T.HEADERS, END_HEADERS | END_STREAM, id, encodeHeaders([[':status', h.get(':method') !== 'POST' ? '405' : '415']])));
      return;
    }
    if (endStream) this.dispatch(c);
  }

  private dispatch(c: Call): void {
    c.dispatched = true;
    const hit = this.d.lookup(c.path);
    if (!hit) return this.answer(c, GRPC_STATUS.UNIMPLEMENTED, `the server does not implement the method ${c.path}`);
    const body = c.data.length === 1 ? c.data[0]! : Buffer.concat(c.data);
    c.data = [];
    if (body.length < 5) return this.answer(c, GRPC_STATUS.INTERNAL, 'no request message');
    if (body[0] !== 0) return this.answer(c, GRPC_STATUS.UNIMPLEMENTED, 'compressed messages are not supported');
    const len = body.readUInt32BE(1);
    if (len !== body.length - 5) return this.answer(c, GRPC_STATUS.INTERNAL, 'bad message framing (one request message expected)');
    const [method, spec] = hit;
    let req: unknown;
    try {
      req = spec.req.decode(body.subarray(5));
    } catch (e) {
      return this.answer(c, GRPC_STATUS.INTERNAL, `cannot decode the request: ${(e as Error).message}`);
    }
    const ms = parseTimeout(c.timeout);
    if (ms !== undefined) {
      c.timer = setTimeout(() => this.answer(c, GRPC_STATUS.DEADLINE_EXCEEDED, 'Deadline exceeded'), Math.max(0, ms));
      c.timer.unref();
    }
    void this.d.run(method, spec, req).then((r) => this.answer(c, r.code, r.message, r.res));
  }

  private finishCall(c: Call): void {
    c.done = true;
    c.pending = undefined;
    c.trailers = undefined;
    if (c.timer) clearTimeout(c.timer);
  }

  /** Writes the answer: HEADERS, DATA (as the windows allow), trailers; or trailers only (an error). */
  private answer(c: Call, code: number, message: string, res?: Uint8Array): void {
    if (c.done || this.closed) return;
    c.done = true;
    if (c.timer) clearTimeout(c.timer);
    this.sock.cork();
    try {
      if (code === 0 && res) {
        this.writeHeaders(c.id, RESPONSE_HEADERS, false);
        c.pending = grpcFrame(res);
        c.trailers = OK_TRAILERS;
        this.flush(c);
      } else {
        const line = (message.split('\n')[0] ?? message).slice(0, 4096);
        const block = encodeHeaders([
          [':status', '200'],
          ['content-type', 'application/grpc+proto'],
          ['grpc-status', String(code)],
          ['grpc-message', percentEncode(line)],
        ]);
        this.writeHeaders(c.id, block, true);
        this.calls.delete(c.id);
      }
    } finally {
      this.sock.uncork();
    }
    this.maybeEnd();
  }

  /** a header block, split into CONTINUATION frames when larger than the peer's frame size */
  private writeHeaders(id: number, block: Buffer, endStream: boolean): void {
    const es = endStream ? END_STREAM : 0;
    if (block.length <= this.peerMaxFrame) return this.write(frame(T.HEADERS, END_HEADERS | es, id, block));
    let off = 0;
    this.write(frame(T.HEADERS, es, id, block.subarray(0, this.peerMaxFrame)));
    off = this.peerMaxFrame;
    while (off < block.length) {
      const end = Math.min(block.length, off + this.peerMaxFrame);
      this.write(frame(T.CONTINUATION, end === block.length ? END_HEADERS : 0, id, block.subarray(off, end)));
      off = end;
    }
  }

  /** sends as much of the answer as the windows allow; the trailers once the message is out */
  private flush(c: Call): void {
    while (c.pending && c.pending.length > 0) {
      const n = Math.min(c.pending.length, this.peerMaxFrame, c.sendWindow, this.connSendWindow);
      if (n <= 0) return;
      this.write(frame(T.DATA, 0, c.id, c.pending.subarray(0, n)));
      c.pending = c.pending.subarray(n);
      c.sendWindow -= n;
      this.connSendWindow -= n;
    }
    c.pending = undefined;
    if (c.trailers) {
      this.writeHeaders(c.id, c.trailers, true);
      c.trailers = undefined;
      this.calls.delete(c.id);
      this.maybeEnd();
    }
  }

  private flushAll(): void {
    for (const c of [...this.calls.values()]) if (c.pending || c.trailers) this.flush(c);
  }
}

/** Serves a method table over the lean HTTP/2 server; same contract as rpc.ts serve(). */
export async function serveLean(
  service: ServiceName,
  table: MethodTable,
  impl: Record<string, (req: any) => unknown>,
  socketPath: string,
  opts: ServeOptions,
): Promise<IpcServer> {
  checkHandlers(service, table, impl);
  const byPath = new Map<string, [string, MethodSpec]>();
  for (const [m, spec] of Object.entries(table)) byPath.set(spec.path, [m, spec]);
  await prepareSocket(service, socketPath);

  let inflight = 0;
  let idleWaiters: Array<() => void> = [];
  const conns = new Set<Connection>();
  const checkIdle = () => {
    if (inflight > 0 || [...conns].some((c) => c.busy)) return;
    const w = idleWaiters;
    idleWaiters = [];
    for (const f of w) f();
  };
  const dispatch: Dispatch = {
    lookup: (path) => byPath.get(path),
    async run(method, spec, req) {
      inflight++;
      const t0 = performance.now();
      try {
        const res = await impl[method]!.call(impl, req);
        let bytes: Uint8Array;
        try {
          bytes = spec.res.encode(spec.res.fromPartial(res ?? {})).finish();
        } catch (e) {
          opts.onCall?.({ method, ms: performance.now() - t0, error: e });
          return { code: GRPC_STATUS.INTERNAL, message: `cannot encode the answer: ${(e as Error).message}` };
        }
        opts.onCall?.({ method, ms: performance.now() - t0 });
        return { code: 0, message: '', res: bytes };
      } catch (error) {
        opts.onCall?.({ method, ms: performance.now() - t0, error });
        const msg = error instanceof Error ? error.message : String(error);
        return { code: statusOf(error), message: msg.split('\n')[0] ?? msg };
      } finally {
        inflight--;
        queueMicrotask(checkIdle);
      }
    },
  };

  const server: Server = createServer((sock) => {
    const c = new Connection(sock, dispatch, () => {
      conns.delete(c);
      checkIdle();
    });
    if (!c.closed) conns.add(c);
  });
  server.on('error', () => {}); // after listen: accept errors (EMFILE, ...) must not crash the daemon
  await new Promise<void>((resolve, reject) => {
    const onErr = (err: Error) => reject(new IpcError('BAD_SOCKET', `cannot serve ${service} on ${socketPath}: ${err.message}`, service, { cause: err }));
    server.once('error', onErr);
    server.listen(socketPath, () => {
      server.off('error', onErr);
      resolve();
    });
  });
  const ino = await finishBind(socketPath, opts.mode ?? 0o600);

  let closing: Promise<void> | undefined;
  return {
    socketPath,
    close(graceMs = 2000) {
      closing ??= (async () => {
        const stopped = new Promise<void>((r) => server.close(() => r()));
        for (const c of conns) c.goAway();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs);
          idleWaiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
          checkIdle();
        });
        for (const c of [...conns]) c.destroy();
        await stopped;
        await removeIfOurs(socketPath, ino);
      })();
      return closing;
    },
  };
}
