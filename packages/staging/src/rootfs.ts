// Rootfs staging for sysbox-mgr: an ID-mapped view of a container's rootfs under
// <dataDir>/rootfs/<containerId>/merged, so the container's root (a host range) sees the
// image's files as its own without any image file being chown'ed.
//
// Layout of <dataDir>/rootfs/<containerId>/ (every level mode 0711: the engine resolves
// root.path from inside the container's user namespace):
//   state.json   what was done (method, layers, any chown shift to undo)
//   lower<N>     ID-mapped read-only mounts of the overlay's lower layers
//   lower        (2+ layers) a read-only overlay of the lower<N>, mounted by host root
//   upper        ID-mapped mount of the dir holding upperdir and workdir
//   merged       the staged rootfs (an overlay, or an ID-mapped bind for a plain dir)
import { basename, dirname, join } from 'node:path';
import type { IdRange } from '@sysbox/idmap';
import {
  AT_FDCWD,
  FSCONFIG_CMD_CREATE,
  FSCONFIG_SET_STRING,
  MOUNT_ATTR_RDONLY,
  MOVE_MOUNT_F_EMPTY_PATH,
  MS_BIND,
  MS_RDONLY,
  MS_REC,
  escapeOverlayLayer,
  isKernelError,
} from '@sysbox/native';
import { mountAt, mountsUnder, overlayLayers, readMountinfo, StagingError, unmountAll } from './mountinfo.js';
import type { MountinfoEntry, OverlayLayers } from './mountinfo.js';
import { shiftTree } from './shift.js';
import type { StagingEnv, StagingFs } from './env.js';

export type StagingMethod = 'idmap-overlay' | 'idmap' | 'chown';
export type StagingLog = (obj: object, msg: string) => void;

export interface StageRootfsOptions {
  containerId: string;
  /** The rootfs the engine would use (Docker: /var/lib/docker/overlay2/<id>/merged, already mounted). */
  rootfs: string;
  idRange: IdRange;
  /** Default /var/lib/sysbox. */
  dataDir: string;
  log?: StagingLog;
}

export interface StagedRootfs {
  rootfs: string;
  method: StagingMethod;
}

/** Recorded in state.json so unstage can undo exactly what stage did. */
interface StagingState {
  containerId: string;
  rootfs: string;
  method: StagingMethod;
  /** Trees whose owners were shifted by +base (chown fallback), to shift back on unstage. */
  shifted?: { path: string; uid: number; gid: number; size: number }[];
  /** Our own overlay workdir beside the upper layer (removed on unstage). */
  workdir?: string;
}

/**
 * Our overlay gets its own workdir next to the upper layer: mounting an overlay empties its
 * workdir's work/ subdir, which would break copy-up in the engine's (Docker's) own overlay mount
 * if both used the same one.
 */
export const WORKDIR_NAME = 'work-sysbox';

function ownWorkdir(fs: StagingFs, upperdir: string, state: StagingState, dir: string): string {
  const w = join(dirname(upperdir), WORKDIR_NAME);
  state.workdir = w;
  writeState(fs, dir, state);
  fs.mkdir(w, { recursive: true, mode: 0o700 });
  return w;
}

export const DEFAULT_DATA_DIR = '/var/lib/sysbox';

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function stagingRoot(dataDir: string): string {
  return join(dataDir, 'rootfs');
}

function containerDir(dataDir: string, containerId: string): string {
  if (!ID_RE.test(containerId)) throw new StagingError(`bad container id ${JSON.stringify(containerId)}`);
  return join(stagingRoot(dataDir), containerId);
}

/** mkdir -p, then make sure the dir is traversable (o+x) by the container's range. */
export function mkdirTraversable(fs: StagingFs, dir: string): void {
  fs.mkdir(dir, { recursive: true, mode: 0o711 });
  const mode = fs.stat(dir).mode & 0o7777;
  if ((mode & 0o011) !== 0o011) fs.chmod(dir, mode | 0o011);
}

function writeState(fs: StagingFs, dir: string, state: StagingState): void {
  const tmp = join(dir, 'state.json.tmp');
  fs.writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  fs.rename(tmp, join(dir, 'state.json'));
}

function readState(fs: StagingFs, dir: string): StagingState | undefined {
  try {
    return JSON.parse(fs.readFile(join(dir, 'state.json'))) as StagingState;
  } catch {
    return undefined;
  }
}

/** Removes the (unmounted) staging dir: only empty dirs and state files, never recursively through a mount. */
function removeDir(fs: StagingFs, dir: string): void {
  if (!fs.exists(dir)) return;
  for (const name of fs.readdir(dir)) {
    const p = join(dir, name);
    if (name === 'state.json' || name === 'state.json.tmp') fs.unlink(p);
    else fs.rmdir(p);
  }
  fs.rmdir(dir);
}

function newUserns({ kernel }: StagingEnv, r: StageRootfsOptions['idRange']): number {
  return kernel.createUserns([{ containerId: 0, hostId: r.uid, size: r.size }], [{ containerId: 0, hostId: r.gid, size: r.size }]);
}

/** The ID-mapped overlay: lowers and upper+work ID-mapped, overlay created as the userns's root. */
function stageIdmapOverlay(env: StagingEnv, dir: string, layers: OverlayLayers, usernsFd: number, state: StagingState): void {
  const { kernel, fs } = env;
  const { upperdir } = layers;
  const workdir = upperdir && layers.workdir ? ownWorkdir(fs, upperdir, state, dir) : undefined;
  let lowers = layers.lowerdirs.map((l, i) => {
    const at = join(dir, `lower${i}`);
    fs.mkdir(at, { mode: 0o711 });
    kernel.idmappedBind(fs.realpath(l), at, { usernsFd, readonly: true });
    return at;
  });
  if (lowers.length > 1) {
    // Image layers mark opaque dirs with trusted.overlay.* xattrs, which an overlay mounted in a user
    // namespace (userxattr) ignores: merge the lowers first in a read-only overlay mounted by host
    // root (it honours them), and give the container's overlay that one lower layer.
    const at = join(dir, 'lower');
    fs.mkdir(at, { mode: 0o711 });
    mountOverlayHost(kernel, at, { lowerdirs: lowers, readonly: true });
    lowers = [at];
  }
  let upper: string | undefined;
  let work: string | undefined;
  if (upperdir && workdir) {
    const at = join(dir, 'upper');
    fs.mkdir(at, { mode: 0o711 });
    kernel.idmappedBind(dirname(upperdir), at, { usernsFd });
    upper = join(at, basename(upperdir));
    work = join(at, basename(workdir));
  }
  const fd = kernel.overlayInUserns(usernsFd, { lowerdirs: lowers, ...(upper && work ? { upperdir: upper, workdir: work } : {}), options: ['index=off'] });
  try {
    kernel.moveMount(fd, '', AT_FDCWD, join(dir, 'merged'), MOVE_MOUNT_F_EMPTY_PATH);
  } finally {
    kernel.close(fd);
  }
}

/**
 * An overlay mounted by host root. Layers go one by one through fsconfig("lowerdir+") (kernel 6.8+),
 * which has no page-size limit on the option string; older kernels get mount(2) with one string.
 */
function mountOverlayHost(
  kernel: StagingEnv['kernel'],
  target: string,
  o: { lowerdirs: string[]; upperdir?: string; workdir?: string; readonly?: boolean },
): void {
  let fs = -1;
  try {
    fs = kernel.fsopen('overlay', 0);
    kernel.fsconfig(fs, FSCONFIG_SET_STRING, 'source', 'overlay');
    for (const l of o.lowerdirs) kernel.fsconfig(fs, FSCONFIG_SET_STRING, 'lowerdir+', l);
    if (o.upperdir && o.workdir) {
      kernel.fsconfig(fs, FSCONFIG_SET_STRING, 'upperdir', o.upperdir);
      kernel.fsconfig(fs, FSCONFIG_SET_STRING, 'workdir', o.workdir);
      kernel.fsconfig(fs, FSCONFIG_SET_STRING, 'index', 'off');
    }
    kernel.fsconfig(fs, FSCONFIG_CMD_CREATE);
    const m = kernel.fsmount(fs, 0, o.readonly ? MOUNT_ATTR_RDONLY : 0);
    try {
      kernel.moveMount(m, '', AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
    } finally {
      kernel.close(m);
    }
    return;
  } catch (e) {
    // EINVAL on 'lowerdir+' means an older kernel: use the classic option string.
    if (!(isKernelError(e, 'EINVAL') && e.syscall === 'fsconfig' && e.path === 'lowerdir+')) throw e;
  } finally {
    if (fs >= 0) kernel.close(fs);
  }
  let data = `lowerdir=${o.lowerdirs.map(escapeOverlayLayer).join(':')}`;
  if (o.upperdir && o.workdir) data += `,upperdir=${escapeOverlayLayer(o.upperdir)},workdir=${escapeOverlayLayer(o.workdir)},index=off`;
  kernel.mount('overlay', target, 'overlay', o.readonly ? MS_RDONLY : 0, data);
}

/** Fallback: overlay mounted by host root on ID-mapped lowers, upper shifted by +base (undone on unstage). */
function stageChownOverlay(env: StagingEnv, dir: string, layers: OverlayLayers, usernsFd: number, opts: StageRootfsOptions, state: StagingState): void {
  const { kernel, fs } = env;
  const lowers = layers.lowerdirs.map((l, i) => {
    const at = join(dir, `lower${i}`);
    if (!fs.exists(at)) fs.mkdir(at, { mode: 0o711 });
    kernel.idmappedBind(fs.realpath(l), at, { usernsFd, readonly: true });
    return at;
  });
  let workdir: string | undefined;
  if (layers.upperdir && layers.workdir) {
    const r = opts.idRange;
    const shift = { path: layers.upperdir, uid: r.uid, gid: r.gid, size: r.size };
    state.shifted = [shift];
    writeState(fs, dir, state); // recorded before touching anything, so unstage can undo a partial shift
    shiftTree(fs, layers.upperdir, { fromUid: 0, toUid: r.uid, fromGid: 0, toGid: r.gid, size: r.size });
    workdir = ownWorkdir(fs, layers.upperdir, state, dir);
  }
  mountOverlayHost(kernel, join(dir, 'merged'), {
    lowerdirs: lowers,
    ...(layers.upperdir && workdir ? { upperdir: layers.upperdir, workdir } : {}),
  });
}

/**
 * Stages an ID-mapped view of `rootfs` for a container whose root is host uid/gid idRange.uid/gid.
 * Overlay rootfs (Docker): 'idmap-overlay', falling back to 'chown' (logged) if the kernel refuses.
 * Plain directory: 'idmap' (an ID-mapped bind), falling back to 'chown'.
 */
export async function stageRootfs(env: StagingEnv, opts: StageRootfsOptions): Promise<StagedRootfs> {
  const { kernel, fs } = env;
  const dataDir = opts.dataDir || DEFAULT_DATA_DIR;
  const log = opts.log;
  const dir = containerDir(dataDir, opts.containerId);
  const rootfs = fs.realpath(opts.rootfs);
  if (!fs.stat(rootfs).isDirectory()) throw new StagingError(`rootfs ${rootfs} is not a directory`);
  if (fs.exists(dir)) {
    log?.({ containerId: opts.containerId, dir }, 'staging: removing a stale staging dir');
    await unstageRootfs(env, { containerId: opts.containerId, dataDir });
  }
  mkdirTraversable(fs, dataDir);
  mkdirTraversable(fs, stagingRoot(dataDir));
  fs.mkdir(dir, { mode: 0o711 });
  fs.chmod(dir, 0o711);
  const merged = join(dir, 'merged');
  fs.mkdir(merged, { mode: 0o711 });
  const state: StagingState = { containerId: opts.containerId, rootfs, method: 'idmap-overlay' };
  writeState(fs, dir, state);

  const usernsFd = newUserns(env, opts.idRange);
  try {
    const entry: MountinfoEntry | undefined = mountAt(readMountinfo(fs), rootfs);
    if (entry?.fstype === 'overlay') {
      const layers = overlayLayers(entry);
      try {
        stageIdmapOverlay(env, dir, layers, usernsFd, state);
        log?.({ containerId: opts.containerId, rootfs, staged: merged, layers: layers.lowerdirs.length }, 'staging: idmap-overlay');
        return { rootfs: merged, method: 'idmap-overlay' };
      } catch (e) {
        if (!isKernelError(e)) throw e; // only a kernel refusal warrants the fallback
        log?.({ containerId: opts.containerId, rootfs, err: String(e) }, 'staging: ID-mapped overlay refused; falling back to chown of the upper layer');
        unmountAll(env, dir, log);
      }
      state.method = 'chown';
      writeState(fs, dir, state);
      stageChownOverlay(env, dir, layers, usernsFd, opts, state);
      log?.({ containerId: opts.containerId, rootfs, staged: merged, shifted: layers.upperdir }, 'staging: chown (upper layer shifted)');
      return { rootfs: merged, method: 'chown' };
    }

    state.method = 'idmap';
    writeState(fs, dir, state);
    try {
      kernel.idmappedBind(rootfs, merged, { usernsFd, recursive: true });
      log?.({ containerId: opts.containerId, rootfs, staged: merged }, 'staging: idmap');
      return { rootfs: merged, method: 'idmap' };
    } catch (e) {
      if (!isKernelError(e)) throw e;
      log?.({ containerId: opts.containerId, rootfs, err: String(e) }, 'staging: ID-mapped bind refused; falling back to chown of the rootfs');
      unmountAll(env, dir, log);
    }
    const r = opts.idRange;
    state.method = 'chown';
    state.shifted = [{ path: rootfs, uid: r.uid, gid: r.gid, size: r.size }];
    writeState(fs, dir, state);
    shiftTree(fs, rootfs, { fromUid: 0, toUid: r.uid, fromGid: 0, toGid: r.gid, size: r.size });
    kernel.mount(rootfs, merged, null, MS_BIND | MS_REC);
    log?.({ containerId: opts.containerId, rootfs, staged: merged }, 'staging: chown (rootfs shifted)');
    return { rootfs: merged, method: 'chown' };
  } catch (e) {
    try {
      await unstageRootfs(env, { containerId: opts.containerId, dataDir });
    } catch (e2) {
      log?.({ containerId: opts.containerId, err: String(e2) }, 'staging: cleanup after a failed stage failed');
    }
    throw e;
  } finally {
    kernel.close(usernsFd);
  }
}

/** Undoes stageRootfs: detaches every mount, shifts back any chown'ed tree, removes the dir. Idempotent. */
export async function unstageRootfs(env: StagingEnv, opts: { containerId: string; dataDir: string; log?: StagingLog }): Promise<void> {
  const { fs } = env;
  const dir = containerDir(opts.dataDir || DEFAULT_DATA_DIR, opts.containerId);
  unmountAll(env, dir, opts.log);
  if (!fs.exists(dir)) return;
  const state = readState(fs, dir);
  for (const s of state?.shifted ?? []) {
    if (!fs.exists(s.path)) continue;
    shiftTree(fs, s.path, { fromUid: s.uid, toUid: 0, fromGid: s.gid, toGid: 0, size: s.size });
    opts.log?.({ containerId: opts.containerId, path: s.path }, 'staging: owners shifted back');
  }
  // Our overlay workdir holds only the overlay's scratch dirs; no mount is left under it (checked above).
  if (state?.workdir && basename(state.workdir) === WORKDIR_NAME) fs.removeTree(state.workdir);
  removeDir(fs, dir);
}

/** Unstages every staged container not in `keep` (at mgr start). Returns the ids it removed. */
export async function gcStaging(env: StagingEnv, opts: { dataDir: string; keep: Set<string>; log?: StagingLog }): Promise<string[]> {
  const { fs } = env;
  const root = stagingRoot(opts.dataDir || DEFAULT_DATA_DIR);
  if (!fs.exists(root)) return [];
  const removed: string[] = [];
  const ids = new Set(fs.readdir(root).filter((n) => ID_RE.test(n)));
  // Mounts whose dir was already removed.
  for (const m of mountsUnder(readMountinfo(fs), root)) {
    const id = m.slice(root.length + 1).split('/')[0];
    if (id && ID_RE.test(id)) ids.add(id);
  }
  for (const id of ids) {
    if (opts.keep.has(id)) continue;
    await unstageRootfs(env, { containerId: id, dataDir: opts.dataDir, ...(opts.log ? { log: opts.log } : {}) });
    removed.push(id);
  }
  return removed;
}
