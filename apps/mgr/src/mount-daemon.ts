// The daemon side of mount staging: loads src/staging/mounts.ts with the real kernel, and removes special dirs
// once Docker removes their container (fs.watch on Docker's containers dir, plus a periodic sweep).
import { existsSync, watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';
import { errText } from './errors.js';
import { stagingLog } from './staging-log.js';
import { unavailableMountStager, type MountStager } from './mount-stager.js';
import type { MgrService } from './service.js';

/** Loads src/staging/mounts.js and @sysbox/native at run time; if either is missing, PrepareMounts answers why. */
export async function loadMountStager(log: Logger): Promise<MountStager> {
  const nativeSpec = '@sysbox/native';
  const mountsSpec = './staging/mounts.js';
  try {
    const native = (await import(nativeSpec)) as { realKernel(): unknown };
    const m = (await import(mountsSpec)) as typeof import('./staging/mounts.js');
    const kernel = native.realKernel() as Parameters<typeof m.stageMounts>[0];
    return {
      stage: ({ log: l, ...o }) => m.stageMounts(kernel, { ...o, log: stagingLog(l ?? log) }),
      async unstage({ log: l, ...o }) {
        const sl = stagingLog(l ?? log);
        m.unstageMounts(kernel, { ...o, log: sl });
        m.removeSpecialDirs(kernel, { ...o, log: sl }); // Docker containers keep theirs in Docker's own dir
      },
      gc: async (o) => m.gcMounts(kernel, { ...o, log: stagingLog(log) }),
    };
  } catch (err) {
    const reason = errText(err);
    log.warn({ err: reason }, 'mount staging unavailable: PrepareMounts will fail for bind mounts');
    return unavailableMountStager(reason);
  }
}

/**
 * Watches Docker's containers dir: when an entry goes away (`docker rm`), special dirs of containers that are
 * neither registered nor known to Docker are removed. Also sweeps every 60 s (a missed event, a late-created dir).
 */
export function watchDockerContainers(service: Pick<MgrService, 'gcMounts'>, dir: string, log: Logger, sweepMs = 60_000): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  const sweep = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const removed = await service.gcMounts();
      if (removed?.length) log.info({ removed }, 'removed special dirs and staged mounts of containers Docker no longer has');
    } catch (err) {
      log.error({ err: errText(err) }, 'special dir garbage collection failed');
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void sweep(), 300);
    timer.unref();
  };
  let watcher: FSWatcher | undefined;
  if (existsSync(dir)) {
    try {
      watcher = watch(dir, { persistent: false }, (event) => {
        if (event === 'rename') schedule();
      });
      watcher.on('error', (err) => log.warn({ dir, err: errText(err) }, 'watching Docker containers dir failed'));
    } catch (err) {
      log.warn({ dir, err: errText(err) }, 'cannot watch Docker containers dir; special dirs are swept periodically');
    }
  }
  const interval = setInterval(() => void sweep(), sweepMs);
  interval.unref();
  return {
    close() {
      clearTimeout(timer);
      clearInterval(interval);
      watcher?.close();
    },
  };
}
