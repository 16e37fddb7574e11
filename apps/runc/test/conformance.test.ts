import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as spec from '@sysbox/spec';
import { afterAll, describe, expect, test } from 'vitest';
import { devicesToStage, engineBundleFlags, registerError } from '../src/conformance.js';
import { ConfigError, loadConfig, type Context } from '../src/context.js';

const dir = mkdtempSync(join(tmpdir(), 'runc-conformance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("sysbox-mgr's refusal of a requested range becomes a spec refusal naming the field", () => {
  const requested = { uid: 1000, gid: 1000, size: 65536 };
  test.each([
    ['INVALID_ARGUMENT', 'uid range 1000-66535 is not inside the subordinate uids 100000-165535', 'linux.uidMappings'],
    ['ALREADY_EXISTS', 'gid range 165536-231071 overlaps the gid range 165536-231071 of container "a"', 'linux.gidMappings'],
  ])('%s: %s', (code, message, field) => {
    const e = registerError(spec, Object.assign(new Error(message), { code }), requested);
    expect(e).toBeInstanceOf(spec.SysboxSpecError);
    expect((e as Error).message).toBe(`error in the container spec: invalid or unsupported container spec: ${field}: ${message}`);
  });

  test('anything else, or no requested range: unchanged', () => {
    const other = Object.assign(new Error('no free ID range: 2 containers hold all 2 ranges'), { code: 'RESOURCE_EXHAUSTED' });
    expect(registerError(spec, other, requested)).toBe(other);
    const uid = Object.assign(new Error('uid range 1-2 is not inside'), { code: 'INVALID_ARGUMENT' });
    expect(registerError(spec, uid, undefined)).toBe(uid);
  });
});

describe('devicesToStage: the linux.devices entries the host lacks', () => {
  test('a device the host has, as the same device, is left to the engine; the others are staged', () => {
    const s: spec.Spec = {
      ociVersion: '1.0.2',
      linux: {
        devices: [
          { path: '/dev/null', type: 'c', major: 1, minor: 3 },
          { path: '/dev/null', type: 'c', major: 1, minor: 5 },
          { path: '/dev/null', type: 'b', major: 1, minor: 3 },
          { path: '/dev/sysbox-e2e-no-such-device', type: 'c', major: 10, minor: 666 },
          { path: '/dev/sysbox-e2e-no-such-fifo', type: 'p' },
          { path: '/etc/hostname', type: 'c', major: 1, minor: 3 },
        ],
      },
    };
    expect(devicesToStage(s).map((d) => d.index)).toEqual([1, 2, 3, 4, 5]);
    expect(devicesToStage({ ociVersion: '1.0.2' })).toEqual([]);
  });
});

describe("the engine's bundle flags", () => {
  const rec = { bundle: '/docker/b', privateBundle: '/run/sysbox-runc/sysbox/x/bundle' };
  test("crun: the caller's bundle, the converted config.json through --config", () => {
    expect(engineBundleFlags({ engine: { name: 'crun' } } as Context, rec)).toEqual({ bundle: '/docker/b', config: '/run/sysbox-runc/sysbox/x/bundle/config.json' });
  });
  test('runc: the private bundle', () => {
    expect(engineBundleFlags({ engine: { name: 'runc' } } as Context, rec)).toEqual({ bundle: '/run/sysbox-runc/sysbox/x/bundle' });
  });
});

describe('config keys honorCaps, syscontMode, devicesDir', () => {
  const write = (name: string, value: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify(value));
    return p;
  };
  test('read when valid', () => {
    expect(loadConfig(write('ok.json', { honorCaps: true, syscontMode: false, devicesDir: '/var/lib/x' }))).toEqual({ honorCaps: true, syscontMode: false, devicesDir: '/var/lib/x' });
  });
  test.each([
    [{ honorCaps: 'yes' }, 'honorCaps: must be true or false, got "yes"'],
    [{ syscontMode: 0 }, 'syscontMode: must be true or false, got 0'],
    [{ devicesDir: 'rel' }, 'devicesDir: must be an absolute path, got "rel"'],
  ])('%j refused', (value, message) => {
    const p = write('bad.json', value);
    expect(() => loadConfig(p)).toThrow(ConfigError);
    expect(() => loadConfig(p)).toThrow(`${p}: ${message}`);
  });
});
