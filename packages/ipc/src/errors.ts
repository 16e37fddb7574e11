/** gRPC status names (stable numbers from the gRPC spec; kept here so importing this file stays cheap). */
export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatusName = keyof typeof GRPC_STATUS;

/**
 * Codes of IpcError: the gRPC status the server answered with, or one of
 *  NOT_RUNNING  the daemon's socket is missing or refuses connections
 *  IN_USE       serve*: another server is listening on the socket
 *  BAD_SOCKET   serve*: the socket path exists and is not a socket, or cannot be bound
 *  CLOSED       the client was closed
 */
export type IpcErrorCode = GrpcStatusName | 'NOT_RUNNING' | 'IN_USE' | 'BAD_SOCKET' | 'CLOSED';

export type ServiceName = 'sysbox-mgr' | 'sysbox-fs';

/** Every error from @sysbox/ipc. `message` is one line naming the daemon or socket and why. */
export class IpcError extends Error {
  override readonly name = 'IpcError';
  constructor(
    readonly code: IpcErrorCode,
    message: string,
    readonly service?: ServiceName,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  /** the gRPC status number for codes that are gRPC statuses, else undefined */
  get grpcStatus(): number | undefined {
    return (GRPC_STATUS as Record<string, number>)[this.code];
  }
}

/**
 * Error a server handler throws to answer with a given gRPC status: `throw new RpcError('NOT_FOUND', 'container x is not registered')`.
 * Handlers may also throw any Error whose `code` is a gRPC status name or that has a numeric `grpcStatus`;
 * anything else answers INTERNAL. The client sees the message unchanged.
 */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly code: GrpcStatusName,
    message: string,
  ) {
    super(message);
  }
}

export function statusOf(err: unknown): number {
  const e = err as { code?: unknown; grpcStatus?: unknown } | null;
  if (e && typeof e.grpcStatus === 'number') return e.grpcStatus;
  if (e && typeof e.code === 'string' && e.code in GRPC_STATUS && e.code !== 'OK') return GRPC_STATUS[e.code as GrpcStatusName];
  return GRPC_STATUS.INTERNAL;
}

export function statusName(code: number): GrpcStatusName {
  const hit = Object.entries(GRPC_STATUS).find(([, n]) => n === code);
  return (hit?.[0] as GrpcStatusName | undefined) ?? 'UNKNOWN';
}
