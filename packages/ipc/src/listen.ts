// Socket-file rules of the gRPC server (./server.ts): a stale socket is
// removed, a live one refused, mode set after bind, and close() removes the file only while it is still ours.
import { connect as netConnect } from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IpcError, type ServiceName } from './errors.js';

function probe(socketPath: string): Promise<'live' | 'dead'> {
  return new Promise((resolve) => {
    const s = netConnect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve('live');
    });
    s.once('error', () => resolve('dead'));
  });
}

/** Before bind: creates the directory; removes a stale socket; refuses a live one or a non-socket. */
export async function prepareSocket(service: ServiceName, socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
  const st = await lstat(socketPath).catch(() => undefined);
  if (st) {
    if (!st.isSocket()) throw new IpcError('BAD_SOCKET', `cannot serve ${service}: ${socketPath} exists and is not a socket`, service);
    if ((await probe(socketPath)) === 'live') {
      throw new IpcError('IN_USE', `cannot serve ${service}: another server is listening on ${socketPath}`, service);
    }
    await unlink(socketPath).catch(() => {});
  }
}

/** After bind: sets the mode; returns the socket file's inode (see removeIfOurs). */
export async function finishBind(socketPath: string, mode: number): Promise<number> {
  await chmod(socketPath, mode);
  return (await lstat(socketPath)).ino;
}

/** Removes the socket only if it is still ours (a successor may have bound the path). */
export async function removeIfOurs(socketPath: string, ino: number): Promise<void> {
  const now = await lstat(socketPath).catch(() => undefined);
  if (now && now.ino === ino) await unlink(socketPath).catch(() => {});
}

/** Refuses to serve a method table without a handler for each of its methods. */
export function checkHandlers(service: ServiceName, table: object, impl: Record<string, unknown>): void {
  for (const m of Object.keys(table)) {
    if (typeof impl[m] !== 'function') throw new IpcError('UNIMPLEMENTED', `${service} server: handler ${m} is missing`, service);
  }
}
