import { describe, expect, test } from 'vitest';
import { convertSpec } from '../../src/modifiers/index.js';
import { mountsModifier } from '../../src/modifiers/mounts.js';
import { CTX, fixture } from '../helpers.js';

describe('mountsModifier', () => {
  test('no staging: the spec is returned as it is', () => {
    const s = fixture('docker-plain');
    expect(mountsModifier(s, CTX)).toBe(s);
  });

  test('bind sources replaced by their staged views, options kept; special dirs appended', () => {
    const input = fixture('docker-plain');
    const before = structuredClone(input);
    const i = input.mounts!.findIndex((m) => m.destination === '/etc/hosts');
    const changes: string[] = [];
    const out = mountsModifier(
      input,
      { ...CTX, stagedMounts: [{ index: i, source: '/var/lib/sysbox/mounts/c/m9' }], specialDirs: [{ destination: '/var/lib/docker', source: '/var/lib/sysbox/mounts/c/s-var_lib_docker' }] },
      (c) => changes.push(c),
    );
    expect(out.mounts![i]).toEqual({ ...input.mounts![i], source: '/var/lib/sysbox/mounts/c/m9' });
    expect(out.mounts!.at(-1)).toEqual({ destination: '/var/lib/docker', type: 'bind', source: '/var/lib/sysbox/mounts/c/s-var_lib_docker', options: ['rbind', 'rprivate'] });
    expect(out.mounts).toHaveLength(input.mounts!.length + 1);
    expect(changes).toHaveLength(2);
    expect(input).toEqual(before);
  });

  test('a special dir the spec already mounts is not added twice', () => {
    const input = fixture('docker-plain');
    input.mounts!.push({ destination: '/var/lib/docker', type: 'bind', source: '/v', options: ['rbind'] });
    const out = mountsModifier(input, { ...CTX, specialDirs: [{ destination: '/var/lib/docker', source: '/s' }] });
    expect(out.mounts!.filter((m) => m.destination === '/var/lib/docker')).toHaveLength(1);
  });

  test('refuses a staged index that is not a bind mount or out of range', () => {
    expect(() => mountsModifier(fixture('docker-plain'), { ...CTX, stagedMounts: [{ index: 0, source: '/x' }] })).toThrow(/not a bind mount/);
    expect(() => mountsModifier(fixture('docker-plain'), { ...CTX, stagedMounts: [{ index: 99, source: '/x' }] })).toThrow(/only/);
  });

  test('is part of convertSpec', () => {
    const input = fixture('docker-plain');
    const i = input.mounts!.findIndex((m) => m.destination === '/etc/hostname');
    const { spec, changes } = convertSpec(input, { ...CTX, stagedMounts: [{ index: i, source: '/st' }] });
    expect(spec.mounts![i]!.source).toBe('/st');
    expect(changes.some((c) => c.startsWith('mounts: /etc/hostname'))).toBe(true);
  });
});
