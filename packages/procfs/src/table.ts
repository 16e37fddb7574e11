// The path table (lxcfs-style): container path → handler. apps/fs serves each entry as a file of the
// container's FUSE tree (at the same relative path) and sysbox-runc mounts it over the container's path.
import type { HostEnv } from './env.js';
import { ProcfsError } from './errors.js';
import { renderCpuinfo, renderDiskstats, renderLoadavg, renderMeminfo, renderStat, renderSwaps, renderUptime } from './proc.js';
import { KNOBS, readKnob, writeKnob, type Knob } from './sysctl.js';
import { DMI_ID, hostHasDmi, productUuid, SYNTHETIC_DMI } from './sysfs.js';
import type { ContainerView } from './view.js';

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
}

const PROC_FILES: Array<[string, (env: HostEnv, v: ContainerView) => string]> = [
  ['/proc/uptime', renderUptime],
  ['/proc/meminfo', (e, v) => renderMeminfo(e, v)],
  ['/proc/cpuinfo', (e, v) => renderCpuinfo(e, v)],
  ['/proc/stat', (e, v) => renderStat(e, v)],
  ['/proc/swaps', (e, v) => renderSwaps(e, v)],
  ['/proc/loadavg', (e, v) => renderLoadavg(e, v)],
  ['/proc/diskstats', (e, v) => renderDiskstats(e, v)],
];

function knobHandler(k: Knob): Handler {
  return {
    path: k.path,
    mode: 0o644,
    knob: k,
    read: (env, v) => readKnob(env, v, k),
    write: (env, v, data) => void writeKnob(env, v, k, data),
  };
}

/** Every handler, independent of the host. */
export const HANDLERS: readonly Handler[] = Object.freeze([
  ...PROC_FILES.map(([path, read]): Handler => ({ path, mode: 0o444, read })),
  ...KNOBS.filter((k) => k.kind === 'container' || k.kind === 'max').map(knobHandler),
  { path: `${DMI_ID}/product_uuid`, mode: 0o400, read: productUuid },
  ...Object.entries(SYNTHETIC_DMI).map(([name, value]): Handler => ({ path: `${DMI_ID}/${name}`, mode: 0o444, noHostDmi: true, read: () => value })),
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
  return HANDLERS.filter((h) => (h.noHostDmi ? !dmi : !h.knob || env.read(h.knob.hostPath ?? h.knob.path) !== undefined));
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
