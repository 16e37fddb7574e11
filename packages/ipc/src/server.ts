// The gRPC unary server of sysbox-mgr and sysbox-fs: HTTP/2 (./h2.ts) and HPACK (./hpack.ts) written directly over
// a unix socket (node:net), without @grpc/grpc-js or node:http2 — the server side of ./client.ts. Both daemons are
// long-lived and their RSS counts per host: grpc-js and node:http2 cost ~8 MB of resident code and heap. The wire
// protocol is plain gRPC (length-prefixed protobuf, grpc-status trailers): grpc-js clients interoperate
// (test/interop.test.ts). Scope: unary calls; SETTINGS, PING, WINDOW_UPDATE in both directions, CONTINUATION,
// RST_STREAM, GOAWAY; grpc-timeout; no compression, no server push, no streaming methods.
import { createServer, type Server, type Socket } from 'node:net';
import { GRPC_STATUS, IpcError, statusOf, type ServiceName } from './errors.js';
import { encodeHeaders } from './hpack.js';
import { ERR, firstLine, frame, grpcFrame, grpcMessage, H2Connection, parseTimeout, percentEncode, RECV_WINDOW, SETTINGS_INITIAL_WINDOW_SIZE, T, u32, type H2Error, type SendState } from './h2.js';
import { checkHandlers, finishBind, prepareSocket, removeIfOurs } from './listen.js';
import type { Handlers, IpcServer, MethodSpec, MethodTable, ServeOptions } from './types.js';

/** largest request message (gRPC's default receive limit); larger ones answer RESOURCE_EXHAUSTED */
export const MAX_REQUEST = 4 << 20;

const RESPONSE_HEADERS = encodeHeaders([
  [':status', '200'],
  ['content-type', 'application/grpc+proto'],
]);
const OK_TRAILERS = encodeHeaders([['grpc-status', '0']]);

/** A handler's outcome: the encoded answer, or a gRPC status and one-line message. */
export interface Outcome {
  code: number;
  message: string;
  res?: Uint8Array;
}

/** Runs a handler: its answer encoded, or its error as a gRPC status (RpcError's, an Error's `code`, else INTERNAL). */
export async function invoke(impl: Handlers, method: string, spec: MethodSpec, req: unknown, onCall?: ServeOptions['onCall']): Promise<Outcome> {
  const t0 = performance.now();
  try {
    const res = await impl[method]!.call(impl, req);
    let bytes: Uint8Array;
    try {
      bytes = spec.res.encode(spec.res.fromPartial(res ?? {})).finish();
    } catch (e) {
      onCall?.({ method, ms: performance.now() - t0, error: e });
      return { code: GRPC_STATUS.INTERNAL, message: `cannot encode the answer: ${(e as Error).message}` };
    }
    onCall?.({ method, ms: performance.now() - t0 });
    return { code: 0, message: '', res: bytes };
  } catch (error) {
    onCall?.({ method, ms: performance.now() - t0, error });
    return { code: statusOf(error), message: firstLine(error instanceof Error ? error.message : String(error)) };
  }
}

interface Call extends SendState {
  path: string;
  timeout: string | undefined;
  data: Buffer[];
  size: number;
  /** the request arrived whole (END_STREAM) and went to the handler */
  dispatched: boolean;
  /** answered, cancelled (RST_STREAM, disconnect) or timed out: nothing more is written for it */
  done: boolean;
  /** the answer's trailers, sent once its DATA is out (flow control) */
  trailers: Buffer | undefined;
  timer?: NodeJS.Timeout;
}

interface Dispatch {
  lookup(path: string): [string, MethodSpec] | undefined;
  run(method: string, spec: MethodSpec, req: unknown): Promise<Outcome>;
}

/** One HTTP/2 connection from a client. */
class Connection extends H2Connection<Call> {
  private lastId = 0;
  /** GOAWAY sent (server closing) or received: no new calls, close once idle */
  private goingAway = false;
  closed = false;

  constructor(
    sock: Socket,
    private readonly d: Dispatch,
    private readonly onIdle: () => void,
  ) {
    super(sock, true, [[SETTINGS_INITIAL_WINDOW_SIZE, RECV_WINDOW]]);
    sock.on('error', () => this.onClosed());
    sock.on('close', () => this.onClosed());
  }

  protected override get stopped(): boolean {
    return this.closed;
  }

  /** calls in flight (dispatched, not yet answered) */
  get busy(): boolean {
    for (const c of this.streams.values()) if (!c.done || c.pending || c.trailers) return true;
    return false;
  }

  protected override write(b: Buffer): void {
    if (!this.closed) super.write(b);
  }

  private goAwayFrame(code: number): Buffer {
    const p = Buffer.alloc(8);
    p.writeUInt32BE(this.lastId, 0);
    p.writeUInt32BE(code, 4);
    return frame(T.GOAWAY, 0, 0, p);
  }

  /** connection error: GOAWAY with the code, then close */
  protected onConnectionError(e: H2Error): void {
    if (this.closed) return;
    this.write(this.goAwayFrame(e.code));
    this.sock.end(); // the GOAWAY goes out first
    setTimeout(() => this.sock.destroy(), 1000).unref();
    this.onClosed(false);
  }

  private onClosed(destroy = true): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.streams.values()) this.finishCall(c);
    this.streams.clear();
    if (destroy) this.sock.destroy();
    this.onIdle();
  }

  /** server closing: no new calls; in-flight ones finish; the socket closes once idle */
  goAway(): void {
    if (this.goingAway || this.closed) return;
    this.goingAway = true;
    this.write(this.goAwayFrame(ERR.NO_ERROR));
    this.maybeEnd();
  }

  destroy(): void {
    this.sock.destroy();
    this.onClosed();
  }

  private maybeEnd(): void {
    if (this.goingAway && !this.busy && !this.closed) this.sock.end();
  }

  protected onGoAway(): void {
    this.goingAway = true;
    this.maybeEnd();
  }

  protected onReset(id: number): void {
    const c = this.streams.get(id);
    if (!c) return;
    this.finishCall(c);
    this.streams.delete(id);
    this.maybeEnd();
  }

  protected onStreamData(id: number, body: Buffer, endStream: boolean): void {
    const c = this.streams.get(id);
    if (!c || c.dispatched || c.done) return;
    c.size += body.length;
    if (c.size > MAX_REQUEST + 5) {
      this.answer(id, c, GRPC_STATUS.RESOURCE_EXHAUSTED, `request larger than ${MAX_REQUEST} bytes`);
      this.write(frame(T.RST_STREAM, 0, id, u32(ERR.NO_ERROR)));
      c.data = [];
      return;
    }
    if (body.length) c.data.push(Buffer.from(body));
    if (endStream) this.dispatch(id, c);
  }

  protected onHeaders(id: number, fields: Array<[string, string]>, endStream: boolean): void {
    const known = this.streams.get(id);
    if (known) {
      // trailers of a request: only END_STREAM matters
      if (endStream && !known.dispatched && !known.done) this.dispatch(id, known);
      return;
    }
    if (id % 2 === 0 || id <= this.lastId) return; // a closed stream: ignored
    this.lastId = id;
    if (this.goingAway) {
      this.write(frame(T.RST_STREAM, 0, id, u32(ERR.REFUSED_STREAM)));
      return;
    }
    const h = new Map(fields);
    const method = h.get(':method');
    if (method !== 'POST' || !/^application\/grpc(\+|;|$)/.test(h.get('content-type') ?? '')) {
      // not gRPC: an HTTP error, as grpc-js answers
      this.writeHeaders(id, [[':status', method !== 'POST' ? '405' : '415']], true);
      return;
    }
    const c: Call = {
      path: h.get(':path') ?? '',
      timeout: h.get('grpc-timeout'),
      data: [],
      size: 0,
      dispatched: false,
      done: false,
      sendWindow: this.peerInitialWindow,
      pending: undefined,
      trailers: undefined,
    };
    this.streams.set(id, c);
    if (endStream) this.dispatch(id, c);
  }

  private dispatch(id: number, c: Call): void {
    c.dispatched = true;
    const hit = this.d.lookup(c.path);
    if (!hit) return this.answer(id, c, GRPC_STATUS.UNIMPLEMENTED, `the server does not implement the method ${c.path}`);
    const body = c.data.length === 1 ? c.data[0]! : Buffer.concat(c.data);
    c.data = [];
    const msg = grpcMessage(body);
    if (typeof msg === 'string') return this.answer(id, c, msg.startsWith('compressed') ? GRPC_STATUS.UNIMPLEMENTED : GRPC_STATUS.INTERNAL, msg);
    const [method, spec] = hit;
    let req: unknown;
    try {
      req = spec.req.decode(msg);
    } catch (e) {
      return this.answer(id, c, GRPC_STATUS.INTERNAL, `cannot decode the request: ${(e as Error).message}`);
    }
    const ms = parseTimeout(c.timeout);
    if (ms !== undefined) {
      c.timer = setTimeout(() => this.answer(id, c, GRPC_STATUS.DEADLINE_EXCEEDED, 'Deadline exceeded'), Math.max(0, ms));
      c.timer.unref();
    }
    void this.d.run(method, spec, req).then((r) => this.answer(id, c, r.code, r.message, r.res));
  }

  private finishCall(c: Call): void {
    c.done = true;
    c.pending = undefined;
    c.trailers = undefined;
    if (c.timer) clearTimeout(c.timer);
  }

  /** Writes the answer: HEADERS, DATA (as the windows allow), trailers; or trailers only (an error). */
  private answer(id: number, c: Call, code: number, message: string, res?: Uint8Array): void {
    if (c.done || this.closed) return;
    c.done = true;
    if (c.timer) clearTimeout(c.timer);
    this.sock.cork();
    try {
      if (code === 0 && res) {
        this.writeHeaders(id, RESPONSE_HEADERS, false);
        c.pending = grpcFrame(res);
        c.trailers = OK_TRAILERS;
        this.flush(id, c);
      } else {
        this.writeHeaders(
          id,
          [
            [':status', '200'],
            ['content-type', 'application/grpc+proto'],
            ['grpc-status', String(code)],
            ['grpc-message', percentEncode(firstLine(message).slice(0, 4096))],
          ],
          true,
        );
        this.streams.delete(id);
      }
    } finally {
      this.sock.uncork();
    }
    this.maybeEnd();
  }

  /** sends as much of the answer as the windows allow; the trailers once the message is out */
  protected flush(id: number, c: Call): void {
    if (!c.pending && !c.trailers) return;
    if (!this.sendPending(id, c, false) || !c.trailers) return;
    this.writeHeaders(id, c.trailers, true);
    c.trailers = undefined;
    this.streams.delete(id);
    this.maybeEnd();
  }
}

/** Serves a method table on a unix socket: stale socket removed, a live one refused, mode set after bind. */
export async function serve(service: ServiceName, table: MethodTable, impl: Handlers, socketPath: string, opts: ServeOptions): Promise<IpcServer> {
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
      try {
        return await invoke(impl, method, spec, req, opts.onCall);
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
