// A lean gRPC unary client: HTTP/2 framing (RFC 9113) and HPACK (./hpack.ts) written directly over a unix
// socket — the same wire protocol as @grpc/grpc-js (length-prefixed protobuf messages, grpc-status trailers),
// without loading grpc-js (30–70 ms) or node:http2 (~15 ms to load, ~6 ms more for its first request).
// sysbox-runc starts several times per container and makes a handful of calls each time; the servers stay on
// grpc-js. Scope: unary calls, the client's side of flow control, SETTINGS/PING/GOAWAY/RST_STREAM.
import { connect as netConnect, type Socket } from 'node:net';
import { IpcError, statusName, type ServiceName } from './errors.js';
import { encodeHeaders, HpackDecoder } from './hpack.js';
import { ACK, END_HEADERS, END_STREAM, ERR, frame, grpcFrame, PADDED, PREFACE, PRIORITY_FLAG, RECV_WINDOW, SETTINGS_ENABLE_PUSH, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE, T, u32 } from './h2frame.js';
import type { CallOptions, MethodTable } from './rpc.js';

export interface RawClient {
  call(method: string, req: unknown, opts?: CallOptions): Promise<any>;
  close(): void;
}

function connError(service: ServiceName, socketPath: string, err: NodeJS.ErrnoException): IpcError {
  if (err.code === 'ECONNREFUSED') return new IpcError('NOT_RUNNING', `${service} is not running (connection refused at ${socketPath})`, service, { cause: err });
  if (err.code === 'ENOENT') return new IpcError('NOT_RUNNING', `${service} is not running (no socket at ${socketPath})`, service, { cause: err });
  if (err.code === 'EACCES' || err.code === 'EPERM') return new IpcError('UNAVAILABLE', `cannot reach ${service}: permission denied on ${socketPath}`, service, { cause: err });
  return new IpcError('UNAVAILABLE', `${service} is unavailable at ${socketPath}: ${err.message}`, service, { cause: err });
}

interface Stream {
  headers: Array<[string, string]>;
  data: Buffer[];
  /** request body not yet sent (flow control) */
  pending: Buffer<ArrayBufferLike>;
  sendWindow: number;
  finish(err?: IpcError): void;
}

/** One HTTP/2 connection over a connected socket. */
class Connection {
  private buf: Buffer = Buffer.alloc(0);
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, Stream>();
  private nextId = 1;
  private connSendWindow = 65535;
  private peerInitialWindow = 65535;
  private peerMaxFrame = 16384;
  private recvConsumed = 0;
  /** a header block being continued (CONTINUATION) */
  private continuing: { id: number; parts: Buffer[]; endStream: boolean } | undefined;
  dead: IpcError | undefined;

  constructor(
    readonly sock: Socket,
    private readonly service: ServiceName,
    private readonly fail: (e: NodeJS.ErrnoException) => IpcError,
  ) {
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(SETTINGS_ENABLE_PUSH, 0);
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 6);
    settings.writeUInt32BE(RECV_WINDOW, 8);
    const inc = Buffer.alloc(4);
    inc.writeUInt32BE(RECV_WINDOW - 65535, 0);
    sock.write(Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0, settings), frame(T.WINDOW_UPDATE, 0, 0, inc)]));
    sock.on('data', (d: Buffer) => {
      try {
        this.onData(d);
      } catch (e) {
        this.abort(new IpcError('UNAVAILABLE', `bad HTTP/2 data from ${this.service}: ${(e as Error).message}`, this.service));
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => this.abort(this.fail(e)));
    sock.on('close', () => this.abort(this.fail(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }))));
  }

  get idle(): boolean {
    return this.streams.size === 0;
  }

  abort(err: IpcError): void {
    this.dead ??= err;
    for (const s of [...this.streams.values()]) s.finish(this.dead);
    this.streams.clear();
    this.sock.destroy();
  }

  close(): void {
    if (!this.dead) this.dead = this.fail(Object.assign(new Error('client closed'), { code: 'ECONNRESET' }));
    this.sock.end();
  }

  request(headers: ReadonlyArray<readonly [string, string]>, body: Buffer, finish: (err: IpcError | undefined, headers: Array<[string, string]>, data: Buffer) => void): () => void {
    const id = this.nextId;
    this.nextId += 2;
    const s: Stream = {
      headers: [],
      data: [],
      pending: body,
      sendWindow: this.peerInitialWindow,
      finish: (err) => {
        if (!this.streams.delete(id)) return;
        finish(err, s.headers, Buffer.concat(s.data));
      },
    };
    this.streams.set(id, s);
    const block = encodeHeaders(headers);
    this.sock.write(frame(T.HEADERS, END_HEADERS | (body.length === 0 ? END_STREAM : 0), id, block));
    this.flush(id, s);
    return () => {
      if (!this.streams.has(id)) return;
      this.streams.delete(id);
      this.sock.write(frame(T.RST_STREAM, 0, id, u32(ERR.CANCEL)));
    };
  }

  /** sends as much of the stream's body as the windows allow */
  private flush(id: number, s: Stream): void {
    while (s.pending.length > 0) {
      const n = Math.min(s.pending.length, this.peerMaxFrame, s.sendWindow, this.connSendWindow);
      if (n <= 0) return;
      const chunk = s.pending.subarray(0, n);
      s.pending = s.pending.subarray(n);
      s.sendWindow -= n;
      this.connSendWindow -= n;
      this.sock.write(frame(T.DATA, s.pending.length === 0 ? END_STREAM : 0, id, chunk));
    }
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) return;
      const type = this.buf[3]!;
      const flags = this.buf[4]!;
      const id = this.buf.readUInt32BE(5) & 0x7fffffff;
      const payload = this.buf.subarray(9, 9 + len);
      this.buf = this.buf.subarray(9 + len);
      this.onFrame(type, flags, id, payload);
    }
  }

  private unpad(flags: number, p: Buffer): Buffer {
    if (!(flags & PADDED)) return p;
    const pad = p[0]!;
    if (pad >= p.length) throw new Error('bad padding');
    return p.subarray(1, p.length - pad);
  }

  private onFrame(type: number, flags: number, id: number, p: Buffer): void {
    if (this.continuing && (type !== T.CONTINUATION || id !== this.continuing.id)) throw new Error('expected CONTINUATION');
    switch (type) {
      case T.SETTINGS: {
        if (flags & ACK) return;
        for (let i = 0; i + 6 <= p.length; i += 6) {
          const k = p.readUInt16BE(i);
          const v = p.readUInt32BE(i + 2);
          if (k === SETTINGS_INITIAL_WINDOW_SIZE) {
            for (const s of this.streams.values()) s.sendWindow += v - this.peerInitialWindow;
            this.peerInitialWindow = v;
          } else if (k === SETTINGS_MAX_FRAME_SIZE) {
            this.peerMaxFrame = v;
          }
        }
        this.sock.write(frame(T.SETTINGS, ACK, 0));
        this.flushAll();
        return;
      }
      case T.PING:
        if (!(flags & ACK)) this.sock.write(frame(T.PING, ACK, 0, p));
        return;
      case T.WINDOW_UPDATE: {
        const inc = p.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) this.connSendWindow += inc;
        else {
          const s = this.streams.get(id);
          if (s) s.sendWindow += inc;
        }
        this.flushAll();
        return;
      }
      case T.GOAWAY: {
        const last = p.readUInt32BE(0) & 0x7fffffff;
        const err = new IpcError('UNAVAILABLE', `${this.service} is going away (HTTP/2 GOAWAY)`, this.service);
        this.dead ??= err;
        for (const [sid, s] of [...this.streams]) if (sid > last) s.finish(err);
        return;
      }
      case T.RST_STREAM: {
        const code = p.readUInt32BE(0);
        this.streams.get(id)?.finish(new IpcError('UNAVAILABLE', `${this.service} reset the call (HTTP/2 error ${code})`, this.service));
        return;
      }
      case T.HEADERS: {
        let block = this.unpad(flags, p);
        if (flags & PRIORITY_FLAG) block = block.subarray(5);
        if (flags & END_HEADERS) this.onHeaders(id, block, !!(flags & END_STREAM));
        else this.continuing = { id, parts: [block], endStream: !!(flags & END_STREAM) };
        return;
      }
      case T.CONTINUATION: {
        const c = this.continuing;
        if (!c) throw new Error('unexpected CONTINUATION');
        c.parts.push(p);
        if (flags & END_HEADERS) {
          this.continuing = undefined;
          this.onHeaders(id, Buffer.concat(c.parts), c.endStream);
        }
        return;
      }
      case T.DATA: {
        const s = this.streams.get(id);
        const body = this.unpad(flags, p);
        if (s) s.data.push(Buffer.from(body));
        // keep the connection's receive window open (the streams' windows are large enough for any answer)
        this.recvConsumed += p.length;
        if (this.recvConsumed >= RECV_WINDOW / 2) {
          const inc = Buffer.alloc(4);
          inc.writeUInt32BE(this.recvConsumed, 0);
          this.recvConsumed = 0;
          this.sock.write(frame(T.WINDOW_UPDATE, 0, 0, inc));
        }
        if (s && flags & END_STREAM) s.finish();
        return;
      }
      default:
        return; // PRIORITY, PUSH_PROMISE (disabled) and unknown types are ignored
    }
  }

  private onHeaders(id: number, block: Buffer, endStream: boolean): void {
    // decoded even for a stream we no longer track: the dynamic table must see every block
    const fields = this.decoder.decode(block);
    const s = this.streams.get(id);
    if (!s) return;
    s.headers.push(...fields);
    if (endStream) s.finish();
  }

  private flushAll(): void {
    for (const [id, s] of this.streams) this.flush(id, s);
  }
}

export function makeH2Client(service: ServiceName, table: MethodTable, socketPath: string, defaultDeadlineMs: number): RawClient {
  let conn: Promise<Connection> | undefined;
  let closed = false;
  const fail = (e: NodeJS.ErrnoException): IpcError => connError(service, socketPath, e);
  // The unix socket is connected first, so a missing or dead daemon is told apart from a failed call.
  const open = (): Promise<Connection> => {
    conn ??= new Promise((resolve, reject) => {
      const sock = netConnect(socketPath);
      sock.once('error', (e: NodeJS.ErrnoException) => {
        conn = undefined;
        reject(connError(service, socketPath, e));
      });
      sock.once('connect', () => {
        sock.setNoDelay?.(true);
        const c = new Connection(sock, service, fail);
        sock.on('close', () => {
          if (conn && c.dead) conn = undefined;
        });
        sock.unref(); // an idle client never keeps the process alive
        resolve(c);
      });
    });
    return conn.then((c) => {
      if (!c.dead) return c;
      conn = undefined;
      return open();
    });
  };
  return {
    call(method, req, opts) {
      const spec = table[method];
      if (!spec) return Promise.reject(new IpcError('UNIMPLEMENTED', `${service} has no method ${method}`, service));
      if (closed) return Promise.reject(new IpcError('CLOSED', `${service} client is closed`, service));
      const deadlineMs = opts?.deadlineMs ?? defaultDeadlineMs;
      return open().then(
        (c) =>
          new Promise((resolve, reject) => {
            const sock = c.sock;
            sock.ref();
            let settled = false;
            const done = (err: IpcError | undefined, value?: unknown) => {
              if (settled) return;
              settled = true;
              clearTimeout(timer);
              if (c.idle) sock.unref();
              if (err) reject(err);
              else resolve(value);
            };
            const body = grpcFrame(spec.req.encode(spec.req.fromPartial(req ?? {})).finish());
            const cancel = c.request(
              [
                [':method', 'POST'],
                [':scheme', 'http'],
                [':path', spec.path],
                [':authority', 'localhost'],
                ['content-type', 'application/grpc+proto'],
                ['te', 'trailers'],
                ['grpc-timeout', `${Math.max(1, Math.ceil(deadlineMs))}m`],
              ],
              body,
              (err, headers, data) => {
                if (err) return done(err);
                const h = new Map<string, string>();
                for (const [k, v] of headers) h.set(k, v); // trailers come last and win
                const status = h.get(':status');
                if (status !== undefined && status !== '200') {
                  return done(new IpcError('UNAVAILABLE', `${service} answered HTTP ${status} (${socketPath})`, service));
                }
                const code = Number(h.get('grpc-status') ?? NaN);
                if (Number.isNaN(code)) return done(new IpcError('UNAVAILABLE', `${service} closed the call without a status (${socketPath})`, service));
                if (code !== 0) {
                  const raw = h.get('grpc-message');
                  let msg = statusName(code) as string;
                  if (raw !== undefined) {
                    try {
                      msg = decodeURIComponent(raw);
                    } catch {
                      msg = raw;
                    }
                  }
                  return done(new IpcError(statusName(code), msg.split('\n')[0] ?? msg, service));
                }
                const len = data.length >= 5 ? data.readUInt32BE(1) : 0;
                try {
                  done(undefined, spec.res.decode(data.subarray(5, 5 + len)));
                } catch (e) {
                  done(new IpcError('INTERNAL', `${service}: bad answer to ${method}: ${(e as Error).message}`, service));
                }
              },
            );
            const timer = setTimeout(() => {
              cancel();
              done(new IpcError('DEADLINE_EXCEEDED', `${service} did not answer within ${deadlineMs}ms`, service));
            }, deadlineMs);
          }),
      );
    },
    close() {
      closed = true;
      void conn?.then((c) => c.close(), () => {});
    },
  };
}
