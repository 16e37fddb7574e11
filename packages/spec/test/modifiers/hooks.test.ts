import { describe, expect, test } from 'vitest';
import { LAID_PATHS_ANNOTATION, hooksModifier, laidPathsOf, maskedAndReadonlyOf } from '../../src/modifiers/hooks.js';
import { convertSpec } from '../../src/modifiers/index.js';
import { CTX, fixture } from '../helpers.js';

const attachHooks = { path: '/usr/lib/sysbox/sysbox-runc-hook', socket: '/run/sysbox-runc/sysbox/c1/hook.sock' };

describe('hooksModifier', () => {
  test('without attachHooks the spec is returned as it is', () => {
    const spec = fixture('docker-plain');
    expect(hooksModifier(spec, CTX)).toBe(spec);
  });
  test("notify goes before Docker's prestart hooks, wait after every createRuntime hook; the input is untouched", () => {
    const spec = fixture('docker-plain');
    const before = JSON.stringify(spec);
    const dockerPrestart = spec.hooks?.prestart ?? [];
    expect(dockerPrestart.length).toBeGreaterThan(0); // libnetwork-setkey
    const changes: string[] = [];
    const out = hooksModifier({ ...spec, hooks: { ...spec.hooks, createRuntime: [{ path: '/bin/other' }] } }, { ...CTX, attachHooks }, (c) => changes.push(c));
    expect(out.hooks!.prestart).toEqual([{ path: attachHooks.path, args: ['sysbox-runc-hook', 'notify', attachHooks.socket] }, ...dockerPrestart]);
    expect(out.hooks!.createRuntime).toEqual([{ path: '/bin/other' }, { path: attachHooks.path, args: ['sysbox-runc-hook', 'wait', attachHooks.socket] }]);
    expect(out.hooks!.poststop).toEqual(spec.hooks?.poststop);
    expect(changes).toHaveLength(2);
    expect(JSON.stringify(spec)).toBe(before);
  });
  test('masked and read-only paths in /proc and /sys move to the annotation (sysbox-runc lays them, locked); others stay', () => {
    const spec = fixture('docker-plain');
    const masked = [...spec.linux!.maskedPaths!, '/opt/secret'];
    const readonly = [...spec.linux!.readonlyPaths!, '/etc/ro'];
    const input = { ...spec, linux: { ...spec.linux, maskedPaths: masked, readonlyPaths: readonly }, annotations: { keep: 'me' } };
    const out = hooksModifier(input, { ...CTX, attachHooks });
    expect(out.linux!.maskedPaths).toEqual(['/opt/secret']);
    expect(out.linux!.readonlyPaths).toEqual(['/etc/ro']);
    expect(out.annotations!.keep).toBe('me');
    expect(laidPathsOf(out)).toEqual({ maskedPaths: spec.linux!.maskedPaths, readonlyPaths: spec.linux!.readonlyPaths });
    // all of them, for sysbox-fs's rules: the same sets as before the move
    const all = maskedAndReadonlyOf(out);
    expect(new Set(all.maskedPaths)).toEqual(new Set(masked));
    expect(new Set(all.readonlyPaths)).toEqual(new Set(readonly));
    // without attach hooks (the engine lays them, e.g. crun before sysbox-runc's placement) nothing moves
    expect(laidPathsOf(hooksModifier(input, CTX))).toEqual({ maskedPaths: [], readonlyPaths: [] });
    expect(maskedAndReadonlyOf(input)).toEqual({ maskedPaths: masked, readonlyPaths: readonly });
  });
  test('an annotation that is not the JSON hooksModifier writes lays nothing', () => {
    for (const text of ['', '{', '[]', '{"maskedPaths": "x", "readonlyPaths": [1, "/proc/bus"]}']) {
      const laid = laidPathsOf({ ociVersion: '1.0.2', annotations: { [LAID_PATHS_ANNOTATION]: text } });
      expect(laid.maskedPaths).toEqual([]);
      expect(laid.readonlyPaths).toEqual(text.includes('/proc/bus') ? ['/proc/bus'] : []);
    }
  });
  test('a spec without hooks gets both', () => {
    const out = hooksModifier({ ociVersion: '1.0.2' }, { ...CTX, attachHooks });
    expect(out.hooks!.prestart!.map((h) => h.args![1])).toEqual(['notify']);
    expect(out.hooks!.createRuntime!.map((h) => h.args![1])).toEqual(['wait']);
  });
  test('convertSpec applies it last', () => {
    const { spec, changes } = convertSpec(fixture('docker-plain'), { ...CTX, attachHooks });
    expect(spec.hooks!.prestart![0]!.args).toEqual(['sysbox-runc-hook', 'notify', attachHooks.socket]);
    expect(changes.filter((c) => c.startsWith('hooks: ')).map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual(['hooks: attach hooks:', 'hooks: masked and']);
    expect(changes.at(-1)).toMatch(/^hooks: /);
  });
});
