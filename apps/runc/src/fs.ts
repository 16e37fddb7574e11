// sysbox-fs attachment (apps/fs): after the engine's create, register the container with sysbox-fs (it
// mounts the container's FUSE tree), then clone each file of that tree (open_tree) and move it over the
// same path in the container's mount namespace (sysbox-nsenter move-mount) — before its process starts.
// Directories sysbox-fs answers as covers (e.g. /sys/devices/virtual on a host without DMI, to add dmi/id:
// sysfs can't get new entries) are placed by sysbox-nsenter in the same run: as the upper layer of a read-only overlay
// over the container's own directory where the cover only adds (sysbox-fs's `overlays`), else whole, with the
// container's own entries mounted back over their placeholders.
// Fails closed: a container whose files can't all be placed (sysbox-fs down or hung, a file that can't be moved in)
// is not created; attachFs throws one line saying what is missing, and create undoes everything.
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Context } from './context.js';
import { DaemonError, daemonTimeoutMs, fsSocket } from './daemons.js';
import { runEngine } from './engine.js';
import { loadNative } from './native.js';
import { requireLazily } from './require.js';
import type { FsClient } from '@sysbox/ipc';
import { LOCKED_TREES, laidPaths, laidPathsOf, maskedAndReadonlyOf, type IdRange, type MaskedAndReadonly, type Spec } from '@sysbox/spec';

/**
 * For the spec conversion (ConvertContext.emulatedPaths): /proc/sys leaves Docker's read-only paths — the
 * container's own procfs then answers namespaced knobs natively, the kernel refuses writes to non-namespaced
 * ones (Permission denied), and sysbox-fs's files are placed over the emulated knobs (a create without them fails).
 */
export const EMULATED_PATHS: readonly string[] = Object.freeze(['/proc/sys']);

/**
 * The converted spec's masked and read-only paths: `all` for sysbox-fs's Register (empty: its defaults), `laid` those
 * sysbox-runc lays itself (@sysbox/spec's LAID_PATHS_ANNOTATION: the engine's spec no longer has them).
 */
function pathsOf(ctx: Context, id: string): { all: MaskedAndReadonly; laid: MaskedAndReadonly } {
  try {
    const s = JSON.parse(readFileSync(join(ctx.stateDir(id), 'bundle', 'config.json'), 'utf8')) as Spec;
    return { all: maskedAndReadonlyOf(s), laid: laidPathsOf(s) };
  } catch {
    const none = { maskedPaths: [], readonlyPaths: [] };
    return { all: none, laid: none };
  }
}

/** Whether a host path is a directory (undefined: absent): the same kernel, so the container's entry has its type. */
function hostIsDir(path: string): boolean | undefined {
  try {
    return statSync(path).isDirectory();
  } catch {
    return undefined;
  }
}

/** The container's emulated files could not all be placed: the one line the user sees. */
export class AttachError extends Error {
  override name = 'AttachError';
}

export interface AttachOptions {
  containerId: string;
  /** the container's root as its init sees it, when attaching before the engine's pivot_root (from a hook) */
  root?: string;
  /** the sysbox-fs connection (reachFs, opened while the engine works); attachFs closes it */
  client: Promise<FsClient>;
  idRange: IdRange;
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
export async function initPidOf(ctx: Context, containerId: string, pidFile?: string): Promise<number> {
  if (pidFile) {
    const n = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
    if (Number.isSafeInteger(n) && n > 0) return n;
  }
  const r = await runEngine(ctx, [...ctx.engineGlobals(), 'state', containerId], { capture: true });
  if (r.code !== 0) throw new Error(`engine state ${containerId} failed (exit ${r.code})`);
  const pid = (JSON.parse(r.stdout!.toString('utf8')) as { pid?: number }).pid;
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
 * Registers with sysbox-fs and places every emulated file. Throws AttachError (one line: what failed) when
 * sysbox-fs can't be reached or a file can't be placed; the registration is dropped first.
 */
export async function attachFs(ctx: Context, o: AttachOptions): Promise<Attached> {
  const clog = ctx.log.child({ containerId: o.containerId });
  let registered = false;
  try {
    const initPid = o.initPid ?? (await initPidOf(ctx, o.containerId, o.pidFile));
    const fs = await o.client;
    const specPaths = pathsOf(ctx, o.containerId);
    let mountpoint: string;
    let covers: string[];
    let overlays: ReadonlySet<string>;
    let listed: string[];
    try {
      let over: string[];
      ({ mountpoint, covers, files: listed, overlays: over } = await fs.register({ containerId: o.containerId, initPid, idRange: o.idRange, options: { procfs: true, sysfs: true }, ...(o.root ? { root: o.root } : {}), ...specPaths.all }));
      overlays = new Set(over);
      registered = true;
    } catch (e) {
      const timeout = (e as { code?: string }).code === 'DEADLINE_EXCEEDED';
      throw new AttachError(`sysbox-fs ${timeout ? `did not answer within ${daemonTimeoutMs(ctx)} ms` : 'refused'} the registration of container ${o.containerId}${timeout ? ` (hung or overloaded, socket ${fsSocket(ctx)})` : `: ${(e as Error).message}`}: a system container is not created without its /proc and /sys emulation`);
    } finally {
      fs.close();
    }
    clog.debug({ covers: covers.length }, 'sysbox-fs registered');
    const native = loadNative();
    const kernel = native.realKernel();
    // one sysbox-nsenter run for all files (targets missing in the container, e.g. a knob of a module the
    // container's network namespace lacks, are skipped)
    const fds: number[] = [];
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
      // the masked and read-only paths the spec leaves to us (runc would lay its own after pivot_root, unlocked):
      // laid here, so that the lock below holds them too
      const masks = laidPaths(LOCKED_TREES, specPaths.laid.maskedPaths, specPaths.laid.readonlyPaths, files, hostIsDir);
      const maskFds = masks.maskFiles.map(() => kernel.openTree(native.AT_FDCWD, '/dev/null', native.OPEN_TREE_CLONE));
      fds.push(...maskFds);
      ({ moved: paths, skipped, covered, hidden } = await native.nsenterMoveMounts({
        pid: initPid,
        ...(o.root ? { root: o.root } : {}),
        skipMissing: true,
        mounts: files.map((target, i) => ({ mountFd: fds[i]!, target })),
        covers: covers.map((target, i) => ({ mountFd: fds[files.length + i]!, target, overlay: overlays.has(target) })),
        maskFiles: masks.maskFiles.map((target, i) => ({ mountFd: maskFds[i]!, target })),
        maskDirs: masks.maskDirs,
        readonly: masks.readonly,
        lock: [...LOCKED_TREES],
      }));
    } catch (e) {
      throw new AttachError(`the /proc and /sys emulation of container ${o.containerId} could not be placed: ${(e as Error).message}`);
    } finally {
      for (const fd of fds) kernel.close(fd);
    }
    if (hidden.length) clog.warn({ hidden }, `sysbox-fs: ${hidden.length} entries of covered dirs are hidden in container ${o.containerId} (no placeholder for them)`);
    clog.debug({ initPid, mountpoint, paths: paths.length, skipped, covered }, 'sysbox-fs views placed');
    return { mountpoint, paths: paths.sort(), skipped: skipped.sort(), covered };
  } catch (e) {
    if (registered) await detachFs(ctx, o.containerId);
    if (e instanceof AttachError || e instanceof DaemonError) throw e;
    throw new AttachError(`the /proc and /sys emulation of container ${o.containerId} could not be placed: ${(e as Error).message}`);
  }
}

/** Drops the container's emulation (unmounts its FUSE tree). Never throws (mgr's Unregister drops it too). */
export async function detachFs(ctx: Context, containerId: string): Promise<void> {
  const socketPath = fsSocket(ctx);
  if (!existsSync(socketPath)) return;
  try {
    const { connectFs } = await import('@sysbox/ipc');
    const fs = await connectFs({ socketPath, deadlineMs: daemonTimeoutMs(ctx) });
    try {
      await fs.unregister({ containerId });
    } finally {
      fs.close();
    }
  } catch (e) {
    ctx.log.child({ containerId }).warn({ err: (e as Error).message }, `sysbox-fs: could not unregister ${containerId}`);
  }
}

// ---- placing the files during the engine's hooks --------------------------------------------------------------
//
// runc runs a container's prestart and createRuntime hooks after it has mounted the container's /proc and /sys
// under the rootfs and before pivot_root, while the container's init waits. Docker's own prestart hook
// (libnetwork-setkey, which re-executes dockerd) takes ~90 ms there. sysbox-runc's create adds
// `sysbox-runc-hook notify` before it and `sysbox-runc-hook wait` after every other hook (@sysbox/spec
// hooksModifier) and listens on a socket in the container's state dir: notify brings the init pid, and the
// files are placed under the rootfs meanwhile; wait holds the engine until they are. crun runs its prestart
// hooks before the container's mounts, so it keeps the placement after its create.

/** How sysbox-fs's files are placed: during the engine's hooks, or after its create. */
export function fsAttachMode(ctx: Context): 'hooks' | 'after-create' {
  const m = ctx.env('SYSBOX_FS_ATTACH') ?? ctx.config.fsAttach;
  // hooks (set or default) only where the engine runs them after its mounts: runc
  if (m === 'after-create') return m;
  return ctx.engine.name === 'runc' ? 'hooks' : 'after-create';
}

/** sysbox-runc-hook, built beside sysbox-nsenter in @sysbox/native (resolved without loading the addon). */
export function hookBinary(ctx?: Context): string {
  const hook = ctx?.env('SYSBOX_RUNC_HOOK');
  if (hook) return hook;
  return join(dirname(requireLazily.resolve('@sysbox/native')), '..', 'bin', 'sysbox-runc-hook');
}

/** sysbox-runc-hook, if the files are placed from the engine's hooks (fsAttachMode) and it is installed. */
function hookPath(ctx: Context): string | undefined {
  if (fsAttachMode(ctx) !== 'hooks') return undefined;
  try {
    const path = hookBinary(ctx);
    return existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

/** Whether this create places the files from the engine's hooks. */
export function hooksAvailable(ctx: Context): boolean {
  return hookPath(ctx) !== undefined;
}

/** The attach hooks for the spec (ConvertContext.attachHooks), or undefined to place the files after create. */
export function attachHooksFor(ctx: Context, stateDir: string): { path: string; socket: string } | undefined {
  const path = hookPath(ctx);
  return path ? { path, socket: join(stateDir, 'hook.sock') } : undefined;
}

/** How a placement started from the hooks ended: what was placed, or why it failed. */
export type Placement = { ok: true; attached: Attached } | { ok: false; error: Error };

export interface HookAttach {
  /** set once notify came: the placement under way (it never rejects) */
  readonly attached: Promise<Placement> | undefined;
  /** stops listening, drops open hook connections and removes the socket */
  close(): void;
}

/**
 * Listens on the hooks' socket. notify starts attachFs for the pid it brings (under `root`); wait is answered
 * once that placement is over and, after it, `networked` (the step that needs the container's network set up by the
 * hooks in between) is: `ok <n>` (n files placed) or `fail <reason>` (the hook then fails the engine).
 * A wait without a notify before it is answered `ok` (the files are then placed after the engine's create), or
 * `fail` with `needNotify` (`run`: nothing could place them later). Resolves once listening; a socket path longer
 * than sun_path is bound through its directory fd.
 */
export async function listenForHooks(
  socket: string,
  attach: (initPid: number) => Promise<Attached>,
  needNotify = false,
  networked?: (initPid: number) => Promise<void>,
): Promise<HookAttach> {
  // (a require, not import(): dist/load.cjs runs the bundle through vm.Script, which has no ESM loader)
  const net = requireLazily('node:net') as typeof import('node:net');
  let attached: Promise<Placement> | undefined;
  let initPid = 0;
  let waited = false;
  const conns = new Set<import('node:net').Socket>();
  const server = net.createServer((conn) => {
    conns.add(conn);
    conn.on('close', () => conns.delete(conn));
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('error', () => undefined);
    conn.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 256) conn.destroy();
        return;
      }
      const [op, arg] = buf.slice(0, nl).split(' ');
      buf = '';
      if (op === 'notify') {
        // answered first: the engine waits for this hook, and attach's synchronous start (the cgroup chowns, ~0.7 ms)
        // need not hold it; the hook returns after this, and the engine's wait hook comes after the notify
        conn.end('ok\n');
        const pid = Number(arg);
        if (!attached && Number.isSafeInteger(pid) && pid > 0) {
          initPid = pid;
          attached = attach(pid).then(
            (a): Placement => ({ ok: true, attached: a }),
            (e: unknown): Placement => ({ ok: false, error: e instanceof Error ? e : new Error(String(e)) }),
          );
        }
      } else if (op === 'wait') {
        if (!attached) conn.end(needNotify ? 'fail the engine ran the wait hook without the notify hook: the /proc and /sys emulation was not placed\n' : 'ok\n');
        else {
          // every other hook has run (Docker's libnetwork-setkey: the network is set up): `networked`, then the answer
          if (networked && !waited) {
            const pid = initPid;
            attached = attached.then((p) =>
              p.ok ? networked(pid).then((): Placement => p, (e: unknown): Placement => ({ ok: false, error: e instanceof Error ? e : new Error(String(e)) })) : p,
            );
          }
          waited = true;
          void attached.then((p) => conn.end(p.ok ? `ok ${p.attached.paths.length}\n` : `fail ${p.error.message.replace(/\n/g, ' ')}\n`));
        }
      } else {
        conn.destroy();
      }
    });
  });
  // kept open while listening: libuv unlinks the path it bound when the server closes
  const dirFd = socket.length >= 108 ? openSync(dirname(socket), 'r') : -1;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(dirFd >= 0 ? `/proc/self/fd/${dirFd}/${basename(socket)}` : socket, () => resolve());
    });
  } catch (e) {
    if (dirFd >= 0) closeSync(dirFd);
    throw e;
  }
  return {
    get attached() {
      return attached;
    },
    close() {
      server.close();
      for (const c of conns) c.destroy(); // a hook still waiting: create is over (its wait fails)
      if (dirFd >= 0) closeSync(dirFd);
      try {
        unlinkSync(socket);
      } catch {
        // gone already
      }
    },
  };
}
