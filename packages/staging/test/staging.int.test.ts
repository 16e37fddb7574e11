import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync, mkdtempSync, mkdirSync, writeFileSync, statSync, chmodSync, symlinkSync, readFileSync, existsSync, rmSync, appendFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { realKernel, KernelError, AT_FDCWD, STATX_BASIC_STATS, MNT_DETACH } from '@sysbox/native';
import { stageRootfs, unstageRootfs, gcStaging } from '../src/index.js';
import { env } from './env.js';

const k = realKernel();
const isRoot = process.getuid?.() === 0;
const BASE = 231072;
const idRange = { uid: BASE, gid: BASE, size: 65536 };
const DOCKER = '/usr/bin/docker';

let base = '';
/** Our mounts: those under the test's scratch dir (other tests and containers come and go meanwhile). */
function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4]!)
    .filter((m) => base !== '' && m.startsWith(base))
    .sort();
}

function owner(p: string): [number, number] {
  const st = statSync(p);
  return [st.uid, st.gid];
}

function ctimeOf(p: string): string {
  const t = k.statx(AT_FDCWD, p, 0x100, STATX_BASIC_STATS).ctime;
  return `${t.sec}.${t.nsec}`;
}

function asUid(uid: number, script: string) {
  return spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sh', '-c', script], { encoding: 'utf8' });
}

describe.runIf(isRoot)('rootfs staging (root, real kernel)', () => {
  let ovl = '';
  let dataDir = '';
  let merged = '';
  const logs: string[] = [];
  const log = (_o: object, msg: string) => void logs.push(msg);

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'mgr-staging-'));
    chmodSync(base, 0o711);
    ovl = join(base, 'overlay2');
    dataDir = join(base, 'sysbox');
    // A Docker-like overlay2 dir: two layers with root-owned files, short links under l/, a container layer.
    for (const d of ['layerA/diff/bin', 'layerA/diff/etc', 'layerB/diff/etc', 'layerB/diff/home/user', 'l', 'cont/diff', 'cont/work', 'cont/merged'])
      mkdirSync(join(ovl, d), { recursive: true });
    writeFileSync(join(ovl, 'layerA/diff/bin/tool'), '#!/bin/sh\n', { mode: 0o4755 });
    writeFileSync(join(ovl, 'layerA/diff/etc/hosts'), 'A\n');
    writeFileSync(join(ovl, 'layerB/diff/etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    writeFileSync(join(ovl, 'layerB/diff/etc/group'), 'root:x:0:\n');
    execFileSync('chown', ['1000:1000', join(ovl, 'layerB/diff/home/user')]);
    // An opaque dir in layerA over layerB's opq/ (made as Docker's applier would: trusted.overlay.opaque=y),
    // produced by replacing the dir through a host-root overlay whose upper is layerA.
    mkdirSync(join(ovl, 'layerB/diff/opq'));
    writeFileSync(join(ovl, 'layerB/diff/opq/old'), 'old');
    mkdirSync(join(base, 'mkopq/work'), { recursive: true });
    mkdirSync(join(base, 'mkopq/m'));
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${ovl}/layerB/diff,upperdir=${ovl}/layerA/diff,workdir=${base}/mkopq/work`, `${base}/mkopq/m`]);
    execFileSync('sh', ['-c', `rm -rf ${base}/mkopq/m/opq && mkdir ${base}/mkopq/m/opq && echo new > ${base}/mkopq/m/opq/new`]);
    execFileSync('umount', [`${base}/mkopq/m`]);
    rmSync(join(base, 'mkopq'), { recursive: true });
    symlinkSync('../layerA/diff', join(ovl, 'l/AAAA'));
    symlinkSync('../layerB/diff', join(ovl, 'l/BBBB'));
    // Relative lowerdirs, as dockerd does when the option string is long: mount from inside overlay2/.
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=l/AAAA:l/BBBB,upperdir=${ovl}/cont/diff,workdir=${ovl}/cont/work`, `${ovl}/cont/merged`], { cwd: ovl });
    merged = join(ovl, 'cont/merged');
  });

  afterAll(() => {
    try {
      k.umount(merged, MNT_DETACH);
    } catch {
      /* not mounted */
    }
    expect(mountPoints()).toEqual([]);
    rmSync(base, { recursive: true, force: true });
  });

  it('stages a Docker-like overlay as an ID-mapped overlay and unstages it without leftovers', async () => {
    const lowerFiles = ['layerA/diff/bin/tool', 'layerA/diff/etc/hosts', 'layerB/diff/etc/passwd', 'layerB/diff/home/user'].map((f) => join(ovl, f));
    const before = lowerFiles.map((f) => [owner(f), ctimeOf(f), statSync(f).mode]);
    const mountsPre = mountPoints();

    const r = await stageRootfs(env(k), { containerId: 'c1', rootfs: merged, idRange, dataDir, log });
    expect(r).toEqual({ rootfs: join(dataDir, 'rootfs/c1/merged'), method: 'idmap-overlay' });
    // Owners through the staged view: disk 0 → the range base; disk 1000 → base+1000.
    expect(owner(join(r.rootfs, 'bin/tool'))).toEqual([BASE, BASE]);
    expect(owner(join(r.rootfs, 'etc/passwd'))).toEqual([BASE, BASE]);
    expect(owner(join(r.rootfs, 'home/user'))).toEqual([BASE + 1000, BASE + 1000]);
    expect(statSync(join(r.rootfs, 'bin/tool')).mode & 0o4000).toBe(0o4000);
    // Opaque dirs of image layers (trusted.overlay.* xattrs) are honoured, as through Docker's mount.
    expect(readdirSync(join(merged, 'opq'))).toEqual(['new']);
    expect(readdirSync(join(r.rootfs, 'opq'))).toEqual(['new']);
    // Every level down to the staged rootfs is traversable by the range.
    let res = asUid(BASE, `cat ${r.rootfs}/etc/hosts && echo new > ${r.rootfs}/newfile && echo more >> ${r.rootfs}/etc/hosts && mkdir ${r.rootfs}/newdir`);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toBe('A\n');
    // Written by the range's root: stored as 0:0 in the upper layer; copy-up of a lower file too.
    expect(owner(join(ovl, 'cont/diff/newfile'))).toEqual([0, 0]);
    expect(owner(join(ovl, 'cont/diff/newdir'))).toEqual([0, 0]);
    expect(owner(join(ovl, 'cont/diff/etc/hosts'))).toEqual([0, 0]);
    expect(readFileSync(join(ovl, 'cont/diff/etc/hosts'), 'utf8')).toBe('A\nmore\n');
    // Deleting an image file leaves a whiteout (0/0 char device) in the upper layer, which Docker's own mount honours.
    res = asUid(BASE, `rm ${r.rootfs}/etc/group`);
    expect(res.status, res.stderr).toBe(0);
    const wh = statSync(join(ovl, 'cont/diff/etc/group'));
    expect([wh.isCharacterDevice(), wh.rdev]).toEqual([true, 0]);
    expect(existsSync(join(ovl, 'layerB/diff/etc/group'))).toBe(true);
    // A process in the container's user namespace sees 0 owners.
    res = spawnSync('unshare', ['--user', `--map-users=${BASE},0,65536`, `--map-groups=${BASE},0,65536`, '--', 'stat', '-c', '%u:%g', `${r.rootfs}/etc/passwd`], { encoding: 'utf8' });
    if (res.status === 0) expect(res.stdout.trim()).toBe('0:0');
    // Lower (image) files: owners, ctimes and modes unchanged.
    expect(lowerFiles.map((f) => [owner(f), ctimeOf(f), statSync(f).mode])).toEqual(before);
    expect(readFileSync(join(ovl, 'layerA/diff/etc/hosts'), 'utf8')).toBe('A\n');

    await unstageRootfs(env(k), { containerId: 'c1', dataDir });
    expect(mountPoints()).toEqual(mountsPre);
    expect(existsSync(join(dataDir, 'rootfs/c1'))).toBe(false);
    await unstageRootfs(env(k), { containerId: 'c1', dataDir }); // idempotent
    expect(lowerFiles.map((f) => [owner(f), ctimeOf(f), statSync(f).mode])).toEqual(before);
    // The container's own layer still looks right through Docker's mount.
    expect(readFileSync(join(merged, 'newfile'), 'utf8')).toBe('new\n');
    expect(existsSync(join(merged, 'etc/group'))).toBe(false);
    appendFileSync(join(merged, 'etc/passwd'), 'x:x:1:1::/:/bin/sh\n'); // copy-up through the engine's mount still works
    expect(existsSync(join(ovl, 'cont/work-sysbox'))).toBe(false);
  });

  it('stages a plain directory as an ID-mapped bind', async () => {
    const plain = join(base, 'bundle-rootfs');
    mkdirSync(join(plain, 'etc'), { recursive: true });
    writeFileSync(join(plain, 'etc/hostname'), 'x\n');
    const mountsPre = mountPoints();
    const r = await stageRootfs(env(k), { containerId: 'plain1', rootfs: plain, idRange, dataDir, log });
    expect(r.method).toBe('idmap');
    expect(owner(join(r.rootfs, 'etc/hostname'))).toEqual([BASE, BASE]);
    const res = asUid(BASE, `touch ${r.rootfs}/etc/new`);
    expect(res.status, res.stderr).toBe(0);
    expect(owner(join(plain, 'etc/new'))).toEqual([0, 0]);
    await unstageRootfs(env(k), { containerId: 'plain1', dataDir });
    expect(mountPoints()).toEqual(mountsPre);
  });

  it('falls back to chown (logged) for a plain dir on a fs that refuses ID-mapped mounts, and shifts back', async () => {
    // A directory inside an overlay (not its mount point) can't be ID-mapped: mount_setattr says EINVAL.
    const fb = join(base, 'fb');
    for (const d of ['lower/rootfs/home/user', 'upper', 'work', 'mnt']) mkdirSync(join(fb, d), { recursive: true });
    execFileSync('chown', ['1000:1000', join(fb, 'lower/rootfs/home/user')]);
    writeFileSync(join(fb, 'lower/rootfs/suid'), '', { mode: 0o4755 });
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${fb}/lower,upperdir=${fb}/upper,workdir=${fb}/work`, `${fb}/mnt`]);
    try {
      const inner = join(fb, 'mnt/rootfs');
      const mountsPre = mountPoints();
      logs.length = 0;
      const r = await stageRootfs(env(k), { containerId: 'chown1', rootfs: inner, idRange, dataDir, log });
      expect(r.method).toBe('chown');
      expect(logs.some((m) => /falling back to chown/.test(m))).toBe(true);
      expect(owner(join(r.rootfs, 'home/user'))).toEqual([BASE + 1000, BASE + 1000]);
      expect(owner(join(r.rootfs, 'suid'))).toEqual([BASE, BASE]);
      expect(statSync(join(r.rootfs, 'suid')).mode & 0o7777).toBe(0o4755);
      const res = asUid(BASE, `touch ${r.rootfs}/new`);
      expect(res.status, res.stderr).toBe(0);
      await unstageRootfs(env(k), { containerId: 'chown1', dataDir });
      expect(owner(join(inner, 'home/user'))).toEqual([1000, 1000]);
      expect(owner(join(inner, 'new'))).toEqual([0, 0]);
      expect(statSync(join(inner, 'suid')).mode & 0o7777).toBe(0o4755);
      expect(mountPoints()).toEqual(mountsPre);
    } finally {
      k.umount(join(fb, 'mnt'), MNT_DETACH);
    }
  });

  it('falls back to chown of the upper layer when the ID-mapped overlay is refused; image layers untouched', async () => {
    // A kernel that refuses the ID-mapped upper layer (as a fs without idmap support would).
    const refusing = new Proxy(k, {
      get(target, prop, recv) {
        if (prop === 'idmappedBind')
          return (src: string, dst: string, o: Parameters<typeof k.idmappedBind>[2]) => {
            if (dst.endsWith('/upper')) throw new KernelError('EINVAL', 'mount_setattr', src);
            return target.idmappedBind(src, dst, o);
          };
        return Reflect.get(target, prop, recv);
      },
    });
    const lowerFile = join(ovl, 'layerA/diff/etc/hosts');
    const before = [owner(lowerFile), ctimeOf(lowerFile)];
    const mountsPre = mountPoints();
    logs.length = 0;
    const r = await stageRootfs(env(refusing), { containerId: 'chown2', rootfs: merged, idRange, dataDir, log });
    expect(r.method).toBe('chown');
    expect(logs.some((m) => /falling back to chown of the upper layer/.test(m))).toBe(true);
    expect(owner(join(r.rootfs, 'etc/passwd'))).toEqual([BASE, BASE]);
    expect(readdirSync(join(r.rootfs, 'opq'))).toEqual(['new']);
    expect(owner(join(ovl, 'cont/diff/newfile'))).toEqual([BASE, BASE]); // shifted while staged
    const res = asUid(BASE, `echo x > ${r.rootfs}/fromchown`);
    expect(res.status, res.stderr).toBe(0);
    await unstageRootfs(env(refusing), { containerId: 'chown2', dataDir });
    expect(owner(join(ovl, 'cont/diff/newfile'))).toEqual([0, 0]);
    expect(owner(join(ovl, 'cont/diff/fromchown'))).toEqual([0, 0]);
    expect([owner(lowerFile), ctimeOf(lowerFile)]).toEqual(before);
    expect(mountPoints()).toEqual(mountsPre);
  });

  it('gcStaging removes everything not kept', async () => {
    const plain = join(base, 'gc-rootfs');
    mkdirSync(plain);
    await stageRootfs(env(k), { containerId: 'keepme', rootfs: plain, idRange, dataDir });
    await stageRootfs(env(k), { containerId: 'dropme', rootfs: merged, idRange, dataDir });
    const removed = await gcStaging(env(k), { dataDir, keep: new Set(['keepme']) });
    expect(removed).toEqual(['dropme']);
    expect(existsSync(join(dataDir, 'rootfs/dropme'))).toBe(false);
    expect(existsSync(join(dataDir, 'rootfs/keepme/merged'))).toBe(true);
    await gcStaging(env(k), { dataDir, keep: new Set() });
    expect(mountPoints().filter((m) => m.startsWith(dataDir))).toEqual([]);
  });

  const haveDocker = existsSync(DOCKER) && spawnSync(DOCKER, ['image', 'inspect', 'sysbox-test/busybox']).status === 0;
  it.runIf(haveDocker)('stages a real Docker container rootfs; runc runs it in a user namespace with 0 owners (needs Docker and the sysbox-test/busybox image)', async () => {
    const name = `mgr-staging-${process.pid}`;
    const cid = execFileSync(DOCKER, ['run', '-d', '--name', name, 'sysbox-test/busybox', 'sleep', '1000'], { encoding: 'utf8' }).trim();
    const bundle = join(base, 'bundle');
    try {
      const mergedDir = execFileSync(DOCKER, ['inspect', '-f', '{{.GraphDriver.Data.MergedDir}}', cid], { encoding: 'utf8' }).trim();
      const r = await stageRootfs(env(k), { containerId: cid, rootfs: mergedDir, idRange, dataDir, log });
      expect(r.method).toBe('idmap-overlay');
      mkdirSync(bundle);
      execFileSync('runc', ['spec', '--rootless'], { cwd: bundle });
      const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
      spec.root = { path: r.rootfs, readonly: false };
      spec.process.terminal = false;
      spec.process.user = { uid: 0, gid: 0 };
      spec.process.args = ['sh', '-c', 'cat /proc/self/uid_map; ls -ln / | grep -E " (bin|etc)$"; echo hi > /fromct; stat -c %u:%g /fromct'];
      spec.linux.uidMappings = [{ containerID: 0, hostID: BASE, size: 65536 }];
      spec.linux.gidMappings = [{ containerID: 0, hostID: BASE, size: 65536 }];
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
      const out = execFileSync('runc', ['--root', join(base, 'runc-state'), 'run', `sbx-stage-${process.pid}`], { cwd: bundle, encoding: 'utf8' });
      const lines = out.trim().split('\n');
      expect(lines[0]!.trim().split(/\s+/)).toEqual(['0', String(BASE), '65536']);
      const ls = lines.slice(1, -1);
      expect(ls.length).toBeGreaterThan(0);
      for (const l of ls) expect(l.split(/\s+/).slice(2, 4)).toEqual(['0', '0']);
      expect(lines[lines.length - 1]).toBe('0:0');
      const upper = mergedDir.replace(/merged$/, 'diff');
      expect(owner(join(upper, 'fromct'))).toEqual([0, 0]);
      await unstageRootfs(env(k), { containerId: cid, dataDir });
      expect(mountPoints().filter((m) => m.startsWith(dataDir))).toEqual([]);
      expect(existsSync(join(dirname(mergedDir), 'work-sysbox'))).toBe(false);
      // Docker's own mount of the container still works, copy-up included.
      expect(readFileSync(join(mergedDir, 'fromct'), 'utf8')).toBe('hi\n');
      appendFileSync(join(mergedDir, 'etc/passwd'), '');
      writeFileSync(join(mergedDir, 'bin/fromhost'), 'y');
    } finally {
      await unstageRootfs(env(k), { containerId: cid, dataDir }).catch(() => {});
      spawnSync(DOCKER, ['rm', '-f', name]);
    }
  });
});
