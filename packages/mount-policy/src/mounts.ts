// Which of a spec's mounts are host bind mounts, and which of those get an ID-mapped view.
import { isUnder, normalizePath } from './policy.js';

/** The fields of an OCI mount this package reads. */
export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface BindMount {
  index: number;
  destination: string;
  source: string;
  readonly: boolean;
  recursive: boolean;
}

/** A bind mount: type "bind", or any type with a bind/rbind option (runc's rule). */
export function isBind(m: OciMount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

/** The spec's bind mounts, in order, with their read-only and recursive flags (the last ro/rw option wins). */
export function bindMounts(mounts: readonly OciMount[] | undefined): BindMount[] {
  const out: BindMount[] = [];
  (mounts ?? []).forEach((m, index) => {
    if (!isBind(m)) return;
    let ro = false;
    for (const o of m.options ?? []) {
      if (o === 'ro') ro = true;
      else if (o === 'rw') ro = false;
    }
    out.push({ index, destination: m.destination, source: m.source ?? '', readonly: ro, recursive: (m.options ?? []).includes('rbind') });
  });
  return out;
}

/** Host trees whose file systems can't be ID-mapped and whose owners don't matter: bound as they are. */
export const NO_IDMAP: readonly string[] = Object.freeze(['/proc', '/sys', '/dev']);

/** Whether a bind mount's (resolved) source gets an ID-mapped view staged by sysbox-mgr. */
export function wantsIdmap(resolved: string): boolean {
  const p = normalizePath(resolved);
  return !NO_IDMAP.some((d) => isUnder(p, d));
}

/** System-container special dirs: backed by a host dir (not overlay) so inner Docker & co can use overlayfs. */
export const SPECIAL_DIRS: readonly string[] = Object.freeze([
  '/var/lib/docker',
  '/var/lib/containerd',
  '/var/lib/kubelet',
  '/var/lib/k0s',
  '/var/lib/rancher/k3s',
  '/var/lib/buildkit',
]);

/** The special dirs the spec does not already mount something at (or above/below). */
export function specialDirsFor(mounts: readonly OciMount[] | undefined): string[] {
  const dests = (mounts ?? []).map((m) => normalizePath(m.destination));
  return SPECIAL_DIRS.filter((d) => !dests.some((x) => isUnder(x, d) || (x !== '/' && isUnder(d, x))));
}

/** A bind mount sysbox-mgr stages as an ID-mapped view (its PrepareMounts request entry). */
export interface StagedBind {
  index: number;
  /** the resolved source */
  source: string;
  destination: string;
  readonly: boolean;
  recursive: boolean;
}

/**
 * The bind mounts to stage ID-mapped, in spec order, each with its resolved source. sysbox-runc's create and
 * sysbox-mgr's prestage both build PrepareMounts requests with it, so that mgr can stage ahead what create asks.
 */
export function bindsToStage(binds: readonly BindMount[], resolved: (b: BindMount) => string): StagedBind[] {
  const out: StagedBind[] = [];
  for (const b of binds) {
    const source = resolved(b);
    if (wantsIdmap(source)) out.push({ index: b.index, source, destination: b.destination, readonly: b.readonly, recursive: b.recursive });
  }
  return out;
}
