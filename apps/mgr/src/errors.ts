/**
 * Errors of the mgr service. `code` is a gRPC status name, so @sysbox/ipc's server answers with that status
 * and the client sees `message` unchanged.
 */
export type MgrErrorCode = 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'ALREADY_EXISTS' | 'RESOURCE_EXHAUSTED' | 'FAILED_PRECONDITION' | 'INTERNAL';

export class MgrError extends Error {
  override readonly name = 'MgrError';
  constructor(
    readonly code: MgrErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function errText(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0] ?? m;
}
