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

/** A bind mount sysbox-mgr stages on the host (its PrepareMounts request entry). */
export interface StagedBind {
  index: number;
  /** the resolved source */
  source: string;
  destination: string;
  readonly: boolean;
  recursive: boolean;
  /** stage the source as it is, without ID mapping (host /proc, /sys, /dev: see wantsIdmap) */
  noIdmap: boolean;
}

/**
 * The bind mounts sysbox-mgr stages on the host, in spec order, each with its resolved source: every bind that
 * gets an ID-mapped view, and every read-only bind. A read-only flag set on the host, before the engine copies
 * the mount namespace into the container's user namespace, is locked by the kernel (MNT_LOCK_READONLY): the
 * container can't clear it, by remount, mount_setattr or a copy of the mount. One the engine sets inside the
 * user namespace is not locked. So a read-only bind that is not ID-mapped (host /proc, /sys, /dev, or a file
 * system that refuses MOUNT_ATTR_IDMAP) is staged too, as a plain read-only clone.
 * sysbox-runc's create and sysbox-mgr's prestage both build PrepareMounts requests with it.
 */
export function bindsToStage(binds: readonly BindMount[], resolved: (b: BindMount) => string): StagedBind[] {
  const out: StagedBind[] = [];
  for (const b of binds) {
    const source = resolved(b);
    const idmap = wantsIdmap(source);
    if (idmap || b.readonly) out.push({ index: b.index, source, destination: b.destination, readonly: b.readonly, recursive: b.recursive, noIdmap: !idmap });
  }
  return out;
}
