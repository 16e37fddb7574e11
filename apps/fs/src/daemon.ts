import { mkdir, readFile, unlink, writeFile, rename } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { serveFs, type IpcServer } from '@sysbox/ipc';
import { hostEnv } from '@sysbox/procfs/host';
import pino, { type Logger } from 'pino';
import type { FsFlags } from './flags.js';
import { fuseNativeBackend, type FuseBackend } from './fuse.js';
import { FsService } from './service.js';
import { cachedEnv } from './cache.js';

declare const __FS_VERSION__: string | undefined;
export const VERSION = typeof __FS_VERSION__ === 'string' ? __FS_VERSION__ : '0.0.0-dev';

export class StartError extends Error {
  override readonly name = 'StartError';
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function claimPidFile(path: string, pid = process.pid): Promise<void> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const other = Number.parseInt(text.trim(), 10);
  if (Number.isSafeInteger(other) && other > 0 && other !== pid && alive(other)) {
    const cmdline = await readFile(`/proc/${other}/cmdline`, 'utf8').catch(() => undefined);
    if (cmdline === undefined || /fs/.test(cmdline)) throw new StartError(`sysbox-fs is already running (pid ${other}, from ${path})`);
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${pid}.tmp`;
  await writeFile(tmp, `${pid}\n`, { mode: 0o644 });
  await rename(tmp, path);
}

async function releasePidFile(path: string, pid = process.pid): Promise<void> {
  const text = await readFile(path, 'utf8').catch(() => '');
  if (Number.parseInt(text.trim(), 10) === pid) await unlink(path).catch(() => {});
}

/** umount2(path, MNT_DETACH) through @sysbox/native; undefined (with a warning) if the addon can't load. */
async function loadDetach(log: Logger): Promise<((path: string) => void) | undefined> {
  try {
    const native = await import('@sysbox/native');
    const k = native.realKernel();
    return (path) => k.umount(path, native.MNT_DETACH);
  } catch (err) {
    log.warn({ err: errText(err) }, 'native addon unavailable: stale FUSE trees are not unmounted');
    return undefined;
  }
}

export interface Daemon {
  readonly service: FsService;
  readonly server: IpcServer;
  stop(): Promise<void>;
}

export async function startDaemon(flags: FsFlags, opts: { log: Logger; fuse?: FuseBackend }): Promise<Daemon> {
  const { log } = opts;
  const mountRoot = resolve(flags.mountRoot);
  await claimPidFile(flags.pidFile).catch((err: unknown) => {
    throw err instanceof StartError ? err : new StartError(`cannot write pid file ${flags.pidFile}: ${errText(err)}`);
  });
  try {
    let fuse: FuseBackend;
    try {
      fuse = opts.fuse ?? fuseNativeBackend();
    } catch (err) {
      throw new StartError(`cannot load the FUSE backend (fuse-native): ${errText(err)}`);
    }
    await mkdir(mountRoot, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
      throw new StartError(`cannot create ${mountRoot}: ${errText(err)}`);
    });
    const detach = await loadDetach(log);
    const service = new FsService({ env: cachedEnv(hostEnv()), fuse, mountRoot, log, version: VERSION, ...(detach ? { detach } : {}) });
    const stale = await service.cleanStale();
    if (stale.length) log.warn({ containers: stale }, 'removed FUSE trees left by a previous sysbox-fs (their containers lost emulation)');
    const server = await serveFs(service, {
      socketPath: flags.socket,
      onCall: ({ method, ms, error }) => {
        if (error) log.warn({ method, ms: +ms.toFixed(2), err: errText(error) }, 'call failed');
        else log.debug({ method, ms: +ms.toFixed(2) }, 'call');
      },
    }).catch((err: unknown) => {
      throw new StartError(errText(err));
    });
    log.info({ socket: flags.socket, mountRoot, version: VERSION }, 'sysbox-fs ready');
    let stopping: Promise<void> | undefined;
    return {
      service,
      server,
      stop() {
        stopping ??= (async () => {
          await server.close();
          await service.close();
          await releasePidFile(flags.pidFile);
          log.info('sysbox-fs stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await releasePidFile(flags.pidFile);
    throw err;
  }
}

export function makeLogger(flags: Pick<FsFlags, 'logFile' | 'logLevel'>): { log: Logger; flush(): void } {
  const dest =
    flags.logFile === 'stderr' ? pino.destination({ fd: 2, sync: true }) : pino.destination({ dest: flags.logFile, sync: false, mkdir: true });
  const log = pino({ level: flags.logLevel, base: { name: 'sysbox-fs', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  return {
    log,
    flush() {
      try {
        dest.flushSync();
      } catch {
        /* nothing buffered */
      }
    },
  };
}
