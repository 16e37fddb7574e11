import { describe, it, expect } from 'vitest';
import {
  FakeKernel,
  KernelError,
  errnoName,
  errnoNumber,
  isKernelError,
  AT_FDCWD,
  S_IFCHR,
  S_IFIFO,
  MNT_DETACH,
  MOUNT_ATTR_IDMAP,
  MOVE_MOUNT_F_EMPTY_PATH,
  MS_BIND,
  MS_RDONLY,
  MS_REMOUNT,
  OPEN_TREE_CLONE,
  FSCONFIG_SET_STRING,
  FSCONFIG_SET_FLAG,
  FSCONFIG_CMD_CREATE,
} from '../src/index.js';

const map = [{ containerId: 0, hostId: 100000, size: 65536 }];

describe('KernelError', () => {
  it('carries errno name, number, syscall and path', () => {
    const e = new KernelError(22, 'mount_setattr', '/x');
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('EINVAL');
    expect(e.errno).toBe(22);
    expect(e.syscall).toBe('mount_setattr');
    expect(e.path).toBe('/x');
    expect(e.message).toBe('mount_setattr /x: EINVAL');
    expect(new KernelError('EPERM', 'mount').errno).toBe(1);
    expect(new KernelError(-13, 'open').code).toBe('EACCES');
    expect(isKernelError(e, 'EINVAL')).toBe(true);
    expect(isKernelError(e, 'EPERM')).toBe(false);
    expect(isKernelError(new Error('x'))).toBe(false);
  });
  it('maps errno numbers and names both ways', () => {
    expect(errnoName(2)).toBe('ENOENT');
    expect(errnoName(75)).toBe('EOVERFLOW');
    expect(errnoName(99999)).toBe('E99999');
    expect(errnoNumber('EBUSY')).toBe(16);
    expect(errnoNumber('ENOPE')).toBeUndefined();
  });
});

describe('FakeKernel', () => {
  it('keeps a mount table: mount, bind, remount, umount with detach', () => {
    const k = new FakeKernel();
    k.mount('tmpfs', '/a', 'tmpfs', 0);
    k.mount('/a', '/b', null, MS_BIND);
    k.mount('tmpfs', '/b/sub', 'tmpfs', 0);
    k.mount(null, '/b', null, MS_REMOUNT | MS_BIND | MS_RDONLY);
    expect(k.mountsAt('/b')[0]!.readonly).toBe(true);
    expect(() => k.umount('/b')).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    k.umount('/b', MNT_DETACH);
    expect(k.mounts.map((m) => m.target)).toEqual(['/a']);
    expect(() => k.umount('/nope')).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'umount2', path: '/nope' }));
  });

  it('models ID-mapped binds and refuses them on overlays', () => {
    const k = new FakeKernel();
    const u = k.createUserns(map, map);
    k.idmappedBind('/src', '/dst', { usernsFd: u, readonly: true });
    const m = k.mountsAt('/dst')[0]!;
    expect(m.idmap?.uidMap).toEqual(map);
    expect(m.readonly).toBe(true);
    k.mount('overlay', '/merged', 'overlay', 0, 'lowerdir=/l');
    const fd = k.openTree(AT_FDCWD, '/merged', OPEN_TREE_CLONE);
    expect(() => k.mountSetattr(fd, '', 0, { attrSet: MOUNT_ATTR_IDMAP, usernsFd: u })).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    expect(k.callsOf('idmappedBind')).toHaveLength(1);
  });

  it('fails on demand, once or matching', () => {
    const k = new FakeKernel();
    k.fail('mount', 'EPERM', { when: (args) => args[1] === '/x' });
    k.mount('tmpfs', '/y', 'tmpfs', 0);
    expect(() => k.mount('tmpfs', '/x', 'tmpfs', 0)).toThrow(expect.objectContaining({ code: 'EPERM', path: '/x' }));
    k.mount('tmpfs', '/x', 'tmpfs', 0);
    expect(k.mountsAt('/x')).toHaveLength(1);
  });

  it('new mount API: fsopen/fsconfig/fsmount/moveMount', () => {
    const k = new FakeKernel();
    const fs = k.fsopen('overlay', 0);
    k.fsconfig(fs, FSCONFIG_SET_STRING, 'lowerdir', '/l');
    k.fsconfig(fs, FSCONFIG_SET_FLAG, 'userxattr');
    expect(() => k.fsmount(fs, 0, 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    k.fsconfig(fs, FSCONFIG_CMD_CREATE);
    const m = k.fsmount(fs, 0, 0);
    k.moveMount(m, '', AT_FDCWD, '/merged', MOVE_MOUNT_F_EMPTY_PATH);
    expect(k.mountsAt('/merged')[0]).toMatchObject({ fstype: 'overlay', options: { lowerdir: '/l', userxattr: true } });
    expect(() => k.close(12345)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('passes fds over socket pairs', async () => {
    const k = new FakeKernel();
    const [a, b] = k.socketpair();
    const f = k.open('/etc/hostname', 0);
    const got = k.recvFds(b, 2, 10);
    k.sendFds(a, [f], Buffer.from('hi'));
    const msg = await got;
    expect(msg.data.toString()).toBe('hi');
    expect(k.fds.get(msg.fds[0]!)).toEqual({ kind: 'file', path: '/etc/hostname' });
    const eof = k.recvFds(b, 1, 1);
    k.close(a);
    expect(await eof).toEqual({ fds: [], data: Buffer.alloc(0) });
  });

  it('listens, connects and accepts on a unix path', async () => {
    const k = new FakeKernel();
    const l = k.listenUnix('/run/x.sock');
    expect(() => k.listenUnix('/run/x.sock')).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect(() => k.connectUnix('/run/y.sock')).toThrow(expect.objectContaining({ code: 'ENOENT', path: '/run/y.sock' }));
    const accepted = k.accept(l);
    const c = k.connectUnix('/run/x.sock');
    const s = await accepted;
    const got = k.recvFds(s, 1, 10);
    k.sendFds(c, [], Buffer.from('state'));
    expect((await got).data.toString()).toBe('state');
  });

  it('delivers seccomp notifications and records responses', () => {
    const k = new FakeKernel();
    const l = k.newListener();
    const got: bigint[] = [];
    let closed = false;
    k.seccompNotify.watch(l, (n) => got.push(n.id), () => (closed = true));
    k.notify(l, { id: 7n, syscall: 165 });
    expect(k.seccompNotify.idValid(l, 7n)).toBe(true);
    k.seccompNotify.respond(l, { id: 7n, error: 1 });
    expect(k.seccompNotify.idValid(l, 7n)).toBe(false);
    expect(() => k.seccompNotify.respond(l, { id: 7n })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    k.hangup(l);
    expect(got).toEqual([7n]);
    expect(closed).toBe(true);
    expect(k.seccompResponses).toEqual([{ id: 7n, error: 1 }]);
  });

  it('namespaceInfo from seeded data; mknod records nodes', () => {
    const k = new FakeKernel();
    k.namespaces.set('/proc/7/ns/net', { type: 'network', ino: 4026532001n, ownerIno: 4026531837n });
    expect(k.namespaceInfo('/proc/7/ns/net')).toEqual({ type: 'network', ino: 4026532001n, ownerIno: 4026531837n });
    expect(() => k.namespaceInfo('/proc/8/ns/net')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    k.mknod('/d/x', S_IFCHR | 0o660, 10, 666);
    expect(k.nodes.get('/d/x')).toEqual({ mode: S_IFCHR | 0o660, major: 10, minor: 666 });
    expect(() => k.mknod('/d/x', S_IFCHR | 0o660, 10, 666)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    k.fail('mknod', 'EPERM');
    expect(() => k.mknod('/d/y', S_IFIFO | 0o600, 0, 0)).toThrow(expect.objectContaining({ code: 'EPERM', path: '/d/y' }));
  });

  it('statx and process_vm_readv from seeded data', () => {
    const k = new FakeKernel();
    k.files.set('/f', { uid: 5 });
    expect(k.statx(AT_FDCWD, '/f', 0, 0).uid).toBe(5);
    expect(() => k.statx(AT_FDCWD, '/g', 0, 0)).toThrow(expect.objectContaining({ code: 'ENOENT', path: '/g' }));
    k.memory.set(9, new Map([[0x1000n, Buffer.from('abcdef')]]));
    expect(k.processVmReadv(9, 0x1002n, 2).toString()).toBe('cd');
    expect(() => k.processVmReadv(9, 0x9000n, 2)).toThrow(expect.objectContaining({ code: 'EFAULT' }));
  });
});
