import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Kernel } from './kernel.js';
import { KernelError } from './kernel.js';
import { O_CLOEXEC, O_RDONLY } from './constants.js';
import { realKernel } from './real.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Path of the built sysbox-nsenter (<package>/bin/sysbox-nsenter); $SYSBOX_NSENTER overrides it. */
export function nsenterPath(): string {
  return process.env.SYSBOX_NSENTER ?? join(here, '..', 'bin', 'sysbox-nsenter');
}

/** sysbox-nsenter failed without an errno (usage error, killed, not built). */
export class NsenterError extends Error {
  readonly op: string;
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(op: string, exitCode: number | null, stderr: string, message?: string) {
    super(message ?? `sysbox-nsenter ${op}: ${stderr.trim() || `exit ${exitCode}`}`);
    this.name = 'NsenterError';
    this.op = op;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

export interface NsenterRunOptions {
  /** Binary to run; default nsenterPath(). */
  nsenter?: string;
  /** fds handed to the child as fd 3, 4, ... in order. */
  fds?: number[];
  timeoutMs?: number;
}

// "sysbox-nsenter: <op>: <step> <path>: <text> (<ERRNO>)"
const errLine = /^sysbox-nsenter: ([^:]+): (\S+(?: \S+)?)(?: (\/[^:]*))?: .* \((E[A-Z0-9]+)\)$/;

/**
 * Runs one operation; resolves with stdout. A failure with an errno becomes a KernelError.
 *
 * With the addon, the child is the addon's vfork-style spawn (spawnWait): child_process.spawn forks the whole
 * calling process first, ~2 ms in a daemon's Node (sysbox-mgr stages every rootfs's overlay through here, on
 * the create's path). Its stdout and stderr come back over socket pairs, and the deadline is the child's own
 * (`--timeout-ms`: spawnWait gives no pid to kill). Without the addon, or if it can't map the fds, child_process.
 */
export async function runNsenter(op: string, args: string[], opts: NsenterRunOptions = {}): Promise<string> {
  const bin = opts.nsenter ?? nsenterPath();
  if (!existsSync(bin)) throw new NsenterError(op, null, '', `sysbox-nsenter is not built (no ${bin}); run \`pnpm --filter @sysbox/native build\``);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const k = addonKernel();
  const ran = k ? await spawnWithAddon(k, bin, ['--timeout-ms', String(timeoutMs), op, ...args], opts.fds ?? []) : undefined;
  if (!ran) return runForked(bin, op, args, opts);
  if (ran.status === 0) return ran.out;
  if (ran.status === 128 + SIGALRM) throw new NsenterError(op, null, ran.err, `sysbox-nsenter ${op}: timed out after ${timeoutMs} ms`);
  throw failure(op, ran.status, null, ran.err);
}

const SIGALRM = 14;

let addon: Kernel | null | undefined;
/** The addon's kernel, or undefined where it isn't built. */
function addonKernel(): Kernel | undefined {
  if (addon === undefined) {
    try {
      addon = realKernel();
    } catch {
      addon = null;
    }
  }
  return addon ?? undefined;
}

/**
 * spawnWait with stdin /dev/null, stdout and stderr captured, `fds` as 3, 4, ...; undefined when nothing ran (no
 * socket pair, an fd map spawnWait refuses, a failed exec), so the caller may run it another way. A failure once
 * the child ran (its output, its exit status) is thrown: the operation is never run twice.
 */
async function spawnWithAddon(k: Kernel, bin: string, argv: string[], fds: number[]): Promise<{ status: number; out: string; err: string } | undefined> {
  const ours: number[] = [];
  const theirs: number[] = [];
  try {
    let exited: Promise<{ status: number } | { refused: unknown }>;
    try {
      const [outR, outW] = k.socketpair();
      ours.push(outR);
      theirs.push(outW);
      const [errR, errW] = k.socketpair();
      ours.push(errR);
      theirs.push(errW);
      const nul = k.open('/dev/null', O_RDONLY | O_CLOEXEC);
      theirs.push(nul);
      exited = k.spawnWait(bin, [bin, ...argv], [nul, outW, errW, ...fds]).then(
        (status) => ({ status }),
        (refused: unknown) => ({ refused }),
      );
    } catch {
      return undefined;
    }
    // The clone has exec'd (or failed) when spawnWait returns: our copies of the child's ends go, so that EOF
    // comes with its exit (at once if it never ran).
    for (const fd of theirs.splice(0)) k.close(fd);
    const [r, out, err] = await Promise.all([exited, drain(k, ours[0]!), drain(k, ours[1]!)]);
    if ('status' in r) return { status: r.status, out, err };
    // waitid failing means the child ran; anything else (fd map, clone, exec) is refused before it could
    if (r.refused instanceof KernelError && r.refused.syscall === 'waitid') throw r.refused;
    return undefined;
  } finally {
    for (const fd of [...theirs, ...ours]) k.close(fd);
  }
}

/** Reads a stream socket to EOF. */
async function drain(k: Kernel, fd: number): Promise<string> {
  const chunks: Buffer[] = [];
  for (;;) {
    const { fds, data } = await k.recvFds(fd, 0, 65536);
    for (const f of fds) k.close(f);
    if (data.length === 0) return Buffer.concat(chunks).toString('utf8');
    chunks.push(data);
  }
}

function failure(op: string, code: number | null, signal: NodeJS.Signals | null, err: string): Error {
  const line = err.trim().split('\n').pop() ?? '';
  const m = errLine.exec(line);
  if (code === 1 && m) return new KernelError(m[4]!, `sysbox-nsenter ${op}: ${m[2]}`, m[3], line);
  return new NsenterError(op, code, err, signal ? `sysbox-nsenter ${op}: killed by ${signal}` : undefined);
}

/** runNsenter through child_process (no addon). */
function runForked(bin: string, op: string, args: string[], opts: NsenterRunOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [op, ...args], {
      stdio: ['ignore', 'pipe', 'pipe', ...(opts.fds ?? [])],
      timeout: opts.timeoutMs ?? 10_000,
      killSignal: 'SIGKILL',
    });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => reject(new NsenterError(op, null, err, `sysbox-nsenter ${op}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(out);
      reject(failure(op, code, signal, err));
    });
  });
}

/** Moves a detached mount (an open_tree/fsmount fd) onto `target` inside `pid`'s mount namespace. */
export async function nsenterMoveMount(opts: {
  pid: number;
  mountFd: number;
  target: string;
  /** Create the target (dir or file, like the mount's root) and its parents if missing. */
  mkdir?: boolean;
  nsenter?: string;
}): Promise<void> {
  const args = ['--pid', String(opts.pid), '--target', opts.target];
  if (opts.mkdir) args.push('--mkdir');
  await runNsenter('move-mount', args, { fds: [opts.mountFd], ...(opts.nsenter ? { nsenter: opts.nsenter } : {}) });
}

/**
 * Moves several detached mounts (open_tree/fsmount fds) onto their targets inside `pid`'s mount namespace
 * with one sysbox-nsenter run. skipMissing: targets that don't exist there are skipped (listed in `skipped`).
 *
 * covers (done first): each `mountFd` is a directory mount placed whole over the directory `target` while
 * keeping that directory's own entries: sysbox-nsenter clones each subdirectory and file of `target` (open_tree
 * OPEN_TREE_CLONE|AT_RECURSIVE, in the container's mount namespace), moves the cover over `target`, and moves
 * each clone back over the cover's placeholder of the same name. Entries without a placeholder (or symlinks)
 * end up hidden (listed in `hidden`). A cover that fails midway is detached again. A cover with `overlay` holds no
 * placeholders: it is the upper layer of a read-only overlay whose lower layer is a clone of `target` itself (one
 * mount: the directory's own entries served by its own file system, the cover's added).
 */
export async function nsenterMoveMounts(opts: {
  pid: number;
  mounts: Array<{ mountFd: number; target: string }>;
  covers?: Array<{ mountFd: number; target: string; overlay?: boolean }>;
  skipMissing?: boolean;
  /** the container's root as PID sees it before pivot_root (an engine's hook); targets are resolved under it */
  root?: string;
  /** laid after the mounts (for an engine that masks after its hooks): /dev/null clones, empty read-only tmpfs, read-only binds of themselves */
  maskFiles?: Array<{ mountFd: number; target: string }>;
  maskDirs?: string[];
  readonly?: string[];
  /** last: these directories' mount trees re-placed by propagation from the host's user namespace, so the kernel locks them */
  lock?: string[];
  nsenter?: string;
}): Promise<{ moved: string[]; skipped: string[]; covered: string[]; hidden: string[]; locked: string[] }> {
  const covers = opts.covers ?? [];
  const maskFiles = opts.maskFiles ?? [];
  const rest = maskFiles.length + (opts.maskDirs?.length ?? 0) + (opts.readonly?.length ?? 0) + (opts.lock?.length ?? 0);
  if (opts.mounts.length === 0 && covers.length === 0 && rest === 0) return { moved: [], skipped: [], covered: [], hidden: [], locked: [] };
  if (covers.length > 16) throw new RangeError(`nsenterMoveMounts: at most 16 covers (${covers.length} given)`);
  if ((opts.lock?.length ?? 0) > 4) throw new RangeError(`nsenterMoveMounts: at most 4 trees locked (${opts.lock!.length} given)`);
  const args = ['--pid', String(opts.pid)];
  if (opts.root !== undefined && opts.root !== '/') args.push('--root', opts.root);
  if (opts.skipMissing) args.push('--skip-missing');
  const fds: number[] = [];
  const fdArg = (fd: number) => String(2 + fds.push(fd));
  covers.forEach((c) => args.push(c.overlay ? '--overlay' : '--cover', `${fdArg(c.mountFd)}:${c.target}`));
  maskFiles.forEach((m) => args.push('--mask-file', `${fdArg(m.mountFd)}:${m.target}`));
  for (const d of opts.maskDirs ?? []) args.push('--mask-dir', d);
  for (const d of opts.readonly ?? []) args.push('--ro', d);
  for (const d of opts.lock ?? []) args.push('--lock', d);
  opts.mounts.forEach((m) => args.push(`${fdArg(m.mountFd)}:${m.target}`));
  const out = await runNsenter('move-mounts', args, { fds, ...(opts.nsenter ? { nsenter: opts.nsenter } : {}) });
  const moved: string[] = [];
  const skipped: string[] = [];
  const covered: string[] = [];
  const hidden: string[] = [];
  const locked: string[] = [];
  for (const line of out.split('\n')) {
    if (line.startsWith('moved ')) moved.push(line.slice(6));
    else if (line.startsWith('skipped ')) skipped.push(line.slice(8));
    else if (line.startsWith('covered ')) covered.push(line.slice(8));
    else if (line.startsWith('hidden ')) hidden.push(line.slice(7));
    else if (line.startsWith('locked ')) locked.push(line.slice(7));
  }
  return { moved, skipped, covered, hidden, locked };
}

/** Reads /proc/sys/<path> as `pid` sees it (its user, net, ipc, uts and mount namespaces). */
export function nsenterSysctlRead(opts: { pid: number; path: string; nsenter?: string }): Promise<string> {
  return runNsenter('sysctl', ['--pid', String(opts.pid), '--read', opts.path], opts.nsenter ? { nsenter: opts.nsenter } : {});
}

/** Writes /proc/sys/<path> as `pid` sees it. */
export async function nsenterSysctlWrite(opts: { pid: number; path: string; value: string; nsenter?: string }): Promise<void> {
  await runNsenter('sysctl', ['--pid', String(opts.pid), '--write', opts.path, opts.value], opts.nsenter ? { nsenter: opts.nsenter } : {});
}

/**
 * Runs a host program inside `pid`'s network namespace only (sysbox-nsenter net-exec): its binary and the files it
 * opens are the host's, its sockets and /proc/sys/net are the container's. `sysctls` (NAME=VALUE under
 * /proc/sys/net) are written there first; without `argv` only they are. Resolves with the program's stdout; a
 * program that fails is an NsenterError carrying its stderr.
 */
export function nsenterNetExec(opts: { pid: number; sysctls?: Record<string, string>; argv?: string[]; nsenter?: string; timeoutMs?: number }): Promise<string> {
  const args = ['--pid', String(opts.pid)];
  for (const [k, v] of Object.entries(opts.sysctls ?? {})) args.push('--sysctl', `${k}=${v}`);
  if (opts.argv?.length) args.push('--', ...opts.argv);
  return runNsenter('net-exec', args, { ...(opts.nsenter ? { nsenter: opts.nsenter } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
}

/** A path argument of a seccomp-notified caller: a path in its root/cwd, or an fd of this process (pidfd_getfd of the caller's) with what follows it. */
export type CallerPath = { path: string } | { fd: number; rest?: string };

export interface AsCallerOptions {
  /** host tid of the caller (its namespaces, root and cwd are joined) */
  tid: number;
  target: CallerPath;
  source?: CallerPath | string | null;
  fstype?: string | null;
  flags?: number | bigint;
  data?: string | null;
  /** mount-proc/mount-sysfs: what is laid over the new mount (REL paths inside it) */
  files?: Array<{ fd: number; rel: string }>;
  maskFiles?: Array<{ fd: number; rel: string }>;
  maskDirs?: string[];
  readonly?: string[];
  /** views (see nsenterMoveMounts' covers; `overlay` likewise) */
  covers?: Array<{ fd: number; rel: string; overlay?: boolean }>;
  /**
   * The same, cloned by sysbox-nsenter itself from host paths before it joins anything: for a caller that serves
   * those paths (sysbox-fs's own FUSE tree), whose lookups it must not make on its own thread.
   */
  fileSrcs?: Array<{ path: string; rel: string }>;
  maskSrcs?: Array<{ path: string; rel: string }>;
  coverSrcs?: Array<{ path: string; rel: string; overlay?: boolean }>;
  /** file clones from fileSrcs read-only */
  rdonlyFiles?: boolean;
  /** setattr */
  atFlags?: number;
  attr?: { attrSet: bigint; attrClr: bigint; propagation: bigint };
  /** openat2 */
  mode?: bigint;
  resolve?: bigint;
  /** the caller's IDs in its user namespace (openat2); default 0 */
  uid?: number;
  gid?: number;
  nsenter?: string;
  timeoutMs?: number;
}

/** sysbox-nsenter as-caller answered "not on FUSE" (openat2): the file opened is not sysbox-fs's. */
export class NotFuseError extends Error {
  override readonly name = 'NotFuseError';
}

/**
 * Performs one call as a seccomp-notified thread would (sysbox-nsenter as-caller): mount(2) (binds, moves and
 * bind-remounts through the fd-based calls), a new procfs/sysfs with the emulation laid over it, mount_setattr(2),
 * or openat2(2) of a file of sysbox-fs (its fd returned, O_CLOEXEC: the caller decides what the target gets).
 * A failure with an errno is a KernelError (the errno the caller's own call would have got).
 */
export async function nsenterAsCaller(
  kernel: Kernel,
  action: 'mount' | 'mount-proc' | 'mount-sysfs' | 'setattr' | 'openat2' | 'umount',
  o: AsCallerOptions,
): Promise<number | undefined> {
  const fds: number[] = [];
  const fdArg = (fd: number) => {
    fds.push(fd);
    return String(2 + fds.length);
  };
  const args = ['--tid', String(o.tid), action];
  if ('path' in o.target) args.push('--target', o.target.path);
  else {
    args.push('--target-fd', fdArg(o.target.fd));
    if (o.target.rest) args.push('--target-rest', o.target.rest);
  }
  if (typeof o.source === 'string') args.push('--source', o.source);
  else if (o.source && 'path' in o.source) args.push('--source', o.source.path);
  else if (o.source) {
    args.push('--source-fd', fdArg(o.source.fd));
    if (o.source.rest) args.push('--source-rest', o.source.rest);
  }
  if (o.fstype) args.push('--fstype', o.fstype);
  if (o.flags !== undefined) args.push('--flags', `0x${BigInt(o.flags).toString(16)}`);
  if (o.data !== undefined && o.data !== null) args.push('--data', o.data);
  for (const f of o.files ?? []) args.push('--file', `${fdArg(f.fd)}:${f.rel}`);
  for (const f of o.maskFiles ?? []) args.push('--mask-file', `${fdArg(f.fd)}:${f.rel}`);
  for (const d of o.maskDirs ?? []) args.push('--mask-dir', d);
  for (const d of o.readonly ?? []) args.push('--ro', d);
  for (const c of o.covers ?? []) args.push(c.overlay ? '--overlay' : '--cover', `${fdArg(c.fd)}:${c.rel}`);
  if (o.rdonlyFiles) args.push('--rdonly-files');
  for (const f of o.fileSrcs ?? []) args.push('--file-src', `${f.path}:${f.rel}`);
  for (const f of o.maskSrcs ?? []) args.push('--mask-src', `${f.path}:${f.rel}`);
  for (const c of o.coverSrcs ?? []) args.push(c.overlay ? '--overlay-src' : '--cover-src', `${c.path}:${c.rel}`);
  if (o.atFlags !== undefined) args.push('--at-flags', `0x${o.atFlags.toString(16)}`);
  if (o.attr) args.push('--attr-set', `0x${o.attr.attrSet.toString(16)}`, '--attr-clr', `0x${o.attr.attrClr.toString(16)}`, '--propagation', `0x${o.attr.propagation.toString(16)}`);
  if (o.mode !== undefined) args.push('--mode', `0x${o.mode.toString(16)}`);
  if (o.resolve !== undefined) args.push('--resolve', `0x${o.resolve.toString(16)}`);
  if (o.uid !== undefined) args.push('--uid', String(o.uid));
  if (o.gid !== undefined) args.push('--gid', String(o.gid));
  const run = { fds, timeoutMs: o.timeoutMs ?? 10_000, ...(o.nsenter ? { nsenter: o.nsenter } : {}) };
  if (action !== 'openat2') {
    await runNsenter('as-caller', args, run);
    return undefined;
  }
  const [mine, theirs] = kernel.socketpair();
  try {
    args.push('--sock', fdArg(theirs));
    const got = kernel.recvFds(mine, 1, 16);
    got.catch(() => {});
    const ran = runNsenter('as-caller', args, run);
    kernel.close(theirs);
    try {
      await ran;
    } catch (e) {
      got.then((m) => m.fds.forEach((fd) => kernel.close(fd)), () => {});
      if (e instanceof NsenterError && e.exitCode === 3) throw new NotFuseError(e.stderr.trim());
      throw e;
    }
    const msg = await got;
    const [fd, ...extra] = msg.fds;
    for (const x of extra) kernel.close(x);
    if (fd === undefined) throw new NsenterError('as-caller', 0, '', 'sysbox-nsenter as-caller: no fd received');
    return fd;
  } finally {
    kernel.close(mine);
  }
}
