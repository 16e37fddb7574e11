import type { LinuxDevice, LinuxDeviceCgroup, Spec } from '../types.js';
import { isPrivileged } from '../util.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/** The device nodes every container gets (runc creates them even when the spec doesn't list them). */
export const DEFAULT_DEVICES: readonly LinuxDevice[] = Object.freeze([
  { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/zero', type: 'c', major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/full', type: 'c', major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/random', type: 'c', major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/urandom', type: 'c', major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/tty', type: 'c', major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
] satisfies LinuxDevice[]);

/** Docker 20.10's device cgroup rules for a non-privileged container (as captured). */
export const DOCKER_DEFAULT_DEVICE_RULES: readonly LinuxDeviceCgroup[] = Object.freeze([
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
] satisfies LinuxDeviceCgroup[]);

/**
 * Few devices, also under `--privileged`. A non-privileged spec is left alone: its `linux.devices`
 * are exactly what `--device` asked for and its cgroup rules are Docker's defaults plus those.
 * A privileged spec (device cgroup allows everything, see isPrivileged) lists every host device and
 * `--device` entries can't be told apart from them, so only the default set and `ctx.allowDevices`
 * are kept, and the device cgroup gets Docker's default rules plus an allow rule per kept device.
 */
export function devicesModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  if (!isPrivileged(spec)) return spec;
  const linux = spec.linux ?? {};
  const keep = new Set([...DEFAULT_DEVICES.map((d) => d.path), ...(ctx.allowDevices ?? [])]);
  const before = linux.devices ?? [];
  const devices = before.filter((d) => keep.has(d.path));
  const extra: LinuxDeviceCgroup[] = devices
    .filter((d) => !DEFAULT_DEVICES.some((x) => x.path === d.path) && (d.type === 'c' || d.type === 'b'))
    .map((d) => ({ allow: true, type: d.type as 'c' | 'b', major: d.major ?? null, minor: d.minor ?? null, access: 'rwm' }));
  report(
    `privileged: dropped ${before.length - devices.length} host devices, kept ${devices.map((d) => d.path).join(' ') || 'none'}; ` +
      'device cgroup rules reset to the defaults',
  );
  const out: Spec = {
    ...spec,
    linux: {
      ...linux,
      resources: { ...linux.resources, devices: [...DOCKER_DEFAULT_DEVICE_RULES.map((r) => ({ ...r })), ...extra] },
    },
  };
  if (devices.length > 0) out.linux!.devices = devices;
  else delete out.linux!.devices;
  return out;
}
