import { describe, expect, it } from 'vitest';
import {
  FakeHostEnv,
  ProcfsError,
  cgroupDirs,
  directoriesOf,
  emulatedHandlers,
  knobAt,
  newView,
  parseCpuList,
  readCgroup,
  readPath,
  renderCpuinfo,
  renderDiskstats,
  renderLoadavg,
  renderMeminfo,
  renderStat,
  renderSwaps,
  renderUptime,
  writePath,
  snapshotKnobs,
  DMI_ID,
  VIRTUAL_DEVICES,
  hostHasDmi,
  productUuid,
  sysCovers,
  sysReadOnly,
  uuidV5,
} from '../src/index.js';

const CPUINFO = [0, 1, 2, 3].map((i) => `processor\t: ${i}\nmodel name\t: Fake CPU\nsiblings\t: 4\ncpu cores\t: 4\n`).join('\n');
const STAT = `cpu  40 0 40 400 0 0 0 0 0 0
cpu0 10 0 10 100 0 0 0 0 0 0
cpu1 10 0 10 100 0 0 0 0 0 0
cpu2 10 0 10 100 0 0 0 0 0 0
cpu3 10 0 10 100 0 0 0 0 0 0
intr 1 2 3
ctxt 99
btime 1700000000
processes 500
procs_running 2
procs_blocked 0
`;
const MEMINFO = `MemTotal:        8000000 kB
MemFree:         4000000 kB
MemAvailable:    6000000 kB
Buffers:          100000 kB
Cached:          1000000 kB
SwapCached:            0 kB
Active:          2000000 kB
SwapTotal:       2000000 kB
SwapFree:        2000000 kB
HugePages_Total:       0
`;

// a container whose init started 1000 s after boot; the host has been up 5000 s (the fake clock)
function hybridHost(extra: Record<string, string> = {}): FakeHostEnv {
  const cg = '/docker/abc';
  return new FakeHostEnv({
    '/proc/uptime': '5000.00 18000.00\n',
    '/proc/stat': STAT,
    '/proc/cpuinfo': CPUINFO,
    '/proc/meminfo': MEMINFO,
    '/proc/loadavg': '0.50 0.40 0.30 3/900 12345\n',
    '/proc/diskstats': '   8       0 sda 100 0 800 10 50 0 400 5 0 10 15 0 0 0 0 0 0\n   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n',
    '/proc/42/stat': `42 (my (odd) init) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 100000 1000 100 18446744073709551615`,
    '/proc/42/cgroup': `12:hugetlb:${cg}\n4:memory:${cg}\n3:cpuset:${cg}\n2:cpu,cpuacct:${cg}\n7:blkio:${cg}\n8:pids:${cg}\n1:name=systemd:${cg}\n0::${cg}\n`,
    [`/sys/fs/cgroup/memory${cg}/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`/sys/fs/cgroup/memory${cg}/memory.usage_in_bytes`]: '104857600\n',
    [`/sys/fs/cgroup/memory${cg}/memory.stat`]: 'cache 10485760\ntotal_cache 20971520\n',
    [`/sys/fs/cgroup/cpuset${cg}/cpuset.cpus`]: '0-3\n',
    [`/sys/fs/cgroup/cpu,cpuacct${cg}/cpu.cfs_quota_us`]: '-1\n',
    [`/sys/fs/cgroup/cpu,cpuacct${cg}/cpu.cfs_period_us`]: '100000\n',
    [`/sys/fs/cgroup/pids${cg}/cgroup.procs`]: '42\n43\n',
    [`/sys/fs/cgroup/blkio${cg}/blkio.throttle.io_service_bytes`]: '8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n',
    [`/sys/fs/cgroup/blkio${cg}/blkio.throttle.io_serviced`]: '8:0 Read 1\n8:0 Write 2\nTotal 3\n',
    '/proc/sys/fs/inotify/max_user_watches': '8192\n',
    '/proc/sys/kernel/panic': '0\n',
    '/proc/sys/kernel/panic_print': '0\n',
    ...extra,
  });
}
const CG = '/docker/abc';

describe('cgroups', () => {
  it('resolves v1 controller dirs and the hybrid unified dir', () => {
    const env = hybridHost();
    const d = cgroupDirs(env, env.read('/proc/42/cgroup')!);
    expect(d.v1['memory']).toBe(`/sys/fs/cgroup/memory${CG}`);
    expect(d.v1['cpu']).toBe(`/sys/fs/cgroup/cpu,cpuacct${CG}`);
    expect(d.v1['cpuacct']).toBe(`/sys/fs/cgroup/cpu,cpuacct${CG}`);
    expect(d.v2).toBe(`/sys/fs/cgroup/unified${CG}`);
  });
  it('v1: "no limit" is undefined; a limit is read', () => {
    const env = hybridHost();
    const v = newView(env, { containerId: 'c', initPid: 42 });
    expect(readCgroup(env, v.cgroups).memLimit).toBeUndefined();
    env.set(`/sys/fs/cgroup/memory${CG}/memory.limit_in_bytes`, '268435456\n');
    const r = readCgroup(env, v.cgroups);
    expect(r.memLimit).toBe(268435456);
    expect(r.memCache).toBe(20971520);
  });
  it('v2 only: memory.max, cpu.max, cpuset.cpus.effective, io.stat', () => {
    const env = new FakeHostEnv({
      '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory pids\n',
      '/sys/fs/cgroup/x/cgroup.controllers': 'cpuset cpu io memory pids\n',
      '/sys/fs/cgroup/x/memory.max': '536870912\n',
      '/sys/fs/cgroup/x/memory.current': '1048576\n',
      '/sys/fs/cgroup/x/memory.stat': 'anon 0\nfile 524288\n',
      '/sys/fs/cgroup/x/memory.swap.max': 'max\n',
      '/sys/fs/cgroup/x/cpu.max': '150000 100000\n',
      '/sys/fs/cgroup/x/cpuset.cpus.effective': '1-2\n',
      '/sys/fs/cgroup/x/io.stat': '8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n',
      '/sys/fs/cgroup/x/cgroup.procs': '1\n',
    });
    const d = cgroupDirs(env, '0::/x\n');
    expect(d).toEqual({ v1: {}, v2: '/sys/fs/cgroup/x' });
    const r = readCgroup(env, d);
    expect(r.memLimit).toBe(536870912);
    expect(r.memUsage).toBe(1048576);
    expect(r.memCache).toBe(524288);
    expect(r.swapLimit).toBeUndefined();
    expect(r.cpuQuota).toEqual({ quota: 150000, period: 100000 });
    expect(r.cpus).toEqual([1, 2]);
    expect(r.io?.get('8:0')).toEqual({ rbytes: 1024, wbytes: 2048, rios: 1, wios: 2 });
  });
  it('parses cpu lists', () => {
    expect(parseCpuList('0-2,4,7-8\n')).toEqual([0, 1, 2, 4, 7, 8]);
    expect(parseCpuList('')).toEqual([]);
  });
});

describe('/proc files', () => {
  it('uptime: since the init started (fake clock), idle scaled', () => {
    const env = hybridHost();
    const v = newView(env, { containerId: 'c', initPid: 42 });
    expect(v.startedAt).toBe(1000);
    const [up, idle] = renderUptime(env, v).trim().split(' ').map(Number);
    expect(up).toBe(4000);
    expect(idle).toBeLessThanOrEqual(4000 * 4);
    env.set('/proc/uptime', '5005.50 18000.00\n');
    expect(renderUptime(env, v).split(' ')[0]).toBe('4005.50');
  });
  it('meminfo: the host view without a limit; the limit and usage with one (v1 and v2)', () => {
    const env = hybridHost();
    const v = newView(env, { containerId: 'c', initPid: 42 });
    expect(renderMeminfo(env, v)).toMatch(/^MemTotal:\s+8000000 kB$/m);
    env.set(`/sys/fs/cgroup/memory${CG}/memory.limit_in_bytes`, '268435456\n');
    const m = renderMeminfo(env, v);
    expect(m).toMatch(/^MemTotal:\s+262144 kB$/m);
    expect(m).toMatch(/^MemFree:\s+159744 kB$/m); // 256 MiB - 100 MiB
    expect(m).toMatch(/^MemAvailable:\s+180224 kB$/m); // + 20 MiB cache
    expect(m).toMatch(/^Active:\s+262144 kB$/m); // clamped
    expect(m).toMatch(/^HugePages_Total:\s+0$/m);
    const v2 = new FakeHostEnv({
      '/proc/meminfo': MEMINFO,
      '/proc/7/stat': '7 (sh) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 0 0 0 0',
      '/proc/7/cgroup': '0::/y\n',
      '/sys/fs/cgroup/cgroup.controllers': 'memory\n',
      '/sys/fs/cgroup/y/cgroup.controllers': 'memory\n',
      '/sys/fs/cgroup/y/memory.max': '536870912\n',
      '/sys/fs/cgroup/y/memory.current': '0\n',
      '/sys/fs/cgroup/y/memory.swap.max': '0\n',
    });
    const vv = newView(v2, { containerId: 'd', initPid: 7 });
    const m2 = renderMeminfo(v2, vv);
    expect(m2).toMatch(/^MemTotal:\s+524288 kB$/m);
    expect(m2).toMatch(/^SwapTotal:\s+0 kB$/m);
  });
  it('swaps: header only without a swap limit; a virtual line with one', () => {
    const env = hybridHost();
    const v = newView(env, { containerId: 'c', initPid: 42 });
    expect(renderSwaps(env, v)).toBe('Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n');
    env.set(`/sys/fs/cgroup/memory${CG}/memory.limit_in_bytes`, '268435456\n');
    env.set(`/sys/fs/cgroup/memory${CG}/memory.memsw.limit_in_bytes`, String(268435456 + 104857600));
    expect(renderSwaps(env, v).split('\n')[1]).toMatch(/^none\s+virtual\s+102400\s+0\s+0$/);
  });
  it('cpuinfo and stat follow the cpuset', () => {
    const env = hybridHost({ [`/sys/fs/cgroup/cpuset${CG}/cpuset.cpus`]: '2\n' });
    const v = newView(env, { containerId: 'c', initPid: 42 });
    const ci = renderCpuinfo(env, v);
    expect(ci.match(/^processor/gm)).toHaveLength(1);
    expect(ci).toMatch(/^processor\t: 0$/m);
    expect(ci).toMatch(/^siblings\t: 1$/m);
    const st = renderStat(env, v).split('\n');
    expect(st[0]).toBe('cpu  10 0 10 100 0 0 0 0 0 0');
    expect(st[1]).toBe('cpu0 10 0 10 100 0 0 0 0 0 0');
    expect(st[2]).toBe('intr 1 2 3');
    expect(st.filter((l) => /^cpu\d/.test(l))).toHaveLength(1);
  });
  it('cpuinfo and stat follow a CFS quota (ceil(quota/period) CPUs)', () => {
    const env = hybridHost({ [`/sys/fs/cgroup/cpu,cpuacct${CG}/cpu.cfs_quota_us`]: '150000\n' });
    const v = newView(env, { containerId: 'c', initPid: 42 });
    expect(renderCpuinfo(env, v).match(/^processor/gm)).toHaveLength(2);
    expect(renderStat(env, v).split('\n').filter((l) => /^cpu\d/.test(l))).toHaveLength(2);
  });
  it('diskstats: the host\'s devices with the container\'s own counts, zeros where it has none', () => {
    const env = hybridHost();
    // the host's own counts on loop0 must not show through
    env.set('/proc/diskstats', '   8       0 sda 100 0 800 10 50 0 400 5 0 10 15 0 0 0 0 0 0\n   7       0 loop0 5 0 40 1 0 0 0 0 0 1 1 0 0 0 0 0 0\n');
    const v = newView(env, { containerId: 'c', initPid: 42 });
    const d = renderDiskstats(env, v).trim().split('\n');
    expect(d).toHaveLength(2);
    expect(d[0]!.trim().split(/\s+/).slice(0, 10)).toEqual(['8', '0', 'sda', '1', '0', '8', '0', '2', '0', '16']);
    expect(d[1]!.trim().split(/\s+/)).toEqual(['7', '0', 'loop0', ...new Array<string>(17).fill('0')]);
  });
});

describe('/proc/sys knobs', () => {
  it('per-container value: read back, host untouched, other containers unaffected', () => {
    const env = hybridHost();
    const a = newView(env, { containerId: 'a', initPid: 42 });
    const b = newView(env, { containerId: 'b', initPid: 42 });
    writePath(env, a, '/proc/sys/kernel/panic', '10\n');
    expect(readPath(env, a, '/proc/sys/kernel/panic')).toBe('10\n');
    expect(readPath(env, b, '/proc/sys/kernel/panic')).toBe('0\n');
    expect(env.writes).toEqual([]);
  });
  it('MAX: raises the host when needed, never lowers it', () => {
    const env = hybridHost();
    const a = newView(env, { containerId: 'a', initPid: 42 });
    const b = newView(env, { containerId: 'b', initPid: 42 });
    writePath(env, a, '/proc/sys/fs/inotify/max_user_watches', '100000');
    expect(env.writes).toEqual([{ path: '/proc/sys/fs/inotify/max_user_watches', data: '100000\n' }]);
    writePath(env, b, '/proc/sys/fs/inotify/max_user_watches', '5000');
    expect(env.writes).toHaveLength(1);
    expect(readPath(env, a, '/proc/sys/fs/inotify/max_user_watches')).toBe('100000\n');
    expect(readPath(env, b, '/proc/sys/fs/inotify/max_user_watches')).toBe('5000\n');
  });
  it('snapshot: a sibling raising the host value does not show through', () => {
    const env = hybridHost();
    const a = newView(env, { containerId: 'a', initPid: 42 });
    const b = newView(env, { containerId: 'b', initPid: 42 });
    snapshotKnobs(env, a);
    snapshotKnobs(env, b);
    writePath(env, a, '/proc/sys/fs/inotify/max_user_watches', '100000');
    expect(env.read('/proc/sys/fs/inotify/max_user_watches')).toBe('100000\n');
    expect(readPath(env, b, '/proc/sys/fs/inotify/max_user_watches')).toBe('8192\n');
    expect(b.knobs.has('/proc/sys/kernel/yama/ptrace_scope')).toBe(false);
  });
  it('garbage and out-of-range writes: EINVAL, nothing changes', () => {
    const env = hybridHost();
    const a = newView(env, { containerId: 'a', initPid: 42 });
    for (const bad of ['abc', '', '1 2', '99999999999999999999', '-1']) {
      expect(() => writePath(env, a, '/proc/sys/fs/inotify/max_user_watches', bad)).toThrow(ProcfsError);
    }
    expect(() => writePath(env, a, '/proc/sys/kernel/panic_on_oops', '2')).toThrow(/out of range/);
    expect(env.writes).toEqual([]);
    expect(a.knobs.size).toBe(0);
    expect(env.read('/proc/sys/fs/inotify/max_user_watches')).toBe('8192\n');
  });
  it('printk takes up to 4 ints', () => {
    const env = hybridHost({ '/proc/sys/kernel/printk': '4\t4\t1\t7\n' });
    const a = newView(env, { containerId: 'a', initPid: 42 });
    writePath(env, a, '/proc/sys/kernel/printk', '3 4 1 7');
    expect(readPath(env, a, '/proc/sys/kernel/printk')).toBe('3\t4\t1\t7\n');
  });
  it('semantics of unlisted knobs; only existing knobs are emulated', () => {
    expect(knobAt('/proc/sys/kernel/panic_print')?.kind).toBe('host-ro');
    expect(knobAt('/proc/sys/kernel/whatever')?.kind).toBe('host-ro');
    expect(knobAt('/proc/sys/net/ipv4/ip_forward')?.kind).toBe('namespaced');
    expect(knobAt('/proc/sys/kernel/random/uuid')?.kind).toBe('uuid');
    const paths = emulatedHandlers(hybridHost()).map((h) => h.path);
    expect(paths).toContain('/proc/uptime');
    expect(paths).toContain('/proc/sys/fs/inotify/max_user_watches');
    expect(paths).not.toContain('/proc/sys/kernel/yama/ptrace_scope');
    expect(() => writePath(hybridHost(), newView(hybridHost(), { containerId: 'a', initPid: 42 }), '/proc/uptime', '1')).toThrow(/read-only/);
  });
  it('directoriesOf builds the FUSE tree', () => {
    const d = directoriesOf(['/proc/uptime', '/proc/sys/fs/file-max']);
    expect([...d.get('/')!]).toEqual(['proc']);
    expect([...d.get('/proc')!].sort()).toEqual(['sys', 'uptime']);
    expect([...d.get('/proc/sys/fs')!]).toEqual(['file-max']);
  });
});

describe('/sys: DMI product_uuid and covers', () => {
  const virtualEntries = [
    { name: 'net', type: 'dir' as const },
    { name: 'block', type: 'dir' as const },
    { name: 'odd', type: 'link' as const },
  ];
  function noDmiHost() {
    const env = hybridHost({ '/etc/machine-id': '0123456789abcdef0123456789abcdef\n' });
    env.setDir('/proc/42/root/sys/devices/virtual', virtualEntries);
    return env;
  }
  it('uuidV5 is RFC 4122 version 5 (the DNS example of RFC 9562: www.example.com)', () => {
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    expect(() => uuidV5('not-a-uuid', 'x')).toThrow(/not a UUID/);
  });
  it('product_uuid: stable across reads, different per container, never the host value', () => {
    const env = noDmiHost();
    const a = newView(env, { containerId: 'a', initPid: 42 });
    const b = newView(env, { containerId: 'b', initPid: 42 });
    const ua = readPath(env, a, `${DMI_ID}/product_uuid`);
    expect(ua).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$/);
    expect(readPath(env, a, `${DMI_ID}/product_uuid`)).toBe(ua);
    expect(readPath(env, b, `${DMI_ID}/product_uuid`)).not.toBe(ua);
    // derived from the host's identity: another machine-id, another UUID for the same container id
    const other = noDmiHost().set('/etc/machine-id', 'ffffffffffffffffffffffffffffffff\n');
    expect(productUuid(other, a)).not.toBe(ua);
    // a host with DMI: in its product_uuid's namespace, and not the host's own value
    const host = '4c4c4544-0042-3510-8052-b4c04f4e4d32';
    const dmi = hybridHost({ [`${DMI_ID}/product_uuid`]: `${host}\n` });
    expect(productUuid(dmi, a)).toBe(`${uuidV5(host, 'a')}\n`);
    expect(productUuid(dmi, a).trim()).not.toBe(host);
  });
  it('no host DMI: synthetic dmi/id files and a cover of /sys/devices/virtual (an overlay where /sys is read-only)', () => {
    const env = noDmiHost();
    expect(hostHasDmi(env)).toBe(false);
    const paths = emulatedHandlers(env).map((h) => h.path);
    expect(paths).toEqual(expect.arrayContaining([`${DMI_ID}/product_uuid`, `${DMI_ID}/product_name`, `${DMI_ID}/sys_vendor`]));
    expect(readPath(env, newView(env, { containerId: 'a', initPid: 42 }), `${DMI_ID}/product_name`)).toBe('sysbox-ts\n');
    // a read-write /sys (--privileged): symlinks (and dmi itself) get no placeholder
    expect(sysReadOnly(env, 42)).toBe(false);
    expect(sysCovers(env, 42)).toEqual([{ dir: VIRTUAL_DEVICES, own: [virtualEntries[0], virtualEntries[1]] }]);
    // a read-only /sys (Docker's default): an overlay over the container's own dir, no placeholders
    const sysLine = (at: string, opts: string) => `481 453 0:95 / ${at} ${opts},nosuid,nodev,noexec,relatime - sysfs sysfs ${opts}\n`;
    env.set('/proc/42/mountinfo', `260 132 0:88 / / rw,relatime - overlay overlay rw\n${sysLine('/sys', 'ro')}`);
    expect(sysReadOnly(env, 42)).toBe(true);
    expect(sysCovers(env, 42)).toEqual([{ dir: VIRTUAL_DEVICES, own: [], overlay: true }]);
    // registered from the engine's hook, before pivot_root: the container's sysfs is under its rootfs
    expect(sysCovers(env, 42, '/rootfs/c1/')).toEqual([]);
    env.setDir('/proc/42/root/rootfs/c1/sys/devices/virtual', [virtualEntries[0]!]);
    expect(sysCovers(env, 42, '/rootfs/c1/')).toEqual([{ dir: VIRTUAL_DEVICES, own: [virtualEntries[0]] }]);
    env.set('/proc/42/mountinfo', `${sysLine('/sys', 'rw')}${sysLine('/rootfs/c1/sys', 'ro')}`);
    expect(sysCovers(env, 42, '/rootfs/c1/')).toEqual([{ dir: VIRTUAL_DEVICES, own: [], overlay: true }]);
    expect(sysCovers(env, 42)).toEqual([{ dir: VIRTUAL_DEVICES, own: [virtualEntries[0], virtualEntries[1]] }]);
    expect(sysCovers(env, 42, '/')).toEqual(sysCovers(env, 42));
    expect(() => writePath(env, newView(env, { containerId: 'a', initPid: 42 }), `${DMI_ID}/product_uuid`, 'x')).toThrow(
      expect.objectContaining({ errno: 'EACCES' }),
    );
    // a directory that can't be listed: no cover
    expect(sysCovers(hybridHost(), 42)).toEqual([]);
    expect(newView(env, { containerId: 'a', initPid: 42 }).covers).toEqual([]);
  });
  it('host with DMI: only product_uuid (placed as a file), no cover', () => {
    const env = hybridHost({ [`${DMI_ID}/product_uuid`]: '4c4c4544-0042-3510-8052-b4c04f4e4d32\n' });
    env.setDir('/proc/42/root/sys/devices/virtual', virtualEntries);
    expect(hostHasDmi(env)).toBe(true);
    const dmiPaths = emulatedHandlers(env).map((h) => h.path).filter((p) => p.startsWith('/sys/devices'));
    expect(dmiPaths).toEqual([`${DMI_ID}/product_uuid`]);
    expect(sysCovers(env, 42)).toEqual([]);
  });
});
