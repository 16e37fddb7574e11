// The fast rules (src/fast.ts): what they answer without a mount table, that protected mounts still reach the
// handlers (and are refused), that whatever they continue a handler would continue too (random calls over the
// recorded tables), and the table the native vetting thread gets.
import { describe, expect, test } from 'vitest';
import {
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  EINVAL,
  EBUSY,
  FAST_RULES,
  MNT_DETACH,
  MNT_EXPIRE,
  MNT_FORCE,
  MS_BIND,
  MS_MOVE,
  MS_NOUSER,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  MS_SHARED,
  NamespaceTables,
  PROC_SUPER_MAGIC,
  SYSFS_MAGIC,
  TMPFS_MAGIC,
  UMOUNT_NOFOLLOW,
  X32_SYSCALL_BIT,
  fastAnswers,
  parseMountinfo,
  recordInitialMounts,
  vet,
  vetTable,
  type Notification,
} from '../src/index.js';
import { harness, recorded } from './helpers.js';

// the container's own tmpfs on /t; an inner proc on /root/p carrying the emulation (as sysbox-fs lays it over a
// performed proc mount: an emulated file and a masked path below it)
const own = `${recorded('plain')}200 111 0:60 / /t rw,relatime - tmpfs none rw,uid=100000,gid=100000\n`;
const inner =
  `${own}` +
  '300 111 0:70 / /root/p rw,relatime - proc proc rw\n' +
  '301 300 0:57 /proc/uptime /root/p/uptime rw,nosuid,nodev,relatime - fuse.sysboxfs sysboxfs rw,user_id=0,group_id=0\n' +
  '302 300 0:6 /null /root/p/keys rw,relatime - devtmpfs devtmpfs rw\n';

describe('answered by a fast rule (no mount table read)', () => {
  test('a new tmpfs on a directory of the rootfs, and its umount', async () => {
    const x = harness({ mounts: own });
    const m = await x.call('mount', ['none', '/t', 'tmpfs', 0, 'size=1m']);
    expect(m.decision).toMatchObject({ kind: 'continue', rule: 'new-mount' });
    expect(m.decision.reason).toContain('/t');
    const u = await x.call('umount2', ['/t', 0]);
    expect(u.decision).toMatchObject({ kind: 'continue', rule: 'umount' });
    expect(u.event).toMatchObject({ syscall: 'umount2', decision: 'continue', rule: 'umount', args: { target: '/t' } });
    // the handlers would have read the table for the umount (is it a proc carrying the emulation?)
    expect(x.host.reads).toBe(0);
    expect([m.fast, u.fast]).toEqual([true, true]);
    expect(x.host.lookups).toHaveLength(2);
  });

  test("a lookup the vetting thread made is used, not made again; its failure counts as the lookup's", async () => {
    const x = harness({ mounts: own });
    const n = (args: bigint[], lookup: Notification['lookup']): Notification => ({ id: 1n, pid: 4242, syscall: 166, arch: AUDIT_ARCH_X86_64, args, lookup });
    const target = x.str('/t');
    const v = await vet(n([target, 0n, 0n, 0n, 0n, 0n], { path: '/t', follow: true, mntId: 200n, devMajor: 0, devMinor: 60, mountRoot: true }), { containerId: 'c1', tables: () => x.tables }, x.host);
    expect(v.decision).toMatchObject({ kind: 'continue', rule: 'umount' });
    expect(x.host.lookups).toHaveLength(0);
    // the thread's lookup says the target is a protected file system's: the handlers decide (and refuse)
    const w = await vet(n([target, 0n, 0n, 0n, 0n, 0n], { path: '/t', follow: true, mntId: 77n, devMajor: 0, devMinor: 57, mountRoot: true }), { containerId: 'c1', tables: () => x.tables }, x.host);
    expect(w.decision).toMatchObject({ kind: 'errno', rule: 'protected-umount', errno: EINVAL });
    const e = await vet(n([target, 0n, 0n, 0n, 0n, 0n], { path: '/t', follow: true, errno: 2 }), { containerId: 'c1', tables: () => x.tables }, x.host);
    expect(e.decision).toMatchObject({ kind: 'continue', rule: 'umount-unresolved' });
    expect(x.host.lookups).toHaveLength(0);
  });

  test('arguments copied by the vetting thread are decoded from the copy', async () => {
    const x = harness({ mounts: own });
    const copy = (s: string) => Buffer.concat([Buffer.from(`${s}\0`, 'latin1'), Buffer.alloc(4096 - s.length - 1, 0x41)]);
    const n: Notification = {
      id: 1n, pid: 4242, syscall: 165, arch: AUDIT_ARCH_X86_64, args: [0x1000n, 0x3000n, 0x5000n, 0n, 0n, 0n],
      memory: [{ address: 0x1000n, bytes: copy('none') }, { address: 0x3000n, bytes: copy('/t') }, { address: 0x5000n, bytes: copy('proc') }],
    };
    // nothing at those addresses in the caller's (fake) memory: only the copies can be read
    const v = await vet(n, { containerId: 'c1', tables: () => x.tables }, x.host);
    expect(v.event.args).toMatchObject({ source: 'none', target: '/t', fstype: 'proc' });
    expect(v.decision).toMatchObject({ kind: 'perform', rule: 'proc-mount' });
    // a copy cut short by an unreadable page reads as unreadable past its end
    const short: Notification = { ...n, memory: [{ address: 0x1000n, bytes: Buffer.from('no') }, ...n.memory!.slice(1)] };
    expect((await vet(short, { containerId: 'c1', tables: () => x.tables }, x.host)).decision).toMatchObject({ kind: 'errno', rule: 'decode', errno: 14 });
  });
});

describe('what the fast rules leave to the handlers', () => {
  test('protected mounts are still refused: umount of an emulated file, a masked path, /proc; a tmpfs over one', async () => {
    const x = harness({ mounts: own });
    for (const p of ['/proc/uptime', '/proc/keys', '/sys/firmware']) {
      expect((await x.call('umount2', [p, 0])).decision).toMatchObject({ kind: 'errno', rule: 'protected-umount', errno: EINVAL });
      expect((await x.call('umount2', [p, MNT_DETACH])).decision).toMatchObject({ kind: 'errno', rule: 'protected-umount', errno: EINVAL });
    }
    expect((await x.call('umount2', ['/proc', 0])).decision).toMatchObject({ kind: 'errno', rule: 'base-busy', errno: EBUSY });
    expect((await x.call('mount', ['none', '/proc/uptime', 'tmpfs', 0, null])).decision).toMatchObject({ kind: 'errno', rule: 'cover-protected', errno: EINVAL });
    expect((await x.call('mount', ['none', '/proc/sys/kernel/panic', 'tmpfs', 0, null])).decision).toMatchObject({ kind: 'errno', rule: 'cover-protected', errno: EINVAL });
  });

  test('a proc carrying the emulation is unmounted with it (performed), unless detached anyway', async () => {
    const x = harness({ mounts: inner });
    expect((await x.call('umount2', ['/root/p', 0])).decision).toMatchObject({ kind: 'perform', rule: 'umount-emulated' });
    const d = await x.call('umount2', ['/root/p', MNT_DETACH]);
    expect(d.decision).toMatchObject({ kind: 'continue', rule: 'umount' });
    expect(d.fast).toBe(true);
    expect((await x.call('umount2', ['/root/p/uptime', 0])).decision).toMatchObject({ kind: 'errno', rule: 'protected-umount' });
    // without the file system's type (sysbox-fs's own lookups don't ask for it) the umount rule leaves it to the handlers
    const y = harness({ mounts: own, fsTypes: false });
    const u = await y.call('umount2', ['/t', 0]);
    expect(u.decision).toMatchObject({ kind: 'continue', rule: 'umount' });
    expect(u.fast).toBeUndefined();
    expect(y.host.reads).toBe(1);
  });

  test('proc and sysfs, binds, moves, remounts, propagation, MS_NOUSER, odd flags and relative or /proc paths are not fast', async () => {
    const x = harness({ mounts: own, cwd: '/' });
    const cases: Array<[string, Array<string | number | null>, string]> = [
      ['mount', ['proc', '/t', 'proc', 0, null], 'proc-mount'],
      ['mount', ['sysfs', '/t', 'sysfs', 0, null], 'sysfs-mount'],
      ['mount', ['/t', '/root/b', null, MS_BIND, null], 'bind'],
      ['mount', ['/t', '/root/b', null, MS_MOVE, null], 'move'],
      ['mount', [null, '/t', null, MS_REMOUNT | MS_RDONLY, null], 'remount'],
      ['mount', [null, '/', null, MS_PRIVATE | MS_REC, null], 'propagation'],
      ['mount', ['none', '/t', 'tmpfs', MS_NOUSER, null], 'mount-flags'],
    ];
    for (const [name, args, rule] of cases) expect((await x.call(name as 'mount', args)).decision.rule).toBe(rule);
    expect((await x.call('umount2', ['/t', 0x100])).decision).toMatchObject({ kind: 'errno', rule: 'decode', errno: EINVAL });
    // relative: the handlers' (they resolve the cwd), with the same answer
    expect((await x.call('mount', ['none', 't', 'tmpfs', 0, null])).decision).toMatchObject({ kind: 'continue', rule: 'new-mount' });
  });

  test('a rule does not answer for a protected file system, nor (unless detached) for a proc or sysfs (the checks the vetting thread makes)', () => {
    const [mount, umount] = [FAST_RULES.find((r) => r.syscall === 'mount')!, FAST_RULES.find((r) => r.syscall === 'umount2')!];
    const prot = new Set(['0:57']);
    expect(fastAnswers(mount, 0, { dev: '0:60', mountRoot: false }, prot)).toBe(true);
    expect(fastAnswers(mount, 0, { dev: '0:57', mountRoot: false }, prot)).toBe(false);
    expect(fastAnswers(umount, 0, { dev: '0:60', mountRoot: false, fsType: TMPFS_MAGIC }, prot)).toBe(false);
    expect(fastAnswers(umount, 0, { dev: '0:60', mountRoot: true, fsType: TMPFS_MAGIC }, prot)).toBe(true);
    expect(fastAnswers(umount, 0, { dev: '0:60', mountRoot: true }, prot)).toBe(false);
    for (const fsType of [PROC_SUPER_MAGIC, SYSFS_MAGIC]) {
      expect(fastAnswers(umount, 0, { dev: '0:70', mountRoot: true, fsType }, prot)).toBe(false);
      expect(fastAnswers(umount, MNT_DETACH, { dev: '0:70', mountRoot: true, fsType }, prot)).toBe(true);
    }
    expect(fastAnswers(umount, MNT_DETACH, { dev: '0:57', mountRoot: true }, prot)).toBe(false);
  });
});

describe('whatever a fast rule continues, the handlers continue too', () => {
  // random calls over every recorded table (and one with the container's own mounts and an inner proc)
  const tables = [own, inner, recorded('unshare'), recorded('chroot'), recorded('pivot'), recorded('debian-default'), recorded('debian-privileged')];
  const flagBits = [0, MS_RDONLY, MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE, MS_SHARED, MS_NOUSER, 0x400, 0x8];
  const types = ['tmpfs', 'proc', 'sysfs', 'overlay', 'ext4', 'devpts'];
  let seed = Number(process.env.FUZZ_SEED ?? 16);
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pick = <T>(a: readonly T[]) => a[rnd(a.length)]!;

  test.each(tables.map((t, i) => [i, t] as const))('table %i', async (_i, text) => {
    // every mount point, a path below each, and the hot path's /t
    const paths = [...new Set(parseMountinfo(text).flatMap((m) => [m.mountpoint, `${m.mountpoint}/x`])), '/t'];
    let fastHits = 0;
    for (let k = 0; k < 400; k++) {
      const x = harness({ mounts: text, init: recorded('plain') });
      const y = harness({ mounts: text, init: recorded('plain') });
      // the table of the caller's namespace read (as after a performed call), or not (as for a new namespace)
      if (rnd(2)) for (const h of [x, y]) h.tables.get(h.host.mountNamespace());
      const target = pick(paths);
      const umount = rnd(2) === 0;
      const args = umount
        ? [target, pick([0, MNT_DETACH, MNT_FORCE, MNT_EXPIRE, UMOUNT_NOFOLLOW, MNT_DETACH | UMOUNT_NOFOLLOW])]
        : ['none', target, pick(types), pick(flagBits) | (rnd(3) ? 0 : pick(flagBits)), null];
      const name = umount ? 'umount2' : 'mount';
      const fast = await x.call(name, args);
      if (!fast.fast) continue;
      expect(fast.decision.kind).toBe('continue');
      fastHits++;
      // the same call, decided by the handlers alone
      const slow = await y.callWithout(name, args);
      expect(slow.decision, `${name} ${JSON.stringify(args)}`).toMatchObject({ kind: 'continue', rule: fast.decision.rule });
    }
    expect(fastHits).toBeGreaterThan(10);
  });
});

describe('the table the vetting thread gets', () => {
  test('x86_64 rules for mount and umount2 counted under their names; every vetted call with its pointers', () => {
    const { table, names } = vetTable();
    expect(names).toEqual(['new-mount', 'umount']);
    expect(table.rules.map((r) => [r.arch, r.nr, names[r.index]])).toEqual([
      [AUDIT_ARCH_X86_64, 165, 'new-mount'],
      [AUDIT_ARCH_X86_64, 166, 'umount'],
    ]);
    const mount = table.rules[0]!;
    expect(mount).toMatchObject({ flagsArg: 3, target: 1, readable: 4, mountRoot: false, fsTypesNot: [] });
    expect(mount.flagsClear & MS_BIND).toBe(MS_BIND);
    expect(mount.flagsClear & MS_NOUSER).not.toBe(0);
    expect(mount.strings).toEqual([{ arg: 2, not: ['proc', 'sysfs'] }, { arg: 0 }, { arg: 1 }]);
    expect(table.rules[1]).toMatchObject({ flagsArg: 1, noFollow: UMOUNT_NOFOLLOW, mountRoot: true, fsTypesNot: [PROC_SUPER_MAGIC, SYSFS_MAGIC], fsTypesUnless: MNT_DETACH });
    expect(table.calls).toContainEqual({ arch: AUDIT_ARCH_X86_64, nr: 165, pointers: [0, 1, 2, 4], long32: false });
    expect(table.calls).toContainEqual({ arch: AUDIT_ARCH_X86_64, nr: 442 | X32_SYSCALL_BIT, pointers: [1, 3], long32: false });
    expect(table.calls).toContainEqual({ arch: AUDIT_ARCH_I386, nr: 22, pointers: [0], long32: true });
    // plain data, as the addon reads it
    expect(JSON.parse(JSON.stringify(table))).toEqual(table);
  });

  test('protected file systems are learnt from every table read (the version tells a copy is stale)', () => {
    const t = new NamespaceTables(recordInitialMounts(parseMountinfo(own)));
    const v = t.version;
    expect(t.protectedDevs.has('0:71')).toBe(false);
    const more = `${inner}303 300 0:71 / /root/p/acpi ro,relatime - tmpfs tmpfs ro\n`;
    t.get({ key: 'inner', read: () => parseMountinfo(more) });
    expect(t.protectedDevs.has('0:71')).toBe(true);
    expect(t.version).toBeGreaterThan(v);
    const again = t.version;
    t.get({ key: 'inner', read: () => parseMountinfo(more) }, true);
    expect(t.version).toBe(again);
  });
});
