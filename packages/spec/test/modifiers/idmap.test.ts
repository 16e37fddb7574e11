import { describe, expect, test } from 'vitest';
import { idmapModifier } from '../../src/modifiers/idmap.js';
import type { Spec } from '../../src/types.js';
import { CTX, fixture } from '../helpers.js';

describe('idmapModifier', () => {
  test.each([
    ['docker-plain', fixture('docker-plain')],
    ['docker-userns-host', fixture('docker-userns-host')],
    ['existing maps and joined userns are replaced', {
      ociVersion: '1.0.2',
      linux: {
        namespaces: [{ type: 'user', path: '/proc/5/ns/user' }],
        uidMappings: [{ containerID: 0, hostID: 0, size: 4294967295 }, { containerID: 1, hostID: 2, size: 3 }],
        gidMappings: [{ containerID: 0, hostID: 0, size: 1 }],
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
