import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kernel } from '../src/index.js';
import { MNT_DETACH } from '../src/index.js';

/** Mount points listed in /proc/self/mountinfo (unescaped). */
export function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** A scratch dir whose mounts and files are removed by cleanup(). */
export function scratch(kernel: Kernel, prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    cleanup: () => {
      for (let round = 0; round < 10; round++) {
        const under = mountPoints().filter((m) => m === dir || m.startsWith(dir + '/'));
        if (under.length === 0) break;
        for (const m of under.sort((a, b) => b.length - a.length)) {
          try {
            kernel.umount(m, MNT_DETACH);
          } catch {
            /* already gone */
          }
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
