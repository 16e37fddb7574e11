// sysbox-fs attachment (apps/fs): after the engine's create, register the container with sysbox-fs (it
// mounts the container's FUSE tree), then clone each file of that tree (open_tree) and move it over the
// same path in the container's mount namespace (sysbox-nsenter move-mount) — before its process starts.
// Directories sysbox-fs answers as covers (e.g. /sys/devices/virtual on a host without DMI, to add dmi/id:
// sysfs can't get new entries) are placed whole, with the container's own entries mounted back over their
// placeholders by sysbox-nsenter, in the same run.
// Degrades: without sysbox-fs (no socket) or on a failure, the container runs without emulation and the
// reason is logged as a warning.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from './context.js';
import { runEngineCapture } from './engine.js';
import { log } from './log.js';
import type { FsClient } from '@sysbox/ipc';

export const DEFAULT_FS_SOCKET = '/run/sysbox/fs.sock';

export function fsSocket(ctx: Context): string {
  return process.env['SYSBOX_FS_SOCKET'] ?? ctx.config.fsSocket ?? DEFAULT_FS_SOCKET;
}

/**
 * For the spec conversion (ConvertContext.emulatedPaths): with sysbox-fs running, /proc/sys leaves Docker's
 * read-only paths — the container's own procfs then answers namespaced knobs natively, the kernel refuses
 * writes to non-namespaced ones (Permission denied), and sysbox-fs's files are placed over the emulated knobs.
 * Without sysbox-fs: nothing changes (/proc/sys stays read-only).
 */
export function emulatedPaths(ctx: Context): { emulatedPaths?: string[] } {
  return existsSync(fsSocket(ctx)) ? { emulatedPaths: ['/proc/sys'] } : {};
}

/**
 * Opens the sysbox-fs connection ahead of attachFs (e.g. while the engine creates the container) and warms it
 * with a Status call, so Register goes out on a ready connection; loads the native addon meanwhile (~4 ms that
 * would otherwise follow the engine). Undefined without sysbox-fs; never rejects.
 */
export function preconnectFs(ctx: Context): Promise<FsClient | undefined> | undefined {
  const socketPath = fsSocket(ctx);
  if (!existsSync(socketPath)) return undefined;
  void import('@sysbox/native').catch(() => undefined);
  return import('@sysbox/ipc')
    .then(({ connectFs }) => connectFs({ socketPath, deadlineMs: 15_000 }))
    .then(
      async (fs) => {
        await fs.status({}).catch(() => undefined);
        return fs;
      },
      () => undefined,
    );
}

export interface AttachOptions {
  containerId: string;
  /** a connection from preconnectFs (attachFs closes it); attachFs connects itself without one */
  client?: Promise<FsClient | undefined> | undefined;
  idRange: { uid: number; gid: number; size: number };
  /** the engine's --pid-file, if the caller gave one; else `engine state` is asked */
  pidFile?: string | undefined;
  /** known init pid (skips pidFile/state) */
  initPid?: number;
}

export interface Attached {
  mountpoint: string;
  /** container paths now served by sysbox-fs */
  paths: string[];
  /** container paths left native (absent in the container, e.g. a net knob of a non-initial netns) */
  skipped: string[];
  /** container directories covered whole (their own entries mounted back) */
  covered: string[];
}

/** The init pid of a created container: from the pid file the engine wrote, else from `engine state`. */
export function initPidOf(ctx: Context, containerId: string, pidFile?: string): number {
  if (pidFile) {
    const n = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
    if (Number.isSafeInteger(n) && n > 0) return n;
  }
  const r = runEngineCapture(ctx.engine, [...ctx.engineGlobals(), 'state', containerId]);
  if (r.code !== 0) throw new Error(`engine state ${containerId} failed (exit ${r.code})`);
  const pid = (JSON.parse(r.stdout.toString('utf8')) as { pid?: number }).pid;
  if (!pid) throw new Error(`engine state ${containerId}: no pid`);
  return pid;
}

/** Files of a FUSE tree, as container paths ("/proc/uptime"), not descending into covers. */
function filesOf(root: string, covers: ReadonlySet<string>, rel = ''): string[] {
  const out: string[] = [];
  // Dirent types come with the readdir answer (Node lstat()s only where the type is unknown): one FUSE
  // round trip per directory instead of one per file.
  for (const d of readdirSync(join(root, rel), { withFileTypes: true })) {
    const r = `${rel}/${d.name}`;
    if (covers.has(r)) continue;
    if (d.isDirectory()) out.push(...filesOf(root, covers, r));
    else out.push(r);
  }
  return out;
}

/**
 * Registers with sysbox-fs and places the emulated files. Never throws: returns undefined (and logs a
 * warning) when sysbox-fs is absent or anything fails; the container then sees its plain procfs.
 */
export async function attachFs(ctx: Context, o: AttachOptions): Promise<Attached | undefined> {
  const clog = log.child({ containerId: o.containerId });
  const socketPath = fsSocket(ctx);
  if (!existsSync(socketPath)) {
    clog.warn({ socket: socketPath }, `sysbox-fs is not running (no socket at ${socketPath}): container ${o.containerId} runs without /proc and /sys emulation`);
    return undefined;
  }
  try {
    const initPid = o.initPid ?? initPidOf(ctx, o.containerId, o.pidFile);
    const fs = (await o.client) ?? (await (await import('@sysbox/ipc')).connectFs({ socketPath, deadlineMs: 15_000 }));
    let mountpoint: string;
    let covers: string[];
    let listed: string[];
    try {
      ({ mountpoint, covers, files: listed } = await fs.register({ containerId: o.containerId, initPid, idRange: o.idRange, options: { procfs: true, sysfs: true } }));
    } finally {
      fs.close();
    }
    clog.debug({ covers: covers.length }, 'sysbox-fs registered');
    const native = await import('@sysbox/native');
    const kernel = native.realKernel();
    // one sysbox-nsenter run for all files (targets missing in the container, e.g. a knob of a module the
    // container's network namespace lacks, are skipped)
    const fds: number[] = [];
    const failed: Array<{ path: string; err: string }> = [];
    let paths: string[] = [];
    let skipped: string[] = [];
    let covered: string[] = [];
    let hidden: string[] = [];
    try {
      // as Register lists them (each directory walked would be a FUSE round trip); an older sysbox-fs lists none
      const files = listed.length > 0 ? listed : filesOf(mountpoint, new Set(covers));
      for (const p of [...files, ...covers]) fds.push(kernel.openTree(native.AT_FDCWD, join(mountpoint, p), native.OPEN_TREE_CLONE));
      // a cover is read-only, as the container's /sys is (its moved-back entries keep their own flags)
      clog.debug({ files: files.length }, 'sysbox-fs trees cloned');
      for (let i = files.length; i < fds.length; i++) kernel.mountSetattr(fds[i]!, '', native.AT_EMPTY_PATH, { attrSet: native.MOUNT_ATTR_RDONLY | native.MOUNT_ATTR_NOSUID | native.MOUNT_ATTR_NODEV | native.MOUNT_ATTR_NOEXEC });
      ({ moved: paths, skipped, covered, hidden } = await native.nsenterMoveMounts({
        pid: initPid,
        skipMissing: true,
        mounts: files.map((target, i) => ({ mountFd: fds[i]!, target })),
        covers: covers.map((target, i) => ({ mountFd: fds[files.length + i]!, target })),
      }));
    } catch (e) {
      failed.push({ path: '*', err: (e as Error).message });
    } finally {
      for (const fd of fds) kernel.close(fd);
    }
    if (failed.length) clog.warn({ failed }, `sysbox-fs: ${failed.length} emulated file(s) could not be placed in container ${o.containerId}`);
    if (hidden.length) clog.warn({ hidden }, `sysbox-fs: ${hidden.length} entries of covered dirs are hidden in container ${o.containerId} (no placeholder for them)`);
    clog.debug({ initPid, mountpoint, paths: paths.length, skipped, covered }, 'sysbox-fs views placed');
    return { mountpoint, paths: paths.sort(), skipped: skipped.sort(), covered };
  } catch (e) {
    clog.warn({ err: (e as Error).message }, `sysbox-fs attach failed: container ${o.containerId} runs without /proc and /sys emulation`);
    await detachFs(ctx, o.containerId);
    return undefined;
  }
}

/** Drops the container's emulation (unmounts its FUSE tree). Never throws. */
export async function detachFs(ctx: Context, containerId: string): Promise<void> {
  const socketPath = fsSocket(ctx);
  if (!existsSync(socketPath)) return;
  try {
    const { connectFs } = await import('@sysbox/ipc');
    const fs = await connectFs({ socketPath, deadlineMs: 10_000 });
    try {
      await fs.unregister({ containerId });
    } finally {
      fs.close();
    }
  } catch (e) {
    log.child({ containerId }).warn({ err: (e as Error).message }, `sysbox-fs: could not unregister ${containerId}`);
  }
}
