import { describe, expect, it } from 'vitest';
import {
  CLASS_DIR,
  CPU_DIR,
  CPU_ONLINE,
  DMI_ID,
  FIXED_1,
  FakeHostEnv,
  LOAD_EXP,
  VIRTUAL_DEVICES,
  calcLoad,
  cgroupThreads,
  coverHidden,
  emulatedHandlers,
  emulatedLinks,
  foldLoad,
  formatCpuList,
  formatLoad,
  innermostPid,
  newLoadState,
  newView,
  readPath,
  renderLoadavg,
  sampleLoad,
  sampleTasks,
  sysCovers,
  taskState,
  type DirEntry,
} from '../src/index.js';

const stat = (pid: number, state: string, comm = 'sh') => `${pid} (${comm}) ${state} 1 ${pid} ${pid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5000 0 0`;
const dir = (name: string): DirEntry => ({ name, type: 'dir' });
const file = (name: string): DirEntry => ({ name, type: 'file' });

// a hybrid (cgroup v1) host: the container's cpu cgroup holds 3 threads, a child cgroup (systemd/DinD style) 2 more
function v1Host(states: Record<number, string>) {
  const cg = '/docker/abc';
  const env = new FakeHostEnv({
    '/proc/stat': 'cpu  0 0 0 0\ncpu0 0 0 0 0\ncpu1 0 0 0 0\ncpu2 0 0 0 0\ncpu3 0 0 0 0\n',
    '/proc/42/stat': stat(42, 'S', 'init'),
    '/proc/42/cgroup': `4:memory:${cg}\n3:cpuset:${cg}\n2:cpu,cpuacct:${cg}\n8:pids:${cg}\n0::/\n`,
    [`/sys/fs/cgroup/cpu,cpuacct${cg}/tasks`]: '42\n43\n44\n',
    [`/sys/fs/cgroup/cpu,cpuacct${cg}/inner/tasks`]: '50\n51\n',
    [`/sys/fs/cgroup/cpuset${cg}/cpuset.cpus`]: '0-3\n',
  });
  env.setDir(`/sys/fs/cgroup/cpu,cpuacct${cg}`, [dir('inner'), file('tasks')]);
  env.setDir(`/sys/fs/cgroup/cpu,cpuacct${cg}/inner`, [file('tasks')]);
  for (const [tid, st] of Object.entries(states)) env.set(`/proc/${tid}/stat`, stat(Number(tid), st));
  return { env, cg };
}

describe('load average arithmetic (the kernel\'s fixed point)', () => {
  it('one busy task for one 5 s period: 0.08, as on an idle host', () => {
    expect(formatLoad(calcLoad(0, LOAD_EXP[0], FIXED_1))).toBe('0.08');
    expect(formatLoad(0)).toBe('0.00');
    expect(formatLoad(FIXED_1 * 3)).toBe('3.00');
  });
  it('n folds of a constant count follow count × (1 − e^(−5n/T)) for T = 1, 5, 15 min', () => {
    const s = newLoadState();
    for (let n = 1; n <= 36; n++) {
      foldLoad(s, 2);
      [60, 300, 900].forEach((T, i) => {
        const want = 2 * (1 - Math.exp((-5 * n) / T));
        expect(Math.abs(s.avenrun[i]! / FIXED_1 - want)).toBeLessThan(0.02);
      });
    }
    expect(s.folds).toBe(36);
    // and decays back when idle (the rounding term only applies while rising)
    const high = s.avenrun[0]!;
    foldLoad(s, 0);
    expect(s.avenrun[0]).toBe(Math.floor((high * LOAD_EXP[0]) / FIXED_1));
  });
});

describe('sampling a container\'s threads', () => {
  it('v1: the cpu hierarchy\'s tasks, subtree included; R and D count, S does not; threads gone are skipped', () => {
    const { env, cg } = v1Host({ 43: 'R', 44: 'S', 50: 'D', 51: 'R' });
    env.set('/proc/51/status', 'Name:\tsh\nNSpid:\t51\t17\n');
    const v = newView(env, { containerId: 'c', initPid: 42 });
    expect(cgroupThreads(env, v.cgroups)).toEqual([42, 43, 44, 50, 51]);
    expect(sampleTasks(env, v)).toEqual({ running: 2, uninterruptible: 1, total: 5, lastPid: 17 });
    env.files.delete('/proc/44/stat'); // exited between the listing and the look
    expect(sampleTasks(env, v).total).toBe(4);
    expect(cgroupThreads(env, v.cgroups, 2)).toEqual([42, 43]);
    // without list(): the container's own cgroup only
    const flat = new FakeHostEnv(Object.fromEntries(env.files));
    expect(cgroupThreads({ ...flat, read: flat.read.bind(flat), ticksPerSecond: 100, list: undefined } as never, v.cgroups)).toEqual([42, 43, 44]);
    expect(cg).toBe('/docker/abc');
  });
  it('v2: cgroup.threads of the unified directory and below', () => {
    const env = new FakeHostEnv({
      '/sys/fs/cgroup/cgroup.controllers': 'cpu memory pids\n',
      '/proc/7/stat': stat(7, 'S', 'init'),
      '/proc/7/cgroup': '0::/system.slice/docker-x.scope\n',
      '/sys/fs/cgroup/system.slice/docker-x.scope/cgroup.threads': '7\n8\n',
      '/sys/fs/cgroup/system.slice/docker-x.scope/init.scope/cgroup.threads': '9\n',
      '/proc/8/stat': stat(8, 'R'),
      '/proc/9/stat': stat(9, 'R'),
    });
    env.setDir('/sys/fs/cgroup/system.slice/docker-x.scope', [dir('init.scope'), file('cgroup.threads')]);
    const v = newView(env, { containerId: 'c', initPid: 7 });
    expect(v.cgroups).toEqual({ v1: {}, v2: '/sys/fs/cgroup/system.slice/docker-x.scope' });
    expect(sampleTasks(env, v)).toMatchObject({ running: 2, uninterruptible: 0, total: 3 });
  });
  it('parses the state after a comm with spaces and parens, and NSpid', () => {
    expect(taskState('12 (a) b (c)) D 1 2')).toBe('D');
    expect(taskState('garbage')).toBeUndefined();
    expect(innermostPid('NSpid:\t4242\n')).toBe(4242);
    expect(innermostPid('Name:\tx\n')).toBeUndefined();
  });
  it('/proc/loadavg: averages from the folds, running/total and newest pid from the last sample', () => {
    const { env } = v1Host({ 43: 'R', 44: 'R', 50: 'S', 51: 'S' });
    const v = newView(env, { containerId: 'c', initPid: 42 });
    // nothing sampled yet: zeros, and the reader itself running
    expect(renderLoadavg(env, v)).toBe('0.00 0.00 0.00 1/1 0\n');
    sampleLoad(env, v, false); // at registration: counts only
    expect(v.load.folds).toBe(0);
    expect(readPath(env, v, '/proc/loadavg')).toBe('0.00 0.00 0.00 2/5 0\n');
    for (let i = 0; i < 12; i++) sampleLoad(env, v); // one minute of two busy threads
    const [one, five, fifteen] = renderLoadavg(env, v).split(' ').map(Number);
    expect(one).toBeGreaterThan(1.2); // 2 × (1 − e^−1) = 1.26
    expect(one).toBeLessThan(1.3);
    expect(five).toBeLessThan(one!);
    expect(fifteen).toBeLessThan(five!);
    expect(v.load.samples).toBe(13);
  });
});

describe('/sys/devices/system/cpu', () => {
  const cpuEntries = [dir('cpu0'), dir('cpu1'), dir('cpu2'), dir('cpu3'), dir('cpufreq'), file('online'), file('possible'), file('present'), file('kernel_max')];
  function host(cpuset: string, extra: Record<string, string> = {}) {
    const { env, cg } = v1Host({});
    env.set(`/sys/fs/cgroup/cpuset${cg}/cpuset.cpus`, cpuset);
    env.set(CPU_ONLINE, '0-3\n');
    for (const [k, val] of Object.entries(extra)) env.set(k, val);
    env.setDir(`/proc/42/root${CPU_DIR}`, cpuEntries);
    return { env, cg };
  }
  it('formats CPU lists as the kernel does', () => {
    expect(formatCpuList([0])).toBe('0');
    expect(formatCpuList([0, 1, 2, 4, 6, 7])).toBe('0-2,4,6-7');
    expect(formatCpuList([])).toBe('');
  });
  it('online follows the cpuset (host numbering) and a CFS quota; hidden cpuN dirs are those of other CPUs', () => {
    const { env, cg } = host('1-2\n');
    const v = newView(env, { containerId: 'c', initPid: 42, covers: sysCovers(env, 42) });
    expect(readPath(env, v, CPU_ONLINE)).toBe('1-2\n');
    expect([...coverHidden(env, v, CPU_DIR)].sort()).toEqual(['cpu0', 'cpu3']);
    expect(coverHidden(env, v, VIRTUAL_DEVICES).size).toBe(0);
    env.set(`/sys/fs/cgroup/cpu,cpuacct${cg}/cpu.cfs_quota_us`, '50000\n');
    env.set(`/sys/fs/cgroup/cpu,cpuacct${cg}/cpu.cfs_period_us`, '100000\n');
    expect(readPath(env, v, CPU_ONLINE)).toBe('1\n');
    expect([...coverHidden(env, v, CPU_DIR)].sort()).toEqual(['cpu0', 'cpu2', 'cpu3']);
    // no cpuset limit: every host CPU
    const all = host('0-3\n').env;
    expect(readPath(all, newView(all, { containerId: 'c', initPid: 42 }), CPU_ONLINE)).toBe('0-3\n');
  });
  it('v2: cpuset.cpus.effective', () => {
    const env = new FakeHostEnv({
      '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu\n',
      '/sys/fs/cgroup/x/cgroup.controllers': 'cpuset cpu\n',
      '/sys/fs/cgroup/x/cpuset.cpus.effective': '0\n',
      '/proc/7/stat': stat(7, 'S'),
      '/proc/7/cgroup': '0::/x\n',
      '/proc/stat': 'cpu  0\ncpu0 0\ncpu1 0\n',
      [CPU_ONLINE]: '0-1\n',
    });
    expect(readPath(env, newView(env, { containerId: 'c', initPid: 7 }), CPU_ONLINE)).toBe('0\n');
  });
  it('covers: the cpu dir always (when listable); /sys/devices/virtual and /sys/class with the dmi/id link only without host DMI', () => {
    const { env } = host('0\n');
    env.set('/proc/42/mountinfo', '481 453 0:95 / /sys ro,nosuid - sysfs sysfs ro\n');
    env.setDir(`/proc/42/root${VIRTUAL_DEVICES}`, [dir('net')]);
    env.setDir(`/proc/42/root${CLASS_DIR}`, [dir('net'), dir('tty'), { name: 'odd', type: 'link' }]);
    expect(sysCovers(env, 42).map((c) => c.dir)).toEqual([VIRTUAL_DEVICES, CLASS_DIR, CPU_DIR]);
    // the DMI covers only add: overlays over the container's own dirs, no placeholders; the cpu cover hides, with them
    expect(sysCovers(env, 42).find((c) => c.dir === CLASS_DIR)).toEqual({ dir: CLASS_DIR, own: [], overlay: true });
    expect(sysCovers(env, 42).find((c) => c.dir === VIRTUAL_DEVICES)).toEqual({ dir: VIRTUAL_DEVICES, own: [], overlay: true });
    expect(sysCovers(env, 42).find((c) => c.dir === CPU_DIR)?.overlay).toBeUndefined();
    expect(emulatedLinks(env)).toEqual([{ path: `${CLASS_DIR}/dmi/id`, target: '../../devices/virtual/dmi/id', noHostDmi: true }]);
    // a container that has /sys/class/dmi already: no class cover
    env.setDir(`/proc/42/root${CLASS_DIR}`, [dir('dmi')]);
    expect(sysCovers(env, 42).map((c) => c.dir)).toEqual([VIRTUAL_DEVICES, CPU_DIR]);
    // a host with DMI: the cpu cover only, no link
    env.set(`${DMI_ID}/product_uuid`, '4c4c4544-0042-3510-8052-b4c04f4e4d32\n');
    expect(sysCovers(env, 42).map((c) => c.dir)).toEqual([CPU_DIR]);
    expect(emulatedLinks(env)).toEqual([]);
  });
  it('online is emulated only where the host has the file; every handler says how long a rendering may be served', () => {
    const { env } = host('0\n');
    expect(emulatedHandlers(env).map((h) => h.path)).toContain(CPU_ONLINE);
    env.files.delete(CPU_ONLINE);
    expect(emulatedHandlers(env).map((h) => h.path)).not.toContain(CPU_ONLINE);
    for (const h of emulatedHandlers(host('0\n').env)) {
      expect(h.maxAgeMs, h.path).toBeGreaterThanOrEqual(0);
      // a rendering kept forever must be for content that changes only by a write or a generation
      if (h.maxAgeMs === Infinity && !h.path.startsWith('/proc/sys/') && !h.path.startsWith('/sys/module/') && !h.path.startsWith(DMI_ID)) expect(h.generation, h.path).toBeDefined();
    }
  });
});
