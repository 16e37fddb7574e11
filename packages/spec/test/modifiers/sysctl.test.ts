import { describe, expect, test } from 'vitest';
import { sysctlModifier } from '../../src/modifiers/sysctl.js';
import type { Spec } from '../../src/types.js';
import { CTX, fixture } from '../helpers.js';

const withRange = (v: string): Spec => ({ ociVersion: '1.0.2', linux: { sysctl: { 'net.ipv4.ping_group_range': v, 'net.core.somaxconn': '1024' } } });

describe('sysctlModifier', () => {
  test.each([
    ["Docker's 0 2147483647", '0 2147483647', '0 65535'],
    ['already inside the range', '0 1000', '0 1000'],
    ['both ends outside', '70000 80000', '65535 65535'],
    ['unparsable: left for the engine to judge', 'x y', 'x y'],
  ])('%s', (_what, value, expected) => {
    const input = withRange(value);
    const out = sysctlModifier(input, CTX);
    expect(out.linux!.sysctl!['net.ipv4.ping_group_range']).toBe(expected);
    expect(out.linux!.sysctl!['net.core.somaxconn']).toBe('1024');
    if (value === expected) expect(out).toBe(input);
    expect(input.linux!.sysctl!['net.ipv4.ping_group_range']).toBe(value);
  });

  test('captured Docker config, and a smaller range', () => {
    const changes: string[] = [];
    const out = sysctlModifier(fixture('docker-plain'), { ...CTX, idRange: { uid: 1, gid: 1, size: 1000 } }, (c) => changes.push(c));
    expect(out.linux!.sysctl!['net.ipv4.ping_group_range']).toBe('0 999');
    expect(out.linux!.sysctl!['net.ipv4.ip_unprivileged_port_start']).toBe('0');
    expect(changes).toHaveLength(1);
  });

  test('no sysctl: unchanged', () => {
    const s = fixture('containerd-plain');
    expect(sysctlModifier(s, CTX)).toBe(s);
  });
});
