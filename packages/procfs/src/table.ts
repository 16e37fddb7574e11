// The path table (lxcfs-style): container path → handler. apps/fs serves each entry as a file of the
// container's FUSE tree (at the same relative path) and sysbox-runc mounts it over the container's path.
import type { HostEnv } from './env.js';
import { ProcfsError } from './errors.js';
import { renderLoadavg } from './loadavg.js';
import { renderCpuinfo, renderDiskstats, renderMeminfo, renderStat, renderSwaps, renderUptime } from './proc.js';
import { KNOBS, readKnob, writeKnob, type Knob } from './sysctl.js';
import { CPU_ONLINE, DMI_ID, hostHasDmi, productUuid, renderCpuOnline, SYNTHETIC_DMI } from './sysfs.js';
import type { ContainerView } from './view.js';

/**
 * USER_HZ's period: the resolution of the kernel's own clock-derived figures (uptime in centiseconds, CPU times
 * in ticks). A rendering of such a file is served again for at most this long.
 */
export const TICK_MS = 10;
/**
 * For files whose figures the kernel itself folds periodically (vm counters every vm.stat_interval, 1 s; memcg
 * statistics every 2 s) or that change only with the container's settings (cpuset, quota, memory limit): a
 * rendering is served again for at most this long (sysbox-fs's cgroup reads are cached as long).
 */
export const SETTLE_MS = 100;

export interface Handler {
  /** container path, e.g. /proc/uptime */
  readonly path: string;
  /** file mode bits (0o444 read-only, 0o644 writable by the container's root) */
  readonly mode: number;
  read(env: HostEnv, v: ContainerView): string;
  write?(env: HostEnv, v: ContainerView, data: string): void;
  /** a knob's semantics, for sysctl handlers */
  readonly knob?: Knob;
  /** served only where the host has no DMI (synthetic dmi/id files) */
  readonly noHostDmi?: boolean;
  /** served only where this host file exists (a knob of a module or LSM the kernel lacks is left out) */
  readonly needsHostFile?: string;
  /**
   * How long (ms) one rendering may be served again: never longer than the kernel's own update period of what
   * the file shows. Infinity: the content changes only when the file is written (knobs), when `generation`
   * changes, or never (product_uuid).
   */
  readonly maxAgeMs: number;
  /** a number that changes whenever the content may (loadavg: the sampler's count); compared at each read */
  generation?(v: ContainerView): number;
  /**
   * The kernel may keep the content between reads (the page cache): its length seldom changes (fixed-width figures,
   * or figures that rarely gain a digit; knobs and DMI change only when written, loadavg every 5 s). sysbox-fs tells
   * the kernel to drop it at the first open after a change, and holders of an open file see a change within the
   * attribute timeout; a change of length waits for the page-cached readers (apps/fs tree.ts). Files whose length
   * changes every second or so (stat: its counters; diskstats, cpuinfo's MHz) are read afresh by every open
   * instead (direct I/O).
   */
  readonly kernelCache?: boolean;
}

const PROC_FILES: Array<[string, number, (env: HostEnv, v: ContainerView) => string, Handler['generation']?]> = [
  // (some are also kept by the kernel between changes: see KERNEL_CACHED)
  ['/proc/uptime', TICK_MS, renderUptime],
  ['/proc/meminfo', SETTLE_MS, (e, v) => renderMeminfo(e, v)],
  ['/proc/cpuinfo', SETTLE_MS, (e, v) => renderCpuinfo(e, v)],
  ['/proc/stat', TICK_MS, (e, v) => renderStat(e, v)],
  ['/proc/swaps', SETTLE_MS, (e, v) => renderSwaps(e, v)],
  // the averages and counts change only when the sampler looks (every 5 s, as the kernel's)
  ['/proc/loadavg', Infinity, renderLoadavg, (v) => v.load.samples],
  ['/proc/diskstats', TICK_MS, (e, v) => renderDiskstats(e, v)],
];

/**
 * /proc files the kernel may keep between changes: their length changes only when a figure gains a digit (uptime,
 * loadavg, swaps) or never (meminfo prints every figure 8 wide: it changes length only past 99,999,999 kB).
 */
const KERNEL_CACHED = new Set(['/proc/uptime', '/proc/loadavg', '/proc/meminfo', '/proc/swaps']);

function knobHandler(k: Knob): Handler {
  return {
    path: k.path,
    mode: 0o644,
    knob: k,
    needsHostFile: k.hostPath ?? k.path,
    maxAgeMs: Infinity,
    kernelCache: true,
    read: (env, v) => readKnob(env, v, k),
    write: (env, v, data) => void writeKnob(env, v, k, data),
  };
}

/** Every handler, independent of the host. */
export const HANDLERS: readonly Handler[] = Object.freeze([
  ...PROC_FILES.map(([path, maxAgeMs, read, generation]): Handler => ({
    path,
    mode: 0o444,
    maxAgeMs,
    read,
    ...(generation ? { generation } : {}),
    ...(KERNEL_CACHED.has(path) ? { kernelCache: true } : {}),
  })),
  ...KNOBS.filter((k) => k.kind === 'container' || k.kind === 'max').map(knobHandler),
  { path: CPU_ONLINE, mode: 0o444, needsHostFile: CPU_ONLINE, maxAgeMs: SETTLE_MS, kernelCache: true, read: renderCpuOnline },
  { path: `${DMI_ID}/product_uuid`, mode: 0o400, maxAgeMs: Infinity, kernelCache: true, read: productUuid },
  ...Object.entries(SYNTHETIC_DMI).map(
    ([name, value]): Handler => ({ path: `${DMI_ID}/${name}`, mode: 0o444, noHostDmi: true, maxAgeMs: Infinity, kernelCache: true, read: () => value }),
  ),
]);

const byPath = new Map(HANDLERS.map((h) => [h.path, h]));

export function handlerAt(path: string): Handler | undefined {
  return byPath.get(path);
}

/**
 * The handlers to mount on this host: those whose path exists on the host (a knob the kernel lacks,
 * e.g. yama without the LSM, is left out). /proc files always exist.
 */
export function emulatedHandlers(env: HostEnv): Handler[] {
  const dmi = hostHasDmi(env);
  return HANDLERS.filter((h) => (h.noHostDmi ? !dmi : h.needsHostFile === undefined || env.read(h.needsHostFile) !== undefined));
}

/** Read through the table; unknown paths are ENOENT. */
export function readPath(env: HostEnv, v: ContainerView, path: string): string {
  const h = byPath.get(path);
  if (!h) throw new ProcfsError('ENOENT', `${path} is not emulated`);
  return h.read(env, v);
}

/** Write through the table; read-only or unknown paths are EACCES/ENOENT. */
export function writePath(env: HostEnv, v: ContainerView, path: string, data: string): void {
  const h = byPath.get(path);
  if (!h) throw new ProcfsError('ENOENT', `${path} is not emulated`);
  if (!h.write) throw new ProcfsError('EACCES', `${path} is read-only`);
  h.write(env, v, data);
}

/** The directories of a set of handler paths (for a FUSE tree's readdir/getattr), "/" included. */
export function directoriesOf(paths: readonly string[]): Map<string, Set<string>> {
  const dirs = new Map<string, Set<string>>([['/', new Set()]]);
  for (const p of paths) {
    const parts = p.split('/').filter(Boolean);
    let cur = '/';
    for (let i = 0; i < parts.length; i++) {
      dirs.get(cur)!.add(parts[i]!);
      if (i === parts.length - 1) break;
      cur = cur === '/' ? `/${parts[i]}` : `${cur}/${parts[i]}`;
      if (!dirs.has(cur)) dirs.set(cur, new Set());
    }
  }
  return dirs;
}
