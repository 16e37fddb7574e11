// delegateCgroups on a real cgroup2 hierarchy, mounted in a temp dir (the host here is v1 hybrid: its v2 hierarchy
// has no controllers, but ownership, the leaf and moving a process behave as on a v2 host).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { delegateCgroups, hostCgroupV2, SYSTEMD_LEAF } from '../src/cgroups.js';

const root = process.getuid?.() === 0;
const range = { uid: 231072, gid: 231072, size: 65536 };

describe.skipIf(!root)('delegateCgroups on cgroup2', () => {
  let mnt: string;
  let dir: string;
  let child: ChildProcess;
  beforeAll(() => {
    mnt = mkdtempSync('/tmp/sysbox-cg2-');
    execFileSync('mount', ['-t', 'cgroup2', 'none', mnt]);
    dir = join(mnt, `sysbox-test-${process.pid}`);
    mkdirSync(dir);
    child = spawn('sleep', ['60'], { stdio: 'ignore' });
    execFileSync('sh', ['-c', `echo ${child.pid} > ${join(dir, 'cgroup.procs')}`]);
  });
  afterAll(() => {
    child?.kill('SIGKILL');
    // the process is gone once its pid leaves the leaf
    for (let i = 0; i < 50 && existsSync(join(dir, SYSTEMD_LEAF)) && readFileSync(join(dir, SYSTEMD_LEAF, 'cgroup.procs'), 'utf8').trim(); i++) execFileSync('sleep', ['0.05']);
    for (const d of [join(dir, SYSTEMD_LEAF), dir]) if (existsSync(d)) rmdirSync(d);
    execFileSync('umount', [mnt]);
    rmdirSync(mnt);
  });
  it('the container cgroup and a systemd leaf owned by the container root; the init moved into the leaf; no limit file given away', () => {
    expect(hostCgroupV2(mnt)).toBe(true);
    const done = delegateCgroups(child.pid!, range, { root: mnt, leaf: SYSTEMD_LEAF });
    expect(done).toEqual([dir, join(dir, SYSTEMD_LEAF)]);
    for (const p of [dir, join(dir, 'cgroup.procs'), join(dir, 'cgroup.subtree_control'), join(dir, 'cgroup.threads'), join(dir, SYSTEMD_LEAF), join(dir, SYSTEMD_LEAF, 'cgroup.procs')]) {
      expect(statSync(p).uid, p).toBe(range.uid);
    }
    // a file that isn't delegation stays root's (on a v2 host with controllers: memory.max and the like)
    expect(statSync(join(dir, 'cgroup.max.depth')).uid).toBe(0);
    expect(readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim()).toBe('');
    expect(readFileSync(join(dir, SYSTEMD_LEAF, 'cgroup.procs'), 'utf8').trim()).toBe(String(child.pid));
  });
  it('the hierarchy root is never delegated', () => {
    const before = statSync(mnt).uid;
    execFileSync('sh', ['-c', `echo ${child.pid} > ${join(mnt, 'cgroup.procs')}`]);
    expect(delegateCgroups(child.pid!, range, { root: mnt, leaf: SYSTEMD_LEAF })).toEqual([]);
    expect(statSync(mnt).uid).toBe(before);
  });
});
