// The real HostEnv (node:fs, synchronous: emulated files are small and procfs reads don't block).
import { readFileSync, writeFileSync } from 'node:fs';
import type { HostEnv } from './env.js';

export function hostEnv(): HostEnv {
  return {
    ticksPerSecond: 100,
    read(path: string): string | undefined {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    write(path: string, data: string): void {
      writeFileSync(path, data);
    },
  };
}
