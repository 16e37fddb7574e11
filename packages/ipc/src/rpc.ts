// The gRPC layer. Loaded lazily by connect*/serve* (it pulls in @grpc/grpc-js), never at top level.
import type * as Grpc from '@grpc/grpc-js';
import { checkHandlers, finishBind, prepareSocket, removeIfOurs } from './listen.js';
import { IpcError, statusName, statusOf, type ServiceName } from './errors.js';

export interface MessageFns<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
  fromPartial(object: any): T;
}
export interface MethodSpec {
  path: string;
  req: MessageFns<any>;
  res: MessageFns<any>;
}
export type MethodTable = Record<string, MethodSpec>;

export interface CallOptions {
  /** per-call deadline, overriding the client's */
  deadlineMs?: number;
}

let grpcPromise: Promise<typeof Grpc> | undefined;
export function loadGrpc(): Promise<typeof Grpc> {
  // CommonJS module: its exports are the namespace's `default` (Node, and the bundled copy in dist/).
  grpcPromise ??= import('@grpc/grpc-js').then((m) => ((m as unknown as { default?: typeof Grpc }).default ?? m) as typeof Grpc);
  return grpcPromise;
}

function serializer(fns: MessageFns<any>) {
  return (v: unknown): Buffer => Buffer.from(fns.encode(fns.fromPartial(v ?? {})).finish());
}
function deserializer(fns: MessageFns<any>) {
  return (b: Buffer): unknown => fns.decode(b);
}

function clientError(service: ServiceName, socketPath: string, deadlineMs: number, err: Grpc.ServiceError): IpcError {
  const name = statusName(err.code);
  const details = err.details ?? err.message;
  if (name === 'DEADLINE_EXCEEDED') {
    return new IpcError('DEADLINE_EXCEEDED', `${service} did not answer within ${deadlineMs}ms`, service, { cause: err });
  }
  if (name === 'UNAVAILABLE' && !/^sysbox/.test(details)) {
    if (/ECONNREFUSED/.test(details)) {
      return new IpcError('NOT_RUNNING', `${service} is not running (connection refused at ${socketPath})`, service, { cause: err });
    }
    if (/ENOENT/.test(details)) {
      return new IpcError('NOT_RUNNING', `${service} is not running (no socket at ${socketPath})`, service, { cause: err });
    }
    if (/EACCES|EPERM/.test(details)) {
      return new IpcError('UNAVAILABLE', `cannot reach ${service}: permission denied on ${socketPath}`, service, { cause: err });
    }
    return new IpcError('UNAVAILABLE', `${service} is unavailable at ${socketPath}: ${details.split('\n')[0]}`, service, { cause: err });
  }
  if (name === 'CANCELLED' && /Cancelled on client/i.test(details)) {
    return new IpcError('CLOSED', `${service} call cancelled: the client was closed`, service, { cause: err });
  }
  // A server's own error: its message passes through unchanged.
  return new IpcError(name, details.split('\n')[0] ?? details, service, { cause: err });
}

export interface RawClient {
  call(method: string, req: unknown, opts?: CallOptions): Promise<any>;
  close(): void;
}

export async function makeClient(
  service: ServiceName,
  table: MethodTable,
  socketPath: string,
  defaultDeadlineMs: number,
): Promise<RawClient> {
  const grpc = await loadGrpc();
  const client = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure(), {
    'grpc.enable_retries': 0,
    'grpc.max_reconnect_backoff_ms': 1000,
  });
  let closed = false;
  return {
    call(method, req, opts) {
      const spec = table[method];
      if (!spec) return Promise.reject(new IpcError('UNIMPLEMENTED', `${service} has no method ${method}`, service));
      if (closed) return Promise.reject(new IpcError('CLOSED', `${service} client is closed`, service));
      const deadlineMs = opts?.deadlineMs ?? defaultDeadlineMs;
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          spec.path,
          serializer(spec.req),
          deserializer(spec.res),
          req,
          new grpc.Metadata(),
          { deadline: Date.now() + deadlineMs },
          (err, res) => (err ? reject(clientError(service, socketPath, deadlineMs, err)) : resolve(res)),
        );
      });
    },
    close() {
      closed = true;
      client.close();
    },
  };
}

export interface ServeOptions {
  /** socket file mode after bind (default 0o600: root-only) */
  mode?: number;
  /**
   * 'grpc-js' (default): @grpc/grpc-js's server. 'lean': ./h2server.ts, gRPC over HTTP/2 written directly on
   * node:net (unary calls only): no grpc-js or node:http2 in memory (~8 MB less RSS for a long-lived daemon).
   * Clients of either transport talk to either server.
   */
  transport?: 'grpc-js' | 'lean';
  /** called after each call, e.g. to log it */
  onCall?: (event: { method: string; ms: number; error?: unknown }) => void;
}

export interface IpcServer {
  readonly socketPath: string;
  /** Stops accepting, waits up to graceMs (default 2000) for calls in flight, then removes the socket. */
  close(graceMs?: number): Promise<void>;
}

export async function serve(
  service: ServiceName,
  table: MethodTable,
  impl: Record<string, (req: any) => unknown>,
  socketPath: string,
  opts: ServeOptions,
): Promise<IpcServer> {
  checkHandlers(service, table, impl);
  const grpc = await loadGrpc();
  await prepareSocket(service, socketPath);

  const definition: Record<string, Grpc.MethodDefinition<unknown, unknown>> = {};
  const handlers: Grpc.UntypedServiceImplementation = {};
  for (const [m, spec] of Object.entries(table)) {
    definition[m] = {
      path: spec.path,
      requestStream: false,
      responseStream: false,
      requestSerialize: serializer(spec.req),
      requestDeserialize: deserializer(spec.req),
      responseSerialize: serializer(spec.res),
      responseDeserialize: deserializer(spec.res),
    };
    const fn = impl[m]!;
    handlers[m] = ((call: Grpc.ServerUnaryCall<unknown, unknown>, callback: Grpc.sendUnaryData<unknown>) => {
      const t0 = performance.now();
      Promise.resolve()
        .then(() => fn.call(impl, call.request))
        .then(
          (res) => {
            opts.onCall?.({ method: m, ms: performance.now() - t0 });
            callback(null, res ?? {});
          },
          (error: unknown) => {
            opts.onCall?.({ method: m, ms: performance.now() - t0, error });
            const msg = error instanceof Error ? error.message : String(error);
            callback({ code: statusOf(error), details: msg.split('\n')[0] ?? msg });
          },
        );
    }) as Grpc.handleUnaryCall<unknown, unknown>;
  }
  const server = new grpc.Server();
  server.addService(definition, handlers);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(new IpcError('BAD_SOCKET', `cannot serve ${service} on ${socketPath}: ${err.message}`, service, { cause: err })) : resolve(),
    ),
  );
  const ino = await finishBind(socketPath, opts.mode ?? 0o600);

  let closing: Promise<void> | undefined;
  return {
    socketPath,
    close(graceMs = 2000) {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, graceMs);
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        await removeIfOurs(socketPath, ino);
      })();
      return closing;
    },
  };
}
