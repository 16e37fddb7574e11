import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import type { Kernel, IdMapping, MountSetattrAttr, Statx, SeccompNotification, IdmappedBindOptions, BindCloneOptions, OverlayInUsernsOptions, NamespaceInfo, NamespaceType, ResolvedStat, VetTable, Vetter, VetterStats } from './kernel.js';
import { KernelError, escapeOverlayLayer } from './kernel.js';
import {
  AT_FDCWD,
  AT_RECURSIVE,
  AT_EMPTY_PATH,
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWTIME,
  CLONE_NEWUSER,
  CLONE_NEWUTS,
  MOUNT_ATTR_IDMAP,
  MOUNT_ATTR_RDONLY,
  MOVE_MOUNT_F_EMPTY_PATH,
  MS_PRIVATE,
  OPEN_TREE_CLONE,
  SECCOMP_USER_NOTIF_FLAG_CONTINUE,
  SOCK_STREAM,
} from './constants.js';

/** An addon vetting thread (csrc/vet-thread.cc). */
declare const vetterBrand: unique symbol;
type VetterHandle = { readonly [vetterBrand]: true };

/** The raw addon surface (csrc/addon.cc). Errors thrown by it carry errno/syscall/path. */
interface Addon {
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  umount(target: string, flags: number): void;
  openTree(dirfd: number, path: string, flags: number): number;
  moveMount(fromDirfd: number, fromPath: string, toDirfd: number, toPath: string, flags: number): void;
  mountSetattr(dirfd: number, path: string, atFlags: number, set: number, clr: number, prop: number, userns: number): void;
  fsopen(fsname: string, flags: number): number;
  fsconfig(fd: number, cmd: number, key: string | null, value: string | number | null, aux: number): void;
  fsmount(fd: number, flags: number, attrFlags: number): number;
  createUserns(uidMap: string, gidMap: string): number;
  overlayInUserns(usernsFd: number, lowerdir: string, upperdir: string | null, workdir: string | null, options: string[]): number;
  open(path: string, flags: number, mode: number): number;
  close(fd: number): void;
  socketpair(type: number): [number, number];
  pidfdOpen(pid: number, flags: number): number;
  pidfdGetfd(pidfd: number, targetFd: number): number;
  sendFds(sock: number, fds: number[], data: Buffer): void;
  recvFds(sock: number, maxFds: number, maxData: number): Promise<{ fds: number[]; data: Buffer }>;
  spawnWait(path: string, argv: string[], fds: number[]): Promise<number>;
  setChildSubreaper(): void;
  pidfdWait(pidfd: number): Promise<number>;
  accept(sock: number): Promise<number>;
  listenUnix(path: string, backlog: number): number;
  connectUnix(path: string): number;
  statx(dirfd: number, path: string, flags: number, mask: number): Statx;
  namespaceInfo(path: string): { nstype: number; ino: bigint; ownerIno: bigint };
  mknod(path: string, mode: number, major: number, minor: number): void;
  processVmReadv(pid: number, address: bigint, length: number): Buffer;
  seccompWatch(fd: number, onNotify: (n: SeccompNotification) => void, onClose: () => void, spinUs: number): { close(): void };
  seccompRespond(fd: number, id: bigint, error: number, val: bigint, flags: number): void;
  seccompAddFd(fd: number, id: bigint, srcFd: number, newFdFlags: number, setFd: number, send: number): number;
  resolveStat(dirfd: number, path: string, openFlags: number, resolve: number): Promise<ResolvedStat>;
  resolveStatCached(dirfd: number, path: string, openFlags: number, resolve: number): ResolvedStat;
  peerCred(sock: number): { pid: number; uid: number; gid: number };
  seccompIdValid(fd: number, id: bigint): boolean;
  vetterCreate(table: VetTable, onEvent: (listener: number, n: SeccompNotification | null) => void, o: { answer: boolean; timing: boolean }): VetterHandle;
  vetterWatch(h: VetterHandle, fd: number, lastIdFd: number): number;
  vetterUnwatch(h: VetterHandle, id: number): void;
  vetterSetDevs(h: VetterHandle, protectedDevs: number[]): void;
  vetterStats(h: VetterHandle): VetterStats;
  vetterClose(h: VetterHandle): void;
  fuseWatch(fd: number, buf: Uint8Array, onRequest: (length: number) => void, onClose: (errno: number) => void, spinUs: number): { close(): void };
  writeFd(fd: number, data: Buffer): number;
  shutdown(fd: number, how: number): void;
  mallocTrim(): boolean;
}

const NSTYPES = new Map<number, NamespaceType>([
  [CLONE_NEWPID, 'pid'],
  [CLONE_NEWNET, 'network'],
  [CLONE_NEWNS, 'mount'],
  [CLONE_NEWIPC, 'ipc'],
  [CLONE_NEWUTS, 'uts'],
  [CLONE_NEWUSER, 'user'],
  [CLONE_NEWCGROUP, 'cgroup'],
  [CLONE_NEWTIME, 'time'],
]);

const here = dirname(fileURLToPath(import.meta.url));

/** Where the addon is expected: <package>/build/Release/sysbox_native.node (from src/ or dist/). */
export function addonPath(): string {
  return join(here, '..', 'build', 'Release', 'sysbox_native.node');
}

let addon: Addon | undefined;

function loadAddon(): Addon {
  if (addon) return addon;
  const path = addonPath();
  if (!existsSync(path))
    throw new Error(`@sysbox/native: the addon is not built (no ${path}); run \`pnpm --filter @sysbox/native build\``);
  addon = createRequire(import.meta.url)(path) as Addon;
  return addon;
}

function toKernelError(e: unknown): unknown {
  if (e instanceof Error && typeof (e as { errno?: unknown }).errno === 'number') {
    const x = e as Error & { errno: number; syscall?: string; path?: string };
    return new KernelError(x.errno, x.syscall ?? 'unknown', x.path);
  }
  return e;
}

/** Runs an addon call, turning its errno errors into KernelError. */
function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toKernelError(e);
  }
}

function mapText(map: IdMapping[]): string {
  return map.map((m) => `${m.containerId} ${m.hostId} ${m.size}\n`).join('');
}

function checkMap(map: IdMapping[], what: string): void {
  if (map.length === 0 || map.length > 340) throw new RangeError(`${what}: 1..340 entries expected`);
  for (const m of map)
    for (const v of [m.containerId, m.hostId, m.size])
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${what}: bad entry ${JSON.stringify(m)}`);
}

class RealKernel implements Kernel {
  private readonly a: Addon;
  constructor(a: Addon) {
    this.a = a;
  }
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void {
    call(() => this.a.mount(source, target, fstype, flags, data ?? null));
  }
  umount(target: string, flags = 0): void {
    call(() => this.a.umount(target, flags));
  }
  openTree(dirfd: number, path: string, flags: number): number {
    return call(() => this.a.openTree(dirfd, path, flags));
  }
  moveMount(fromDirfd: number, fromPath: string, toDirfd: number, toPath: string, flags: number): void {
    call(() => this.a.moveMount(fromDirfd, fromPath, toDirfd, toPath, flags));
  }
  mountSetattr(dirfd: number, path: string, atFlags: number, attr: MountSetattrAttr): void {
    call(() =>
      this.a.mountSetattr(dirfd, path, atFlags, attr.attrSet ?? 0, attr.attrClr ?? 0, attr.propagation ?? 0, attr.usernsFd ?? -1),
    );
  }
  fsopen(fsname: string, flags: number): number {
    return call(() => this.a.fsopen(fsname, flags));
  }
  fsconfig(fd: number, cmd: number, key?: string | null, value?: string | number | null, aux = 0): void {
    call(() => this.a.fsconfig(fd, cmd, key ?? null, value ?? null, aux));
  }
  fsmount(fd: number, flags: number, attrFlags: number): number {
    return call(() => this.a.fsmount(fd, flags, attrFlags));
  }
  createUserns(uidMap: IdMapping[], gidMap: IdMapping[]): number {
    checkMap(uidMap, 'uidMap');
    checkMap(gidMap, 'gidMap');
    return call(() => this.a.createUserns(mapText(uidMap), mapText(gidMap)));
  }
  overlayInUserns(usernsFd: number, o: OverlayInUsernsOptions): number {
    if (o.lowerdirs.length === 0) throw new KernelError('EINVAL', 'overlayInUserns', 'no lower layer');
    if ((o.upperdir === undefined) !== (o.workdir === undefined)) throw new KernelError('EINVAL', 'overlayInUserns', 'upperdir and workdir go together');
    return call(() => this.a.overlayInUserns(usernsFd, o.lowerdirs.map(escapeOverlayLayer).join(':'), o.upperdir ?? null, o.workdir ?? null, o.options ?? []));
  }
  idmappedBind(source: string, target: string, opts: IdmappedBindOptions): void {
    this.bindClone(source, target, opts);
  }
  bindClone(source: string, target: string, opts: BindCloneOptions): void {
    const fd = this.openTree(AT_FDCWD, source, OPEN_TREE_CLONE | (opts.recursive ? AT_RECURSIVE : 0));
    try {
      const attrSet = (opts.usernsFd !== undefined ? MOUNT_ATTR_IDMAP : 0) | (opts.readonly ? MOUNT_ATTR_RDONLY : 0);
      this.mountSetattr(fd, '', AT_EMPTY_PATH | (opts.recursive ? AT_RECURSIVE : 0), {
        attrSet,
        ...(opts.usernsFd !== undefined ? { usernsFd: opts.usernsFd } : {}),
        propagation: opts.propagation ?? MS_PRIVATE,
      });
      this.moveMount(fd, '', AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
    } catch (e) {
      if (e instanceof KernelError && e.path === '') (e as { path?: string }).path = source;
      throw e;
    } finally {
      this.close(fd);
    }
  }
  pidfdOpen(pid: number, flags = 0): number {
    return call(() => this.a.pidfdOpen(pid, flags));
  }
  pidfdGetfd(pidfd: number, targetFd: number): number {
    return call(() => this.a.pidfdGetfd(pidfd, targetFd));
  }
  sendFds(sockFd: number, fds: number[], data: Buffer): void {
    call(() => this.a.sendFds(sockFd, fds, data));
  }
  async spawnWait(path: string, argv: string[], fds: number[]): Promise<number> {
    try {
      return await call(() => this.a.spawnWait(path, argv, fds));
    } catch (e) {
      throw toKernelError(e);
    }
  }
  setChildSubreaper(): void {
    call(() => this.a.setChildSubreaper());
  }
  async pidfdWait(pidfd: number): Promise<number> {
    try {
      return await call(() => this.a.pidfdWait(pidfd));
    } catch (e) {
      throw toKernelError(e);
    }
  }
  async recvFds(sockFd: number, maxFds: number, maxData: number): Promise<{ fds: number[]; data: Buffer }> {
    try {
      return await call(() => this.a.recvFds(sockFd, maxFds, maxData));
    } catch (e) {
      throw toKernelError(e);
    }
  }
  listenUnix(path: string, backlog = 128): number {
    return call(() => this.a.listenUnix(path, backlog));
  }
  async accept(listenFd: number): Promise<number> {
    try {
      return await call(() => this.a.accept(listenFd));
    } catch (e) {
      throw toKernelError(e);
    }
  }
  connectUnix(path: string): number {
    return call(() => this.a.connectUnix(path));
  }
  socketpair(type = SOCK_STREAM): [number, number] {
    return call(() => this.a.socketpair(type));
  }
  statx(dirfd: number, path: string, flags: number, mask: number): Statx {
    return call(() => this.a.statx(dirfd, path, flags, mask));
  }
  namespaceInfo(path: string): NamespaceInfo {
    const r = call(() => this.a.namespaceInfo(path));
    const type = NSTYPES.get(r.nstype);
    if (!type) throw new KernelError('EINVAL', 'ioctl(NS_GET_NSTYPE)', path);
    return { type, ino: r.ino, ownerIno: r.ownerIno < 0n ? null : r.ownerIno };
  }
  mknod(path: string, mode: number, major: number, minor: number): void {
    call(() => this.a.mknod(path, mode, major, minor));
  }
  processVmReadv(pid: number, address: bigint, length: number): Buffer {
    return call(() => this.a.processVmReadv(pid, address, length));
  }
  peerCred(sockFd: number): { pid: number; uid: number; gid: number } {
    return call(() => this.a.peerCred(sockFd));
  }
  resolveStatCached(dirfd: number, path: string, openFlags: number, resolve: number): ResolvedStat {
    return call(() => this.a.resolveStatCached(dirfd, path, openFlags, resolve));
  }
  async resolveStat(dirfd: number, path: string, openFlags: number, resolve: number): Promise<ResolvedStat> {
    try {
      return await call(() => this.a.resolveStat(dirfd, path, openFlags, resolve));
    } catch (e) {
      throw toKernelError(e);
    }
  }
  open(path: string, flags: number, mode = 0o666): number {
    return call(() => this.a.open(path, flags, mode));
  }
  close(fd: number): void {
    call(() => this.a.close(fd));
  }
  /**
   * Every watcher of a given buffer size reads into one shared buffer (callbacks run one at a time, on this
   * thread): no allocation per request, and 20 mounts cost one buffer, not 20. onRequest gets a view of it.
   */
  private readonly fuseBufs = new Map<number, Buffer>();
  fuseWatch(fd: number, bufSize: number, onRequest: (req: Buffer) => void, onClose: (errno: number) => void, spinUs = 0): { close(): void } {
    let buf = this.fuseBufs.get(bufSize);
    if (!buf) {
      if (!Number.isInteger(bufSize) || bufSize < 8192 || bufSize > 16 << 20) throw new TypeError('bufSize out of range');
      buf = Buffer.allocUnsafeSlow(bufSize); // its own ArrayBuffer: never a slice of Node's pool
      this.fuseBufs.set(bufSize, buf);
    }
    const shared = buf;
    return call(() => this.a.fuseWatch(fd, shared, (n) => onRequest(shared.subarray(0, n)), onClose, spinUs));
  }
  mallocTrim(): boolean {
    return this.a.mallocTrim();
  }
  shutdown(fd: number, how = 2): void {
    call(() => this.a.shutdown(fd, how));
  }
  write(fd: number, data: Buffer): number {
    return call(() => this.a.writeFd(fd, data));
  }
  readonly seccompNotify = {
    watch: (fd: number, onNotification: (n: SeccompNotification) => void, onClose: () => void, spinUs = 0) =>
      call(() => this.a.seccompWatch(fd, onNotification, onClose, spinUs)),
    respond: (fd: number, r: { id: bigint; error?: number; val?: bigint; continue?: boolean }) =>
      call(() =>
        this.a.seccompRespond(fd, r.id, -Math.abs(r.error ?? 0), r.val ?? 0n, r.continue ? SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0),
      ),
    addFd: (fd: number, r: { id: bigint; srcFd: number; newFdFlags?: number; setFd?: number; send?: boolean }) =>
      call(() => this.a.seccompAddFd(fd, r.id, r.srcFd, r.newFdFlags ?? 0, r.setFd ?? -1, r.send ? 1 : 0)),
    idValid: (fd: number, id: bigint) => call(() => this.a.seccompIdValid(fd, id)),
    vetter: (table: VetTable, o: { answer?: boolean; timing?: boolean } = {}): Vetter => {
      const a = this.a;
      const handlers = new Map<number, { onNotification: (n: SeccompNotification) => void; onClose: () => void }>();
      let closed = false;
      const h = call(() =>
        a.vetterCreate(
          table,
          (id, n) => {
            const x = handlers.get(id);
            if (!x) return;
            if (n === null) {
              handlers.delete(id);
              x.onClose();
            } else x.onNotification(n);
          },
          { answer: o.answer ?? true, timing: o.timing ?? false },
        ),
      );
      const devs = (list: Iterable<string>) => {
        const out: number[] = [];
        for (const d of list) {
          const [maj, min] = d.split(':').map(Number);
          if (Number.isInteger(maj) && Number.isInteger(min)) out.push(maj!, min!);
        }
        return out;
      };
      return {
        watch: (fd, onNotification, onClose, w = {}) => {
          if (closed) throw new KernelError('EBADF', 'vetterWatch');
          const id = call(() => a.vetterWatch(h, fd, w.lastIdFd ?? -1));
          handlers.set(id, { onNotification, onClose });
          return {
            close: () => {
              handlers.delete(id);
              if (!closed) a.vetterUnwatch(h, id);
            },
          };
        },
        setDevs: (p) => call(() => a.vetterSetDevs(h, devs(p))),
        stats: () => a.vetterStats(h),
        close: () => {
          if (closed) return;
          closed = true;
          handlers.clear();
          a.vetterClose(h);
        },
      };
    },
  };
}

let real: RealKernel | undefined;

/** The Kernel backed by the addon (loaded on first use; throws a clear error if it is not built). */
export function realKernel(): Kernel {
  real ??= new RealKernel(loadAddon());
  return real;
}
