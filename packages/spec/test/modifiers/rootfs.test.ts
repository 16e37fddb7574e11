import { describe, expect, test } from 'vitest';
import { rootfsModifier } from '../../src/modifiers/rootfs.js';
import { CTX, fixture } from '../helpers.js';

describe('rootfsModifier', () => {
  test('no ctx.rootfs: unchanged', () => {
    const s = fixture('docker-plain');
    expect(rootfsModifier(s, CTX)).toBe(s);
  });
  test.each([['docker-plain', undefined], ['docker-read-only-tmpfs', true]])('%s: root.path set, readonly kept', (name, ro) => {
    const s = fixture(name);
    const out = rootfsModifier(s, { ...CTX, rootfs: '/var/lib/sysbox/rootfs/abc/merged' });
    expect(out.root).toEqual(ro ? { path: '/var/lib/sysbox/rootfs/abc/merged', readonly: true } : { path: '/var/lib/sysbox/rootfs/abc/merged' });
    expect(s.root!.path).toMatch(/^\/var\/lib\/docker\/overlay2\//);
  });
});
