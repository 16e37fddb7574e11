import { MemoryStore } from '@sysbox/idmap';
import pino from 'pino';
import { describe, expect, test } from 'vitest';
import { MgrError } from '../src/errors.js';
import type { MountStager } from '../src/mount-stager.js';
import { MgrService } from '../src/service.js';
import { guessMounts } from '../src/prestage-mounts.js';
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

describe('mounts staged ahead by prestage', () => {
  const guess = (spec: unknown) => guessMounts(spec, (p) => p);
  async function setup() {
    const { mkdir, writeFile, mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'prestage-mounts-'));
    await mkdir(join(dir, 'rootfs'));
    const spec = { root: { path: 'rootfs' }, mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }, { destination: '/etc/hosts', type: 'bind', source: '/h/hosts', options: ['rbind', 'ro'] }] };
    await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
    const { s, calls } = fakeMountStager();
    const rootfsStager = {
      async stage(o: { containerId: string; dataDir: string }) {
        return { rootfs: `${o.dataDir}/rootfs/${o.containerId}/merged`, method: 'idmap-overlay' };
      },
      async unstage() {},
      async gc() {},
    };
    const svc = await MgrService.open({
      pool, store: new MemoryStore(), stager: rootfsStager, mountStager: s, guessMounts: guess,
      dataDir: '/d', log: pino({ level: 'silent' }), version: 't', pid: 1, pathExists: async () => false,
    });
    return { svc, calls, bundle: dir, rootfs: join(dir, 'rootfs') };
  }
  const request = (rootfs: string, specialDirs = ['/var/lib/docker', '/var/lib/containerd', '/var/lib/kubelet', '/var/lib/k0s', '/var/lib/rancher/k3s', '/var/lib/buildkit']) => ({
    containerId: 'c', rootfs, mounts: [{ index: 1, source: '/h/hosts', destination: '/etc/hosts', readonly: true, recursive: true }], specialDirs,
  });

  test('the same request is answered with what prestage staged, without staging again', async () => {
    const { svc, calls, bundle, rootfs } = await setup();
    expect(await svc.prestage({ containerId: 'c', bundle, livenessPath: '/run/s/c' })).toBe('prestaged');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatch(/^stage c \d+ .*\/rootfs \/var\/lib\/docker,/);
    await svc.register({ containerId: 'c', bundle, rootfs, livenessPath: '/run/s/c', replace: true });
    const r = await svc.prepareMounts(request(rootfs));
    expect(r.mounts).toEqual([{ index: 1, source: '/d/mounts/c/m1', method: 'idmap' }]);
    expect(r.specialDirs).toHaveLength(6);
    expect(calls).toHaveLength(1);
    // taken: a second PrepareMounts stages again
    await svc.prepareMounts(request(rootfs));
    expect(calls).toHaveLength(2);
  });

  test('a different request (e.g. special dirs turned off) is staged again; Unregister unstages', async () => {
    const { svc, calls, bundle, rootfs } = await setup();
    await svc.prestage({ containerId: 'c', bundle, livenessPath: '/run/s/c' });
    await svc.register({ containerId: 'c', bundle, rootfs, livenessPath: '/run/s/c', replace: true });
    const r = await svc.prepareMounts(request(rootfs, []));
    expect(r.specialDirs).toEqual([]);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toMatch(/^stage c \d+ .*\/rootfs $/);
    await svc.unregister({ containerId: 'c' });
    expect(calls.at(-1)).toBe('unstage c');
  });

  test('guessMounts builds create\'s request: ID-mapped binds with resolved sources, then the special dirs', () => {
    const g = guessMounts({ mounts: [{ destination: '/proc', type: 'proc' }, { destination: '/etc/hosts', type: 'bind', source: '/a/hosts', options: ['rbind', 'ro'] }, { destination: '/var/lib/docker', type: 'bind', source: '/v' }] }, (p) => `/real${p}`);
    expect(g).toEqual({
      mounts: [
        { index: 1, source: '/real/a/hosts', destination: '/etc/hosts', readonly: true, recursive: true, noIdmap: false },
        { index: 2, source: '/real/v', destination: '/var/lib/docker', readonly: false, recursive: false, noIdmap: false },
      ],
      specialDirs: ['/var/lib/containerd', '/var/lib/kubelet', '/var/lib/k0s', '/var/lib/rancher/k3s', '/var/lib/buildkit'],
    });
    expect(guessMounts({ mounts: [{ destination: '/x', type: 'bind', source: 'rel' }] }, (p) => p)).toBeUndefined();
    expect(guessMounts({ mounts: [{ destination: '/x', type: 'bind', source: '/gone' }] }, () => { throw new Error('ENOENT'); })).toBeUndefined();
    expect(guessMounts({ mounts: 'no' })).toBeUndefined();
    expect(guessMounts({})).toEqual({ mounts: [], specialDirs: expect.any(Array) });
  });
});
