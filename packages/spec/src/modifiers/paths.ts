import type { Spec } from '../types.js';
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

function isUnder(p: string, dir: string): boolean {
  const d = dir.replace(/\/+$/, '');
  return p === d || p.startsWith(`${d}/`);
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
