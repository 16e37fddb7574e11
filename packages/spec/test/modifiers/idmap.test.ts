import { describe, expect, test } from 'vitest';
import { SysboxSpecError } from '../../src/errors.js';
import { idmapModifier, requestedIdRange } from '../../src/modifiers/idmap.js';
import type { Spec } from '../../src/types.js';
import { CTX, fixture } from '../helpers.js';

describe('idmapModifier', () => {
  test.each([
    ['docker-plain', fixture('docker-plain')],
    ['docker-userns-host', fixture('docker-userns-host')],
    ['maps the spec asked for (the reserved range)', {
      ociVersion: '1.0.2',
      linux: {
        namespaces: [{ type: 'user' }],
        uidMappings: [{ containerID: 0, hostID: 231072, size: 65536 }],
        gidMappings: [{ containerID: 0, hostID: 296608, size: 65536 }],
      },
    } satisfies Spec],
    ['no linux section', { ociVersion: '1.0.2' } satisfies Spec],
  ])('%s', (_name, input) => {
    const before = structuredClone(input);
    const out = idmapModifier(input, { ...CTX, idRange: { uid: 231072, gid: 296608, size: 65536 } });
    expect(out.linux!.uidMappings).toEqual([{ containerID: 0, hostID: 231072, size: 65536 }]);
    expect(out.linux!.gidMappings).toEqual([{ containerID: 0, hostID: 296608, size: 65536 }]);
    expect(out.linux!.namespaces!.filter((n) => n.type === 'user')).toEqual([{ type: 'user' }]);
    expect(input).toEqual(before);
  });

  test('reports the maps', () => {
    const changes: string[] = [];
    idmapModifier(fixture('docker-plain'), CTX, (c) => changes.push(c));
    expect(changes).toEqual(['user namespace: uid map 0 165536 65536, gid map 0 165536 65536']);
  });
});

describe('requestedIdRange: uidMappings/gidMappings given in config.json', () => {
  const spec = (uid: unknown, gid: unknown): Spec =>
    ({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'user' }], ...(uid ? { uidMappings: uid } : {}), ...(gid ? { gidMappings: gid } : {}) } }) as Spec;
  const m = (hostID: number, size = 65536, containerID = 0) => [{ containerID, hostID, size }];

  test('none: undefined (sysbox-mgr allocates)', () => {
    expect(requestedIdRange(fixture('docker-plain'))).toBeUndefined();
  });

  test.each([
    ['one 65536 range each', spec(m(165536), m(231072)), { uid: 165536, gid: 231072, size: 65536 }],
    ['a larger range', spec(m(200000, 131072), m(200000, 131072)), { uid: 200000, gid: 200000, size: 131072 }],
  ])('%s: used', (_what, s, range) => {
    expect(requestedIdRange(s)).toEqual(range);
  });

  test.each([
    ['uid maps without gid maps', spec(m(165536), undefined), 'linux.gidMappings: missing (linux.uidMappings is given; sysbox needs both or neither)'],
    ['gid maps without uid maps', spec(undefined, m(165536)), 'linux.uidMappings: missing (linux.gidMappings is given; sysbox needs both or neither)'],
    ['two ranges', spec([...m(165536), ...m(300000, 65536, 65536)], m(165536)), 'linux.uidMappings: sysbox needs one contiguous range (one entry), got 2 entries'],
    ['not from container root', spec(m(165536, 65536, 1), m(165536)), 'linux.uidMappings[0].containerID: must be 0 (the range starts at the container\'s root), got 1'],
    ['too small (runtime-tools linux_uid_mappings)', spec(m(1000, 2000), m(1000, 3000)), 'linux.uidMappings[0].size: must be at least 65536, got 2000'],
    ['gid too small', spec(m(165536), m(165536, 100)), 'linux.gidMappings[0].size: must be at least 65536, got 100'],
    ['sizes differ', spec(m(165536, 131072), m(165536)), 'linux.gidMappings[0].size: must equal linux.uidMappings[0].size (131072), got 65536'],
  ])('%s: refused with one line naming the field', (_what, s, detail) => {
    let err: unknown;
    try {
      requestedIdRange(s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SysboxSpecError);
    expect((err as SysboxSpecError).code).toBe('id-mappings');
    expect((err as Error).message).toBe(`error in the container spec: invalid or unsupported container spec: ${detail}`);
    expect((err as Error).message).not.toContain('\n');
  });
});
