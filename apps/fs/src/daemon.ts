import { mkdir, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { serveFs, type IpcServer } from '@sysbox/ipc';
import { hostEnv } from '@sysbox/procfs/host';
import { holdingPidFile, StartError } from '@sysbox/daemon-kit';
import type { Logger } from 'pino';
import type { FsFlags } from './flags.js';
import { devFuseBackend, fuseNativeBackend, type FuseBackend } from '@sysbox/fuse';
import { FdKeeper } from './keeper.js';
import { FsService } from './service.js';
import { isSeccompEntry, startSeccompServer, STORE_LISTEN, type SeccompServer } from './seccomp-server.js';
import { cachedEnv, preadEnv } from './cache.js';

declare const __FS_VERSION__: string | undefined;
export const VERSION = typeof __FS_VERSION__ === 'string' ? __FS_VERSION__ : '0.0.0-dev';

export { StartError };

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

let gcFn: (() => void) | null | undefined;
/** a full V8 GC (for the idle trim after a burst), without --expose-gc on the command line; undefined if unavailable */
function fullGc(): (() => void) | undefined {
  if (gcFn === undefined) {
    try {
      const g = (globalThis as { gc?: () => void }).gc;
      if (typeof g === 'function') gcFn = g;
      else {
        setFlagsFromString('--expose-gc');
        const f: unknown = runInNewContext('gc');
        gcFn = typeof f === 'function' ? (f as () => void) : null;
      }
    } catch {
      gcFn = null;
    }
  }
  return gcFn ?? undefined;
}

type NativeModule = typeof import('@sysbox/native');

async function loadNative(): Promise<NativeModule> {
  return import('@sysbox/native');
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
  return holdingPidFile('sysbox-fs', /fs/, flags.pidFile, async () => {
    let fuse: FuseBackend;
    let keeper: FdKeeper | undefined;
    let service: FsService | undefined;
    let closeFd: ((fd: number) => void) | undefined;
    let seccomp: SeccompServer | undefined;
    let kernel: import('@sysbox/native').Kernel | undefined;
    const which = opts.fuse ? 'custom' : flags.fuse;
    try {
      if (opts.fuse) fuse = opts.fuse;
      else if (flags.fuse === 'fuse-native') fuse = fuseNativeBackend();
      else {
        const k = (await loadNative()).realKernel();
        kernel = k;
        closeFd = (fd) => k.close(fd);
        fuse = devFuseBackend(k, {
          onError: (what, err) => log.warn({ what, err: errText(err) }, 'FUSE request failed'),
          onClose: (mountpoint, errno) => log.info({ mountpoint, errno }, 'FUSE connection ended'),
          spinUs: flags.spinUs,
          ...(fullGc() ? { gc: fullGc()! } : {}),
        });
        if (flags.fdStore !== 'none') keeper = new FdKeeper(k, flags.fdStore, log, () => [...(service?.keptAll() ?? []), ...(seccomp?.kept() ?? [])]);
      }
    } catch (err) {
      throw new StartError(`cannot load the FUSE backend (${which}): ${errText(err)}`);
    }
    await mkdir(mountRoot, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
      throw new StartError(`cannot create ${mountRoot}: ${errText(err)}`);
    });
    const detach = await loadDetach(log);
    service = new FsService({ env: cachedEnv(preadEnv(hostEnv())), fuse, mountRoot, log, version: VERSION, ...(detach ? { detach } : {}), ...(keeper ? { keeper } : {}) });
    let kept: Awaited<ReturnType<FdKeeper['start']>> = [];
    if (keeper) {
      const all = await keeper.start();
      kept = all.filter((e) => isSeccompEntry(e.name)); // [seccomp] served by the seccomp server below
      const entries = all.filter((e) => !isSeccompEntry(e.name));
      if (entries.length) {
        const { adopted, dropped } = service.adopt(entries, (fd) => closeFd?.(fd));
        log.info({ adopted, dropped }, 'FUSE connections taken over from the fd store');
      }
    }
    // [seccomp] the engine's listener fds: vetting of the containers' mount calls (seccomp-server.ts)
    if (flags.seccompSocket !== 'none' && kernel) {
      const listen = kept.find((e) => e.name === STORE_LISTEN);
      seccomp = startSeccompServer({ kernel, log, socketPath: flags.seccompSocket, timing: flags.vetTiming, ...(listen ? { listenFd: listen.fd } : {}), emulation: (id) => service?.emulation(id), ...(keeper ? { store: keeper } : {}) });
      for (const e of kept) if (e !== listen) seccomp.adopt(e.name, e.data, e.fd);
      seccomp.sweep();
    } else for (const e of kept) closeFd?.(e.fd);
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
    log.info({ socket: flags.socket, mountRoot, version: VERSION, fuse: which, fdStore: keeper ? flags.fdStore : 'none' }, 'sysbox-fs ready');
    const svc = service;
    return {
      service: svc,
      server,
      async stop() {
        await server.close();
        seccomp?.close();
        // mounts whose fds the fd store holds stay mounted: the next sysbox-fs adopts them (a store that is
        // restarting, as install.sh restarts sysbox-mgr just before sysbox-fs, gets a moment to come back)
        for (let i = 0; keeper && svc.size > 0 && !keeper.sync() && i < 30; i++) await new Promise((r) => setTimeout(r, 100));
        const kept = await svc.close({ keepKept: true });
        if (kept.length) log.info({ containers: kept }, 'left mounted for the next sysbox-fs (fds in the fd store)');
        keeper?.close();
        log.info('sysbox-fs stopped');
      },
    };
  });
}
