import { describe, expect, test } from 'vitest';
import { DEFAULT_DEVICES, DOCKER_DEFAULT_DEVICE_RULES, devicesModifier } from '../../src/modifiers/devices.js';
import { isPrivileged } from '../../src/util.js';
import { CTX, FIXTURES, fixture } from '../helpers.js';

describe('isPrivileged', () => {
  test.each(Object.keys(FIXTURES))('%s', (name) => {
    expect(isPrivileged(fixture(name))).toBe(name.endsWith('privileged'));
  });
});

describe('devicesModifier', () => {
  test.each(['docker-plain', 'docker-device-fuse', 'containerd-plain', 'docker-tty'])('%s (not privileged): unchanged', (name) => {
    const s = fixture(name);
    expect(devicesModifier(s, CTX)).toBe(s);
  });

  test.each(['docker-privileged', 'containerd-privileged'])('%s: host devices dropped, default rules', (name) => {
    const input = fixture(name);
    expect(input.linux!.devices!.length).toBeGreaterThan(50);
    const before = structuredClone(input);
    const changes: string[] = [];
    const out = devicesModifier(input, CTX, (c) => changes.push(c));
    const defaults = new Set(DEFAULT_DEVICES.map((d) => d.path));
    for (const d of out.linux!.devices ?? []) expect(defaults.has(d.path)).toBe(true);
    expect(out.linux!.resources!.devices).toEqual(DOCKER_DEFAULT_DEVICE_RULES);
    expect(isPrivileged(out)).toBe(false);
    expect(changes[0]).toMatch(/^privileged: dropped \d+ host devices/);
    expect(input).toEqual(before);
  });

  test('privileged + allowDevices keeps /dev/fuse and allows it in the device cgroup', () => {
    const out = devicesModifier(fixture('docker-privileged'), { ...CTX, allowDevices: ['/dev/fuse', '/dev/nonexistent'] });
    expect(out.linux!.devices!.map((d) => d.path)).toContain('/dev/fuse');
    expect(out.linux!.resources!.devices!.at(-1)).toEqual({ allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' });
    expect(out.linux!.devices!.find((d) => d.path === '/dev/sda')).toBeUndefined();
  });

  test('privileged without any linux.devices', () => {
    const s = fixture('docker-privileged');
    delete s.linux!.devices;
    const out = devicesModifier(s, CTX);
    expect(out.linux!.devices).toBeUndefined();
    expect(out.linux!.resources!.devices).toEqual(DOCKER_DEFAULT_DEVICE_RULES);
  });
});
