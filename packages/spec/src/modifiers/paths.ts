import type { Spec } from '../types.js';
import { isBelowAny, isUnder } from '../util.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/** Docker 20.10's maskedPaths (oci.DefaultSpec). */
export const DOCKER_DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware',
]);

/** Docker 20.10's readonlyPaths. */
export const DOCKER_DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
]);

/**
 * The trees sysbox-runc has the kernel lock whole (sysbox-nsenter move-mounts --lock): every mount in them, its
 * emulated files, masks and read-only paths included, arrives in the container by propagation from another user
 * namespace, so the container can't unmount one alone, move it, clear a flag it has (read-only, nosuid, nodev,
 * noexec), nor get a raw procfs or sysfs (mount_too_revealing), whatever a racing thread does to the arguments the
 * vetter read.
 */
export const LOCKED_TREES: readonly string[] = Object.freeze(['/proc', '/sys']);

/** What is laid over a tree (e.g. /proc) for its masked and read-only paths. */
export interface LaidPaths {
  /** masked files: a /dev/null bind over each */
  maskFiles: string[];
  /** masked directories: an empty read-only tmpfs over each */
  maskDirs: string[];
  /** read-only paths: a read-only bind of each over itself */
  readonly: string[];
}

/**
 * The masked and read-only paths below `trees` (e.g. ['/proc', '/sys']), as they are laid over a new procfs or sysfs
 * and over a container's own: a masked path is a file or a directory as `isDir` says (undefined: absent, skipped);
 * a read-only path that holds one of the `emulated` files is left out (the emulation stays writable where it is).
 */
export function laidPaths(trees: readonly string[], masked: readonly string[], readonly: readonly string[], emulated: readonly string[], isDir: (path: string) => boolean | undefined): LaidPaths {
  const below = (p: string) => isBelowAny(p, trees);
  const out: LaidPaths = { maskFiles: [], maskDirs: [], readonly: [] };
  for (const m of masked.filter(below)) {
    const dir = isDir(m);
    if (dir !== undefined) (dir ? out.maskDirs : out.maskFiles).push(m);
  }
  out.readonly = readonly.filter((p) => below(p) && !emulated.some((f) => isBelowAny(f, [p])));
  return out;
}

/**
 * Keeps Docker's masked and read-only paths. When the spec has neither list (`--privileged`, or
 * `--security-opt systempaths=unconfined`), Docker's defaults are added so host information stays
 * hidden. Paths sysbox-fs emulates (`ctx.emulatedPaths`), and anything below them, are removed from
 * both lists: the emulated view is placed there instead.
 */
export function pathsModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  const linux = spec.linux ?? {};
  let masked = linux.maskedPaths ?? [];
  let readonly = linux.readonlyPaths ?? [];
  if (masked.length === 0 && readonly.length === 0) {
    masked = [...DOCKER_DEFAULT_MASKED_PATHS];
    readonly = [...DOCKER_DEFAULT_READONLY_PATHS];
    report("no masked or read-only paths (privileged): added Docker's defaults");
  }
  const emulated = ctx.emulatedPaths ?? [];
  const keep = (p: string) => !emulated.some((e) => isUnder(p, e));
  const m2 = masked.filter(keep);
  const r2 = readonly.filter(keep);
  const removed = [...masked, ...readonly].filter((p) => !keep(p));
  if (removed.length > 0) report(`emulated by sysbox-fs, no longer masked/read-only: ${[...new Set(removed)].join(' ')}`);
  return { ...spec, linux: { ...linux, maskedPaths: m2, readonlyPaths: r2 } };
}
