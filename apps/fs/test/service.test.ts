import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { FakeHostEnv } from '@sysbox/procfs';
import type { FuseBackend, FuseOps } from '@sysbox/fuse';
import { FsService } from '../src/service.js';
import { LoadSampler } from '../src/loadavg.js';

function fakeFuse() {
  const mounted = new Map<string, FuseOps>();
  const backend: FuseBackend = {
    async mount(mountpoint, ops) {
      mounted.set(mountpoint, ops);
      return { mountpoint, unmount: async () => void mounted.delete(mountpoint) };
    },
  };
  return { backend, mounted };
}

function setup() {
  const env = new FakeHostEnv({
    '/proc/uptime': '100.00 100.00\n',
    '/proc/5/stat': '5 (init) S 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5000 0 0',
    '/proc/5/cgroup': '0::/\n',
    '/proc/sys/fs/inotify/max_user_watches': '8192\n',
  });
  const fuse = fakeFuse();
  const root = mkdtempSync(join(tmpdir(), 'sysbox-fs-test-'));
  const svc = new FsService({ env, fuse: fuse.backend, mountRoot: root, log: pino({ level: 'silent' }), version: 't' });
  return { env, fuse, root, svc };
}

describe('FsService', () => {
  it('register mounts one tree per container, idempotently; unregister unmounts', async () => {
    const { env, fuse, root, svc } = setup();
    const r = await svc.register({ containerId: 'c1', initPid: 5, idRange: { uid: 100000, gid: 100000, size: 65536 }, options: undefined, root: '', maskedPaths: [], readonlyPaths: [] });
    expect(r.mountpoint).toBe(join(root, 'c1'));
    expect((await svc.register({ containerId: 'c1', initPid: 5, idRange: undefined, options: undefined, root: '', maskedPaths: [], readonlyPaths: [] })).mountpoint).toBe(r.mountpoint);
    expect(fuse.mounted.size).toBe(1);
    const ops = fuse.mounted.get(r.mountpoint)!;
    expect(ops.read('/proc/uptime', ops.open('/proc/uptime', 0), 100, 0).toString()).toBe('50.00 50.00\n');
    // knobs start from the host values at registration
    env.set('/proc/sys/fs/inotify/max_user_watches', '9999\n');
    expect(ops.read('/proc/sys/fs/inotify/max_user_watches', ops.open('/proc/sys/fs/inotify/max_user_watches', 0), 100, 0).toString()).toBe('8192\n');
    expect(svc.status()).toMatchObject({ containers: 1, mountRoot: root });
    expect(await svc.unregister({ containerId: 'c1' })).toEqual({ found: true });
    expect(await svc.unregister({ containerId: 'c1' })).toEqual({ found: false });
    expect(fuse.mounted.size).toBe(0);
  });
  it('refuses bad ids and unknown pids', async () => {
    const { svc } = setup();
    await expect(svc.register({ containerId: '../x', initPid: 5, idRange: undefined, options: undefined, root: '', maskedPaths: [], readonlyPaths: [] })).rejects.toThrow(/invalid container id/);
    await expect(svc.register({ containerId: 'c2', initPid: 0, idRange: undefined, options: undefined, root: '', maskedPaths: [], readonlyPaths: [] })).rejects.toThrow(/init_pid/);
    await expect(svc.register({ containerId: 'c2', initPid: 77, idRange: undefined, options: undefined, root: '', maskedPaths: [], readonlyPaths: [] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('FsService.cleanStale', () => {
  it('detaches and removes trees it does not know', async () => {
    const { root, svc, fuse } = setup();
    const { mkdirSync, existsSync } = await import('node:fs');
    mkdirSync(join(root, 'old1'));
    const detached: string[] = [];
    const svc2 = new FsService({ ...(svc as unknown as { o: object }).o, detach: (p: string) => void detached.push(p) } as never);
    await svc2.register({ containerId: 'live', initPid: 5, idRange: undefined, options: undefined, root: '', maskedPaths: [], readonlyPaths: [] });
    expect(await svc2.cleanStale()).toEqual(['old1']);
    expect(detached).toEqual([join(root, 'old1')]);
    expect(existsSync(join(root, 'old1'))).toBe(false);
    expect(fuse.mounted.size).toBe(1);
  });
});

describe('FsService: /sys covers', () => {
  it('register answers the covers (overlays: no placeholders); the kept registration holds them; an adopter serves the same', async () => {
    const { env, fuse, root, svc } = setup();
    env.setDir('/proc/5/root/sys/devices/virtual', [
      { name: 'net', type: 'dir' },
      { name: 'tty', type: 'dir' },
    ]);
    // Docker's read-only /sys (after create, and under the rootfs from the engine's hook)
    const sysfs = (at: string) => `481 453 0:95 / ${at} ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro\n`;
    env.set('/proc/5/mountinfo', `${sysfs('/sys')}${sysfs('/var/lib/sysbox/rootfs/c3/merged/sys')}`);
    const r = await svc.register({ containerId: 'c1', initPid: 5, idRange: undefined, options: { procfs: true, sysfs: true, cgroupPath: '', memoryLimitBytes: 0, cpuQuotaUs: 0, cpuPeriodUs: 0, cpuset: '' }, root: '', maskedPaths: [], readonlyPaths: [] });
    expect(r.covers).toEqual(['/sys/devices/virtual']);
    expect(r.overlays).toEqual(['/sys/devices/virtual']);
    // the files placed one by one: all outside the covers (the caller doesn't walk the tree)
    expect(r.files).toContain('/proc/uptime');
    expect(r.files.filter((f) => f.startsWith('/sys/devices/virtual/'))).toEqual([]);
    // the overlay's upper layer: what it adds (net and tty are the container's own, in the overlay's lower layer)
    expect(fuse.mounted.get(r.mountpoint)!.readdir('/sys/devices/virtual').sort()).toEqual(['dmi']);
    const reg = JSON.parse((svc as unknown as { registration(e: unknown): string }).registration((svc as unknown as { containers: Map<string, unknown> }).containers.get('c1')));
    expect(reg.covers).toEqual([{ dir: '/sys/devices/virtual', own: [], overlay: true }]);
    // a restarted sysbox-fs can't list the container's dir again (covered by now): it serves what was kept
    env.dirs.clear();
    const adopted = new Map<string, FuseOps>();
    const adopter = new FsService({
      env,
      fuse: { ...fuse.backend, adopt: (mountpoint: string, fd: number, ops: FuseOps) => (adopted.set(mountpoint, ops), { mountpoint, fd, unmount: async () => {} }) } as never,
      mountRoot: root,
      log: pino({ level: 'silent' }),
      version: 't',
    });
    expect(adopter.adopt([{ name: 'c1', data: JSON.stringify(reg), fd: 99 }], () => {})).toEqual({ adopted: ['c1'], dropped: [] });
    expect(adopted.get(r.mountpoint)!.readdir('/sys/devices/virtual').sort()).toEqual(['dmi']);
    // options.sysfs false: no cover
    const r2 = await svc.register({ containerId: 'c2', initPid: 5, idRange: undefined, options: { procfs: true, sysfs: false, cgroupPath: '', memoryLimitBytes: 0, cpuQuotaUs: 0, cpuPeriodUs: 0, cpuset: '' }, root: '', maskedPaths: [], readonlyPaths: [] });
    expect(r2.covers).toEqual([]);
    expect(r2.files).toContain('/sys/devices/virtual/dmi/id/product_uuid');
    // registered from the engine's hook, before pivot_root: the container's own entries are read under its root
    env.setDir('/proc/5/root/var/lib/sysbox/rootfs/c3/merged/sys/devices/virtual', [{ name: 'misc', type: 'dir' }]);
    await svc.register({ containerId: 'c3', initPid: 5, idRange: undefined, options: undefined, root: '/var/lib/sysbox/rootfs/c3/merged', maskedPaths: [], readonlyPaths: [] });
    const reg3 = JSON.parse((svc as unknown as { registration(e: unknown): string }).registration((svc as unknown as { containers: Map<string, unknown> }).containers.get('c3')));
    expect(reg3.covers).toEqual([{ dir: '/sys/devices/virtual', own: [], overlay: true }]);
    // a read-write /sys (--privileged): placeholders, the container's entries moved back (they stay writable)
    env.set('/proc/5/mountinfo', '481 453 0:95 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw\n');
    env.setDir('/proc/5/root/sys/devices/virtual', [{ name: 'net', type: 'dir' }]);
    const r4 = await svc.register({ containerId: 'c4', initPid: 5, idRange: undefined, options: undefined, root: '', maskedPaths: [], readonlyPaths: [] });
    expect(r4.covers).toContain('/sys/devices/virtual');
    expect(r4.overlays).not.toContain('/sys/devices/virtual');
    expect(fuse.mounted.get(r4.mountpoint)!.readdir('/sys/devices/virtual').sort()).toEqual(['dmi', 'net']);
  });
});

describe('FsService: the cpu cover and the load average sampler', () => {
  it('online inside the cpu cover is placed on its own (over the container\'s file the cover mounts back)', async () => {
    const { env, svc } = setup();
    env.set('/sys/devices/system/cpu/online', '0-1\n');
    env.setDir('/proc/5/root/sys/devices/system/cpu', [
      { name: 'cpu0', type: 'dir' },
      { name: 'online', type: 'file' },
    ]);
    const r = await svc.register({ containerId: 'c1', initPid: 5, idRange: undefined, options: undefined, root: '', maskedPaths: [], readonlyPaths: [] });
    expect(r.covers).toContain('/sys/devices/system/cpu');
    expect(r.files).toContain('/sys/devices/system/cpu/online');
  });
  it('/sys/kernel: config, debug, security, tracing are empty dirs of the tree, each placed on its own (a mountpoint)', async () => {
    const { env, svc, fuse } = setup();
    env.setDir('/proc/5/root/sys/kernel', [
      { name: 'debug', type: 'dir' },
      { name: 'mm', type: 'dir' },
      { name: 'tracing', type: 'dir' },
      { name: 'uevent_seqnum', type: 'file' },
    ]);
    const r = await svc.register({ containerId: 'c1', initPid: 5, idRange: undefined, options: undefined, root: '', maskedPaths: [], readonlyPaths: [] });
    expect(r.covers).toContain('/sys/kernel');
    // config and security are absent from the container's sysfs here: the cover holds them, and they are placed too
    expect(r.files.filter((f) => f.startsWith('/sys/kernel/')).sort()).toEqual(['/sys/kernel/config', '/sys/kernel/debug', '/sys/kernel/security', '/sys/kernel/tracing']);
    const ops = fuse.mounted.get(r.mountpoint)!;
    // an overlay cover: its own entries only (mm and uevent_seqnum come from the overlay's lower layer)
    expect(r.overlays).toContain('/sys/kernel');
    expect(ops.readdir('/sys/kernel').sort()).toEqual(['config', 'debug', 'security', 'tracing']);
    for (const d of ['config', 'debug', 'security', 'tracing']) {
      expect(ops.getattr(`/sys/kernel/${d}`)).toMatchObject({ mode: 0o040555 });
      expect(ops.readdir(`/sys/kernel/${d}`)).toEqual([]);
    }
  });
  it('one timer for all containers, only while some container is registered; each tick samples every container', async () => {
    const { env, svc } = setup();
    const timers: Array<{ fn: () => void; ms: number; cleared: boolean }> = [];
    const sampler = new LoadSampler(env, {
      timers: {
        setInterval: (fn, ms) => (timers.push({ fn, ms, cleared: false }), timers.length - 1),
        clearInterval: (t) => void (timers[t as number]!.cleared = true),
      },
    });
    (svc as unknown as { sampler: LoadSampler }).sampler = sampler;
    expect(sampler.running).toBe(false);
    env.set('/proc/6/stat', '6 (init) R 1 6 6 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 6000 0 0');
    env.set('/proc/6/cgroup', '0::/\n');
    env.set('/sys/fs/cgroup/unified/cgroup.threads', '5\n6\n');
    env.set('/sys/fs/cgroup/unified/cgroup.controllers', '');
    await svc.register({ containerId: 'a', initPid: 5, idRange: undefined, options: undefined, root: '', maskedPaths: [], readonlyPaths: [] });
    await svc.register({ containerId: 'b', initPid: 6, idRange: undefined, options: undefined, root: '', maskedPaths: [], readonlyPaths: [] });
    expect(timers).toHaveLength(1);
    expect(timers[0]!.ms).toBe(5000);
    expect(sampler.size).toBe(2);
    timers[0]!.fn();
    const views = [...(svc as unknown as { containers: Map<string, { view: { load: { folds: number; running: number; total: number } } }> }).containers.values()].map((e) => e.view.load);
    expect(views.map((l) => l.folds)).toEqual([1, 1]);
    expect(views[0]).toMatchObject({ running: 1, total: 2 }); // /proc/5/stat has no state letter we count; 6 is R
    await svc.unregister({ containerId: 'a' });
    expect(timers[0]!.cleared).toBe(false);
    await svc.unregister({ containerId: 'b' });
    expect(timers[0]!.cleared).toBe(true);
    expect(sampler.running).toBe(false);
    await svc.register({ containerId: 'c', initPid: 5, idRange: undefined, options: undefined, root: '', maskedPaths: [], readonlyPaths: [] });
    expect(timers).toHaveLength(2);
    await svc.close();
    expect(sampler.running).toBe(false);
  });
});
