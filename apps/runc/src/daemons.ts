// Reaching sysbox-mgr and sysbox-fs, fail closed: a system container is never created without either. A daemon
// whose socket is missing or refuses connections is waited for up to `daemonStartWaitMs` (default 3 s: a restart,
// e.g. by the installer, takes about a second), then the create fails; one that accepts but doesn't answer (hung,
// SIGSTOPped) fails the call after `daemonTimeoutMs` (default 10 s). Either way the error is one line that names
// the daemon, its socket and how to start it.
import type { FsClient, MgrClient } from '@sysbox/ipc';
import type { Context } from './context.js';

export const DEFAULT_MGR_SOCKET = '/run/sysbox/mgr.sock';
export const DEFAULT_FS_SOCKET = '/run/sysbox/fs.sock';
export const DEFAULT_DAEMON_TIMEOUT_MS = 10_000;
export const DEFAULT_DAEMON_START_WAIT_MS = 3_000;

export type DaemonName = 'sysbox-mgr' | 'sysbox-fs';

/** A daemon a system container needs can't be reached: the message is the one line the user sees. */
export class DaemonError extends Error {
  override name = 'DaemonError';
}

export function fsSocket(ctx: Context): string {
  return ctx.env('SYSBOX_FS_SOCKET') ?? ctx.config.fsSocket ?? DEFAULT_FS_SOCKET;
}

export const DEFAULT_FS_SECCOMP_SOCKET = '/run/sysbox/fs-seccomp.sock';

/** [vetting] sysbox-fs's seccomp listener socket (the spec's listenerPath); undefined when vetting is off in the config. */
export function fsSeccompSocket(ctx: Context): string | undefined {
  if (ctx.config.vetting === false) return undefined;
  return ctx.env('SYSBOX_FS_SECCOMP_SOCKET') ?? ctx.config.fsSeccompSocket ?? DEFAULT_FS_SECCOMP_SOCKET;
}

export function daemonTimeoutMs(ctx: Context): number {
  return ctx.config.daemonTimeoutMs ?? DEFAULT_DAEMON_TIMEOUT_MS;
}

/** The one line for a daemon that can't be reached: what, where, and what to do. */
export function daemonMessage(name: DaemonName, socket: string, why: string): string {
  const role = name === 'sysbox-mgr' ? 'ID ranges and staged mounts' : '/proc and /sys emulation';
  return `${why}: a system container needs ${name} (${role}); start it (\`${name} --socket ${socket}\`, as scripts/install.sh does) and retry`;
}

interface Client {
  status(req?: object, opts?: { deadlineMs?: number }): Promise<unknown>;
  close(): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A connected client whose daemon has answered a Status call. Retries while the daemon is not running (no
 * socket, connection refused) for up to `startWaitMs`; a Status that gets no answer within the call deadline fails.
 */
export async function reachDaemon<C extends Client>(
  name: DaemonName,
  socket: string,
  connect: () => Promise<C>,
  o: { timeoutMs: number; startWaitMs?: number | undefined },
): Promise<C> {
  const end = Date.now() + (o.startWaitMs ?? DEFAULT_DAEMON_START_WAIT_MS);
  for (;;) {
    let c: C | undefined;
    try {
      c = await connect();
      await c.status({}, { deadlineMs: o.timeoutMs });
      return c;
    } catch (e) {
      c?.close();
      const code = (e as { code?: string }).code;
      const msg = (e as Error).message;
      if (code === 'NOT_RUNNING' && Date.now() < end) {
        await sleep(100);
        continue;
      }
      if (code === 'NOT_RUNNING') throw new DaemonError(daemonMessage(name, socket, msg));
      if (code === 'DEADLINE_EXCEEDED') throw new DaemonError(daemonMessage(name, socket, `${name} did not answer within ${o.timeoutMs} ms at ${socket} (hung or overloaded)`));
      throw new DaemonError(daemonMessage(name, socket, `${name} at ${socket}: ${msg}`));
    }
  }
}

/**
 * In the create server, one connection per daemon socket is kept open across creates (callers' close() leaves it
 * open; a call that fails with a connection error or deadline drops it, and the next create connects anew). It is
 * still checked with Status on every reach: a daemon that died or hung meanwhile is waited for and reported as when
 * connecting afresh. The CLI connects per invocation.
 */
const kept = new Map<string, Client>();

function keepOpen<C extends Client>(key: string, connect: () => Promise<C>): () => Promise<C> {
  return async () => {
    const have = kept.get(key) as C | undefined;
    if (have) return have;
    const c = await connect();
    const drop = () => {
      if (kept.get(key) === p) kept.delete(key);
      c.close();
    };
    const p = new Proxy(c, {
      get(target, prop, recv) {
        if (prop === 'close') return () => undefined;
        const v = Reflect.get(target, prop, recv) as unknown;
        if (typeof v !== 'function') return v;
        return (...a: unknown[]) =>
          (v as (...x: unknown[]) => Promise<unknown>).apply(target, a).catch((e: unknown) => {
            const code = (e as { code?: string }).code;
            if (code === 'NOT_RUNNING' || code === 'UNAVAILABLE' || code === 'DEADLINE_EXCEEDED' || code === 'CLOSED') drop();
            throw e;
          });
      },
    });
    kept.set(key, p);
    return p;
  };
}

/** sysbox-mgr, reached (see reachDaemon). */
export function reachMgr(ctx: Context): Promise<MgrClient> {
  const socketPath = ctx.mgrSocket;
  const deadlineMs = daemonTimeoutMs(ctx);
  const connect = async () => (await import('@sysbox/ipc')).connectMgr({ socketPath, deadlineMs });
  return reachDaemon('sysbox-mgr', socketPath, ctx.inv.served ? keepOpen(`mgr ${socketPath}`, connect) : connect, { timeoutMs: deadlineMs, startWaitMs: ctx.config.daemonStartWaitMs });
}

/** sysbox-fs, reached (see reachDaemon). */
export function reachFs(ctx: Context): Promise<FsClient> {
  const socketPath = fsSocket(ctx);
  const deadlineMs = daemonTimeoutMs(ctx);
  const connect = async () => (await import('@sysbox/ipc')).connectFs({ socketPath, deadlineMs });
  return reachDaemon('sysbox-fs', socketPath, ctx.inv.served ? keepOpen(`fs ${socketPath}`, connect) : connect, { timeoutMs: deadlineMs, startWaitMs: ctx.config.daemonStartWaitMs });
}
