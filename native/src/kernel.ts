import { constants as osConstants } from 'node:os';

/** One line of a uid_map/gid_map: `containerId hostId size`. */
export interface IdMapping {
  containerId: number;
  hostId: number;
  size: number;
}

export interface StatxTimestamp {
  sec: number;
  nsec: number;
}

/** A namespace type in the OCI spec's words. */
export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface NamespaceInfo {
  type: NamespaceType;
  ino: bigint;
  /** inode of the owning user namespace; null: out of reach (the initial user namespace) */
  ownerIno: bigint | null;
}

export interface Statx {
  mask: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: bigint;
  size: bigint;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  /** Mount id (as in /proc/self/mountinfo); 0n unless STATX_MNT_ID was asked for. */
  mntId: bigint;
  /** STATX_ATTR_* bits (e.g. STATX_ATTR_MOUNT_ROOT 0x2000: the path is the root of a mount). */
  attributes?: bigint;
  atime: StatxTimestamp;
  btime: StatxTimestamp;
  ctime: StatxTimestamp;
  mtime: StatxTimestamp;
}

export interface MountSetattrAttr {
  attrSet?: number;
  attrClr?: number;
  propagation?: number;
  /** With MOUNT_ATTR_IDMAP in attrSet: the user namespace whose maps the mount takes. */
  usernsFd?: number;
}

export interface SeccompNotification {
  id: bigint;
  pid: number;
  /** System call number (architecture-specific). */
  syscall: number;
  /** AUDIT_ARCH_* of the caller. */
  arch: number;
  instructionPointer: bigint;
  /** The six raw arguments. */
  args: bigint[];
  /**
   * From a vetting thread (SeccompNotify.vetter): the caller's memory at each pointer argument of a known call,
   * copied once when the notification arrived — [address, address + 4096) or up to the first unreadable page (empty:
   * nothing readable there).
   */
  memory?: Array<{ address: bigint; bytes: Buffer }>;
  /** From a vetting thread: where it resolved the call's target (a rule of its table asked for it). */
  lookup?: VetLookup;
}

/** A target resolved by a vetting thread as the caller would: openat2(RESOLVE_IN_ROOT) from /proc/<tid>/root. */
export interface VetLookup {
  /** the path as read from the caller's memory (latin1) */
  path: string;
  /** its last symlink followed */
  follow: boolean;
  /** the lookup failed with this errno (the fields below are then absent) */
  errno?: number;
  mntId?: bigint;
  devMajor?: number;
  devMinor?: number;
  /** the path is the root of its mount */
  mountRoot?: boolean;
  /** statfs f_type of its file system (asked only where a rule needs it) */
  fsType?: number;
}

/** A call a vetting thread knows: its pointer arguments are copied for JS. */
export interface VetTableCall {
  /** AUDIT_ARCH_* */
  arch: number;
  nr: number;
  /** indexes of its pointer arguments */
  pointers: readonly number[];
  /** pointers are the arguments' low 32 bits (i386) */
  long32: boolean;
}

/**
 * A rule a vetting thread answers CONTINUE for by itself when every condition holds (else JS decides):
 * the call; `flagsClear` bits of argument `flagsArg` (low 32 bits; -1: no flags argument) all clear; each of
 * `strings` a readable, NUL-terminated string of at most PATH_MAX bytes (not NULL) and not one of its `not`; argument
 * `readable` NULL or readable (-1: none); argument `target` (one of `strings`) an absolute path outside /proc that
 * resolves in the caller's root (its last symlink followed unless a `noFollow` flag bit is set), the root of a mount
 * if `mountRoot`, on a file system that is not one of the protected ones (Vetter.setDevs) and, unless a
 * `fsTypesUnless` flag bit is set, whose statfs type is none of `fsTypesNot`. The rules themselves are written in
 * @sysbox/syscall-vetting.
 */
export interface VetTableRule {
  /** the rule's index in the caller's list of names: where stats().continued counts it */
  index: number;
  arch: number;
  nr: number;
  flagsArg: number;
  flagsClear: number;
  strings: ReadonlyArray<{ arg: number; not?: readonly string[] }>;
  readable: number;
  target: number;
  noFollow: number;
  mountRoot: boolean;
  fsTypesNot: readonly number[];
  fsTypesUnless: number;
}

export interface VetTable {
  calls: readonly VetTableCall[];
  rules: readonly VetTableRule[];
}

export interface VetterStats {
  /** notifications received */
  received: number;
  /** given to JS */
  handed: number;
  /** answered CONTINUE by the thread, per rule index */
  continued: number[];
  /** the caller was gone before the answer */
  stale: number;
  /** received while JS was going away: left for the next sysbox-fs */
  lost: number;
  /** with `timing`: ns spent per stage (summed), and how many notifications the thread answered */
  ns?: { recv: number; copy: number; lookup: number; decide: number; valid: number; reply: number; hand: number; answered: number };
}

/**
 * A vetting thread (one per container): receives the notifications of the listener fds it watches, answers what its
 * table's rules match, and gives JS the rest (with their memory copied and the target's lookup).
 */
export interface Vetter {
  /** lastIdFd: a file (on /run) the thread keeps the newest notification id in (for a successor after a crash). */
  watch(listenerFd: number, onNotification: (n: SeccompNotification) => void, onClose: () => void, o?: { lastIdFd?: number }): Watcher;
  /** The file systems ("major:minor") of the container's protected mounts; arms the thread's rules (until then JS decides everything). */
  setDevs(protectedDevs: Iterable<string>): void;
  stats(): VetterStats;
  /** Stops the thread (its copies of the listener fds are closed; the caller's stay open). */
  close(): void;
}

export interface SeccompResponse {
  id: bigint;
  /** errno to fail the call with, e.g. 1 (EPERM); the sign is ignored. 0 or absent: success with `val`. */
  error?: number;
  /** Return value when error is 0. */
  val?: bigint;
  /** Let the kernel run the call as if it were not intercepted (SECCOMP_USER_NOTIF_FLAG_CONTINUE). */
  continue?: boolean;
}

export interface SeccompAddFd {
  id: bigint;
  /** fd in this process to install in the target. */
  srcFd: number;
  /** e.g. O_CLOEXEC. */
  newFdFlags?: number;
  /** Install at exactly this fd number (SECCOMP_ADDFD_FLAG_SETFD). */
  setFd?: number;
  /**
   * SECCOMP_ADDFD_FLAG_SEND: install the fd and answer the notification with its number in one step (the caller's
   * syscall returns it); no respond() afterwards.
   */
  send?: boolean;
}

/** Where a path resolved to (resolveStat). */
export interface ResolvedStat {
  mntId: bigint;
  devMajor: number;
  devMinor: number;
  mode: number;
  /** STATX_ATTR_* (STATX_ATTR_MOUNT_ROOT 0x2000) */
  attributes: bigint;
}

export interface Watcher {
  /** Stop watching (onClose is not called). Idempotent. Does not close the listener fd. */
  close(): void;
}

export interface SeccompNotify {
  /**
   * Watch a listener fd on the event loop: onNotification for each notification (the struct is
   * received when the fd is readable), onClose once when every filtered process is gone (POLLHUP). spinUs (0..1000,
   * default 0): after a notification, keep looking for the next one for up to this long before sleeping in the
   * loop's poll again (a caller's next trapped call often follows within microseconds).
   */
  watch(listenerFd: number, onNotification: (n: SeccompNotification) => void, onClose: () => void, spinUs?: number): Watcher;
  /** Answers a notification. ENOENT: the caller died (or was answered); EINPROGRESS: answered, caller not yet woken. */
  respond(listenerFd: number, response: SeccompResponse): void;
  /** Installs srcFd in the target process; returns the fd number it got there. */
  addFd(listenerFd: number, req: SeccompAddFd): number;
  /** Whether the notification is still pending (the caller did not die / was not answered). */
  idValid(listenerFd: number, id: bigint): boolean;
  /**
   * A vetting thread for `table` (see Vetter). answer false: it answers nothing (every notification goes to JS);
   * timing: it sums the time of its stages (stats().ns).
   */
  vetter(table: VetTable, o?: { answer?: boolean; timing?: boolean }): Vetter;
}

export interface BindCloneOptions {
  /** ID-map the clone with this user namespace's maps (MOUNT_ATTR_IDMAP); absent: a plain clone */
  usernsFd?: number;
  recursive?: boolean;
  readonly?: boolean;
  /**
   * Propagation of the new mount: MS_PRIVATE (default; a clone of a mount in a shared peer group,
   * such as Docker's /var/lib/docker, would otherwise join that group), MS_SLAVE, MS_SHARED, or 0 to keep it.
   */
  propagation?: number;
}

export interface IdmappedBindOptions extends BindCloneOptions {
  usernsFd: number;
}

/** A layer's path in an overlay's lowerdir list (or its classic option string): `:`, `,` and `\` escaped. */
export function escapeOverlayLayer(p: string): string {
  return p.replace(/([\\:,])/g, '\\$1');
}

export interface OverlayInUsernsOptions {
  lowerdirs: string[];
  /** with workdir, or neither */
  upperdir?: string;
  workdir?: string;
  options?: string[];
}

/**
 * Every kernel call sysbox-ts makes, and the only way other packages reach the kernel.
 * Implementations: realKernel() (the addon) and FakeKernel (in memory, for unit tests).
 * Every method throws KernelError on failure; none blocks the event loop for long.
 * fds returned are O_CLOEXEC; the caller owns them and closes them with close().
 */
export interface Kernel {
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void;
  umount(target: string, flags?: number): void;
  /** open_tree(2); O_CLOEXEC is always added. */
  openTree(dirfd: number, path: string, flags: number): number;
  moveMount(fromDirfd: number, fromPath: string, toDirfd: number, toPath: string, flags: number): void;
  mountSetattr(dirfd: number, path: string, atFlags: number, attr: MountSetattrAttr): void;
  fsopen(fsname: string, flags: number): number;
  /** value: a string (SET_STRING/SET_PATH), a number (an fd, for SET_FD), or null. */
  fsconfig(fd: number, cmd: number, key?: string | null, value?: string | number | null, aux?: number): void;
  fsmount(fd: number, flags: number, attrFlags: number): number;
  /** fd of a new user namespace with these maps (made by a short-lived forked child). */
  createUserns(uidMap: IdMapping[], gidMap: IdMapping[]): number;
  /**
   * An overlay made by the root of the user namespace `usernsFd` (option userxattr; the overlay's creator credentials
   * are that root's), as a detached mount fd: place it with moveMount(fd, '', AT_FDCWD, target,
   * MOVE_MOUNT_F_EMPTY_PATH) and close it. Layers should be ID-mapped mounts through that namespace. Made by a child
   * that shares this process's memory and fds for the few calls it takes (no program is started). `options`: "key"
   * (a flag) or "key=value".
   */
  overlayInUserns(usernsFd: number, o: OverlayInUsernsOptions): number;
  /**
   * open_tree(CLONE[|RECURSIVE]) + mount_setattr([MOUNT_ATTR_IDMAP|][RDONLY], propagation) + move_mount onto target.
   * A read-only flag set here, on the host, is locked by the kernel in every mount namespace later copied into a
   * less privileged user namespace (MNT_LOCK_READONLY).
   */
  bindClone(source: string, target: string, opts: BindCloneOptions): void;
  /** bindClone with an ID mapping. */
  idmappedBind(source: string, target: string, opts: IdmappedBindOptions): void;
  pidfdOpen(pid: number, flags?: number): number;
  pidfdGetfd(pidfd: number, targetFd: number): number;
  /** sendmsg(2) with SCM_RIGHTS. An empty data buffer sends one zero byte. */
  sendFds(sockFd: number, fds: number[], data: Buffer): void;
  /**
   * posix_spawn(3) of path with argv (argv[0] included); child fd i is fds[i] (others close on exec), signals
   * default and unblocked, this process's environment. Resolves with the exit status (128 + signal if killed),
   * awaited on the event loop through a pidfd. No fork(): cheap from a process with a large heap.
   */
  spawnWait(path: string, argv: string[], fds: number[]): Promise<number>;
  /** prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants become this process's children (e.g. a container's init). */
  setChildSubreaper(): void;
  /** Waits on the event loop for the exit of a child through its pidfd and reaps it; the pidfd is consumed (closed). Exit status as spawnWait's. */
  pidfdWait(pidfd: number): Promise<number>;
  /** Waits on the event loop for one message; fds arrive O_CLOEXEC. EOF: no fds and empty data. One pending call per socket. */
  recvFds(sockFd: number, maxFds: number, maxData: number): Promise<{ fds: number[]; data: Buffer }>;
  /**
   * A listening AF_UNIX stream socket at path (non-blocking, O_CLOEXEC; the path must not exist).
   * For sockets whose peers send fds (e.g. the engine's seccomp listenerPath): Node's net module can't receive them.
   */
  listenUnix(path: string, backlog?: number): number;
  /** Waits on the event loop for the next connection; the new fd is O_CLOEXEC. One pending accept per socket. */
  accept(listenFd: number): Promise<number>;
  /** The peer of a connected AF_UNIX socket (SO_PEERCRED): who may be served. */
  peerCred(sockFd: number): { pid: number; uid: number; gid: number };
  /** A connected AF_UNIX stream socket (O_CLOEXEC). */
  connectUnix(path: string): number;
  /** A connected AF_UNIX socket pair (SOCK_STREAM unless given), both ends O_CLOEXEC. */
  socketpair(type?: number): [number, number];
  statx(dirfd: number, path: string, flags: number, mask: number): Statx;
  /**
   * openat2(dirfd, path, O_PATH|openFlags, resolve) + statx(STATX_MNT_ID) of what it opened, in the libuv pool: the
   * path may cross this process's own FUSE mounts, whose requests the loop thread must stay free to answer.
   */
  resolveStat(dirfd: number, path: string, openFlags: number, resolve: number): Promise<ResolvedStat>;
  /**
   * resolveStat on the calling thread with RESOLVE_CACHED: fails with EAGAIN instead of waiting for anything (a FUSE
   * lookup included), so it is safe on the loop that answers FUSE; fall back to resolveStat on EAGAIN.
   */
  resolveStatCached(dirfd: number, path: string, openFlags: number, resolve: number): ResolvedStat;
  /**
   * The namespace at path (a /proc/<pid>/ns/<type> link or a bind-mounted namespace file): its type (NS_GET_NSTYPE),
   * inode, and the inode of the user namespace that owns it (NS_GET_USERNS; a user namespace's parent), null when that
   * owner is out of the caller's reach (the initial user namespace has none). Throws ENOENT, EINVAL (not a namespace).
   */
  namespaceInfo(path: string): NamespaceInfo;
  /** mknod(2): `mode` holds the file type (S_IFCHR, S_IFBLK, S_IFIFO) and the permission bits (the umask applies). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  processVmReadv(pid: number, address: bigint, length: number): Buffer;
  seccompNotify: SeccompNotify;
  /**
   * Watches a /dev/fuse fd (opened O_NONBLOCK) on the event loop: onRequest gets each request read (at most
   * bufSize bytes) as a view of a buffer shared by the watchers, valid only until onRequest returns — copy
   * what must outlive the call. onClose once with the errno that ended it (ENODEV: unmounted or aborted).
   * Does not close the fd. spinUs (0..1000, default 0): after a request, keep reading for up to this long
   * before sleeping in the poll again (saves a wake-up per request when a reader's next one follows quickly).
   */
  fuseWatch(fd: number, bufSize: number, onRequest: (req: Buffer) => void, onClose: (errno: number) => void, spinUs?: number): Watcher;
  /** glibc malloc_trim(0): gives free C-heap pages back to the kernel (e.g. after a burst); true if any were. */
  mallocTrim(): boolean;
  /** shutdown(2) of a socket (how: 0 RD, 1 WR, 2 RDWR): a pending recvFds/accept on it completes. */
  shutdown(fd: number, how?: number): void;
  /** One write(2) of data (e.g. an answer on /dev/fuse); returns the bytes written. */
  write(fd: number, data: Buffer): number;
  /** open(2); O_CLOEXEC is always added; mode (with O_CREAT) defaults to 0o666 & ~umask. */
  open(path: string, flags: number, mode?: number): number;
  close(fd: number): void;
}

const errnoNames = new Map<number, string>();
for (const [name, num] of Object.entries(osConstants.errno)) if (!errnoNames.has(num)) errnoNames.set(num, name);

/** errno number → name ('EINVAL'); 'E<num>' when unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

/** errno name → number; undefined when unknown. */
export function errnoNumber(code: string): number | undefined {
  return (osConstants.errno as Record<string, number>)[code];
}

/** A failed kernel call: errno name and number, the syscall, and the path involved if any. */
export class KernelError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;

  constructor(errno: number | string, syscall: string, path?: string, message?: string) {
    const num = typeof errno === 'number' ? Math.abs(errno) : (errnoNumber(errno) ?? 0);
    const code = typeof errno === 'number' ? errnoName(errno) : errno;
    super(message ?? `${syscall}${path !== undefined ? ` ${path}` : ''}: ${code}`);
    this.name = 'KernelError';
    this.code = code;
    this.errno = num;
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
  }
}

/** Whether e is a KernelError (by shape too, so it holds across two copies of this package); optionally with that code. */
export function isKernelError(e: unknown, code?: string): e is KernelError {
  const k =
    e instanceof KernelError ||
    (e instanceof Error && e.name === 'KernelError' && typeof (e as KernelError).code === 'string' && typeof (e as KernelError).syscall === 'string');
  return k && (code === undefined || (e as KernelError).code === code);
}
