import { describe, expect, test } from 'vitest';
import { isSystemdInit, systemdModifier } from '../../src/modifiers/systemd.js';
import { cgroupDelegation, cgroupsModifier, processCgroupDirs } from '../../src/modifiers/cgroups.js';
import type { Spec } from '../../src/types.js';
import { CTX, fixture } from '../helpers.js';

const withInit = (args: string[], env: string[] = ['PATH=/bin']): Spec => {
  const s = fixture('docker-plain');
  s.process = { ...s.process!, args, env };
  return s;
};

describe('isSystemdInit', () => {
  test.each([
    [['/sbin/init'], [], true],
    [['/lib/systemd/systemd', '--log-target=console'], [], true],
    [['/usr/lib/systemd/systemd'], [], true],
    [['systemd'], [], true],
    [['sh', '-c', 'exec /sbin/init'], [], false],
    [['/bin/sleep', '300'], [], false],
    [['/bin/sh'], ['SYSBOX_SYSTEMD=1'], true],
    [['/sbin/init'], ['SYSBOX_SYSTEMD=false'], false],
  ])('%j with %j → %s', (args, env, want) => {
    expect(isSystemdInit(withInit(args, env))).toBe(want);
  });
});

describe('systemdModifier', () => {
  test('systemd gets tmpfs /run and /run/lock, container=private-users, and /run, /tmp, /sys/kernel unmasked', () => {
    const s = withInit(['/sbin/init'], ['PATH=/bin', 'container=docker']);
    s.linux!.maskedPaths = [...s.linux!.maskedPaths!, '/sys/kernel/debug', '/tmp'];
    s.linux!.readonlyPaths = [...s.linux!.readonlyPaths!, '/run/x'];
    const changes: string[] = [];
    const out = systemdModifier(s, CTX, (c) => changes.push(c));
    const run = out.mounts!.find((m) => m.destination === '/run')!;
    expect(run).toEqual({ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=64m'] });
    expect(out.mounts!.find((m) => m.destination === '/run/lock')!.options).toEqual(['noexec', 'nosuid', 'nodev', 'size=4m']);
    expect(out.process!.env).toEqual(['PATH=/bin', 'container=private-users']);
    expect(out.linux!.maskedPaths).toEqual(s.linux!.maskedPaths!.filter((p) => p !== '/sys/kernel/debug' && p !== '/tmp'));
    expect(out.linux!.readonlyPaths).not.toContain('/run/x');
    expect(changes.length).toBeGreaterThan(0);
    // the input is not modified
    expect(s.process!.env).toContain('container=docker');
  });

  test("a spec's own /run mount is kept", () => {
    const s = withInit(['/sbin/init']);
    s.mounts = [...s.mounts!, { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }];
    const out = systemdModifier(s, CTX);
    expect(out.mounts!.filter((m) => m.destination === '/run')).toEqual([{ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }]);
  });

  test('any other init: the spec as it is', () => {
    const s = withInit(['/bin/sleep', '300']);
    expect(systemdModifier(s, CTX)).toBe(s);
  });
});

describe('cgroupsModifier', () => {
  test("Docker's read-only cgroup mount becomes read-write; the rest stays", () => {
    const s = fixture('docker-plain');
    const cg = s.mounts!.find((m) => m.type === 'cgroup')!;
    expect(cg.options).toContain('ro');
    const out = cgroupsModifier(s, CTX);
    const cg2 = out.mounts!.find((m) => m.type === 'cgroup')!;
    expect(cg2.options).not.toContain('ro');
    expect(cg2.options).toContain('rw');
    expect(cg2.options!.filter((o) => o !== 'rw')).toEqual(cg.options!.filter((o) => o !== 'ro'));
    expect(out.mounts!.filter((m) => m.type !== 'cgroup')).toEqual(s.mounts!.filter((m) => m.type !== 'cgroup'));
    expect(cgroupsModifier(out, CTX)).toBe(out);
  });

  test('the delegated files: never a limit', () => {
    expect(cgroupDelegation(1)).toEqual(['cgroup.procs', 'tasks']);
    expect(cgroupDelegation(2)).toEqual(['cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads']);
    for (const v of [1, 2] as const) expect(cgroupDelegation(v).some((f) => /limit|max|weight|shares|quota/.test(f))).toBe(false);
  });
});

describe('processCgroupDirs', () => {
  test('a hybrid host: every v1 hierarchy (named ones too) and the unified one', () => {
    const text = [
      '12:hugetlb:/docker/abc',
      '5:cpu,cpuacct:/docker/abc',
      '1:name=systemd:/docker/abc',
      '0::/docker/abc',
      '',
    ].join('\n');
    expect(processCgroupDirs(text, { unifiedRoot: '/sys/fs/cgroup/unified' })).toEqual([
      { version: 1, dir: '/sys/fs/cgroup/hugetlb/docker/abc' },
      { version: 1, dir: '/sys/fs/cgroup/cpu,cpuacct/docker/abc' },
      { version: 1, dir: '/sys/fs/cgroup/systemd/docker/abc' },
      { version: 2, dir: '/sys/fs/cgroup/unified/docker/abc' },
    ]);
  });
  test('a v2 host; the root cgroup', () => {
    expect(processCgroupDirs('0::/system.slice/docker-abc.scope\n', { unifiedRoot: '/sys/fs/cgroup' })).toEqual([{ version: 2, dir: '/sys/fs/cgroup/system.slice/docker-abc.scope' }]);
    expect(processCgroupDirs('0::/\n', { unifiedRoot: '/sys/fs/cgroup' })).toEqual([{ version: 2, dir: '/sys/fs/cgroup' }]);
  });
});
