import type { Mount, Spec } from '../types.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/** A bind source staged by sysbox-mgr: spec.mounts[index] binds `source` (an ID-mapped view) instead. */
export interface StagedMountSource {
  index: number;
  source: string;
}

/** A special dir (e.g. /var/lib/docker) backed by a host dir that sysbox-mgr staged ID-mapped at `source`. */
export interface StagedSpecialDir {
  destination: string;
  source: string;
}

/**
 * Bind mounts get the ID-mapped views sysbox-mgr staged (`ctx.stagedMounts`, by index in the input spec's mounts),
 * and special dirs (`ctx.specialDirs`) are added as rbind mounts after the spec's own. Options (ro, rbind,
 * propagation) are kept: the engine binds the view as it would have bound the source. A staged index that is not a
 * bind mount is an error (the mgr answer does not belong to this spec).
 */
export function mountsModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  const staged = ctx.stagedMounts ?? [];
  const special = ctx.specialDirs ?? [];
  if (staged.length === 0 && special.length === 0) return spec;
  const mounts: Mount[] = (spec.mounts ?? []).map((m) => ({ ...m }));
  for (const s of staged) {
    const m = mounts[s.index];
    if (!m) throw new RangeError(`staged mount ${s.index}: the spec has only ${mounts.length} mounts`);
    const isBind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
    if (!isBind) throw new RangeError(`staged mount ${s.index} (${m.destination}) is not a bind mount`);
    if (m.source === s.source) continue;
    report(`${m.destination}: ${m.source} -> ${s.source} (ID-mapped)`);
    mounts[s.index] = { ...m, source: s.source };
  }
  for (const d of special) {
    if (mounts.some((m) => m.destination === d.destination)) continue;
    report(`${d.destination}: special dir ${d.source}`);
    mounts.push({ destination: d.destination, type: 'bind', source: d.source, options: ['rbind', 'rprivate'] });
  }
  return { ...spec, mounts };
}
