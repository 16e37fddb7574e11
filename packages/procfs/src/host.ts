// The real HostEnv (node:fs, synchronous: emulated files are small and procfs reads don't block).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { DirEntry, HostEnv } from './env.js';

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
    list(path: string): DirEntry[] | undefined {
      try {
        return readdirSync(path, { withFileTypes: true }).map((d) => ({
          name: d.name,
          type: d.isDirectory() ? 'dir' : d.isFile() ? 'file' : d.isSymbolicLink() ? 'link' : 'other',
        }));
      } catch {
        return undefined;
      }
    },
    write(path: string, data: string): void {
      writeFileSync(path, data);
    },
  };
}
