// Where a path argument points, as the caller would resolve it: the caller's root and cwd, a dirfd, and the magic
// links of its /proc (/proc/self, /proc/thread-self, /proc/<pid>/fd/N: runc >= 1.2 mounts through
// /proc/thread-self/fd/N). The host resolves a TargetRef (see VetHost.lookup): this module only parses.
import { AT_FDCWD } from './constants.js';

export type TargetRef =
  /** an absolute path in the caller's root (chroot included) */
  | { kind: 'root'; path: string }
  /** a relative path from the caller's cwd */
  | { kind: 'cwd'; path: string }
  /**
   * the file an fd of a process points at (a dirfd, or a /proc/.../fd/N magic link) and what follows it; `pid` is
   * the host pid whose fd table holds it (the caller's own for /proc/self and /proc/thread-self)
   */
  | { kind: 'fd'; pid: number; fd: number; rest: string };

export interface CallerIds {
  /** host tid of the caller (the notification's pid) */
  tid: number;
  /** host tgid of the caller */
  tgid: number;
}

// /proc/self/fd/N, /proc/thread-self/fd/N, /proc/self/task/T/fd/N, with an optional rest
const MAGIC = /^\/+proc\/+(self|thread-self)(?:\/+task\/+\d+)?\/+fd\/+(\d+)((?:\/.*)?)$/;

/**
 * The TargetRef of `path` given with `dirfd` (AT_FDCWD for the plain calls). `/proc/self/...` is the caller's
 * process, `/proc/thread-self/...` its thread: those are rewritten to host pids here (the daemon's own /proc/self
 * is another process). Other pids in /proc (the container's pid namespace) are left to the resolver, which
 * refuses magic links it can't follow faithfully.
 */
export function targetOf(path: string, dirfd: number, who: CallerIds): TargetRef {
  if (path.startsWith('/')) {
    const m = MAGIC.exec(path);
    if (m) {
      const pid = m[1] === 'thread-self' ? who.tid : who.tgid;
      return { kind: 'fd', pid, fd: Number(m[2]), rest: (m[3] ?? '').replace(/^\/+/, '') };
    }
    return { kind: 'root', path };
  }
  if (dirfd === AT_FDCWD) return { kind: 'cwd', path };
  return { kind: 'fd', pid: who.tgid, fd: dirfd, rest: path };
}

// /proc/<pid>/ns/<type> (or /proc/<pid>/task/<tid>/ns/<type>) of a process in the caller's pid namespace
const NS_LINK = /^\/+proc\/+(\d+)((?:\/+task\/+\d+)?)\/+ns\/+([a-z_]+)\/*$/;

/**
 * For a namespace file of a process (`/proc/<pid>/ns/<type>`, what `ip netns` and Docker's libnetwork-setkey bind to
 * keep a network namespace): its directory `/proc/<pid>/ns`. The link itself is a magic link, which a lookup confined
 * to the caller's root refuses (EXDEV); the directory is an ordinary path. undefined for anything else.
 */
export function nsLinkDir(t: TargetRef): TargetRef | undefined {
  if (t.kind !== 'root') return undefined;
  const m = NS_LINK.exec(t.path);
  return m ? { kind: 'root', path: `/proc/${m[1]}${(m[2] ?? '').replace(/\/+/g, '/')}/ns` } : undefined;
}

/** A short text for audit records and refusals. */
export function describeTarget(t: TargetRef): string {
  switch (t.kind) {
    case 'root':
      return t.path;
    case 'cwd':
      return `./${t.path}`;
    case 'fd':
      return `fd ${t.fd} of pid ${t.pid}${t.rest ? `/${t.rest}` : ''}`;
  }
}
