import type { Mount, Spec } from '../types.js';
import { isUnder } from '../util.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/** The inits that are systemd: Debian's and Ubuntu's /sbin/init is a link to it; images may name it directly. */
export const SYSTEMD_INITS: readonly string[] = Object.freeze(['/sbin/init', '/lib/systemd/systemd', '/usr/lib/systemd/systemd', 'systemd']);

/** SIGRTMIN+3 (34 + 3 on Linux): systemd's "halt" — what `docker stop` must send it (SIGTERM makes it re-execute). */
export const SYSTEMD_STOP_SIGNAL = 37;

/** Paths systemd must own: out of the masked and read-only paths (it mounts its own tmpfs on /run; /sys/kernel holds its dirs). */
const SYSTEMD_UNMASKED: readonly string[] = Object.freeze(['/run', '/run/lock', '/tmp', '/sys/kernel']);

/** Whether the container's init is systemd (by its argv[0]; an image may declare it with SYSBOX_SYSTEMD=1|0 too). */
export function isSystemdInit(spec: Spec): boolean {
  const env = spec.process?.env ?? [];
  const forced = env.find((e) => e.startsWith('SYSBOX_SYSTEMD='))?.slice('SYSBOX_SYSTEMD='.length);
  if (forced !== undefined) return forced === '1' || forced.toLowerCase() === 'true';
  const argv0 = spec.process?.args?.[0];
  return argv0 !== undefined && SYSTEMD_INITS.includes(argv0);
}

function tmpfs(destination: string, options: string[]): Mount {
  return { destination, type: 'tmpfs', source: 'tmpfs', options };
}


/**
 * systemd as the container's init (isSystemdInit): tmpfs on /run (nosuid,nodev,mode=755,size=64m) and /run/lock
 * (noexec,nosuid,nodev,size=4m) unless the spec mounts something there; `container=private-users` in its environment
 * (replacing any value: systemd's container detection, which also tells it it runs in a user namespace); /run,
 * /run/lock, /tmp and /sys/kernel (and below) out of the masked and read-only paths. Anything else: unchanged.
 */
export function systemdModifier(spec: Spec, _ctx: ConvertContext, report: Report = noReport): Spec {
  if (!isSystemdInit(spec)) return spec;
  const mounts = [...(spec.mounts ?? [])];
  for (const [dest, opts] of [
    ['/run', ['nosuid', 'nodev', 'mode=755', 'size=64m']],
    ['/run/lock', ['noexec', 'nosuid', 'nodev', 'size=4m']],
  ] as const) {
    if (mounts.some((m) => m.destination === dest)) continue;
    mounts.push(tmpfs(dest, [...opts]));
    report(`systemd: tmpfs on ${dest}`);
  }
  const env = (spec.process?.env ?? []).filter((e) => !e.startsWith('container='));
  env.push('container=private-users');
  const linux = spec.linux ?? {};
  const keep = (p: string) => !SYSTEMD_UNMASKED.some((d) => isUnder(p, d));
  const masked = (linux.maskedPaths ?? []).filter(keep);
  const readonly = (linux.readonlyPaths ?? []).filter(keep);
  report('systemd: container=private-users; /run, /run/lock, /tmp and /sys/kernel neither masked nor read-only');
  return {
    ...spec,
    mounts,
    process: { ...spec.process!, env },
    linux: { ...linux, maskedPaths: masked, readonlyPaths: readonly },
  };
}
