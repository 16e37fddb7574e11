// Reaps a container as soon as its liveness path disappears: sysbox-runc's `delete` only runs the engine's
// delete and removes its state dir (the liveness path), leaving the teardown (sysbox-fs views, staged rootfs
// and mounts, the ID range) to us. One inotify watch (fs.watch) per directory holding liveness paths
// (sysbox-runc's `<root>/sysbox`); the periodic reap stays as the fallback for missed events.
import { watch, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { errText } from './errors.js';

export interface Reaper {
  reap(only?: ReadonlySet<string>): Promise<string[]>;
}

export interface LivenessWatch {
  /** watches the directory of this liveness path (once per directory) */
  add(livenessPath: string): void;
  /** settles when the reaps started so far are done (tests) */
  idle(): Promise<void>;
  close(): void;
}

export function watchLiveness(service: Reaper, log: Logger): LivenessWatch {
  const dirs = new Map<string, FSWatcher>();
  let pending = new Set<string>();
  let all = false;
  let scheduled = false;
  let running: Promise<void> = Promise.resolve();
  let closed = false;

  const run = (): void => {
    scheduled = false;
    const only = all ? undefined : pending;
    pending = new Set();
    all = false;
    running = running
      .then(() => service.reap(only))
      .then(
        (ids) => {
          if (ids.length) log.debug({ reaped: ids }, 'torn down deleted containers');
        },
        (err: unknown) => log.error({ err: errText(err) }, 'reaping deleted containers failed'),
      );
  };
  const schedule = (): void => {
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(run);
  };

  return {
    add(livenessPath) {
      const dir = dirname(livenessPath);
      if (closed || dirs.has(dir)) return;
      let w: FSWatcher;
      try {
        w = watch(dir, { persistent: false }, (_event, name) => {
          if (name) pending.add(join(dir, name.toString()));
          else all = true;
          schedule();
        });
      } catch (err) {
        log.debug({ dir, err: errText(err) }, 'cannot watch liveness dir; the periodic reap covers it');
        return;
      }
      w.on('error', (err) => {
        log.debug({ dir, err: errText(err) }, 'liveness dir watch ended');
        w.close();
        if (dirs.get(dir) === w) dirs.delete(dir);
      });
      dirs.set(dir, w);
    },
    idle: async () => {
      while (scheduled) await new Promise((r) => setImmediate(r));
      await running;
    },
    close() {
      closed = true;
      for (const w of dirs.values()) w.close();
      dirs.clear();
    },
  };
}
