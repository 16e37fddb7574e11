import { describe, expect, it } from 'vitest';
import { CPU_DIR, CPU_ONLINE, FakeHostEnv, emulatedHandlers, emulatedLinks, newView, sampleLoad, sysCovers } from '@sysbox/procfs';
import { FuseError } from '@sysbox/fuse';
import { parseFlags, UsageError } from '../src/flags.js';
import { LENGTH_SWITCH_MS, placeholdersOf, treeOps } from '../src/tree.js';

function setup(now: () => number = () => 0) {
  const env = new FakeHostEnv({
    '/proc/uptime': '500.00 900.00\n',
    '/proc/9/stat': '9 (init) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 20000 0 0',
    '/proc/9/cgroup': '0::/\n',
    '/proc/sys/kernel/panic': '0\n',
    '/proc/sys/fs/inotify/max_user_watches': '8192\n',
  });
  const view = newView(env, { containerId: 'c', initPid: 9, owner: { uid: 100000, gid: 100000 } });
  const ops = treeOps({ env, view, handlers: emulatedHandlers(env), now });
  return { env, view, ops };
}

describe('FUSE tree', () => {
  it('directories and files, owned by the container root', () => {
    const { ops } = setup();
    expect(ops.readdir('/')).toEqual(['proc', 'sys']);
    expect(ops.readdir('/proc')).toContain('uptime');
    expect(ops.getattr('/proc/sys/fs/inotify')).toMatchObject({ mode: 0o040555, uid: 100000 });
    expect(ops.getattr('/proc/uptime')).toMatchObject({ mode: 0o100444, uid: 100000, gid: 100000, size: 4096 });
    expect(ops.getattr('/proc/sys/kernel/panic').mode & 0o777).toBe(0o644);
    expect(() => ops.getattr('/proc/nope')).toThrow(FuseError);
    // yama is not on this (fake) host: not in the tree
    expect(() => ops.getattr('/proc/sys/kernel/yama/ptrace_scope')).toThrow(FuseError);
  });
  it('a read from 0 takes the current rendering (served again while fresh); reads further on continue it', () => {
    let t = 0;
    const { env, ops } = setup(() => t);
    const fh = ops.open('/proc/uptime', 0);
    env.set('/proc/uptime', '600.00 900.00\n');
    const first = ops.read('/proc/uptime', fh, 4096, 0);
    expect(first.toString()).toBe('400.00 600.00\n');
    // within uptime's 10 ms: the same rendering (the same buffer: no new render), for every handle
    env.set('/proc/uptime', '700.00 900.00\n');
    t = 9;
    expect(ops.read('/proc/uptime', ops.open('/proc/uptime', 0), 4096, 0)).toBe(first);
    t = 10;
    expect(ops.read('/proc/uptime', fh, 3, 3).toString()).toBe('.00'); // the snapshot goes on
    expect(ops.read('/proc/uptime', fh, 4096, 100).length).toBe(0);
    // read again from 0 (as top does with a kept fd): fresh
    expect(ops.read('/proc/uptime', fh, 4096, 0).toString()).toBe('500.00 642.86\n');
    ops.release('/proc/uptime', fh);
    expect(ops.openFiles).toBe(1);
    // a handle of an earlier process (0): rendered for the read
    expect(ops.read('/proc/uptime', 0, 3, 0).toString()).toBe('500');
  });
  it('loadavg is rendered again when the sampler looked; a knob when written', () => {
    const { env, view, ops } = setup();
    const a = ops.read('/proc/loadavg', ops.open('/proc/loadavg', 0), 4096, 0);
    expect(ops.read('/proc/loadavg', ops.open('/proc/loadavg', 0), 4096, 0)).toBe(a);
    env.set('/proc/9/stat', '9 (init) R 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 20000 0 0');
    env.set('/sys/fs/cgroup/unified/cgroup.threads', '9\n');
    env.set('/sys/fs/cgroup/unified/cgroup.controllers', '');
    sampleLoad(env, view);
    expect(ops.read('/proc/loadavg', ops.open('/proc/loadavg', 0), 4096, 0).toString()).toBe('0.08 0.02 0.01 1/1 0\n');
    const k = '/proc/sys/kernel/panic';
    expect(ops.read(k, ops.open(k, 0), 100, 0).toString()).toBe('0\n');
    ops.write(k, ops.open(k, 1), Buffer.from('5\n'), 0);
    expect(ops.read(k, ops.open(k, 0), 100, 0).toString()).toBe('5\n');
  });
  it('page-cached files: exact size to the kernel, that very rendering read; invalidated at the next open after a change', () => {
    let t = 0;
    const { env, ops } = setup(() => t);
    const f = '/proc/uptime';
    expect(ops.openCached!('/proc/meminfo', 0)).toBeUndefined(); // direct I/O
    expect(ops.openCached!('/proc/sys/kernel/panic', 1)).toBeUndefined(); // opened to write: direct I/O
    // nothing given to the kernel yet (or a restarted sysbox-fs): drop whatever it has
    const first = ops.openCached!(f, 0)!;
    expect(first.invalidate).toBe(true);
    const st = ops.getattr(f, true);
    expect(st).toMatchObject({ size: '300.00 540.00\n'.length, ttlMs: 10 });
    expect(ops.getattr(f).size).toBe(4096); // a listing's look: a hint only
    expect(ops.openCached!(f, 0)!.invalidate).toBe(false);
    // the content changes after uptime's 10 ms; until the kernel asks again, reads get what it was told the size of
    env.set('/proc/uptime', '1000.00 900.00\n');
    t = 10;
    expect(ops.read(f, first.fh, 4096, 0).toString()).toBe('300.00 540.00\n');
    const next = ops.openCached!(f, 0)!;
    expect(next.invalidate).toBe(true);
    const st2 = ops.getattr(f, true);
    expect(st2.size).toBe('800.00 720.00\n'.length);
    expect(st2.mtimeMs).toBeGreaterThan(st.mtimeMs!);
    expect(ops.read(f, next.fh, 4096, 0).toString()).toBe('800.00 720.00\n');
    // a knob: changed by a write
    const k = '/proc/sys/kernel/panic';
    const k1 = ops.openCached!(k, 0)!;
    expect(k1.invalidate).toBe(true);
    expect(ops.getattr(k, true)).toMatchObject({ size: 2, ttlMs: 1000 });
    const k2 = ops.openCached!(k, 0)!;
    expect(k2.invalidate).toBe(false);
    ops.release(k, k1.fh);
    ops.release(k, k2.fh);
    ops.write(k, ops.open(k, 1), Buffer.from('42\n'), 0);
    const after = ops.openCached!(k, 0)!;
    expect(after.invalidate).toBe(true);
    expect(ops.getattr(k, true).size).toBe(3);
    expect(ops.read(k, after.fh, 4096, 0).toString()).toBe('42\n');
  });
  it('page-cached files: a change of length waits for the page-cached readers (at most LENGTH_SWITCH_MS); the same length switches at once', () => {
    let t = 0;
    const { env, ops } = setup(() => t);
    const f = '/proc/uptime';
    const a = ops.openCached!(f, 0)!;
    const given = ops.getattr(f, true);
    expect(given.size).toBe('300.00 540.00\n'.length);
    // the same length: the next open switches, even with a's handle open
    env.set('/proc/uptime', '600.00 900.00\n');
    t = 10;
    const b = ops.openCached!(f, 0)!;
    expect(b.invalidate).toBe(true);
    expect(ops.getattr(f, true).size).toBe('400.00 600.00\n'.length);
    // another length (the uptime gains a digit) while a and b are open: direct I/O for new opens, the kernel keeps
    // the old size (a reader between its read and its EOF read must not see the longer file)
    env.set('/proc/uptime', '5000.00 900.00\n');
    t = 20;
    expect(ops.openCached!(f, 0)).toBeUndefined();
    expect(ops.getattr(f, true).size).toBe('400.00 600.00\n'.length);
    ops.release(f, a.fh);
    expect(ops.openCached!(f, 0)).toBeUndefined(); // b is still open
    ops.release(f, b.fh);
    const c = ops.openCached!(f, 0)!; // none open: switch
    expect(c.invalidate).toBe(true);
    expect(ops.getattr(f, true).size).toBe('4800.00 864.00\n'.length);
    expect(ops.read(f, c.fh, 4096, 0).toString()).toBe('4800.00 864.00\n');
    // a reader that keeps the file open: another length is given at most LENGTH_SWITCH_MS later
    env.set('/proc/uptime', '50000.00 900.00\n');
    t = 30;
    expect(ops.openCached!(f, 0)).toBeUndefined();
    expect(ops.getattr(f, true).size).toBe('4800.00 864.00\n'.length);
    t = 30 + LENGTH_SWITCH_MS;
    expect(ops.getattr(f, true).size).toBe('49800.00 896.40\n'.length);
  });
  it('the cpu cover lists the cpuN dirs of the container\'s CPUs only; the dmi link; every node for an adopter', () => {
    const env = new FakeHostEnv({
      '/proc/uptime': '500.00 900.00\n',
      '/proc/stat': 'cpu  0\ncpu0 0\ncpu1 0\n',
      '/proc/9/stat': '9 (init) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 20000 0 0',
      '/proc/9/cgroup': '3:cpuset:/c\n',
      '/sys/fs/cgroup/cpuset/c/cpuset.cpus': '1\n',
      [CPU_ONLINE]: '0-1\n',
    });
    env.setDir(`/proc/9/root${CPU_DIR}`, [
      { name: 'cpu0', type: 'dir' },
      { name: 'cpu1', type: 'dir' },
      { name: 'online', type: 'file' },
      { name: 'possible', type: 'file' },
    ]);
    env.setDir('/proc/9/root/sys/devices/virtual', [{ name: 'net', type: 'dir' }]);
    env.setDir('/proc/9/root/sys/class', [{ name: 'net', type: 'dir' }]);
    const view = newView(env, { containerId: 'c', initPid: 9, covers: sysCovers(env, 9) });
    const ops = treeOps({ env, view, handlers: emulatedHandlers(env), links: emulatedLinks(env) });
    expect(ops.readdir(CPU_DIR).sort()).toEqual(['cpu1', 'online', 'possible']);
    expect(ops.getattr(`${CPU_DIR}/cpu0`).mode).toBe(0o040555); // hidden from the listing, still there by name
    expect(ops.read(CPU_ONLINE, ops.open(CPU_ONLINE, 0), 100, 0).toString()).toBe('1\n');
    env.set('/sys/fs/cgroup/cpuset/c/cpuset.cpus', '0-1\n');
    expect(ops.readdir(CPU_DIR).sort()).toEqual(['cpu0', 'cpu1', 'online', 'possible']);
    // a read-write /sys here (no read-only sysfs in the init's table): the class cover keeps placeholders
    expect(ops.readdir('/sys/class').sort()).toEqual(['dmi', 'net']);
    expect(ops.getattr('/sys/class/dmi/id').mode).toBe(0o120777);
    expect(ops.readlink!('/sys/class/dmi/id')).toBe('../../devices/virtual/dmi/id');
    expect(() => ops.readlink!('/sys/class/net')).toThrow(expect.objectContaining({ errno: 'EINVAL' }));
    expect(ops.nodes!()).toEqual(expect.arrayContaining([`${CPU_DIR}/cpu0`, '/sys/class/dmi/id', CPU_ONLINE, `${CPU_DIR}/possible`]));
  });
  it('writes: stored per container, EINVAL on garbage, EACCES on read-only files', () => {
    const { env, ops } = setup();
    ops.truncate('/proc/sys/kernel/panic', 0);
    const fh = ops.open('/proc/sys/kernel/panic', 1);
    expect(ops.write('/proc/sys/kernel/panic', fh, Buffer.from('7\n'), 0)).toBe(2);
    expect(() => ops.write('/proc/sys/kernel/panic', fh, Buffer.from('x\n'), 0)).toThrow(expect.objectContaining({ errno: 'EINVAL' }));
    ops.release('/proc/sys/kernel/panic', fh);
    expect(ops.read('/proc/sys/kernel/panic', ops.open('/proc/sys/kernel/panic', 0), 100, 0).toString()).toBe('7\n');
    expect(env.writes).toEqual([]);
    expect(() => ops.open('/proc/uptime', 1)).toThrow(expect.objectContaining({ errno: 'EACCES' }));
  });
});

describe('flags', () => {
  it('defaults and errors', () => {
    expect(parseFlags([])).toMatchObject({ socket: '/run/sysbox/fs.sock', pidFile: '/run/sysbox/fs.pid', mountRoot: '/var/lib/sysboxfs' });
    expect(() => parseFlags(['--bogus'])).toThrow(UsageError);
    expect(() => parseFlags(['--log-level', 'loud'])).toThrow(/log-level/);
  });
});

import { cachedEnv } from '../src/cache.js';
describe('cachedEnv', () => {
  it('keeps cgroup reads for the ttl, never knobs or the clock', () => {
    const env = new FakeHostEnv({ '/sys/fs/cgroup/memory/x/memory.usage_in_bytes': '1\n', '/proc/uptime': '1 1\n', '/proc/sys/kernel/panic': '0\n' });
    let t = 0;
    const c = cachedEnv(env, 100, () => t);
    expect(c.read('/sys/fs/cgroup/memory/x/memory.usage_in_bytes')).toBe('1\n');
    env.set('/sys/fs/cgroup/memory/x/memory.usage_in_bytes', '2\n').set('/proc/uptime', '2 2\n').set('/proc/sys/kernel/panic', '1\n');
    expect(c.read('/sys/fs/cgroup/memory/x/memory.usage_in_bytes')).toBe('1\n');
    expect(c.read('/proc/uptime')).toBe('2 2\n');
    expect(c.read('/proc/sys/kernel/panic')).toBe('1\n');
    t = 150;
    expect(c.read('/sys/fs/cgroup/memory/x/memory.usage_in_bytes')).toBe('2\n');
  });
});

describe('FUSE tree: a cover of /sys/devices/virtual (host without DMI)', () => {
  it('an overlay cover (sysCovers, a read-only /sys): dmi/ only, no placeholders', () => {
    const env = new FakeHostEnv({
      '/proc/9/stat': '9 (init) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 20000 0 0',
      '/proc/9/cgroup': '0::/\n',
      '/proc/9/mountinfo': '481 453 0:95 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro\n',
    });
    env.setDir('/proc/9/root/sys/devices/virtual', [{ name: 'net', type: 'dir' }, { name: 'uevent', type: 'file' }]);
    const view = newView(env, { containerId: 'c', initPid: 9, covers: sysCovers(env, 9) });
    expect(view.covers).toEqual([{ dir: '/sys/devices/virtual', own: [], overlay: true }]);
    const ops = treeOps({ env, view, handlers: emulatedHandlers(env) });
    expect(ops.readdir('/sys/devices/virtual')).toEqual(['dmi']);
    expect(() => ops.getattr('/sys/devices/virtual/net')).toThrow(FuseError);
  });
  // a cover placed whole (as the cpu cover is): the container's own entries as placeholders
  function coverSetup() {
    const env = new FakeHostEnv({
      '/proc/9/stat': '9 (init) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 20000 0 0',
      '/proc/9/cgroup': '0::/\n',
    });
    env.setDir('/proc/9/root/sys/devices/virtual', [
      { name: 'net', type: 'dir' },
      { name: 'misc', type: 'dir' },
      { name: 'uevent', type: 'file' },
      { name: 'lnk', type: 'link' },
    ]);
    const own = (env.list('/proc/9/root/sys/devices/virtual') ?? []).filter((e) => e.type !== 'link');
    const view = newView(env, { containerId: 'c', initPid: 9, owner: { uid: 100000, gid: 100000 }, covers: [{ dir: '/sys/devices/virtual', own }] });
    return { env, view, ops: treeOps({ env, view, handlers: emulatedHandlers(env) }) };
  }
  it('lists the container\'s own entries (placeholders) beside dmi/', () => {
    const { ops } = coverSetup();
    expect(ops.readdir('/sys/devices/virtual').sort()).toEqual(['dmi', 'misc', 'net', 'uevent']);
    expect(ops.getattr('/sys/devices/virtual/net')).toMatchObject({ mode: 0o040555, uid: 100000 });
    expect(ops.readdir('/sys/devices/virtual/net')).toEqual([]);
    expect(ops.getattr('/sys/devices/virtual/uevent')).toMatchObject({ mode: 0o100444, size: 0 });
    expect(() => ops.getattr('/sys/devices/virtual/lnk')).toThrow(FuseError);
    expect(ops.readdir('/sys/devices/virtual/dmi/id').sort()).toEqual(['product_name', 'product_uuid', 'sys_vendor']);
    expect(ops.getattr('/sys/devices/virtual/dmi/id/product_uuid')).toMatchObject({ mode: 0o100400, uid: 100000 });
  });
  it('a placeholder file reads empty and can\'t be written; product_uuid reads the same twice', () => {
    const { ops } = coverSetup();
    expect(ops.read('/sys/devices/virtual/uevent', ops.open('/sys/devices/virtual/uevent', 0), 100, 0).length).toBe(0);
    expect(() => ops.open('/sys/devices/virtual/uevent', 1)).toThrow(expect.objectContaining({ errno: 'EACCES' }));
    const p = '/sys/devices/virtual/dmi/id/product_uuid';
    const a = ops.read(p, ops.open(p, 0), 100, 0).toString();
    expect(a).toMatch(/^[0-9a-f-]{36}\n$/);
    expect(ops.read(p, ops.open(p, 0), 100, 0).toString()).toBe(a);
    expect(() => ops.open(p, 1)).toThrow(expect.objectContaining({ errno: 'EACCES' }));
  });
  it('an emulated name wins over the container\'s entry of the same name', () => {
    const { view } = coverSetup();
    const withDmi = { covers: [{ dir: '/sys/devices/virtual', own: [...view.covers[0]!.own, { name: 'dmi', type: 'dir' as const }] }] };
    expect([...placeholdersOf(withDmi, emulatedHandlers(new FakeHostEnv())).keys()].sort()).toEqual([
      '/sys/devices/virtual/misc',
      '/sys/devices/virtual/net',
      '/sys/devices/virtual/uevent',
    ]);
  });
});
