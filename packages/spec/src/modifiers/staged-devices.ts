import type { LinuxDeviceCgroup, Mount, Spec } from '../types.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/**
 * Devices of `linux.devices` that the host lacks (`ctx.stagedDevices`): in a user namespace the engine can't mknod,
 * so it bind-mounts the host's node at the same path, and for a node the host doesn't have (or has as another
 * device) that fails. The runtime makes the node on the host instead (type, numbers, mode and owner as config.json
 * says, the owner shifted into the container's range), and this modifier moves the entry from `linux.devices` to a
 * bind mount of that node, placed after the spec's own mounts (so after /dev's tmpfs), as the engine binds a host
 * node. The device cgroup keeps allowing it: the engine allows every `linux.devices` entry, so a char or block
 * device moved out of the list gets its allow rule (`rwm`) added.
 */
export function stagedDevicesModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  const staged = ctx.stagedDevices ?? [];
  const devices = spec.linux?.devices ?? [];
  if (staged.length === 0 || devices.length === 0) return spec;
  const byPath = new Map(staged.map((s) => [s.path, s.source]));
  const moved = devices.filter((d) => byPath.has(d.path));
  if (moved.length === 0) return spec;
  const mounts: Mount[] = [
    ...(spec.mounts ?? []),
    ...moved.map((d) => ({ destination: d.path, type: 'bind', source: byPath.get(d.path)!, options: ['bind'] })),
  ];
  const rules: LinuxDeviceCgroup[] = [
    ...(spec.linux?.resources?.devices ?? []),
    ...moved
      .filter((d) => d.type === 'c' || d.type === 'b' || d.type === 'u')
      .map((d) => ({ allow: true, type: d.type === 'b' ? ('b' as const) : ('c' as const), major: d.major ?? null, minor: d.minor ?? null, access: 'rwm' })),
  ];
  const left = devices.filter((d) => !byPath.has(d.path));
  report(`made on the host and bound in: ${moved.map((d) => d.path).join(' ')}`);
  const linux = { ...spec.linux, resources: { ...spec.linux?.resources, devices: rules } };
  if (left.length > 0) linux.devices = left;
  else delete linux.devices;
  return { ...spec, mounts, linux };
}
