import { statSync } from 'node:fs';
import { IpcError, type ServiceName } from './errors.js';

/** Cheap pre-flight check before a gRPC channel is created: the socket must exist and be a socket. */
export function checkSocket(service: ServiceName, socketPath: string): void {
  let st;
  try {
    st = statSync(socketPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new IpcError('NOT_RUNNING', `${service} is not running (no socket at ${socketPath})`, service, { cause: err });
    }
    throw new IpcError('UNAVAILABLE', `cannot reach ${service}: ${socketPath}: ${(err as Error).message}`, service, { cause: err });
  }
  if (!st.isSocket()) {
    throw new IpcError('NOT_RUNNING', `${service} is not running (${socketPath} is not a socket)`, service);
  }
}
