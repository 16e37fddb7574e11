// The host side of @sysbox/syscall-vetting for sysbox-fs: the caller's memory (process_vm_readv), its paths
// (resolved in the libuv pool: they may cross our own FUSE mounts, whose requests this loop answers), its mount
// namespace, capabilities and ID maps (/proc), and the execution of performed calls through sysbox-nsenter as-caller.
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Kernel } from '@sysbox/native';
import { DOCKER_DEFAULT_MASKED_PATHS, DOCKER_DEFAULT_READONLY_PATHS, laidPaths } from '@sysbox/spec';
import {
  AT_FDCWD,
  NotFuseError,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_PATH,
  RESOLVE_BENEATH,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  STATX_ATTR_MOUNT_ROOT,
  isKernelError,
  nsenterAsCaller,
  type CallerPath,
} from '@sysbox/native';
import {
  EPERM,
  MS_RDONLY,
  VetError,
  parseIdMap,
  parseMountinfo,
  type Action,
  type CallerIds,
  type IdMap,
  type Lookup,
  type MountEntry,
  type TargetRef,
  type VetHost,
} from '@sysbox/syscall-vetting';

function status(tid: number): string {
  return readFileSync(`/proc/${tid}/status`, 'utf8');
}

function field(text: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text);
  return m?.[1];
}

function vetError(e: unknown, what: string): VetError {
  if (e instanceof VetError) return e;
  if (isKernelError(e)) return new VetError(e.errno, `${what}: ${e.code}`);
  const code = (e as NodeJS.ErrnoException).code;
  const errno = (e as NodeJS.ErrnoException).errno;
  if (code && typeof errno === 'number') return new VetError(Math.abs(errno), `${what}: ${code}`);
  return new VetError(EPERM, `${what}: ${(e as Error).message}`);
}

/** The caller's cwd as it sees it (a path in its root), from the two magic links' targets. */
export function callerCwd(cwd: string, root: string): string | undefined {
  if (cwd.endsWith(' (deleted)') || root.endsWith(' (deleted)')) return undefined;
  if (root === '/') return cwd;
  if (cwd === root) return '/';
  if (cwd.startsWith(`${root}/`)) return cwd.slice(root.length);
  return undefined;
}

export class SysboxVetHost implements VetHost {
  constructor(private readonly k: Kernel) {}

  readonly read = (pid: number, address: bigint, length: number): Buffer => this.k.processVmReadv(pid, address, length);

  tgid(tid: number): number {
    const t = Number(field(status(tid), 'Tgid'));
    if (!Number.isInteger(t) || t <= 0) throw new VetError(3 /* ESRCH */, `no Tgid for ${tid}`);
    return t;
  }

  capEff(tid: number): bigint {
    const v = field(status(tid), 'CapEff');
    return v ? BigInt(`0x${v.trim()}`) : 0n;
  }

  idMap(tid: number): IdMap {
    return { uid: parseIdMap(readFileSync(`/proc/${tid}/uid_map`, 'utf8')), gid: parseIdMap(readFileSync(`/proc/${tid}/gid_map`, 'utf8')) };
  }

  /** The caller's fsuid/fsgid as IDs of its own user namespace (for opens as the caller). */
  callerIds(tid: number): { uid: number; gid: number } {
    const st = status(tid);
    const hostUid = Number((field(st, 'Uid') ?? '0').split(/\s+/)[3]);
    const hostGid = Number((field(st, 'Gid') ?? '0').split(/\s+/)[3]);
    const m = this.idMap(tid);
    const inside = (map: IdMap['uid'], id: number) => {
      for (const [i, o, n] of map) if (id >= o && id < o + n) return i + (id - o);
      return 65534;
    };
    return { uid: inside(m.uid, hostUid), gid: inside(m.gid, hostGid) };
  }

  mountNamespace(tid: number): { key: string; read(): MountEntry[] } {
    // the key of its cached table: the namespace's inode and the caller's root (mountinfo paths are relative to the
    // reader's root: a chroot sees the same namespace at other paths). AT_STATX_DONT_SYNC: a root inside our own
    // FUSE tree is answered from the cache, never by a request to this thread. (A table of a dead namespace ages
    // out of the LRU.)
    const ns = this.k.statx(AT_FDCWD, `/proc/${tid}/ns/mnt`, 0, 0x100 /* STATX_INO */);
    const root = this.k.statx(AT_FDCWD, `/proc/${tid}/root`, 0x4000 /* AT_STATX_DONT_SYNC */, 0x100 | 0x1000 /* STATX_INO|STATX_MNT_ID */);
    return { key: `mnt:${ns.ino}:root:${root.mntId}:${root.ino}`, read: () => parseMountinfo(readFileSync(`/proc/${tid}/mountinfo`, 'utf8')) };
  }

  /** How many lookups the dentry cache answered on the loop, and how many went to the pool. */
  readonly lookups = { cached: 0, pool: 0 };

  /**
   * The lookup on the loop thread when the dentry cache has everything (RESOLVE_CACHED: it never waits, so never on
   * a FUSE request this loop would have to answer); undefined (EAGAIN) sends it to the pool.
   */
  private cachedOr(dirfd: number, path: string, oflags: number, resolve: number): ReturnType<Kernel['resolveStatCached']> | undefined {
    try {
      const r = this.k.resolveStatCached(dirfd, path, oflags, resolve);
      this.lookups.cached++;
      return r;
    } catch (e) {
      if (isKernelError(e, 'EAGAIN')) {
        this.lookups.pool++;
        return undefined;
      }
      throw e;
    }
  }

  async lookup(who: CallerIds, t: TargetRef, o: { follow: boolean }): Promise<Lookup> {
    const oflags = o.follow ? 0 : O_NOFOLLOW;
    let r;
    try {
      if (t.kind === 'fd') {
        const link = `/proc/${t.pid}/fd/${t.fd}`;
        if (!t.rest) r = this.cachedOr(AT_FDCWD, link, oflags, 0) ?? (await this.k.resolveStat(AT_FDCWD, link, oflags, 0));
        else {
          // what follows an fd stays beneath it (no magic links, no escape by .. or an absolute symlink)
          const fd = this.k.open(link, O_PATH);
          try {
            r = await this.k.resolveStat(fd, t.rest, oflags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
          } finally {
            this.k.close(fd);
          }
        }
      } else {
        let path = t.path;
        if (t.kind === 'cwd') {
          const cwd = callerCwd(readlinkSync(`/proc/${who.tid}/cwd`), readlinkSync(`/proc/${who.tid}/root`));
          if (cwd === undefined) throw new VetError(EPERM, `the caller's cwd is outside its root: ${t.path} not vetted`);
          path = `${cwd}/${t.path}`;
        }
        const root = this.k.open(`/proc/${who.tid}/root`, O_PATH | O_DIRECTORY);
        try {
          r = this.cachedOr(root, path, oflags, RESOLVE_IN_ROOT) ?? (await this.k.resolveStat(root, path, oflags, RESOLVE_IN_ROOT));
        } finally {
          this.k.close(root);
        }
      }
    } catch (e) {
      throw vetError(e, 'resolve');
    }
    return { mountId: Number(r.mntId), dev: `${r.devMajor}:${r.devMinor}`, mountRoot: (r.attributes & STATX_ATTR_MOUNT_ROOT) !== 0n };
  }
}

/** What a performed proc/sysfs mount lays over itself: the container's sysbox-fs tree and its masked/read-only paths. */
export interface Emulation {
  /** the container's FUSE tree (e.g. /var/lib/sysboxfs/<id>) */
  mountpoint: string;
  /** its files placed one by one (container paths, e.g. /proc/uptime) */
  files: string[];
  /** its directories placed whole (e.g. /sys/devices/virtual) */
  covers: string[];
  /** those of `covers` laid as the upper layer of an overlay over the new mount's own directory */
  overlays?: string[];
  masked?: string[];
  readonly?: string[];
  /** the container's /sys is read-only at the superblock: a new sysfs must be too */
  sysReadOnly?: boolean;
}

export interface PerformResult {
  /** the fd (of this process) an openat2 opened, to install in the caller */
  fd?: number;
  /** the file opened is not sysbox-fs's (a race or a mount changed): let the kernel decide */
  notFuse?: boolean;
}

/** Runs a performed call as the caller (sysbox-nsenter as-caller). Throws KernelError with the caller's errno. */
export async function performAction(k: Kernel, host: SysboxVetHost, tid: number, tgid: () => number, action: Action, emulation: () => Emulation | undefined, nsenter?: string): Promise<PerformResult> {
  const opened: number[] = [];
  const callerPath = (t: TargetRef): CallerPath => {
    if (t.kind !== 'fd') return { path: t.path };
    const pidfd = k.pidfdOpen(t.pid);
    try {
      const fd = k.pidfdGetfd(pidfd, t.fd);
      opened.push(fd);
      return { fd, ...(t.rest ? { rest: t.rest } : {}) };
    } finally {
      k.close(pidfd);
    }
  };
  void tgid;
  const base = { tid, ...(nsenter ? { nsenter } : {}) };
  try {
    switch (action.op) {
      case 'mount': {
        const source = action.source === null ? null : typeof action.source === 'string' ? action.source : callerPath(action.source);
        await nsenterAsCaller(k, 'mount', { ...base, target: callerPath(action.target), source, fstype: action.fstype, flags: action.flags, data: action.data });
        return {};
      }
      case 'umount':
        await nsenterAsCaller(k, 'umount', { ...base, target: callerPath(action.target), flags: action.flags });
        return {};
      case 'mount-setattr':
        await nsenterAsCaller(k, 'setattr', { ...base, target: callerPath(action.target), atFlags: action.atFlags, attr: action.attr });
        return {};
      case 'openat2': {
        const ids = host.callerIds(tid);
        try {
          const fd = await nsenterAsCaller(k, 'openat2', { ...base, target: callerPath(action.target), flags: action.flags, mode: action.mode, resolve: action.resolve, uid: ids.uid, gid: ids.gid });
          return { fd: fd! };
        } catch (e) {
          if (e instanceof NotFuseError) return { notFuse: true };
          throw e;
        }
      }
      case 'mount-proc':
      case 'mount-sysfs': {
        const em = emulation();
        const proc = action.op === 'mount-proc';
        const prefix = proc ? '/proc/' : '/sys/';
        const ro = (action.flags & MS_RDONLY) !== 0 || (!proc && em?.sysReadOnly === true);
        // the tree's files are cloned by sysbox-nsenter, not here: a lookup in our own FUSE tree on this thread
        // would wait for this thread to answer it
        const fileSrcs: Array<{ path: string; rel: string }> = [];
        const coverSrcs: Array<{ path: string; rel: string; overlay?: boolean }> = [];
        if (em) {
          for (const f of em.files.filter((p) => p.startsWith(prefix))) fileSrcs.push({ path: join(em.mountpoint, f), rel: f.slice(prefix.length) });
          for (const c of em.covers.filter((p) => p.startsWith(prefix))) {
            coverSrcs.push({ path: join(em.mountpoint, c), rel: c.slice(prefix.length), ...(em.overlays?.includes(c) ? { overlay: true } : {}) });
          }
        }
        const masked = em?.masked?.length ? em.masked : DOCKER_DEFAULT_MASKED_PATHS;
        const roPaths = em?.readonly?.length ? em.readonly : DOCKER_DEFAULT_READONLY_PATHS;
        // the same kernel: the host's entry has the new mount's type
        const laid = laidPaths([prefix.slice(0, -1)], masked, roPaths, em?.files ?? [], (p) => {
          try {
            return statSync(p).isDirectory();
          } catch {
            return undefined;
          }
        });
        const rel = (p: string) => p.slice(prefix.length);
        const maskSrcs = laid.maskFiles.map((m) => ({ path: '/dev/null', rel: rel(m) }));
        const maskDirs = laid.maskDirs.map(rel);
        const readonly = laid.readonly.map(rel);
        await nsenterAsCaller(k, proc ? 'mount-proc' : 'mount-sysfs', {
          ...base,
          target: callerPath(action.target),
          source: action.source,
          flags: ro ? action.flags | MS_RDONLY : action.flags,
          data: action.data,
          rdonlyFiles: ro,
          fileSrcs,
          coverSrcs,
          maskSrcs,
          maskDirs,
          readonly,
        });
        return {};
      }
      default:
        throw new VetError(EPERM, `unknown action ${(action as { op: string }).op}`);
    }
  } finally {
    for (const fd of opened) k.close(fd);
  }
}
