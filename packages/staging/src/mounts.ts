// Bind-mount and special-dir staging for sysbox-mgr: an ID-mapped view of each bind source (host dirs and files,
// Docker volumes, Docker's resolv.conf/hosts/hostname) so files keep their host owners inside the container and
// what container root writes is stored as uid 0 on disk; and host-backed special dirs (/var/lib/docker & co).
//
// Layout (every level the engine must traverse from inside the user namespace is mode 0711):
//   <dataDir>/mounts/<containerId>/m<index>     ID-mapped view of spec.mounts[index].source (dir, or file placeholder)
//   <dataDir>/mounts/<containerId>/s-<name>     ID-mapped view of the special dir's backing dir
// Backing dirs of special dirs, stored 0-based (mode 0700 parents), one per special dir:
//   <dockerRoot>/containers/<containerId>/sysbox-special/<name>   for a container Docker knows: they live exactly
//        as long as Docker's own dir for it (kept across stop/start, removed by `docker rm` itself, synchronously)
//   <dataDir>/special/<containerId>/<name>    any other container: removed at Unregister
import { join } from 'node:path';
import type { IdRange } from '@sysbox/idmap';
import { isKernelError } from '@sysbox/native';
import type { StagingEnv, StagingFs } from './env.js';
import { mountsUnder, readMountinfo, StagingError, unmountAll } from './mountinfo.js';
import { mkdirTraversable } from './rootfs.js';

export type MountStagingLog = (obj: object, msg: string) => void;

export interface MountRequest {
  index: number;
  source: string;
  destination?: string;
  readonly?: boolean;
  recursive?: boolean;
  /** not ID-mapped (host /proc, /sys, /dev): a read-only one is staged as a plain read-only clone */
  noIdmap?: boolean;
}

export interface StagedMountResult {
  index: number;
  source: string;
  /**
   * idmap: an ID-mapped view; plain: a read-only clone without ID mapping (noIdmap, or a file system refusing
   * MOUNT_ATTR_IDMAP); none: the source as it is (a read-write bind whose file system refused MOUNT_ATTR_IDMAP)
   */
  method: 'idmap' | 'plain' | 'none';
}

export interface StagedSpecialDirResult {
  destination: string;
  source: string;
  method: 'idmap' | 'none';
  created: boolean;
}

export interface StageMountsOptions {
  containerId: string;
  idRange: IdRange;
  dataDir: string;
  mounts: MountRequest[];
  specialDirs?: string[];
  /** the image's rootfs (unstaged, 0-based owners) to fill new special dirs from */
  rootfs?: string;
  /** Docker's data root: a container that Docker knows (<dockerRoot>/containers/<id>) keeps its special dirs */
  dockerRoot?: string;
  log?: MountStagingLog;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const DEFAULT_DOCKER_ROOT = '/var/lib/docker';

function checkId(id: string): void {
  if (!ID_RE.test(id)) throw new StagingError(`bad container id ${JSON.stringify(id)}`);
}

export function mountsDir(dataDir: string, containerId?: string): string {
  if (containerId === undefined) return join(dataDir, 'mounts');
  checkId(containerId);
  return join(dataDir, 'mounts', containerId);
}

export function specialDir(dataDir: string, containerId?: string): string {
  if (containerId === undefined) return join(dataDir, 'special');
  checkId(containerId);
  return join(dataDir, 'special', containerId);
}

/** /var/lib/rancher/k3s → var_lib_rancher_k3s */
export function specialName(destination: string): string {
  const n = destination.replace(/^\/+|\/+$/g, '').replace(/\//g, '_');
  if (!n || n.includes('..') || !/^[\w.-]+$/.test(n)) throw new StagingError(`bad special dir ${JSON.stringify(destination)}`);
  return n;
}



/** Removes the unmounted staging dir of a container: placeholders only (and an older build's state.json), never through a mount. */
function removeMountsDir(env: StagingEnv, dir: string, log?: MountStagingLog): void {
  const { fs } = env;
  unmountAll(env, dir, log, 'mount staging');
  if (!fs.exists(dir)) return;
  for (const name of fs.readdir(dir)) {
    const p = join(dir, name);
    if (fs.lstat(p).isDirectory()) fs.rmdir(p);
    else fs.unlink(p);
  }
  fs.rmdir(dir);
}

function placeholder(fs: StagingFs, at: string, isDir: boolean): void {
  if (isDir) fs.mkdir(at, { mode: 0o711 });
  else fs.writeFile(at, '', { mode: 0o644, exclusive: true });
}

/** ID-maps source onto at; a kernel refusal (fs without MOUNT_ATTR_IDMAP) answers false, logged by the caller. */
function tryIdmap({ kernel }: StagingEnv, source: string, at: string, usernsFd: number, o: { readonly?: boolean; recursive?: boolean }): KernelErrorLike | undefined {
  try {
    kernel.idmappedBind(source, at, { usernsFd, readonly: !!o.readonly, recursive: !!o.recursive });
    return undefined;
  } catch (e) {
    if (!isKernelError(e)) throw e;
    return e;
  }
}
type KernelErrorLike = Error & { code: string };

/** Fills a new special dir from the image (owners as on disk: 0-based), without following the image's symlinks out. */
function fillFromImage(fs: StagingFs, rootfs: string, destination: string, backing: string, log?: MountStagingLog): void {
  const src = join(rootfs, destination);
  let st;
  try {
    st = fs.lstat(src);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  // Only a non-empty dir needs copying; most images have none, or the empty mount point a previous run left.
  if (fs.readdir(src).length > 0) fs.copyTree(src, backing);
  fs.chown(backing, st.uid, st.gid);
  fs.chmod(backing, st.mode & 0o7777);
  log?.({ from: src, to: backing }, 'mount staging: special dir filled from the image');
}

/**
 * Stages the container's bind mounts and special dirs (replacing an earlier staging of its mounts). A source whose
 * file system refuses ID mapping is used as it is (method "none", logged). On any other failure everything this
 * call mounted is undone, and special dirs it created are removed.
 */
export async function stageMounts(env: StagingEnv, opts: StageMountsOptions): Promise<{ mounts: StagedMountResult[]; specialDirs: StagedSpecialDirResult[] }> {
  const { kernel, fs } = env;
  const { containerId, dataDir, log } = opts;
  const dir = mountsDir(dataDir, containerId);
  if (fs.exists(dir) || mountsUnder(readMountinfo(fs), dir).length) removeMountsDir(env, dir, log);
  const mounts: StagedMountResult[] = [];
  const specials: StagedSpecialDirResult[] = [];
  const createdSpecial: string[] = [];
  if (opts.mounts.length === 0 && !opts.specialDirs?.length) return { mounts, specialDirs: specials };
  mkdirTraversable(fs, dataDir);
  mkdirTraversable(fs, mountsDir(dataDir));
  fs.mkdir(dir, { mode: 0o711 });
  fs.chmod(dir, 0o711);
  const r = opts.idRange;
  let usernsFd = -1;
  try {
    usernsFd = kernel.createUserns([{ containerId: 0, hostId: r.uid, size: r.size }], [{ containerId: 0, hostId: r.gid, size: r.size }]);
    for (const m of opts.mounts) {
      if (!m.source.startsWith('/')) throw new StagingError(`mount source must be an absolute path, got ${JSON.stringify(m.source)}`);
      let st;
      try {
        st = fs.stat(m.source);
      } catch (e) {
        throw new StagingError(`mount source ${m.source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      const at = join(dir, `m${m.index}`);
      placeholder(fs, at, st.isDirectory());
      const err = m.noIdmap ? undefined : tryIdmap(env, m.source, at, usernsFd, m);
      if (!m.noIdmap && !err) {
        mounts.push({ index: m.index, source: at, method: 'idmap' });
        continue;
      }
      if (err) log?.({ containerId, source: m.source, destination: m.destination, err: err.message }, 'mount staging: ID-mapped bind refused by the file system (owners appear as nobody inside)');
      if (!m.readonly) {
        // read-write: nothing to lock; the engine binds the source itself
        mounts.push({ index: m.index, source: m.source, method: 'none' });
        continue;
      }
      // Read-only and not ID-mapped: a read-only clone made here, so that the kernel locks the flag in the
      // container's mount namespace. One that can't be made refuses the create (no read-only flag the
      // container could clear).
      try {
        kernel.bindClone(m.source, at, { readonly: true, recursive: !!m.recursive });
      } catch (e) {
        if (!isKernelError(e)) throw e;
        throw new StagingError(`read-only bind mount of ${m.source}${m.destination ? ` (for ${m.destination})` : ''} can't be made read-only on the host (${e.message}), so its read-only flag could be cleared inside the container: refused`);
      }
      mounts.push({ index: m.index, source: at, method: 'plain' });
    }
    if (opts.specialDirs?.length) {
      const sdir = specialBase(fs, { containerId, dataDir, ...(opts.dockerRoot ? { dockerRoot: opts.dockerRoot } : {}) });
      if (sdir.startsWith(specialDir(dataDir))) fs.mkdir(specialDir(dataDir), { recursive: true, mode: 0o700 });
      fs.mkdir(sdir, { recursive: true, mode: 0o700 });
      for (const dest of opts.specialDirs) {
        const name = specialName(dest);
        const backing = join(sdir, name);
        let created = false;
        if (!fs.exists(backing)) {
          // owned by (container) root, 0700 as Sysbox makes it (the inner dockerd sets its own mode later); the
          // image's own dir there, if it has one, gives its contents, owner and mode instead
          fs.mkdir(backing, { mode: 0o700 });
          fs.chmod(backing, 0o700);
          created = true;
          createdSpecial.push(backing);
          if (opts.rootfs) fillFromImage(fs, opts.rootfs, dest, backing, log);
        }
        const at = join(dir, `s-${name}`);
        placeholder(fs, at, true);
        const err = tryIdmap(env, backing, at, usernsFd, { recursive: false });
        if (err) {
          log?.({ containerId, backing, destination: dest, err: err.message }, 'mount staging: ID-mapped special dir refused by the file system; falling back to the plain dir');
          specials.push({ destination: dest, source: backing, method: 'none', created });
        } else {
          specials.push({ destination: dest, source: at, method: 'idmap', created });
        }
      }
    }
    log?.({ containerId, mounts: mounts.length, specialDirs: specials.length }, 'mount staging: staged');
    return { mounts, specialDirs: specials };
  } catch (e) {
    try {
      removeMountsDir(env, dir, log);
      for (const b of createdSpecial) fs.removeTree(b);
    } catch (e2) {
      log?.({ containerId, err: String(e2) }, 'mount staging: cleanup after a failed stage failed');
    }
    throw e;
  } finally {
    if (usernsFd >= 0) kernel.close(usernsFd);
  }
}

/** Undoes stageMounts' mounts (not the special dirs' backing data). Idempotent. */
export function unstageMounts(env: StagingEnv, opts: { containerId: string; dataDir: string; log?: MountStagingLog }): void {
  removeMountsDir(env, mountsDir(opts.dataDir, opts.containerId), opts.log);
}

/**
 * Where a container's special dirs live: inside Docker's own dir for the container when Docker knows it (so they
 * survive stop/start and `docker rm` removes them with the container), else under <dataDir>/special/<id>.
 */
export function specialBase(fs: Pick<StagingFs, 'exists'>, opts: { containerId: string; dataDir: string; dockerRoot?: string }): string {
  checkId(opts.containerId);
  const docker = join(opts.dockerRoot ?? DEFAULT_DOCKER_ROOT, 'containers', opts.containerId);
  return fs.exists(docker) ? join(docker, DOCKER_SPECIAL_NAME) : specialDir(opts.dataDir, opts.containerId);
}

export const DOCKER_SPECIAL_NAME = 'sysbox-special';

/** Removes the special dirs kept under <dataDir>/special (non-Docker containers; call after unstageMounts). */
export function removeSpecialDirs(env: StagingEnv, opts: { containerId: string; dataDir: string; log?: MountStagingLog }): boolean {
  const sdir = specialDir(opts.dataDir, opts.containerId);
  if (!env.fs.exists(sdir)) return false;
  // Nothing may be mounted under it on the host (our views are under mounts/, but be sure).
  unmountAll(env, sdir, opts.log, 'mount staging');
  env.fs.removeTree(sdir);
  opts.log?.({ containerId: opts.containerId, dir: sdir }, 'mount staging: special dirs removed');
  return true;
}

/**
 * Garbage collection: staged mounts and <dataDir>/special dirs of containers not in `keep` (Docker containers'
 * special dirs live in Docker's own dir and go with it). Returns the ids whose leftovers were removed.
 */
export function gcMounts(env: StagingEnv, opts: { dataDir: string; keep: Set<string>; log?: MountStagingLog }): string[] {
  const { fs } = env;
  const removed = new Set<string>();
  const root = mountsDir(opts.dataDir);
  const ids = new Set<string>();
  if (fs.exists(root)) for (const n of fs.readdir(root)) if (ID_RE.test(n)) ids.add(n);
  for (const m of mountsUnder(readMountinfo(fs), root)) {
    const id = m.slice(root.length + 1).split('/')[0];
    if (id && ID_RE.test(id)) ids.add(id);
  }
  for (const id of ids) {
    if (opts.keep.has(id)) continue;
    unstageMounts(env, { containerId: id, dataDir: opts.dataDir, ...(opts.log ? { log: opts.log } : {}) });
    removed.add(id);
  }
  const sroot = specialDir(opts.dataDir);
  if (fs.exists(sroot)) {
    for (const id of fs.readdir(sroot)) {
      if (!ID_RE.test(id) || opts.keep.has(id)) continue;
      if (mountsUnder(readMountinfo(fs), mountsDir(opts.dataDir, id)).length) continue;
      removeSpecialDirs(env, { containerId: id, dataDir: opts.dataDir, ...(opts.log ? { log: opts.log } : {}) });
      removed.add(id);
    }
  }
  return [...removed];
}
