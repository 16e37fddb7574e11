// What a create will ask sysbox-mgr to stage besides its rootfs, read from the bundle's config.json at prestage
// time: the ID-mapped bind sources and the special dirs, built as sysbox-runc's create builds its PrepareMounts
// request (apps/runc/src/mounts.ts planMounts, through the same @sysbox/mount-policy calls). A guess: create's
// own request is what counts, and mgr stages again if it differs (MgrService.prepareMounts).
import { realpathSync } from 'node:fs';
import { bindMounts, bindsToStage, specialDirsFor, type OciMount, type StagedBind } from '@sysbox/mount-policy';

export interface MountsGuess {
  mounts: StagedBind[];
  specialDirs: string[];
}

/** The guess for a parsed config.json, or undefined when a bind source does not resolve (create refuses it). */
export function guessMounts(spec: unknown, resolve: (path: string) => string = realpathSync): MountsGuess | undefined {
  const mounts = (spec as { mounts?: unknown } | null)?.mounts;
  if (mounts !== undefined && !Array.isArray(mounts)) return undefined;
  const list = (mounts ?? []) as OciMount[];
  if (list.some((m) => typeof m?.destination !== 'string')) return undefined;
  const binds = bindMounts(list);
  try {
    return {
      mounts: bindsToStage(binds, (b) => {
        if (!b.source.startsWith('/')) throw new Error('relative source');
        return resolve(b.source);
      }),
      specialDirs: specialDirsFor(list),
    };
  } catch {
    return undefined;
  }
}
