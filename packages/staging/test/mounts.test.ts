import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeKernel } from '@sysbox/native';
import { gcMounts, removeSpecialDirs, specialBase, specialName, stageMounts, unstageMounts } from '../src/index.js';
import { env, fs } from './env.js';

const idRange = { uid: 165536, gid: 165536, size: 65536 };
let tmp: string;
let dataDir: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mgr-mounts-'));
  dataDir = join(tmp, 'data');
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe('mount staging (fake kernel)', () => {
  it('stages an ID-mapped view per bind source, dirs and files, ro and recursive passed on', async () => {
    const k = new FakeKernel();
    mkdirSync(join(tmp, 'src'));
    writeFileSync(join(tmp, 'file'), 'x');
    const r = await stageMounts(env(k), {
      containerId: 'c1', idRange, dataDir,
      mounts: [{ index: 4, source: join(tmp, 'src'), readonly: true, recursive: true }, { index: 7, source: join(tmp, 'file') }],
    });
    const dir = join(dataDir, 'mounts', 'c1');
    expect(r.mounts).toEqual([
      { index: 4, source: join(dir, 'm4'), method: 'idmap' },
      { index: 7, source: join(dir, 'm7'), method: 'idmap' },
    ]);
    expect(statSync(join(dir, 'm4')).isDirectory()).toBe(true);
    expect(statSync(join(dir, 'm7')).isFile()).toBe(true);
    expect(statSync(dir).mode & 0o777).toBe(0o711);
    const binds = k.callsOf('idmappedBind');
    expect(binds[0]).toEqual([join(tmp, 'src'), join(dir, 'm4'), expect.objectContaining({ readonly: true, recursive: true })]);
    expect(k.callsOf('createUserns')[0]).toEqual([[{ containerId: 0, hostId: 165536, size: 65536 }], [{ containerId: 0, hostId: 165536, size: 65536 }]]);
    // the userns fd is closed
    expect([...k.fds.values()].filter((f) => (f as { kind: string }).kind === 'userns')).toHaveLength(0);
    unstageMounts(env(k), { containerId: 'c1', dataDir });
    expect(existsSync(dir)).toBe(false);
  });

  it('a read-write bind whose file system refuses ID mapping keeps its plain source', async () => {
    const k = new FakeKernel().fail('mountSetattr', 'EINVAL');
    mkdirSync(join(tmp, 'src'));
    const logs: string[] = [];
    const r = await stageMounts(env(k), { containerId: 'c1', idRange, dataDir, mounts: [{ index: 0, source: join(tmp, 'src') }], log: (_o, m) => logs.push(m) });
    expect(r.mounts).toEqual([{ index: 0, source: join(tmp, 'src'), method: 'none' }]);
    expect(logs.join('\n')).toMatch(/refused by the file system/);
  });

  it('a read-only bind whose file system refuses ID mapping is staged as a read-only clone (the kernel then locks it)', async () => {
    const k = new FakeKernel();
    mkdirSync(join(tmp, 'ovl'));
    k.mount('overlay', join(tmp, 'ovl'), 'overlay', 0, 'lowerdir=/a'); // overlayfs refuses MOUNT_ATTR_IDMAP
    const r = await stageMounts(env(k), { containerId: 'c1', idRange, dataDir, mounts: [{ index: 3, source: join(tmp, 'ovl'), readonly: true, recursive: true }] });
    const at = join(dataDir, 'mounts', 'c1', 'm3');
    expect(r.mounts).toEqual([{ index: 3, source: at, method: 'plain' }]);
    expect(k.callsOf('bindClone')).toEqual([[join(tmp, 'ovl'), at, { readonly: true, recursive: true }]]);
    expect(k.mountsAt(at).at(-1)).toMatchObject({ readonly: true, fstype: 'overlay' });
  });

  it('a read-only bind of host /proc, /sys or /dev (noIdmap) is a read-only clone, never ID-mapped', async () => {
    const k = new FakeKernel();
    mkdirSync(join(tmp, 'shm'));
    const r = await stageMounts(env(k), { containerId: 'c1', idRange, dataDir, mounts: [{ index: 1, source: join(tmp, 'shm'), readonly: true, noIdmap: true }] });
    expect(r.mounts).toEqual([{ index: 1, source: join(dataDir, 'mounts', 'c1', 'm1'), method: 'plain' }]);
    expect(k.callsOf('idmappedBind')).toEqual([]);
    expect(k.callsOf('bindClone')).toHaveLength(1);
  });

  it('a read-only bind that cannot be made read-only on the host is refused, and nothing is left', async () => {
    const k = new FakeKernel().fail('openTree', 'EINVAL');
    mkdirSync(join(tmp, 'shm'));
    await expect(
      stageMounts(env(k), { containerId: 'c1', idRange, dataDir, mounts: [{ index: 1, source: join(tmp, 'shm'), destination: '/mnt', readonly: true, noIdmap: true }] }),
    ).rejects.toThrow(/read-only bind mount of .*shm \(for \/mnt\) can't be made read-only on the host .*: refused/);
    expect(existsSync(join(dataDir, 'mounts', 'c1'))).toBe(false);
  });

  it('refuses a missing source and leaves nothing behind', async () => {
    const k = new FakeKernel();
    await expect(stageMounts(env(k), { containerId: 'c1', idRange, dataDir, mounts: [{ index: 0, source: join(tmp, 'nope') }] })).rejects.toThrow(/mount source .*nope: ENOENT/);
    expect(existsSync(join(dataDir, 'mounts', 'c1'))).toBe(false);
  });

  it("special dirs: in Docker's dir for a Docker container, filled from the image once, kept across restage", async () => {
    const k = new FakeKernel();
    const rootfs = join(tmp, 'rootfs');
    mkdirSync(join(rootfs, 'var/lib/docker/sub'), { recursive: true });
    writeFileSync(join(rootfs, 'var/lib/docker/sub/f'), 'img');
    chownSync(join(rootfs, 'var/lib/docker/sub/f'), 1000, 1001);
    const dockerRoot = join(tmp, 'docker');
    mkdirSync(join(dockerRoot, 'containers', 'c1'), { recursive: true });
    const opts = { containerId: 'c1', idRange, dataDir, mounts: [], specialDirs: ['/var/lib/docker', '/var/lib/rancher/k3s'], rootfs, dockerRoot };
    const r = await stageMounts(env(k), opts);
    const base = join(dockerRoot, 'containers', 'c1', 'sysbox-special');
    expect(specialBase(fs, { containerId: 'c1', dataDir, dockerRoot })).toBe(base);
    const backing = join(base, 'var_lib_docker');
    expect(r.specialDirs).toEqual([
      { destination: '/var/lib/docker', source: join(dataDir, 'mounts', 'c1', 's-var_lib_docker'), method: 'idmap', created: true },
      { destination: '/var/lib/rancher/k3s', source: join(dataDir, 'mounts', 'c1', 's-var_lib_rancher_k3s'), method: 'idmap', created: true },
    ]);
    expect(k.callsOf('idmappedBind').map((c) => c[0])).toEqual([backing, join(base, 'var_lib_rancher_k3s')]);
    expect(readFileSync(join(backing, 'sub/f'), 'utf8')).toBe('img');
    expect(statSync(join(backing, 'sub/f')).uid).toBe(1000); // 0-based, as in the image
    // one the image lacks: root's, 0700 (as Sysbox makes it); one it has keeps the image's mode
    expect(statSync(join(base, 'var_lib_rancher_k3s')).mode & 0o7777).toBe(0o700);
    expect(statSync(backing).mode & 0o7777).toBe(statSync(join(rootfs, 'var/lib/docker')).mode & 0o7777);
    writeFileSync(join(backing, 'data'), 'kept');
    unstageMounts(env(k), { containerId: 'c1', dataDir });
    expect(removeSpecialDirs(env(k), { containerId: 'c1', dataDir })).toBe(false); // not ours to remove
    const again = await stageMounts(env(k), opts);
    expect(again.specialDirs[0]!.created).toBe(false);
    expect(readFileSync(join(backing, 'data'), 'utf8')).toBe('kept');
    unstageMounts(env(k), { containerId: 'c1', dataDir });
    expect(existsSync(backing)).toBe(true);
  });

  it('special dirs of a non-Docker container live under the data dir and are removed (also by gc)', async () => {
    const k = new FakeKernel();
    const o = { idRange, dataDir, mounts: [], specialDirs: ['/var/lib/docker'], dockerRoot: join(tmp, 'nodocker') };
    await stageMounts(env(k), { containerId: 'raw1', ...o });
    expect(existsSync(join(dataDir, 'special', 'raw1', 'var_lib_docker'))).toBe(true);
    unstageMounts(env(k), { containerId: 'raw1', dataDir });
    expect(removeSpecialDirs(env(k), { containerId: 'raw1', dataDir })).toBe(true);
    await stageMounts(env(k), { containerId: 'raw2', ...o });
    expect(gcMounts(env(k), { dataDir, keep: new Set(['raw2']) })).toEqual([]);
    expect(gcMounts(env(k), { dataDir, keep: new Set() })).toEqual(['raw2']);
    expect(existsSync(join(dataDir, 'special', 'raw2'))).toBe(false);
    expect(existsSync(join(dataDir, 'mounts', 'raw2'))).toBe(false);
  });

  it('names special dirs safely', () => {
    expect(specialName('/var/lib/rancher/k3s')).toBe('var_lib_rancher_k3s');
    expect(() => specialName('/')).toThrow();
    expect(() => specialName('/a/../b')).toThrow();
  });
});
