// The gRPC unary client of sysbox-runc and the daemons: HTTP/2 (./h2.ts) and HPACK (./hpack.ts) written directly
// over a unix socket (node:net) — the same wire protocol as @grpc/grpc-js (length-prefixed protobuf messages,
// grpc-status trailers), without loading grpc-js (30–70 ms) or node:http2 (~15 ms to load, ~6 ms more for its
// first request): sysbox-runc starts several times per container and makes a handful of calls each time.
// Scope: unary calls, the client's side of flow control, SETTINGS/PING/GOAWAY/RST_STREAM.
import { connect as netConnect, type Socket } from 'node:net';
import { IpcError, statusName, type ServiceName } from './errors.js';
import { ERR, firstLine, frame, grpcFrame, grpcMessage, H2Connection, PREFACE, percentDecode, RECV_WINDOW, SETTINGS_ENABLE_PUSH, SETTINGS_INITIAL_WINDOW_SIZE, T, u32, type H2Error, type SendState } from './h2.js';
import type { MethodSpec, MethodTable, RawClient } from './types.js';

function connError(service: ServiceName, socketPath: string, err: NodeJS.ErrnoException): IpcError {
  if (err.code === 'ECONNREFUSED') return new IpcError('NOT_RUNNING', `${service} is not running (connection refused at ${socketPath})`, service, { cause: err });
  if (err.code === 'ENOENT') return new IpcError('NOT_RUNNING', `${service} is not running (no socket at ${socketPath})`, service, { cause: err });
  if (err.code === 'EACCES' || err.code === 'EPERM') return new IpcError('UNAVAILABLE', `cannot reach ${service}: permission denied on ${socketPath}`, service, { cause: err });
  return new IpcError('UNAVAILABLE', `${service} is unavailable at ${socketPath}: ${err.message}`, service, { cause: err });
}

interface Stream extends SendState {
  headers: Array<[string, string]>;
  data: Buffer[];
  finish(err?: IpcError): void;
}

type Finish = (err: IpcError | undefined, headers: Array<[string, string]>, data: Buffer) => void;

/** One HTTP/2 connection over a connected socket. */
class Connection extends H2Connection<Stream> {
  private nextId = 1;
  dead: IpcError | undefined;

  constructor(
    sock: Socket,
    private readonly service: ServiceName,
    private readonly fail: (e: NodeJS.ErrnoException) => IpcError,
  ) {
    super(
      sock,
      false,
      [
        [SETTINGS_ENABLE_PUSH, 0],
        [SETTINGS_INITIAL_WINDOW_SIZE, RECV_WINDOW],
      ],
      [PREFACE],
    );
    sock.on('error', (e: NodeJS.ErrnoException) => this.abort(this.fail(e)));
    sock.on('close', () => this.abort(this.fail(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }))));
  }

  get socket(): Socket {
    return this.sock;
  }

  get idle(): boolean {
    return this.streams.size === 0;
  }

  protected onConnectionError(e: H2Error): void {
    this.abort(new IpcError('UNAVAILABLE', `bad HTTP/2 data from ${this.service}: ${e.message}`, this.service));
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

  request(headers: ReadonlyArray<readonly [string, string]>, body: Buffer, finish: Finish): () => void {
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
    this.writeHeaders(id, headers, body.length === 0);
    this.flush(id, s);
    return () => {
      if (!this.streams.has(id)) return;
      this.streams.delete(id);
      this.write(frame(T.RST_STREAM, 0, id, u32(ERR.CANCEL)));
    };
  }

  /** sends as much of the request's body as the windows allow */
  protected flush(id: number, s: Stream): void {
    this.sendPending(id, s, true);
  }

  protected onGoAway(last: number): void {
    const err = new IpcError('UNAVAILABLE', `${this.service} is going away (HTTP/2 GOAWAY)`, this.service);
    this.dead ??= err;
    for (const [sid, s] of [...this.streams]) if (sid > last) s.finish(err);
  }

  protected onReset(id: number, code: number): void {
    this.streams.get(id)?.finish(new IpcError('UNAVAILABLE', `${this.service} reset the call (HTTP/2 error ${code})`, this.service));
  }

  protected onHeaders(id: number, fields: Array<[string, string]>, endStream: boolean): void {
    const s = this.streams.get(id);
    if (!s) return;
    s.headers.push(...fields);
    if (endStream) s.finish();
  }

  protected onStreamData(id: number, body: Buffer, endStream: boolean): void {
    const s = this.streams.get(id);
    if (!s) return;
    s.data.push(Buffer.from(body));
    if (endStream) s.finish();
  }
}

/** The answer of one call: its message decoded, or the call's error from the status, trailers and body. */
function answerOf(service: ServiceName, socketPath: string, method: string, spec: MethodSpec, headers: Array<[string, string]>, data: Buffer): unknown {
  const h = new Map<string, string>();
  for (const [k, v] of headers) h.set(k, v); // trailers come last and win
  const status = h.get(':status');
  if (status !== undefined && status !== '200') throw new IpcError('UNAVAILABLE', `${service} answered HTTP ${status} (${socketPath})`, service);
  const code = Number(h.get('grpc-status') ?? NaN);
  if (Number.isNaN(code)) throw new IpcError('UNAVAILABLE', `${service} closed the call without a status (${socketPath})`, service);
  if (code !== 0) {
    const raw = h.get('grpc-message');
    throw new IpcError(statusName(code), firstLine(raw === undefined ? statusName(code) : percentDecode(raw)), service);
  }
  const msg = grpcMessage(data);
  try {
    if (typeof msg === 'string') throw new Error(msg);
    return spec.res.decode(msg);
  } catch (e) {
    throw new IpcError('INTERNAL', `${service}: bad answer to ${method}: ${(e as Error).message}`, service);
  }
}

export function makeClient(service: ServiceName, table: MethodTable, socketPath: string, defaultDeadlineMs: number): RawClient {
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
            const sock = c.socket;
            sock.ref();
            let settled = false;
            const done = (err: unknown, value?: unknown) => {
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
                try {
                  done(undefined, answerOf(service, socketPath, method, spec, headers, data));
                } catch (e) {
                  done(e);
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
