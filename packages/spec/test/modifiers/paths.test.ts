import { describe, expect, test } from 'vitest';
import { DOCKER_DEFAULT_MASKED_PATHS, DOCKER_DEFAULT_READONLY_PATHS, laidPaths, pathsModifier } from '../../src/modifiers/paths.js';
import { CTX, fixture } from '../helpers.js';

describe('pathsModifier', () => {
  test("Docker's lists equal the captured ones", () => {
    const s = fixture('docker-plain');
    expect(s.linux!.maskedPaths).toEqual(DOCKER_DEFAULT_MASKED_PATHS);
    expect(s.linux!.readonlyPaths).toEqual(DOCKER_DEFAULT_READONLY_PATHS);
  });

  test.each([
    ['docker-plain', [], DOCKER_DEFAULT_MASKED_PATHS, DOCKER_DEFAULT_READONLY_PATHS],
    ['docker-privileged', [], DOCKER_DEFAULT_MASKED_PATHS, DOCKER_DEFAULT_READONLY_PATHS],
    ['containerd-privileged', [], DOCKER_DEFAULT_MASKED_PATHS, DOCKER_DEFAULT_READONLY_PATHS],
    ['docker-plain', ['/proc/sys'], DOCKER_DEFAULT_MASKED_PATHS, DOCKER_DEFAULT_READONLY_PATHS.filter((p) => p !== '/proc/sys')],
    ['docker-privileged', ['/proc/sys', '/proc/keys'], DOCKER_DEFAULT_MASKED_PATHS.filter((p) => p !== '/proc/keys'), DOCKER_DEFAULT_READONLY_PATHS.filter((p) => p !== '/proc/sys')],
    ['docker-plain', ['/sys/'], DOCKER_DEFAULT_MASKED_PATHS.filter((p) => !p.startsWith('/sys/')), DOCKER_DEFAULT_READONLY_PATHS],
  ] as const)('%s with emulated %j', (name, emulated, masked, readonly) => {
    const input = fixture(name);
    const before = structuredClone(input);
    const out = pathsModifier(input, { ...CTX, emulatedPaths: [...emulated] });
    expect(out.linux!.maskedPaths).toEqual(masked);
    expect(out.linux!.readonlyPaths).toEqual(readonly);
    expect(input).toEqual(before);
  });

  test('/proc/sysrq-trigger is not "below" /proc/sys', () => {
    const out = pathsModifier(fixture('docker-plain'), { ...CTX, emulatedPaths: ['/proc/sys'] });
    expect(out.linux!.readonlyPaths).toContain('/proc/sysrq-trigger');
  });
});

describe('laidPaths', () => {
  const dirs = new Set(['/proc/acpi', '/sys/firmware', '/proc/bus']);
  const isDir = (p: string) => (p === '/proc/absent' ? undefined : dirs.has(p));
  test('splits the masked paths below the trees into files and directories, skipping absent ones', () => {
    const r = laidPaths(['/proc', '/sys'], ['/proc/keys', '/proc/acpi', '/sys/firmware', '/proc/absent', '/dev/x', '/procfoo/y'], [], [], isDir);
    expect(r).toEqual({ maskFiles: ['/proc/keys'], maskDirs: ['/proc/acpi', '/sys/firmware'], readonly: [] });
  });
  test('keeps read-only paths below the trees, but not one holding an emulated file', () => {
    const r = laidPaths(['/proc'], [], ['/proc/bus', '/proc/sys', '/sys/x', '/proc/sysrq-trigger'], ['/proc/sys/kernel/pid_max', '/proc/uptime'], isDir);
    expect(r.readonly).toEqual(['/proc/bus', '/proc/sysrq-trigger']);
  });
  test('one tree only: the other tree\'s paths are left out', () => {
    expect(laidPaths(['/sys'], DOCKER_DEFAULT_MASKED_PATHS, DOCKER_DEFAULT_READONLY_PATHS, [], isDir)).toEqual({ maskFiles: [], maskDirs: ['/sys/firmware'], readonly: [] });
  });
});
