// @sysbox/ipc: typed clients and servers of the sysbox-mgr and sysbox-fs gRPC services over unix sockets.
// One gRPC stack serves both daemons and every client: HTTP/2 and HPACK written on node:net (./h2.ts, ./client.ts,
// ./server.ts), unary calls only; neither @grpc/grpc-js nor node:http2 is loaded (grpc-js is the interoperability
// test's peer: test/interop.test.ts). This entry stays cheap to import: the transport and the generated code load
// only inside connect*/serve*.
import type * as M from './gen/mgr.js';
import type * as F from './gen/fs.js';
import { checkSocket } from './socket.js';
import type { CallOptions, IpcServer, MethodTable, ServeOptions } from './types.js';
import type { ServiceName } from './errors.js';

export { IpcError, RpcError, GRPC_STATUS, type IpcErrorCode, type GrpcStatusName, type ServiceName } from './errors.js';
export type { CallOptions, IpcServer, ServeOptions } from './types.js';
export { serveFdStore, FdStoreClient, DEFAULT_FD_STORE_SOCKET, type FdStoreKernel, type FdStoreEntry, type FdStoreServer } from './fdstore.js';

export const DEFAULT_MGR_SOCKET = '/run/sysbox/mgr.sock';
export const DEFAULT_FS_SOCKET = '/run/sysbox/fs.sock';
export const DEFAULT_DEADLINE_MS = 10_000;

/** Request messages accept any subset of fields (the rest take proto3 defaults). */
export type Init<T> = M.DeepPartial<T>;
/** What a handler may return: any subset of the response's fields. */
type Answer<T> = Promise<Init<T>> | Init<T>;

export type { IdRange } from './gen/idrange.js';
export type {
  RegisterRequest,
  RegisterResponse,
  PrepareRootfsRequest,
  PrepareRootfsResponse,
  MountSpec,
  StagedMount,
  StagedSpecialDir,
  PrepareMountsRequest,
  PrepareMountsResponse,
  UnregisterRequest,
  UnregisterResponse,
  GetRequest,
  ContainerInfo,
  ListRequest,
  ListResponse,
  StatusRequest,
  StatusResponse,
} from './gen/mgr.js';
export type {
  EmulationOptions as FsEmulationOptions,
  RegisterRequest as FsRegisterRequest,
  RegisterResponse as FsRegisterResponse,
  UnregisterRequest as FsUnregisterRequest,
  UnregisterResponse as FsUnregisterResponse,
  StatusRequest as FsStatusRequest,
  StatusResponse as FsStatusResponse,
} from './gen/fs.js';

export interface ConnectOptions {
  /** default /run/sysbox/mgr.sock (mgr) or /run/sysbox/fs.sock (fs) */
  socketPath?: string;
  /** deadline of each call unless the call gives its own (default 10000) */
  deadlineMs?: number;
}

async function rawClient(service: ServiceName, table: MethodTable, socketPath: string, opts: ConnectOptions) {
  return (await import('./client.js')).makeClient(service, table, socketPath, opts.deadlineMs ?? DEFAULT_DEADLINE_MS);
}

async function serve(service: ServiceName, table: Promise<MethodTable>, impl: object, opts: ServeOptions & { socketPath: string }): Promise<IpcServer> {
  const [server, methods] = await Promise.all([import('./server.js'), table]);
  return server.serve(service, methods, impl as never, opts.socketPath, opts);
}

/** Promise-based sysbox-mgr client. Errors are IpcError. */
export interface MgrClient {
  readonly socketPath: string;
  register(req: Init<M.RegisterRequest>, opts?: CallOptions): Promise<M.RegisterResponse>;
  prepareRootfs(req: Init<M.PrepareRootfsRequest>, opts?: CallOptions): Promise<M.PrepareRootfsResponse>;
  prepareMounts(req: Init<M.PrepareMountsRequest>, opts?: CallOptions): Promise<M.PrepareMountsResponse>;
  unregister(req: Init<M.UnregisterRequest>, opts?: CallOptions): Promise<M.UnregisterResponse>;
  get(req: Init<M.GetRequest>, opts?: CallOptions): Promise<M.ContainerInfo>;
  list(req?: Init<M.ListRequest>, opts?: CallOptions): Promise<M.ListResponse>;
  status(req?: Init<M.StatusRequest>, opts?: CallOptions): Promise<M.StatusResponse>;
  close(): void;
}

/** sysbox-mgr server handlers; throw RpcError (or any Error with a gRPC status name as `code`) to answer an error. */
export interface MgrHandlers {
  register(req: M.RegisterRequest): Answer<M.RegisterResponse>;
  prepareRootfs(req: M.PrepareRootfsRequest): Answer<M.PrepareRootfsResponse>;
  prepareMounts(req: M.PrepareMountsRequest): Answer<M.PrepareMountsResponse>;
  unregister(req: M.UnregisterRequest): Answer<M.UnregisterResponse>;
  get(req: M.GetRequest): Answer<M.ContainerInfo>;
  list(req: M.ListRequest): Answer<M.ListResponse>;
  status(req: M.StatusRequest): Answer<M.StatusResponse>;
}

/** Promise-based sysbox-fs client. Errors are IpcError. */
export interface FsClient {
  readonly socketPath: string;
  register(req: Init<F.RegisterRequest>, opts?: CallOptions): Promise<F.RegisterResponse>;
  unregister(req: Init<F.UnregisterRequest>, opts?: CallOptions): Promise<F.UnregisterResponse>;
  status(req?: Init<F.StatusRequest>, opts?: CallOptions): Promise<F.StatusResponse>;
  close(): void;
}

export interface FsHandlers {
  register(req: F.RegisterRequest): Answer<F.RegisterResponse>;
  unregister(req: F.UnregisterRequest): Answer<F.UnregisterResponse>;
  status(req: F.StatusRequest): Answer<F.StatusResponse>;
}

function wrap<T>(raw: { call(m: string, r: unknown, o?: CallOptions): Promise<any>; close(): void }, socketPath: string, methods: string[]): T {
  const c: Record<string, unknown> = { socketPath, close: () => raw.close() };
  for (const m of methods) c[m] = (req?: unknown, opts?: CallOptions) => raw.call(m, req ?? {}, opts);
  return c as T;
}

/**
 * Connects to sysbox-mgr. Fails fast (without loading the transport) when the socket is missing:
 * IpcError NOT_RUNNING "sysbox-mgr is not running (no socket at /run/sysbox/mgr.sock)".
 */
export async function connectMgr(opts: ConnectOptions = {}): Promise<MgrClient> {
  const socketPath = opts.socketPath ?? DEFAULT_MGR_SOCKET;
  checkSocket('sysbox-mgr', socketPath);
  const { mgrMethods } = await import('./mgr.js');
  const raw = await rawClient('sysbox-mgr', mgrMethods, socketPath, opts);
  return wrap<MgrClient>(raw, socketPath, Object.keys(mgrMethods));
}

/** Serves sysbox-mgr on a unix socket (stale socket removed, mode 0600). */
export function serveMgr(impl: MgrHandlers, opts: ServeOptions & { socketPath?: string } = {}): Promise<IpcServer> {
  return serve('sysbox-mgr', import('./mgr.js').then((m) => m.mgrMethods), impl, { ...opts, socketPath: opts.socketPath ?? DEFAULT_MGR_SOCKET });
}

/** Connects to sysbox-fs; same error rules as connectMgr. */
export async function connectFs(opts: ConnectOptions = {}): Promise<FsClient> {
  const socketPath = opts.socketPath ?? DEFAULT_FS_SOCKET;
  checkSocket('sysbox-fs', socketPath);
  const { fsMethods } = await import('./fs.js');
  const raw = await rawClient('sysbox-fs', fsMethods, socketPath, opts);
  return wrap<FsClient>(raw, socketPath, Object.keys(fsMethods));
}

/** Serves sysbox-fs on a unix socket (stale socket removed, mode 0600). */
export function serveFs(impl: FsHandlers, opts: ServeOptions & { socketPath?: string } = {}): Promise<IpcServer> {
  return serve('sysbox-fs', import('./fs.js').then((m) => m.fsMethods), impl, { ...opts, socketPath: opts.socketPath ?? DEFAULT_FS_SOCKET });
}
