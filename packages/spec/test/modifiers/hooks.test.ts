import { describe, expect, test } from 'vitest';
import { hooksModifier } from '../../src/modifiers/hooks.js';
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
    expect(changes).toHaveLength(1);
    expect(JSON.stringify(spec)).toBe(before);
  });
  test('a spec without hooks gets both', () => {
    const out = hooksModifier({ ociVersion: '1.0.2' }, { ...CTX, attachHooks });
    expect(out.hooks!.prestart!.map((h) => h.args![1])).toEqual(['notify']);
    expect(out.hooks!.createRuntime!.map((h) => h.args![1])).toEqual(['wait']);
  });
  test('convertSpec applies it last', () => {
    const { spec, changes } = convertSpec(fixture('docker-plain'), { ...CTX, attachHooks });
    expect(spec.hooks!.prestart![0]!.args).toEqual(['sysbox-runc-hook', 'notify', attachHooks.socket]);
    expect(changes.at(-1)).toMatch(/^hooks: attach hooks/);
  });
});
