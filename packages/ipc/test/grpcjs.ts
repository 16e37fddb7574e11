// @grpc/grpc-js as the other end of the interoperability tests (a devDependency, never in the package): a client
// with the same interface and error rules as connectMgr/connectFs, and a server built from the same method tables.
import * as grpc from '@grpc/grpc-js';
import { connectFs, connectMgr, IpcError, type ConnectOptions, type FsClient, type MgrClient, type ServiceName } from '../src/index.js';
import { statusName } from '../src/errors.js';
import { firstLine } from '../src/h2.js';
import { fsMethods } from '../src/fs.js';
import { mgrMethods } from '../src/mgr.js';
import { invoke } from '../src/server.js';
import type { CallOptions, Handlers, MessageFns, MethodTable } from '../src/types.js';

export type Transport = 'ipc' | 'grpc-js';

const serializer = (fns: MessageFns<any>) => (v: unknown) => Buffer.from(fns.encode(fns.fromPartial(v ?? {})).finish());
const deserializer = (fns: MessageFns<any>) => (b: Buffer) => fns.decode(b);

/** grpc-js's error as the IpcError our client gives for the same failure. */
function clientError(service: ServiceName, socketPath: string, deadlineMs: number, err: grpc.ServiceError): IpcError {
  const name = statusName(err.code);
  const details = err.details ?? err.message;
  if (name === 'DEADLINE_EXCEEDED') return new IpcError(name, `${service} did not answer within ${deadlineMs}ms`, service, { cause: err });
  if (name === 'UNAVAILABLE' && /ECONNREFUSED|ENOENT/.test(details)) {
    return new IpcError('NOT_RUNNING', `${service} is not running (${/ENOENT/.test(details) ? 'no socket' : 'connection refused'} at ${socketPath})`, service, { cause: err });
  }
  return new IpcError(name, firstLine(details), service, { cause: err });
}

function grpcJsClient<T>(service: ServiceName, table: MethodTable, socketPath: string, deadlineMs = 10_000): T {
  const client = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure(), { 'grpc.enable_retries': 0 });
  let closed = false;
  const c: Record<string, unknown> = { socketPath, close: () => ((closed = true), client.close()) };
  for (const [m, spec] of Object.entries(table)) {
    c[m] = (req?: unknown, opts?: CallOptions) => {
      if (closed) return Promise.reject(new IpcError('CLOSED', `${service} client is closed`, service));
      const ms = opts?.deadlineMs ?? deadlineMs;
      return new Promise((resolve, reject) =>
        client.makeUnaryRequest(spec.path, serializer(spec.req), deserializer(spec.res), req ?? {}, new grpc.Metadata(), { deadline: Date.now() + ms }, (err, res) =>
          err ? reject(clientError(service, socketPath, ms, err)) : resolve(res),
        ),
      );
    };
  }
  return c as T;
}

export function connectMgrVia(transport: Transport, opts: ConnectOptions & { socketPath: string }): Promise<MgrClient> {
  if (transport === 'ipc') return connectMgr(opts);
  return Promise.resolve(grpcJsClient<MgrClient>('sysbox-mgr', mgrMethods, opts.socketPath, opts.deadlineMs));
}

export function connectFsVia(transport: Transport, opts: ConnectOptions & { socketPath: string }): Promise<FsClient> {
  if (transport === 'ipc') return connectFs(opts);
  return Promise.resolve(grpcJsClient<FsClient>('sysbox-fs', fsMethods, opts.socketPath, opts.deadlineMs));
}

/** A grpc-js server of a method table; handlers run as in ours (src/server.ts invoke), answers pass encoded. */
export async function serveGrpcJs(table: MethodTable, impl: Handlers, socketPath: string): Promise<{ close(): Promise<void> }> {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [m, spec] of Object.entries(table)) {
    definition[m] = {
      path: spec.path,
      requestStream: false,
      responseStream: false,
      requestSerialize: serializer(spec.req),
      requestDeserialize: deserializer(spec.req),
      responseSerialize: (b: unknown) => Buffer.from(b as Uint8Array),
      responseDeserialize: (b: Buffer) => b,
    };
    handlers[m] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      void invoke(impl, m, spec, call.request).then((r) => (r.res ? callback(null, r.res) : callback({ code: r.code, details: r.message })));
    }) as grpc.handleUnaryCall<unknown, unknown>;
  }
  const server = new grpc.Server();
  server.addService(definition, handlers);
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return { close: () => new Promise<void>((r) => server.tryShutdown(() => r())) };
}
