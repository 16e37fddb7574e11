// Integration (root, the real kernel): sampling a cgroup's threads for the load average, on cgroup v2 (a cgroup2
// hierarchy mounted in a temp dir) and v1 (the host's cpu hierarchy, where it has one). Busy loops run for a
// moment only; nothing here asserts timings.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostEnv } from '../src/host.js';
import { cgroupDirs, newLoadState, sampleLoad, sampleTasks, type CgroupDirs } from '../src/index.js';

const root = process.getuid?.() === 0;
const env = hostEnv();

function busy(): ChildProcess {
  return spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
}
function idle(): ChildProcess {
  return spawn('sleep', ['60'], { stdio: 'ignore' });
}
/** moves a process into a cgroup directory (v1 or v2: both take a pid in cgroup.procs) */
function enter(dir: string, p: ChildProcess): void {
  writeFileSync(join(dir, 'cgroup.procs'), String(p.pid));
}
/** waits until every busy process has been scheduled at least once (its state is R, not the fork's S) */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 200));
}

async function exercise(dirs: CgroupDirs, dir: string): Promise<void> {
  const kids = [busy(), busy(), idle()];
  const inner = join(dir, 'inner');
  mkdirSync(inner);
  const nested = busy();
  try {
    for (const k of kids) enter(dir, k);
    enter(inner, nested);
    await settle();
    const s = sampleTasks(env, { cgroups: dirs });
    // three busy loops (two here, one in the child cgroup) on a 2-CPU host: runnable whether running or waiting
    expect(s.running).toBe(3);
    expect(s.total).toBe(4);
    expect(s.lastPid).toBe(Math.max(...[...kids, nested].map((k) => k.pid!)));
    const view = { cgroups: dirs, load: newLoadState() };
    for (let i = 0; i < 12; i++) sampleLoad(env, view);
    // one minute of 3 runnable threads: 3 × (1 − e^−1) ≈ 1.9
    expect(view.load.avenrun[0] / 2048).toBeGreaterThan(1.8);
    expect(view.load.running).toBe(3);
  } finally {
    for (const k of [...kids, nested]) k.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    rmdirSync(inner);
  }
}

describe.runIf(root)('load average sampling, real cgroups', () => {
  let mnt: string;
  let v2dir: string;
  beforeAll(() => {
    mnt = mkdtempSync(join(tmpdir(), 'sysbox-cg2-'));
    const m = spawnSync('mount', ['-t', 'cgroup2', 'none', mnt]);
    if (m.status !== 0) throw new Error(`mount -t cgroup2: ${m.stderr}`);
    v2dir = join(mnt, `sysbox-procfs-test-${process.pid}`);
    mkdirSync(v2dir);
  });
  afterAll(() => {
    try {
      rmdirSync(v2dir);
    } finally {
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('cgroup v2: cgroup.threads of the container\'s cgroup and below', async () => {
    // resolved as sysbox-fs resolves a pure-v2 host: /proc/<pid>/cgroup's "0::" line under the cgroup2 mount
    const p = idle();
    try {
      writeFileSync(join(v2dir, 'cgroup.procs'), String(p.pid));
      const line = readFileSync(`/proc/${p.pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))!;
      const dirs = cgroupDirs(env, `${line}\n`, mnt);
      expect(dirs).toEqual({ v1: {}, v2: v2dir });
    } finally {
      p.kill('SIGKILL');
    }
    await new Promise((r) => setTimeout(r, 100));
    await exercise({ v1: {}, v2: v2dir }, v2dir);
  });

  it.runIf(existsSync('/sys/fs/cgroup/cpu/tasks'))('cgroup v1: tasks of the cpu hierarchy and below', async () => {
    const dir = `/sys/fs/cgroup/cpu/sysbox-procfs-test-${process.pid}`;
    mkdirSync(dir);
    try {
      await exercise({ v1: { cpu: dir } }, dir);
    } finally {
      rmdirSync(dir);
    }
  });
});
