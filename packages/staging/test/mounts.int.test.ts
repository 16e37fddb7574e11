import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { realKernel, MNT_DETACH } from '@sysbox/native';
import { gcMounts, stageMounts, unstageMounts } from '../src/index.js';
import { env } from './env.js';

const k = realKernel();
const isRoot = process.getuid?.() === 0;
const BASE = 296608;
const idRange = { uid: BASE, gid: BASE, size: 65536 };

let base = '';
function ourMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[4]!).filter((m) => base !== '' && m.startsWith(base));
}
function asUid(uid: number, script: string) {
  return spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sh', '-c', script], { encoding: 'utf8' });
}

describe.runIf(isRoot)('mount staging (root, real kernel)', () => {
  let dataDir = '';
  beforeAll(() => {
    base = mkdtempSync(join('/var/tmp', 'mgr-mounts-int-'));
    chmodSync(base, 0o755); // the range must traverse to the views, as it does /var/lib/sysbox
    dataDir = join(base, 'data');
  });
  afterAll(() => {
    for (const m of ourMounts().reverse()) k.umount(m, MNT_DETACH);
    rmSync(base, { recursive: true, force: true });
  });

  it('an ID-mapped view: host owners shift into the range, range root writes land as 0, ro is read-only', async () => {
    const src = join(base, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'f'), 'x');
    chownSync(join(src, 'f'), 1234, 2345);
    writeFileSync(join(base, 'file'), 'single');
    const r = await stageMounts(env(k), { containerId: 'c1', idRange, dataDir, mounts: [{ index: 0, source: src, recursive: true }, { index: 1, source: join(base, 'file'), readonly: true }] });
    expect(r.mounts.map((m) => m.method)).toEqual(['idmap', 'idmap']);
    const view = r.mounts[0]!.source;
    expect(statSync(join(view, 'f')).uid).toBe(BASE + 1234);
    expect(statSync(view).uid).toBe(BASE);
    // the dir is traversable by the range: the range's root writes through the view, stored as 0 on disk
    const w = asUid(BASE, `echo hi > ${view}/new`);
    expect(w.status, w.stderr).toBe(0);
    expect(statSync(join(src, 'new')).uid).toBe(0);
    expect(readFileSync(r.mounts[1]!.source, 'utf8')).toBe('single');
    expect(() => writeFileSync(r.mounts[1]!.source, 'y')).toThrow(/EROFS/);
    unstageMounts(env(k), { containerId: 'c1', dataDir });
    expect(ourMounts()).toEqual([]);
    expect(existsSync(join(dataDir, 'mounts', 'c1'))).toBe(false);
  });

  it('falls back to the plain source on an overlay (MOUNT_ATTR_IDMAP refused)', async () => {
    const o = join(base, 'ovl');
    for (const d of ['l', 'u', 'w', 'm']) mkdirSync(join(o, d), { recursive: true });
    k.mount('overlay', join(o, 'm'), 'overlay', 0, `lowerdir=${join(o, 'l')},upperdir=${join(o, 'u')},workdir=${join(o, 'w')}`);
    try {
      const r = await stageMounts(env(k), { containerId: 'c2', idRange, dataDir, mounts: [{ index: 3, source: join(o, 'm') }] });
      expect(r.mounts).toEqual([{ index: 3, source: join(o, 'm'), method: 'none' }]);
    } finally {
      unstageMounts(env(k), { containerId: 'c2', dataDir });
      k.umount(join(o, 'm'), MNT_DETACH);
    }
  });

  it('special dir (non-Docker): a host dir mounted ID-mapped; gc removes views and dir of unregistered ids', async () => {
    const r = await stageMounts(env(k), { containerId: 'raw1', idRange, dataDir, mounts: [], specialDirs: ['/var/lib/docker'], dockerRoot: join(base, 'nodocker') });
    expect(r.specialDirs[0]).toMatchObject({ method: 'idmap', created: true });
    expect(statSync(r.specialDirs[0]!.source).uid).toBe(BASE);
    expect(ourMounts().filter((m) => m.includes('/raw1/'))).toHaveLength(1);
    expect(gcMounts(env(k), { dataDir, keep: new Set() })).toContain('raw1');
    expect(ourMounts()).toEqual([]);
    expect(existsSync(join(dataDir, 'special', 'raw1'))).toBe(false);
  });
});
