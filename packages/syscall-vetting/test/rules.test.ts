// Each named rule against mount tables recorded in real containers (fixtures/), in the container's own mount
// namespace and in the copies `unshare -m`, chroot and pivot_root make.
import { describe, expect, test } from 'vitest';
import {
  AT_RECURSIVE,
  EBUSY,
  EINVAL,
  ENOSYS,
  EPERM,
  MNT_DETACH,
  MOUNT_ATTR_RDONLY,
  MS_BIND,
  MS_MOVE,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  O_CLOEXEC,
  RESOLVE_BENEATH,
  RESOLVE_NO_XDEV,
  AUDIT_ARCH_X86_64,
  parseMountinfo,
  vet,
  type Verdict,
} from '../src/index.js';
import { harness, recorded } from './helpers.js';

function how(flags: number, resolve: number): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(BigInt(flags), 0);
  b.writeBigUInt64LE(BigInt(resolve), 16);
  return b;
}

function attr(set: number, clr: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeBigUInt64LE(BigInt(set), 0);
  b.writeBigUInt64LE(BigInt(clr), 8);
  return b;
}

function expectErrno(v: Verdict, rule: string, errno: number) {
  expect(v.decision, JSON.stringify(v.event)).toMatchObject({ kind: 'errno', rule, errno });
  expect(v.event.reason.length).toBeGreaterThan(10);
}

// the same protections in every mount namespace the container can make; the prefix is where the caller sees them
const VIEWS = [
  ['plain', ''],
  ['unshare', ''],
  ['chroot', ''],
  ['pivot', ''],
  ['pivot', '/old'],
] as const;

describe.each(VIEWS)('%s table (paths under "%s")', (table, prefix) => {
  const h = () => harness({ mounts: recorded(table), nsKey: `${table}${prefix}` });

  test('protected-umount: umount of an emulated file, a view, a masked path → EINVAL, naming it', async () => {
    const x = h();
    for (const p of ['/proc/uptime', '/proc/sys/kernel/panic', '/sys/devices/virtual', '/proc/keys', '/proc/timer_list', '/sys/firmware', '/proc/acpi', '/proc/bus']) {
      const v = (await x.call('umount2', [`${prefix}${p}`, 0]));
      expectErrno(v, 'protected-umount', EINVAL);
      expect(v.event.reason).toContain(`${prefix}${p}`);
      expect(v.event).toMatchObject({ containerId: 'c1', pid: 4242, syscall: 'umount2', decision: 'errno', errno: 'EINVAL' });
    }
    // MNT_DETACH changes nothing
    expectErrno((await x.call('umount2', [`${prefix}/proc/uptime`, MNT_DETACH])), 'protected-umount', EINVAL);
  });

  test("an entry moved back into a view is part of it", async () => {
    expectErrno((await h().call('umount2', [`${prefix}/sys/devices/virtual/net`, 0])), 'protected-umount', EINVAL);
  });

  test('umount of another initial mount (a bind, the read-only /mnt) continues', async () => {
    const x = h();
    for (const p of ['/etc/hosts', '/mnt', '/dev/shm', '/var/lib/docker']) {
      expect((await x.call('umount2', [`${prefix}${p}`, 0])).decision).toMatchObject({ kind: 'continue', rule: 'umount' });
    }
  });

  test('cover-protected: a mount over an emulated file or masked path → EINVAL', async () => {
    const x = h();
    expectErrno((await x.call('mount', ['none', `${prefix}/proc/uptime`, 'tmpfs', 0, null])), 'cover-protected', EINVAL);
    expectErrno((await x.call('mount', ['/tmp', `${prefix}/proc/keys`, null, MS_BIND, null])), 'cover-protected', EINVAL);
    expectErrno((await x.call('mount', ['none', `${prefix}/sys/devices/virtual/dmi`, 'tmpfs', 0, null])), 'cover-protected', EINVAL);
  });

  test('proc-mount / sysfs-mount: performed with the emulation laid over', async () => {
    const x = h();
    const p = (await x.call('mount', ['proc', '/root/p', 'proc', 0, null]));
    expect(p.decision).toMatchObject({ kind: 'perform', rule: 'proc-mount', action: { op: 'mount-proc', target: { kind: 'root', path: '/root/p' } } });
    const s = (await x.call('mount', ['sysfs', '/root/s', 'sysfs', MS_RDONLY, null]));
    expect(s.decision).toMatchObject({ kind: 'perform', rule: 'sysfs-mount', action: { op: 'mount-sysfs', flags: MS_RDONLY } });
  });
});

describe('base-busy', () => {
  test.each(['plain', 'unshare', 'chroot', 'pivot'] as const)('%s: umount /proc and /sys → EBUSY', async (table) => {
    const x = harness({ mounts: recorded(table) });
    expectErrno((await x.call('umount2', ['/proc', 0])), 'base-busy', EBUSY);
    expectErrno((await x.call('umount2', ['/sys', MNT_DETACH])), 'base-busy', EBUSY);
    expectErrno((await x.call('umount', ['/proc'], { arch: 'i386' })), 'base-busy', EBUSY);
  });

  test("pivot_root's old root: /old/proc is not the caller's /proc, and /old goes as a whole", async () => {
    const x = harness({ mounts: recorded('pivot') });
    expect((await x.call('umount2', ['/old', MNT_DETACH])).decision).toMatchObject({ kind: 'continue', rule: 'umount' });
    expect((await x.call('umount2', ['/old/proc', MNT_DETACH])).decision).toMatchObject({ kind: 'continue' });
  });
});

describe("the container's own mounts", () => {
  const own = `${recorded('plain')}200 111 0:60 / /t rw,relatime - tmpfs none rw,uid=100000,gid=100000\n`;

  test('new-mount: tmpfs continues, without reading the mount table', async () => {
    const x = harness();
    const v = (await x.call('mount', ['none', '/t', 'tmpfs', 0, 'size=1m']));
    expect(v.decision).toMatchObject({ kind: 'continue', rule: 'new-mount' });
    expect(x.host.reads).toBe(0);
    expect(v.event.args).toMatchObject({ source: 'none', target: '/t', fstype: 'tmpfs', data: 'size=1m' });
  });

  test('umount of its own tmpfs continues', async () => {
    const x = harness({ mounts: own });
    expect((await x.call('umount2', ['/t', 0])).decision).toMatchObject({ kind: 'continue', rule: 'umount' });
  });

  test('remount ro and rw, both argument forms, performed with the host IDs rewritten', async () => {
    const x = harness({ mounts: own });
    // busybox's one-argument form: the options as read back from /proc/mounts (host IDs)
    const ro = (await x.call('mount', ['none', '/t', 'tmpfs', MS_REMOUNT | MS_RDONLY, 'rw,relatime,uid=100000,gid=100000']));
    expect(ro.decision).toMatchObject({ kind: 'perform', rule: 'remount', action: { op: 'mount', data: 'rw,relatime,uid=0,gid=0', flags: MS_REMOUNT | MS_RDONLY } });
    expect(ro.decision.reason).toContain('uid=100000->0');
    const rw = (await x.call('mount', [null, '/t', null, MS_REMOUNT, null]));
    expect(rw.decision).toMatchObject({ kind: 'perform', rule: 'remount', action: { data: null } });
    const bindRo = (await x.call('mount', [null, '/t', null, MS_REMOUNT | MS_BIND | MS_RDONLY, null]));
    expect(bindRo.decision).toMatchObject({ kind: 'perform', rule: 'remount' });
  });

  test('a bind of its own dir is left to the kernel (its locks guard what a rewritten argument could reach)', async () => {
    const x = harness({ mounts: own });
    expect((await x.call('mount', ['/t', '/root/b', null, MS_BIND, null])).decision).toMatchObject({ kind: 'continue', rule: 'bind' });
  });

  test('propagation changes continue', async () => {
    expect((await harness().call('mount', [null, '/', null, MS_PRIVATE | MS_REC, null])).decision).toMatchObject({ kind: 'continue', rule: 'propagation' });
  });
});

describe('remount-keeps-ro', () => {
  test.each(['plain', 'unshare', 'chroot'] as const)('%s: the read-only /mnt, /sys and /proc/bus stay read-only', async (table) => {
    const x = harness({ mounts: recorded(table), nsKey: table });
    expectErrno((await x.call('mount', [null, '/mnt', null, MS_REMOUNT | MS_BIND, null])), 'remount-keeps-ro', EPERM);
    expectErrno((await x.call('mount', [null, '/sys', null, MS_REMOUNT, null])), 'remount-keeps-ro', EPERM);
    expectErrno((await x.call('mount', [null, '/proc/bus', null, MS_REMOUNT | MS_BIND, null])), 'remount-keeps-ro', EPERM);
    // read-only again is fine
    expect((await x.call('mount', [null, '/mnt', null, MS_REMOUNT | MS_BIND | MS_RDONLY, null])).decision.kind).toBe('perform');
  });

  test('a bind copy of the read-only /mnt inherits the rule', async () => {
    const copy = `${recorded('plain')}201 111 254:0 /tmp/vet-rec/rodir /x ro,relatime,idmapped - ext4 /dev/vda rw\n`;
    const x = harness({ mounts: copy });
    expectErrno((await x.call('mount', [null, '/x', null, MS_REMOUNT | MS_BIND, null])), 'remount-keeps-ro', EPERM);
  });
});

describe('binds and moves', () => {
  test('bind-keeps-submounts: a non-recursive bind of /proc is performed recursively', async () => {
    const x = harness();
    const v = (await x.call('mount', ['/proc', '/root/p', null, MS_BIND, null]));
    expect(v.decision).toMatchObject({ kind: 'perform', rule: 'bind-keeps-submounts', action: { flags: MS_BIND | MS_REC } });
    expect(v.decision.reason).toContain('/proc');
  });

  test('bind-self-protected: an emulated file, a read-only or masked path bound onto itself (an inner runc) is a no-op success', async () => {
    const x = harness();
    expect((await x.call('mount', ['/proc/uptime', '/proc/uptime', null, MS_BIND, null])).decision).toMatchObject({ kind: 'fake', rule: 'bind-self-protected', value: 0 });
    expect((await x.call('mount', ['/proc/bus', '/proc/bus', null, MS_BIND | MS_REC, null])).decision).toMatchObject({ kind: 'fake', rule: 'bind-self-protected', value: 0 });
    expect((await x.call('mount', ['/proc/keys', '/proc/keys', null, MS_BIND, null])).decision).toMatchObject({ kind: 'fake', rule: 'bind-self-protected', value: 0 });
    // another source onto a read-only path still covers it: refused
    expectErrno(await x.call('mount', ['/root', '/proc/bus', null, MS_BIND | MS_REC, null]), 'cover-protected', EINVAL);
  });

  test('mask-protected: /dev/null onto a masked path or an emulated file (an inner runc) is a no-op success; another source is refused', async () => {
    const x = harness();
    expect((await x.call('mount', ['/dev/null', '/proc/uptime', null, MS_BIND, null])).decision).toMatchObject({ kind: 'fake', rule: 'mask-protected', value: 0 });
    expect((await x.call('mount', ['/dev/null', '/proc/keys', null, MS_BIND, null])).decision).toMatchObject({ kind: 'fake', rule: 'mask-protected', value: 0 });
    expectErrno(await x.call('mount', ['/etc/hostname', '/proc/uptime', null, MS_BIND, null]), 'cover-protected', EINVAL);
    expectErrno(await x.call('mount', ['/dev/null', '/proc/bus', null, MS_BIND, null]), 'cover-protected', EINVAL);
  });

  test("bind-ns-file: a namespace file of the caller's procfs (Docker's libnetwork-setkey, ip netns) is bound as asked", async () => {
    const x = harness();
    const v = await x.call('mount', ['/proc/256/ns/net', '/run/docker/netns/4a4fde07592c', null, MS_BIND, null]);
    expect(v.decision).toMatchObject({ kind: 'perform', rule: 'bind-ns-file', action: { source: { kind: 'root', path: '/proc/256/ns/net' }, flags: MS_BIND } });
    // its directory was looked up instead of the magic link
    expect(x.host.lookups.at(-1)).toEqual({ kind: 'root', path: '/proc/256/ns' });
    expect((await x.call('mount', ['/proc/256/task/257/ns/mnt', '/root/m', null, MS_BIND, null])).decision).toMatchObject({ rule: 'bind-ns-file' });
    // still: the target's rules, and CAP_SYS_ADMIN
    expectErrno(await x.call('mount', ['/proc/256/ns/net', '/proc/uptime', null, MS_BIND, null]), 'cover-protected', EINVAL);
    expectErrno(await harness({ capEff: 0n }).call('mount', ['/proc/256/ns/net', '/root/n', null, MS_BIND, null]), 'needs-cap-sys-admin', EPERM);
  });

  test('a namespace-file path that is not on a proc mount stays unresolved', async () => {
    // /root/proc/1/ns/net: not the pattern; a /proc that is no proc mount (here: a tmpfs mounted over it in a chroot'd table)
    const tmpfsProc = recorded('plain').replace(/ - proc proc /g, ' - tmpfs tmpfs ');
    expectErrno(await harness({ mounts: tmpfsProc }).call('mount', ['/proc/256/ns/net', '/root/n', null, MS_BIND, null]), 'unresolved', 18);
  });

  test('move-protected: moving an emulated file or /proc away → EINVAL', async () => {
    const x = harness();
    expectErrno((await x.call('mount', ['/proc/uptime', '/root/u', null, MS_MOVE, null])), 'move-protected', EINVAL);
    expectErrno((await x.call('mount', ['/proc', '/root/p', null, MS_MOVE, null])), 'move-protected', EINVAL);
    expect((await x.call('mount', ['/etc/hosts', '/root/h', null, MS_MOVE, null])).decision).toMatchObject({ kind: 'continue', rule: 'move' });
  });
});

describe('magic links (runc >= 1.2 mounts through /proc/thread-self/fd/N)', () => {
  test('/proc/self/fd/N and /proc/thread-self/fd/N resolve to the fd of the caller (host pid)', async () => {
    const x = harness({ fds: { 7: '/proc/uptime', 8: '/root/p' }, tgid: 4000 });
    expectErrno((await x.call('umount2', ['/proc/self/fd/7', 0])), 'protected-umount', EINVAL);
    expect(x.host.lookups.at(-1)).toEqual({ kind: 'fd', pid: 4000, fd: 7, rest: '' });
    const v = (await x.call('mount', ['proc', '/proc/thread-self/fd/8', 'proc', 0, null]));
    expect(v.decision).toMatchObject({ kind: 'perform', rule: 'proc-mount', action: { target: { kind: 'fd', pid: 4242, fd: 8 } } });
    expectErrno((await x.call('mount', ['none', '/proc/self/task/4242/fd/7', 'tmpfs', 0, null])), 'cover-protected', EINVAL);
  });
});

describe('mount_setattr', () => {
  test('setattr-keeps-ro: clearing read-only on a read-only initial mount → EPERM; recursively too', async () => {
    const x = harness();
    expectErrno((await x.call('mount_setattr', [-100, '/mnt', 0, attr(0, MOUNT_ATTR_RDONLY), 32])), 'setattr-keeps-ro', EPERM);
    expectErrno((await x.call('mount_setattr', [-100, '/', AT_RECURSIVE, attr(0, MOUNT_ATTR_RDONLY), 32])), 'setattr-keeps-ro', EPERM);
    // only adding restrictions: the kernel's, whatever the path becomes
    expect((await x.call('mount_setattr', [-100, '/mnt', 0, attr(MOUNT_ATTR_RDONLY, 0), 32])).decision).toMatchObject({ kind: 'continue', rule: 'setattr-restrict' });
    // clearing an attribute of a mount that may lose it: performed with the attributes as read
    expect((await x.call('mount_setattr', [-100, '/t', 0, attr(0, MOUNT_ATTR_RDONLY), 32])).decision).toMatchObject({ kind: 'perform', rule: 'setattr' });
    expect((await x.call('mount_setattr', [-100, '/mnt', 0, attr(0, 0), 32])).decision).toMatchObject({ kind: 'continue', rule: 'setattr-noop' });
    expectErrno((await x.call('mount_setattr', [-100, '/t', 0, attr(0x100000, 0), 32])), 'setattr-idmap', EINVAL);
  });
});

describe('openat2', () => {
  test('openat2-emulated: RESOLVE_NO_XDEV onto an emulated file is performed, O_CLOEXEC kept', async () => {
    const x = harness({ fds: { 5: '/proc' } });
    const v = (await x.call('openat2', [5, 'uptime', how(O_CLOEXEC, RESOLVE_NO_XDEV | RESOLVE_BENEATH), 24]));
    expect(v.decision).toMatchObject({ kind: 'perform', rule: 'openat2-emulated', action: { op: 'openat2', cloexec: true, resolve: BigInt(RESOLVE_BENEATH) } });
    const plain = (await x.call('openat2', [5, 'uptime', how(0, RESOLVE_NO_XDEV), 24]));
    expect(plain.decision).toMatchObject({ kind: 'perform', action: { cloexec: false } });
  });

  test('continues without RESOLVE_NO_XDEV, and for files sysbox-fs does not serve', async () => {
    const x = harness();
    expect((await x.call('openat2', [-100, '/proc/uptime', how(0, RESOLVE_BENEATH), 24])).decision).toMatchObject({ kind: 'continue' });
    expect((await x.call('openat2', [-100, '/etc/hosts', how(0, RESOLVE_NO_XDEV), 24])).decision).toMatchObject({ kind: 'continue' });
    expect(x.host.lookups).toHaveLength(1);
  });
});

describe('capabilities', () => {
  test('needs-cap-sys-admin: a performed call needs CAP_SYS_ADMIN in the caller', async () => {
    const x = harness({ capEff: 0n });
    expectErrno((await x.call('mount', ['proc', '/root/p', 'proc', 0, null])), 'needs-cap-sys-admin', EPERM);
  });
});

describe('architectures', () => {
  test('i386: 32-bit pointers and flags (upper halves ignored, as the kernel does)', async () => {
    const x = harness();
    const target = x.str('/proc/uptime');
    expect(target).toBeLessThan(0x100000000n);
    const v = (await x.call('umount2', [target | 0xdead00000000n, 0xffff000000000000n], { arch: 'i386' }));
    expectErrno(v, 'protected-umount', EINVAL);
    expectErrno((await x.call('umount', ['/proc/uptime'], { arch: 'i386' })), 'protected-umount', EINVAL);
  });

  test('x32: the x86_64 numbers with the x32 bit', async () => {
    expectErrno((await harness().call('umount2', ['/proc/keys', 0], { arch: 'x32' })), 'protected-umount', EINVAL);
  });

  test('not-vetted: an unknown architecture or number is refused with ENOSYS, never continued', async () => {
    const x = harness();
    const v = (await vet({ id: 1n, pid: 1, syscall: 999, arch: AUDIT_ARCH_X86_64, args: [] }, { containerId: 'c1', tables: () => x.tables }, x.host));
    expectErrno(v, 'not-vetted', ENOSYS);
    const arm = (await vet({ id: 1n, pid: 1, syscall: 40, arch: 0xc00000b7, args: [] }, { containerId: 'c1', tables: () => x.tables }, x.host));
    expectErrno(arm, 'not-vetted', ENOSYS);
  });
});

describe('audit events', () => {
  test('each decision is an event with container, pid, syscall, args, decision and reason', async () => {
    const v = (await harness().call('umount2', ['/proc/keys', 0]));
    expect(v.event).toEqual({
      containerId: 'c1', pid: 4242, arch: 'x86_64', syscall: 'umount2', args: { target: '/proc/keys', flags: '0x0' },
      decision: 'errno', rule: 'protected-umount', errno: 'EINVAL',
      reason: 'umount of /proc/keys refused: it is a masked path (the host file is under it) (/proc/keys), which stays mounted',
    });
  });
});

describe('tables', () => {
  test('a mount ID reused by another file system is not the protected mount (the dev must match too)', async () => {
    const x = harness();
    expect((await x.call('umount2', ['/proc/uptime', 0])).decision.kind).toBe('errno');
    // 77 was /proc/uptime's (fuse); the lookup now lands on a tmpfs that got the same ID
    x.host.table = x.host.table.map((m) => (m.id === 77 ? { ...m, dev: '0:99', fstype: 'tmpfs' } : m));
    expect((await x.call('umount2', ['/proc/uptime', 0])).decision).toMatchObject({ kind: 'continue', rule: 'umount' });
    expect(x.host.reads).toBe(1);
  });

  test('one table per mount namespace, read once until invalidated; a protection found in the cached one is confirmed on a fresh read', async () => {
    const x = harness();
    (await x.call('umount2', ['/proc/uptime', 0]));
    expect(x.host.reads).toBe(1);
    (await x.call('umount2', ['/proc/keys', 0]));
    expect(x.host.reads).toBe(2);
    x.tables.invalidate('mnt:1');
    (await x.call('umount2', ['/proc/keys', 0]));
    expect(x.host.reads).toBe(3);
  });
});

describe('umount-emulated', () => {
  test('a proc mounted inside goes with the emulation laid over it (the kernel alone would say EBUSY)', async () => {
    const inner = `${recorded('plain')}300 111 0:90 / /p rw,relatime - proc proc rw\n301 300 0:57 /proc/uptime /p/uptime rw - fuse.sysboxfs sysboxfs rw\n302 300 0:6 /null /p/keys rw - devtmpfs devtmpfs rw\n`;
    const x = harness({ mounts: inner });
    expectErrno((await x.call('umount2', ['/p/uptime', 0])), 'protected-umount', EINVAL);
    expectErrno((await x.call('umount2', ['/p/keys', 0])), 'protected-umount', EINVAL);
    expect((await x.call('umount2', ['/p', 0])).decision).toMatchObject({ kind: 'perform', rule: 'umount-emulated', action: { op: 'umount', flags: MNT_DETACH } });
  });
});

describe('reused mount IDs and devs', () => {
  test("a tmpfs that got an unmounted mask's mount ID and dev (both reused at once) is the container's own: a protection is confirmed on the table as it is now", async () => {
    const inner = `${recorded('plain')}300 111 0:90 / /p rw,relatime - proc proc rw\n301 300 0:6 /null /p/keys rw - devtmpfs devtmpfs rw\n`;
    const x = harness({ mounts: inner });
    expectErrno((await x.call('umount2', ['/p/keys', 0])), 'protected-umount', EINVAL);
    // /p went (performed: sysbox-fs re-reads only after it), and the loop's next mount on /t got ID 301 and the dev
    x.host.table = x.host.table.filter((m) => m.id !== 300 && m.id !== 301);
    x.host.table.push(...parseMountinfo('301 111 0:6 / /t rw,relatime - devtmpfs none rw\n'));
    const reads = x.host.reads;
    expect((await x.call('umount2', ['/t', 0])).decision).toMatchObject({ kind: 'continue', rule: 'umount' });
    expect(x.host.reads).toBe(reads + 1);
  });
});

describe('tables per root', () => {
  test("a chroot's view and the init's are different tables: umount /proc in the chroot is busy, whichever was read first", async () => {
    const init = harness({ nsKey: 'mnt:1:root:/' });
    // the init's view first: /c/proc is a bind copy there, not the caller's /proc
    expect((await init.call('umount2', ['/c/proc', MNT_DETACH])).decision.kind).toBe('continue');
    const chroot = harness({ mounts: recorded('chroot'), nsKey: 'mnt:1:root:/c' });
    expectErrno((await chroot.call('umount2', ['/proc', 0])), 'base-busy', EBUSY);
  });
});

describe('views: read-only overlays of a sysbox-fs directory over the container\'s own (sysbox-views table)', () => {
  const h = () => harness({ mounts: recorded('views'), init: recorded('views'), nsKey: 'views' });
  test('umount of a view or of an emulated dir placed on one → EINVAL; /sys itself → EBUSY', async () => {
    const x = h();
    for (const p of ['/sys/kernel', '/sys/class', '/sys/devices/virtual', '/sys/kernel/debug']) expectErrno(await x.call('umount2', [p, 0]), 'protected-umount', EINVAL);
    expectErrno(await x.call('umount2', ['/sys', 0]), 'base-busy', EBUSY);
  });
  test("a mount over a view, or over the container's own entry inside one, is refused (it stays visible)", async () => {
    const x = h();
    for (const p of ['/sys/class', '/sys/class/net', '/sys/kernel/mm', '/sys/devices/virtual/dmi/id']) {
      expectErrno(await x.call('mount', ['tmpfs', p, 'tmpfs', 0, null]), 'cover-protected', EINVAL);
    }
    // the container's own tmpfs elsewhere: continued
    expect((await x.call('mount', ['tmpfs', '/tmp', 'tmpfs', 0, null])).decision).toMatchObject({ kind: 'continue' });
  });
});
