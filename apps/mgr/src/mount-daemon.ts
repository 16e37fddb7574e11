// Removes special dirs once Docker removes their container (fs.watch on Docker's containers dir, plus a periodic sweep).
import { existsSync, watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';
import { errText } from './errors.js';
import type { MgrService } from './service.js';

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
