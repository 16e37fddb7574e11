// The /proc/sys knob table: one semantics per knob (see README.md).
import type { HostEnv } from './env.js';
import { ProcfsError } from './errors.js';
import type { ContainerView } from './view.js';

export type KnobKind =
  /** reads back what the container wrote (initially the host's value); the host is never touched */
  | 'container'
  /** like 'container', and a write above the host value raises the host value (never lowers it) */
  | 'max'
  /** the host's value, read-only (writes: EACCES) */
  | 'host-ro'
  /** a fresh random UUID per read */
  | 'uuid'
  /** the kernel namespaces it: served natively by the container's own procfs, not emulated */
  | 'namespaced';

export interface Knob {
  /** container path, e.g. /proc/sys/fs/file-max */
  path: string;
  kind: KnobKind;
  /** validation of a written value: ints with bounds, `count` of them (default 1) */
  min?: number;
  max?: number;
  count?: number;
  /** host file raised by a MAX write (default: path) */
  hostPath?: string;
}

const INT_MAX = 2 ** 31 - 1;
const ULONG_MAX = Number.MAX_SAFE_INTEGER; // values above 2^53 are refused rather than rounded

export const KNOBS: readonly Knob[] = Object.freeze([
  { path: '/proc/sys/kernel/panic', kind: 'container', min: -INT_MAX - 1, max: INT_MAX },
  { path: '/proc/sys/kernel/panic_on_oops', kind: 'container', min: 0, max: 1 },
  { path: '/proc/sys/kernel/printk', kind: 'container', min: 0, max: 15, count: 4 },
  { path: '/proc/sys/kernel/kptr_restrict', kind: 'container', min: 0, max: 2 },
  { path: '/proc/sys/kernel/dmesg_restrict', kind: 'container', min: 0, max: 1 },
  { path: '/proc/sys/kernel/yama/ptrace_scope', kind: 'container', min: 0, max: 3 },
  { path: '/proc/sys/vm/overcommit_memory', kind: 'container', min: 0, max: 2 },
  { path: '/proc/sys/vm/mmap_min_addr', kind: 'container', min: 0, max: ULONG_MAX },
  { path: '/proc/sys/fs/protected_hardlinks', kind: 'container', min: 0, max: 1 },
  { path: '/proc/sys/fs/protected_symlinks', kind: 'container', min: 0, max: 1 },
  { path: '/proc/sys/net/ipv4/neigh/default/gc_thresh1', kind: 'container', min: 0, max: INT_MAX },
  { path: '/proc/sys/net/ipv4/neigh/default/gc_thresh2', kind: 'container', min: 0, max: INT_MAX },
  { path: '/proc/sys/net/ipv4/neigh/default/gc_thresh3', kind: 'container', min: 0, max: INT_MAX },
  { path: '/proc/sys/fs/file-max', kind: 'max', min: 0, max: ULONG_MAX },
  { path: '/proc/sys/fs/nr_open', kind: 'max', min: 1024, max: 1073741816 },
  { path: '/proc/sys/fs/inotify/max_user_watches', kind: 'max', min: 0, max: INT_MAX },
  { path: '/proc/sys/fs/inotify/max_user_instances', kind: 'max', min: 0, max: INT_MAX },
  { path: '/proc/sys/net/netfilter/nf_conntrack_max', kind: 'max', min: 0, max: INT_MAX },
  { path: '/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established', kind: 'max', min: 0, max: INT_MAX },
  { path: '/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait', kind: 'max', min: 0, max: INT_MAX },
  { path: '/proc/sys/net/netfilter/nf_conntrack_generic_timeout', kind: 'max', min: 0, max: INT_MAX },
  { path: '/sys/module/nf_conntrack/parameters/hashsize', kind: 'max', min: 1, max: INT_MAX },
  // the kernel namespaces these (per net namespace since Linux 4.x): native, never emulated
  { path: '/proc/sys/net/core/somaxconn', kind: 'namespaced' },
  { path: '/proc/sys/net/unix/max_dgram_qlen', kind: 'namespaced' },
  { path: '/proc/sys/net/ipv4/ip_forward', kind: 'namespaced' },
  { path: '/proc/sys/kernel/hostname', kind: 'namespaced' },
  { path: '/proc/sys/kernel/domainname', kind: 'namespaced' },
  { path: '/proc/sys/kernel/shmmax', kind: 'namespaced' },
  { path: '/proc/sys/kernel/shmall', kind: 'namespaced' },
  { path: '/proc/sys/kernel/shmmni', kind: 'namespaced' },
  { path: '/proc/sys/kernel/pid_max', kind: 'namespaced' },
  { path: '/proc/sys/kernel/random/uuid', kind: 'uuid' },
  { path: '/proc/sys/kernel/cap_last_cap', kind: 'host-ro' },
  { path: '/proc/sys/kernel/ngroups_max', kind: 'host-ro' },
  { path: '/proc/sys/kernel/panic_print', kind: 'host-ro' },
  { path: '/proc/sys/kernel/sysrq', kind: 'host-ro' },
] satisfies Knob[]);

const byPath = new Map(KNOBS.map((k) => [k.path, k]));

/** The knob at a container path; any other /proc/sys path not listed is a read-only host view. */
export function knobAt(path: string): Knob | undefined {
  const k = byPath.get(path);
  if (k) return k;
  if (path.startsWith('/proc/sys/') && !path.startsWith('/proc/sys/net/')) return { path, kind: 'host-ro' };
  return undefined;
}

/** Parses and checks a written value: whitespace-separated integers within the knob's bounds. */
export function validateKnob(k: Knob, input: string): string {
  const parts = input.trim().split(/\s+/).filter((p) => p !== '');
  const count = k.count ?? 1;
  if (parts.length === 0 || parts.length > count) throw new ProcfsError('EINVAL', `${k.path}: expected ${count} integer(s)`);
  const out: string[] = [];
  for (const p of parts) {
    if (!/^-?\d+$/.test(p)) throw new ProcfsError('EINVAL', `${k.path}: not an integer: ${JSON.stringify(p.slice(0, 32))}`);
    const n = Number(p);
    if (!Number.isSafeInteger(n) || (k.min !== undefined && n < k.min) || (k.max !== undefined && n > k.max))
      throw new ProcfsError('EINVAL', `${k.path}: ${p} out of range`);
    out.push(String(n));
  }
  return out.join('\t');
}

function hostValue(env: HostEnv, k: Knob): string {
  const t = env.read(k.hostPath ?? k.path);
  if (t === undefined) throw new ProcfsError('ENOENT', `${k.path}: not on this host`);
  return t.trim();
}

/** Reads a knob as the container sees it. `uuid` needs a generator (crypto.randomUUID in apps). */
export function readKnob(env: HostEnv, v: ContainerView, k: Knob, uuid: () => string = () => crypto.randomUUID()): string {
  switch (k.kind) {
    case 'container':
    case 'max':
      return `${v.knobs.get(k.path) ?? hostValue(env, k)}\n`;
    case 'uuid':
      return `${uuid()}\n`;
    case 'host-ro':
      return `${hostValue(env, k)}\n`;
    case 'namespaced':
      throw new ProcfsError('EIO', `${k.path} is namespaced: served by the container's own procfs`);
  }
}

/**
 * Writes a knob for the container. container: stored; max: stored, and the host raised when the value
 * exceeds the host's (never lowered); host-ro/uuid: EACCES. Bad values: EINVAL, nothing changes.
 * Returns the stored value.
 */
export function writeKnob(env: HostEnv, v: ContainerView, k: Knob, input: string): string {
  if (k.kind === 'host-ro' || k.kind === 'uuid') throw new ProcfsError('EACCES', `${k.path} is read-only in a container`);
  if (k.kind === 'namespaced') throw new ProcfsError('EIO', `${k.path} is namespaced: served by the container's own procfs`);
  const value = validateKnob(k, input);
  if (k.kind === 'max') {
    const host = hostValue(env, k);
    const hn = Number(host.split(/\s+/)[0]);
    const vn = Number(value);
    if (Number.isFinite(hn) && vn > hn) env.write(k.hostPath ?? k.path, `${value}\n`);
  }
  v.knobs.set(k.path, value);
  return value;
}

/**
 * Fixes the container's starting values of its per-container knobs (`container` and `max`) to the host's
 * values now, so that a later host change (e.g. a sibling raising a MAX knob) doesn't show through.
 */
export function snapshotKnobs(env: HostEnv, v: ContainerView, knobs: readonly Knob[] = KNOBS): void {
  for (const k of knobs) {
    if ((k.kind !== 'container' && k.kind !== 'max') || v.knobs.has(k.path)) continue;
    const t = env.read(k.hostPath ?? k.path);
    if (t !== undefined) v.knobs.set(k.path, t.trim());
  }
}
