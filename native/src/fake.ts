import type {
  Kernel,
  IdMapping,
  MountSetattrAttr,
  Statx,
  SeccompNotification,
  SeccompResponse,
  SeccompAddFd,
  IdmappedBindOptions,
  BindCloneOptions,
  OverlayInUsernsOptions,
  NamespaceInfo,
  Watcher,
  VetTable,
  Vetter,
} from './kernel.js';
import { KernelError } from './kernel.js';
import {
  AT_FDCWD,
  AT_RECURSIVE,
  FSCONFIG_CMD_CREATE,
  FSCONFIG_SET_FLAG,
  MNT_DETACH,
  MOUNT_ATTR_IDMAP,
  MOUNT_ATTR_RDONLY,
  MS_BIND,
  MS_MOVE,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  OPEN_TREE_CLONE,
} from './constants.js';

/** A mount in the fake's table. */
export interface FakeMount {
  id: number;
  source: string | null;
  target: string;
  fstype: string | null;
  flags: number;
  data: string | null;
  readonly: boolean;
  /** The maps of the user namespace an ID-mapped mount was given. */
  idmap?: { uidMap: IdMapping[]; gidMap: IdMapping[] };
  /** Which fs context options made it (fsopen/fsconfig/fsmount). */
  options?: Record<string, string | true>;
}

export type FakeFd =
  | { kind: 'file'; path: string }
  | { kind: 'tree'; mount: Omit<FakeMount, 'id' | 'target'> & { target?: string } }
  | { kind: 'fscontext'; fstype: string; options: Record<string, string | true>; created: boolean }
  | { kind: 'userns'; uidMap: IdMapping[]; gidMap: IdMapping[] }
  | { kind: 'pidfd'; pid: number }
  | { kind: 'socket'; peer: number; queue: { fds: number[]; data: Buffer }[]; closed: boolean }
  | { kind: 'unixListener'; path: string; backlog: number[] }
  | { kind: 'listener' };

export interface FakeCall {
  method: string;
  args: unknown[];
}

interface Failure {
  method: string;
  code: string;
  times: number;
  when?: (args: unknown[]) => boolean;
  path?: string;
}

/**
 * An in-memory Kernel for unit tests: a mount table, an fd table, a record of every call,
 * and failures on demand (`fake.fail('mountSetattr', 'EINVAL')`). It checks the arguments
 * a real kernel would reject in obvious ways (unknown fds, missing mounts) and nothing deeper.
 */
export class FakeKernel implements Kernel {
  readonly calls: FakeCall[] = [];
  readonly mounts: FakeMount[] = [];
  readonly fds = new Map<number, FakeFd>();
  /** statx results by path; statx on any other path fails with ENOENT. */
  readonly files = new Map<string, Partial<Statx>>();
  /** namespaceInfo answers by path; any other path fails with ENOENT. */
  readonly namespaces = new Map<string, NamespaceInfo>();
  /** nodes made by mknod, by path (mknod on a path already there fails with EEXIST). */
  readonly nodes = new Map<string, { mode: number; major: number; minor: number }>();
  /** process_vm_readv contents: pid → (address → bytes). */
  readonly memory = new Map<number, Map<bigint, Buffer>>();
  readonly seccompResponses: SeccompResponse[] = [];
  private readonly failures: Failure[] = [];
  private readonly watchers = new Map<number, { onNotification: (n: SeccompNotification) => void; onClose: () => void }>();
  private readonly pendingRecv = new Map<number, (m: { fds: number[]; data: Buffer }) => void>();
  private readonly pendingIds = new Set<bigint>();
  private readonly pendingAccept = new Map<number, (fd: number) => void>();
  private nextFd = 100;
  private nextMountId = 1000;

  /** Make the next `times` calls of `method` (optionally only those matching `when`) fail with errno `code`. */
  fail(method: string, code: string, opts: { times?: number; when?: (args: unknown[]) => boolean; path?: string } = {}): this {
    this.failures.push({ method, code, times: opts.times ?? 1, when: opts.when, path: opts.path });
    return this;
  }

  /** Calls of one method. */
  callsOf(method: string): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  /** Mounts whose target is `target` (top of the stack last). */
  mountsAt(target: string): FakeMount[] {
    return this.mounts.filter((m) => m.target === target);
  }

  /** Opens a fake seccomp listener fd (as if received from the engine). */
  newListener(): number {
    return this.alloc({ kind: 'listener' });
  }

  /** Delivers a notification to the watcher of a listener fd. */
  notify(listenerFd: number, n: Partial<SeccompNotification> & { id: bigint }): void {
    const w = this.watchers.get(listenerFd);
    if (!w) throw new Error(`FakeKernel: nobody watches fd ${listenerFd}`);
    this.pendingIds.add(n.id);
    w.onNotification({ pid: 1, syscall: 165, arch: 0xc000003e, instructionPointer: 0n, args: [0n, 0n, 0n, 0n, 0n, 0n], ...n });
  }

  /** Simulates every filtered process exiting (POLLHUP). */
  hangup(listenerFd: number): void {
    const w = this.watchers.get(listenerFd);
    this.watchers.delete(listenerFd);
    w?.onClose();
  }

  private record(method: string, args: unknown[]): void {
    this.calls.push({ method, args });
    const i = this.failures.findIndex((f) => f.method === method && (!f.when || f.when(args)));
    if (i < 0) return;
    const f = this.failures[i]!;
    if (--f.times <= 0) this.failures.splice(i, 1);
    const path = f.path ?? args.find((a): a is string => typeof a === 'string' && a.startsWith('/'));
    throw new KernelError(f.code, method, path);
  }

  private alloc(fd: FakeFd): number {
    const n = this.nextFd++;
    this.fds.set(n, fd);
    return n;
  }

  private fd<K extends FakeFd['kind']>(n: number, kind: K, syscall: string): Extract<FakeFd, { kind: K }> {
    const f = this.fds.get(n);
    if (!f) throw new KernelError('EBADF', syscall);
    if (f.kind !== kind) throw new KernelError('EINVAL', syscall);
    return f as Extract<FakeFd, { kind: K }>;
  }

  private top(target: string): FakeMount | undefined {
    const at = this.mountsAt(target);
    return at[at.length - 1];
  }

  private add(m: Omit<FakeMount, 'id'>): void {
    this.mounts.push({ id: this.nextMountId++, ...m });
  }

  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void {
    this.record('mount', [source, target, fstype, flags, data ?? null]);
    if (flags & MS_REMOUNT) {
      const m = this.top(target);
      if (!m) throw new KernelError('EINVAL', 'mount', target);
      m.flags = flags & ~MS_REMOUNT;
      m.readonly = (flags & MS_RDONLY) !== 0;
      return;
    }
    if (flags & MS_MOVE) {
      const m = source === null ? undefined : this.top(source);
      if (!m) throw new KernelError('EINVAL', 'mount', source ?? target);
      m.target = target;
      return;
    }
    if (flags & MS_BIND) {
      const src = source === null ? undefined : this.top(source);
      this.add({
        source,
        target,
        fstype: src?.fstype ?? null,
        flags,
        data: data ?? null,
        readonly: (flags & MS_RDONLY) !== 0,
        ...(src?.idmap ? { idmap: src.idmap } : {}),
      });
      if (flags & MS_REC && source !== null)
        for (const sub of this.mounts.filter((x) => x.target.startsWith(source + '/')))
          this.add({ ...sub, target: target + sub.target.slice(source.length) });
      return;
    }
    this.add({ source, target, fstype, flags, data: data ?? null, readonly: (flags & MS_RDONLY) !== 0 });
  }

  umount(target: string, flags = 0): void {
    this.record('umount', [target, flags]);
    const m = this.top(target);
    if (!m) throw new KernelError('EINVAL', 'umount2', target);
    const subs = this.mounts.filter((x) => x.target.startsWith(target.replace(/\/$/, '') + '/'));
    if (subs.length > 0 && !(flags & MNT_DETACH)) throw new KernelError('EBUSY', 'umount2', target);
    for (const x of [m, ...subs]) this.mounts.splice(this.mounts.indexOf(x), 1);
  }

  openTree(dirfd: number, path: string, flags: number): number {
    this.record('openTree', [dirfd, path, flags]);
    if (dirfd !== AT_FDCWD) this.fd(dirfd, 'tree', 'open_tree');
    if (!(flags & OPEN_TREE_CLONE)) return this.alloc({ kind: 'file', path });
    const m = this.top(path);
    return this.alloc({
      kind: 'tree',
      mount: { source: path, fstype: m?.fstype ?? null, flags: 0, data: null, readonly: m?.readonly ?? false, ...(m?.idmap ? { idmap: m.idmap } : {}) },
    });
  }

  moveMount(fromDirfd: number, fromPath: string, toDirfd: number, toPath: string, flags: number): void {
    this.record('moveMount', [fromDirfd, fromPath, toDirfd, toPath, flags]);
    if (toDirfd !== AT_FDCWD) throw new KernelError('EINVAL', 'move_mount', toPath);
    if (fromDirfd === AT_FDCWD) {
      const m = this.top(fromPath);
      if (!m) throw new KernelError('EINVAL', 'move_mount', fromPath);
      m.target = toPath;
      return;
    }
    const t = this.fd(fromDirfd, 'tree', 'move_mount');
    if (t.mount.target !== undefined) throw new KernelError('EINVAL', 'move_mount', toPath);
    t.mount.target = toPath;
    const { target: _t, ...rest } = t.mount;
    this.add({ ...rest, target: toPath });
  }

  mountSetattr(dirfd: number, path: string, atFlags: number, attr: MountSetattrAttr): void {
    this.record('mountSetattr', [dirfd, path, atFlags, attr]);
    const set = attr.attrSet ?? 0;
    const clr = attr.attrClr ?? 0;
    let m: { readonly: boolean; idmap?: FakeMount['idmap']; fstype: string | null };
    if (dirfd === AT_FDCWD) {
      const top = this.top(path);
      if (!top) throw new KernelError('EINVAL', 'mount_setattr', path);
      m = top;
    } else {
      m = this.fd(dirfd, 'tree', 'mount_setattr').mount;
    }
    if (set & MOUNT_ATTR_IDMAP) {
      if (m.fstype === 'overlay') throw new KernelError('EINVAL', 'mount_setattr', path);
      if (m.idmap) throw new KernelError('EPERM', 'mount_setattr', path);
      const u = this.fd(attr.usernsFd ?? -1, 'userns', 'mount_setattr');
      m.idmap = { uidMap: u.uidMap, gidMap: u.gidMap };
    }
    if (set & MOUNT_ATTR_RDONLY) m.readonly = true;
    if (clr & MOUNT_ATTR_RDONLY) m.readonly = false;
    void AT_RECURSIVE;
  }

  fsopen(fsname: string, flags: number): number {
    this.record('fsopen', [fsname, flags]);
    return this.alloc({ kind: 'fscontext', fstype: fsname, options: {}, created: false });
  }

  fsconfig(fd: number, cmd: number, key?: string | null, value?: string | number | null, aux = 0): void {
    this.record('fsconfig', [fd, cmd, key ?? null, value ?? null, aux]);
    const c = this.fd(fd, 'fscontext', 'fsconfig');
    if (cmd === FSCONFIG_CMD_CREATE) c.created = true;
    else if (key) c.options[key] = cmd === FSCONFIG_SET_FLAG ? true : String(value ?? aux);
  }

  fsmount(fd: number, flags: number, attrFlags: number): number {
    this.record('fsmount', [fd, flags, attrFlags]);
    const c = this.fd(fd, 'fscontext', 'fsmount');
    if (!c.created) throw new KernelError('EINVAL', 'fsmount');
    return this.alloc({
      kind: 'tree',
      mount: {
        source: typeof c.options.source === 'string' ? c.options.source : c.fstype,
        fstype: c.fstype,
        flags: 0,
        data: null,
        readonly: (attrFlags & MOUNT_ATTR_RDONLY) !== 0,
        options: { ...c.options },
      },
    });
  }

  createUserns(uidMap: IdMapping[], gidMap: IdMapping[]): number {
    this.record('createUserns', [uidMap, gidMap]);
    return this.alloc({ kind: 'userns', uidMap: [...uidMap], gidMap: [...gidMap] });
  }

  overlayInUserns(usernsFd: number, o: OverlayInUsernsOptions): number {
    this.record('overlayInUserns', [usernsFd, o]);
    this.fd(usernsFd, 'userns', 'setns');
    if (o.lowerdirs.length === 0 || (o.upperdir === undefined) !== (o.workdir === undefined)) throw new KernelError('EINVAL', 'overlayInUserns');
    const options: Record<string, string | true> = { source: 'overlay', userxattr: true, lowerdir: o.lowerdirs.join(':') };
    if (o.upperdir !== undefined && o.workdir !== undefined) Object.assign(options, { upperdir: o.upperdir, workdir: o.workdir });
    for (const kv of o.options ?? []) {
      const eq = kv.indexOf('=');
      options[eq < 0 ? kv : kv.slice(0, eq)] = eq < 0 ? true : kv.slice(eq + 1);
    }
    return this.alloc({ kind: 'tree', mount: { source: 'overlay', fstype: 'overlay', flags: 0, data: null, readonly: false, options } });
  }

  idmappedBind(source: string, target: string, opts: IdmappedBindOptions): void {
    this.record('idmappedBind', [source, target, opts]);
    this.cloneOnto(source, target, opts);
  }

  bindClone(source: string, target: string, opts: BindCloneOptions): void {
    this.record('bindClone', [source, target, opts]);
    this.cloneOnto(source, target, opts);
  }

  private cloneOnto(source: string, target: string, opts: BindCloneOptions): void {
    const fd = this.openTree(AT_FDCWD, source, OPEN_TREE_CLONE | (opts.recursive ? AT_RECURSIVE : 0));
    try {
      const idmap = opts.usernsFd !== undefined;
      this.mountSetattr(fd, '', 0, { attrSet: (idmap ? MOUNT_ATTR_IDMAP : 0) | (opts.readonly ? MOUNT_ATTR_RDONLY : 0), ...(idmap ? { usernsFd: opts.usernsFd } : {}) });
      this.moveMount(fd, '', AT_FDCWD, target, 0);
    } finally {
      this.close(fd);
    }
  }

  pidfdOpen(pid: number, flags = 0): number {
    this.record('pidfdOpen', [pid, flags]);
    if (pid <= 0) throw new KernelError('EINVAL', 'pidfd_open');
    return this.alloc({ kind: 'pidfd', pid });
  }

  pidfdGetfd(pidfd: number, targetFd: number): number {
    this.record('pidfdGetfd', [pidfd, targetFd]);
    const p = this.fd(pidfd, 'pidfd', 'pidfd_getfd');
    return this.alloc({ kind: 'file', path: `/proc/${p.pid}/fd/${targetFd}` });
  }

  socketpair(type = 1): [number, number] {
    this.record('socketpair', [type]);
    const a = this.nextFd;
    const b = a + 1;
    this.alloc({ kind: 'socket', peer: b, queue: [], closed: false });
    this.alloc({ kind: 'socket', peer: a, queue: [], closed: false });
    return [a, b];
  }

  listenUnix(path: string, backlog = 128): number {
    this.record('listenUnix', [path, backlog]);
    for (const f of this.fds.values()) if (f.kind === 'unixListener' && f.path === path) throw new KernelError('EADDRINUSE', 'bind', path);
    return this.alloc({ kind: 'unixListener', path, backlog: [] });
  }

  accept(listenFd: number): Promise<number> {
    try {
      this.record('accept', [listenFd]);
      const l = this.fd(listenFd, 'unixListener', 'accept4');
      const fd = l.backlog.shift();
      if (fd !== undefined) return Promise.resolve(fd);
      return new Promise((resolve) => this.pendingAccept.set(listenFd, resolve));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  connectUnix(path: string): number {
    this.record('connectUnix', [path]);
    const entry = [...this.fds.entries()].find(([, f]) => f.kind === 'unixListener' && f.path === path);
    if (!entry) throw new KernelError('ENOENT', 'connect', path);
    const [listenFd, l] = entry as [number, Extract<FakeFd, { kind: 'unixListener' }>];
    const client = this.nextFd;
    const server = client + 1;
    this.alloc({ kind: 'socket', peer: server, queue: [], closed: false });
    this.alloc({ kind: 'socket', peer: client, queue: [], closed: false });
    const waiter = this.pendingAccept.get(listenFd);
    if (waiter) {
      this.pendingAccept.delete(listenFd);
      waiter(server);
    } else l.backlog.push(server);
    return client;
  }

  sendFds(sockFd: number, fds: number[], data: Buffer): void {
    this.record('sendFds', [sockFd, fds, data]);
    const s = this.fd(sockFd, 'socket', 'sendmsg');
    const peer = this.fds.get(s.peer);
    if (!peer || peer.kind !== 'socket' || peer.closed) throw new KernelError('EPIPE', 'sendmsg');
    const copies = fds.map((f) => {
      const orig = this.fds.get(f);
      if (!orig) throw new KernelError('EBADF', 'sendmsg');
      return orig;
    });
    const msg = { fds: copies.map((o) => this.alloc(o)), data: Buffer.from(data.length > 0 ? data : Buffer.alloc(1)) };
    const waiter = this.pendingRecv.get(s.peer);
    if (waiter) {
      this.pendingRecv.delete(s.peer);
      waiter(msg);
    } else peer.queue.push(msg);
  }

  /** Records the call; every spawned program "exits" with spawnExitStatus (default 0). */
  spawnExitStatus = 0;
  spawnWait(path: string, argv: string[], fds: number[]): Promise<number> {
    this.record('spawnWait', [path, argv, fds]);
    return Promise.resolve(this.spawnExitStatus);
  }
  setChildSubreaper(): void {
    this.record('setChildSubreaper', []);
  }
  /** Records the call and consumes the pidfd; the child "exits" with spawnExitStatus. */
  pidfdWait(pidfd: number): Promise<number> {
    try {
      this.record('pidfdWait', [pidfd]);
      this.fd(pidfd, 'pidfd', 'waitid');
      this.fds.delete(pidfd);
      return Promise.resolve(this.spawnExitStatus);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  recvFds(sockFd: number, maxFds: number, maxData: number): Promise<{ fds: number[]; data: Buffer }> {
    try {
      this.record('recvFds', [sockFd, maxFds, maxData]);
      const s = this.fd(sockFd, 'socket', 'recvmsg');
      const msg = s.queue.shift();
      if (msg) return Promise.resolve({ fds: msg.fds, data: msg.data.subarray(0, maxData) });
      const peer = this.fds.get(s.peer);
      if (!peer || s.closed) return Promise.resolve({ fds: [], data: Buffer.alloc(0) });
      return new Promise((resolve) => this.pendingRecv.set(sockFd, (m) => resolve({ fds: m.fds, data: m.data.subarray(0, maxData) })));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  statx(dirfd: number, path: string, flags: number, mask: number): Statx {
    this.record('statx', [dirfd, path, flags, mask]);
    const f = this.files.get(path);
    if (!f) throw new KernelError('ENOENT', 'statx', path);
    const ts = { sec: 0, nsec: 0 };
    return {
      mask, mode: 0o100644, uid: 0, gid: 0, nlink: 1, ino: 1n, size: 0n, devMajor: 0, devMinor: 0, rdevMajor: 0, rdevMinor: 0,
      mntId: 0n, atime: ts, btime: ts, ctime: ts, mtime: ts, ...f,
    };
  }

  /** resolveStat answers by path (the path as given); any other path fails with ENOENT. */
  readonly resolved = new Map<string, { mntId: bigint; devMajor: number; devMinor: number; mode?: number; attributes?: bigint }>();

  /** peerCred answers: by socket fd; default root (uid 0) */
  readonly peers = new Map<number, { pid: number; uid: number; gid: number }>();
  peerCred(sockFd: number): { pid: number; uid: number; gid: number } {
    this.record('peerCred', [sockFd]);
    this.fd(sockFd, 'socket', 'getsockopt');
    return this.peers.get(sockFd) ?? { pid: 1, uid: 0, gid: 0 };
  }

  /** resolveStatCached: like resolveStat; paths listed in `uncached` fail with EAGAIN (as RESOLVE_CACHED does). */
  readonly uncached = new Set<string>();
  resolveStatCached(dirfd: number, path: string, openFlags: number, resolve: number): import('./kernel.js').ResolvedStat {
    this.record('resolveStatCached', [dirfd, path, openFlags, resolve]);
    if (this.uncached.has(path)) throw new KernelError('EAGAIN', 'openat2', path);
    const r = this.resolved.get(path);
    if (!r) throw new KernelError('ENOENT', 'openat2', path);
    return { mode: 0o40755, attributes: 0n, ...r };
  }

  async resolveStat(dirfd: number, path: string, openFlags: number, resolve: number): Promise<import('./kernel.js').ResolvedStat> {
    this.record('resolveStat', [dirfd, path, openFlags, resolve]);
    const r = this.resolved.get(path);
    if (!r) throw new KernelError('ENOENT', 'openat2', path);
    return { mode: 0o40755, attributes: 0n, ...r };
  }

  namespaceInfo(path: string): NamespaceInfo {
    this.record('namespaceInfo', [path]);
    const n = this.namespaces.get(path);
    if (!n) throw new KernelError('ENOENT', 'open', path);
    return { ...n };
  }

  mknod(path: string, mode: number, major: number, minor: number): void {
    this.record('mknod', [path, mode, major, minor]);
    if (this.nodes.has(path)) throw new KernelError('EEXIST', 'mknod', path);
    this.nodes.set(path, { mode, major, minor });
  }

  processVmReadv(pid: number, address: bigint, length: number): Buffer {
    this.record('processVmReadv', [pid, address, length]);
    const mem = this.memory.get(pid);
    if (!mem) throw new KernelError('ESRCH', 'process_vm_readv');
    for (const [base, bytes] of mem) {
      const off = address - base;
      if (off >= 0n && off < BigInt(bytes.length)) return Buffer.from(bytes.subarray(Number(off), Number(off) + length));
    }
    throw new KernelError('EFAULT', 'process_vm_readv');
  }

  open(path: string, flags: number, mode = 0): number {
    this.record('open', [path, flags, mode]);
    return this.alloc({ kind: 'file', path });
  }

  close(fd: number): void {
    this.record('close', [fd]);
    const f = this.fds.get(fd);
    if (!f) throw new KernelError('EBADF', 'close');
    if (f.kind === 'socket') {
      f.closed = true;
      const waiter = this.pendingRecv.get(f.peer);
      if (waiter) {
        this.pendingRecv.delete(f.peer);
        waiter({ fds: [], data: Buffer.alloc(0) });
      }
    }
    this.fds.delete(fd);
  }

  /** fuseWatch callbacks by fd: tests feed requests with fuseRequests.get(fd)?.onRequest(buf). */
  readonly fuseRequests = new Map<number, { onRequest: (req: Buffer) => void; onClose: (errno: number) => void }>();
  /** Everything write() was given, by fd. */
  readonly written = new Map<number, Buffer[]>();

  fuseWatch(fd: number, bufSize: number, onRequest: (req: Buffer) => void, onClose: (errno: number) => void, spinUs = 0): Watcher {
    this.record('fuseWatch', [fd, bufSize, spinUs]);
    this.fd(fd, 'file', 'uv_poll_init');
    this.fuseRequests.set(fd, { onRequest, onClose });
    return { close: () => void this.fuseRequests.delete(fd) };
  }

  mallocTrim(): boolean {
    this.record('mallocTrim', []);
    return false;
  }

  shutdown(fd: number, how = 2): void {
    this.record('shutdown', [fd, how]);
    const s = this.fd(fd, 'socket', 'shutdown');
    const peer = this.fds.get(s.peer);
    s.closed = true;
    if (peer?.kind === 'socket') peer.closed = true;
    // both ends' pending receives see the end
    for (const end of [fd, s.peer]) {
      const waiter = this.pendingRecv.get(end);
      if (waiter) {
        this.pendingRecv.delete(end);
        waiter({ fds: [], data: Buffer.alloc(0) });
      }
    }
  }

  write(fd: number, data: Buffer): number {
    this.record('write', [fd, data.length]);
    this.fd(fd, 'file', 'write');
    const list = this.written.get(fd) ?? [];
    list.push(Buffer.from(data));
    this.written.set(fd, list);
    return data.length;
  }

  readonly seccompNotify = {
    watch: (listenerFd: number, onNotification: (n: SeccompNotification) => void, onClose: () => void): Watcher => {
      this.record('seccompNotify.watch', [listenerFd]);
      this.fd(listenerFd, 'listener', 'uv_poll_init');
      this.watchers.set(listenerFd, { onNotification, onClose });
      return { close: () => void this.watchers.delete(listenerFd) };
    },
    respond: (listenerFd: number, response: SeccompResponse): void => {
      this.record('seccompNotify.respond', [listenerFd, response]);
      this.fd(listenerFd, 'listener', 'ioctl(SECCOMP_IOCTL_NOTIF_SEND)');
      if (!this.pendingIds.delete(response.id)) throw new KernelError('ENOENT', 'ioctl(SECCOMP_IOCTL_NOTIF_SEND)');
      this.seccompResponses.push(response);
    },
    addFd: (listenerFd: number, req: SeccompAddFd): number => {
      this.record('seccompNotify.addFd', [listenerFd, req]);
      this.fd(listenerFd, 'listener', 'ioctl(SECCOMP_IOCTL_NOTIF_ADDFD)');
      if (!this.pendingIds.has(req.id)) throw new KernelError('ENOENT', 'ioctl(SECCOMP_IOCTL_NOTIF_ADDFD)');
      const got = req.setFd ?? 3;
      // SEND answers the notification with the fd's number
      if (req.send) {
        this.pendingIds.delete(req.id);
        this.seccompResponses.push({ id: req.id, val: BigInt(got) });
      }
      return got;
    },
    idValid: (listenerFd: number, id: bigint): boolean => {
      this.record('seccompNotify.idValid', [listenerFd, id]);
      this.fd(listenerFd, 'listener', 'ioctl(SECCOMP_IOCTL_NOTIF_ID_VALID)');
      return this.pendingIds.has(id);
    },
    /** A vetting thread that answers nothing itself: every notification reaches JS (as from watch), devs are kept in `vetterDevs`. */
    vetter: (table: VetTable, o: { answer?: boolean; timing?: boolean } = {}): Vetter => {
      this.record('seccompNotify.vetter', [table.rules.length, o]);
      const names = Math.max(0, ...table.rules.map((r) => r.index + 1));
      return {
        watch: (listenerFd, onNotification, onClose) => this.seccompNotify.watch(listenerFd, onNotification, onClose),
        setDevs: (p) => {
          this.vetterDevs = [...p];
        },
        stats: () => ({ received: 0, handed: 0, continued: new Array<number>(names).fill(0), stale: 0, lost: 0 }),
        close: () => this.record('seccompNotify.vetter.close', []),
      };
    },
  };

  /** The protected devs the newest vetter was given (setDevs). */
  vetterDevs: string[] | undefined;
}
