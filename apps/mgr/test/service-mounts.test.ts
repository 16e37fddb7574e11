import { MemoryStore } from '@sysbox/idmap';
import pino from 'pino';
import { describe, expect, test } from 'vitest';
import { MgrError } from '../src/errors.js';
import type { MountStager } from '../src/mount-stager.js';
import { MgrService } from '../src/service.js';
import { unavailableStager } from '../src/stager.js';

const pool = { uid: { start: 100000, count: 4 * 65536 }, gid: { start: 200000, count: 4 * 65536 } };

function fakeMountStager() {
  const calls: string[] = [];
  const s: MountStager = {
    async stage(o) {
      calls.push(`stage ${o.containerId} ${o.idRange.uid} ${o.rootfs} ${o.specialDirs.join(',')}`);
      return {
        mounts: o.mounts.map((m) => ({ index: m.index, source: `${o.dataDir}/mounts/${o.containerId}/m${m.index}`, method: 'idmap' })),
        specialDirs: o.specialDirs.map((d) => ({ destination: d, source: `${o.dataDir}/mounts/${o.containerId}/s`, method: 'idmap', created: true })),
      };
    },
    async unstage(o) {
      calls.push(`unstage ${o.containerId}`);
    },
    async gc(o) {
      calls.push(`gc ${[...o.keep].join(',')}`);
      return [];
    },
  };
  return { s, calls };
}

async function make(mountStager?: MountStager) {
  return MgrService.open({
    pool, store: new MemoryStore(), stager: unavailableStager('test'), ...(mountStager ? { mountStager } : {}),
    dataDir: '/d', log: pino({ level: 'silent' }), version: 't', pid: 1,
  });
}

describe('PrepareMounts', () => {
  test('stages with the container range and rootfs; Unregister unstages', async () => {
    const { s, calls } = fakeMountStager();
    const svc = await make(s);
    const { idRange } = await svc.register({ containerId: 'c1', rootfs: '/r' });
    const r = await svc.prepareMounts({ containerId: 'c1', mounts: [{ index: 2, source: '/home/u', destination: '/mnt', readonly: true }], specialDirs: ['/var/lib/docker'] });
    expect(r.mounts).toEqual([{ index: 2, source: '/d/mounts/c1/m2', method: 'idmap' }]);
    expect(r.specialDirs?.[0]).toMatchObject({ destination: '/var/lib/docker', created: true });
    expect(calls[0]).toBe(`stage c1 ${idRange!.uid} /r /var/lib/docker`);
    await svc.unregister({ containerId: 'c1' });
    expect(calls).toContain('unstage c1');
    await svc.gcStaging();
    expect(calls.at(-1)).toBe('gc ');
  });

  test('refuses unknown containers, relative sources and bad special dirs', async () => {
    const svc = await make(fakeMountStager().s);
    await expect(svc.prepareMounts({ containerId: 'nope', mounts: [] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await svc.register({ containerId: 'c1', rootfs: '/r' });
    await expect(svc.prepareMounts({ containerId: 'c1', mounts: [{ index: 0, source: 'rel/dir', destination: '/mnt' }] })).rejects.toThrow(
      new MgrError('INVALID_ARGUMENT', 'mount source of container c1 must be an absolute path, got "rel/dir" (for /mnt)'),
    );
    await expect(svc.prepareMounts({ containerId: 'c1', specialDirs: ['/var/../etc'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  test('without a mount stager: nothing to stage is fine, mounts fail clearly', async () => {
    const svc = await make();
    await svc.register({ containerId: 'c1', rootfs: '/r' });
    expect(await svc.prepareMounts({ containerId: 'c1' })).toEqual({ mounts: [], specialDirs: [] });
    await expect(svc.prepareMounts({ containerId: 'c1', mounts: [{ index: 0, source: '/x' }] })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });
});
