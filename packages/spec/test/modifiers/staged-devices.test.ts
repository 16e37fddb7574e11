import { describe, expect, test } from 'vitest';
import { stagedDevicesModifier } from '../../src/modifiers/staged-devices.js';
import type { Spec } from '../../src/types.js';
import { CTX, fixture } from '../helpers.js';

/** runtime-tools' linux_devices: three devices no host has. */
function withDevices(): Spec {
  const s = fixture('docker-device-fuse');
  s.linux!.devices = [
    ...(s.linux!.devices ?? []),
    { path: '/dev/test1', type: 'c', major: 10, minor: 666, fileMode: 0o660, uid: 0, gid: 0 },
    { path: '/dev/test2', type: 'b', major: 8, minor: 666, fileMode: 0o660, uid: 0, gid: 0 },
    { path: '/dev/test3', type: 'p', fileMode: 0o660 },
  ];
  return s;
}

const STAGED = [
  { path: '/dev/test1', source: '/var/lib/sysbox-runc/devices/x/1' },
  { path: '/dev/test2', source: '/var/lib/sysbox-runc/devices/x/2' },
  { path: '/dev/test3', source: '/var/lib/sysbox-runc/devices/x/3' },
];

describe('stagedDevicesModifier', () => {
  test('nothing staged: unchanged (same object)', () => {
    const s = withDevices();
    expect(stagedDevicesModifier(s, CTX)).toBe(s);
    expect(stagedDevicesModifier(s, { ...CTX, stagedDevices: [{ path: '/dev/other', source: '/x' }] })).toBe(s);
  });

  test('devices the host lacks become binds of the staged nodes, after the spec mounts; the host ones stay', () => {
    const input = withDevices();
    const before = structuredClone(input);
    const changes: string[] = [];
    const out = stagedDevicesModifier(input, { ...CTX, stagedDevices: STAGED }, (c) => changes.push(c));
    expect(out.linux!.devices!.map((d) => d.path)).toEqual(['/dev/fuse']);
    expect(out.mounts!.slice(0, input.mounts!.length)).toEqual(input.mounts);
    expect(out.mounts!.slice(input.mounts!.length)).toEqual(
      STAGED.map((s) => ({ destination: s.path, type: 'bind', source: s.source, options: ['bind'] })),
    );
    // still allowed in the device cgroup, as the engine allows every linux.devices entry (a fifo needs no rule)
    const rules = out.linux!.resources!.devices!;
    expect(rules.slice(0, input.linux!.resources!.devices!.length)).toEqual(input.linux!.resources!.devices);
    expect(rules.slice(input.linux!.resources!.devices!.length)).toEqual([
      { allow: true, type: 'c', major: 10, minor: 666, access: 'rwm' },
      { allow: true, type: 'b', major: 8, minor: 666, access: 'rwm' },
    ]);
    expect(changes).toEqual(['made on the host and bound in: /dev/test1 /dev/test2 /dev/test3']);
    expect(input).toEqual(before);
  });

  test('every device staged: linux.devices goes away', () => {
    const s = withDevices();
    s.linux!.devices = s.linux!.devices!.filter((d) => d.path !== '/dev/fuse');
    expect(stagedDevicesModifier(s, { ...CTX, stagedDevices: STAGED }).linux!.devices).toBeUndefined();
  });
});
