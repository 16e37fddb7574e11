import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Kernel } from './kernel.js';
import { KernelError } from './kernel.js';

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

/** Runs one operation; resolves with stdout. A failure with an errno becomes a KernelError. */
export function runNsenter(op: string, args: string[], opts: NsenterRunOptions = {}): Promise<string> {
  const bin = opts.nsenter ?? nsenterPath();
  if (!existsSync(bin))
    return Promise.reject(new NsenterError(op, null, '', `sysbox-nsenter is not built (no ${bin}); run \`pnpm --filter @sysbox/native build\``));
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
      const line = err.trim().split('\n').pop() ?? '';
      const m = errLine.exec(line);
      if (code === 1 && m) return reject(new KernelError(m[4]!, `sysbox-nsenter ${op}: ${m[2]}`, m[3], line));
      reject(new NsenterError(op, code, err, signal ? `sysbox-nsenter ${op}: killed by ${signal}` : undefined));
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
 * end up hidden (listed in `hidden`). A cover that fails midway is detached again.
 */
export async function nsenterMoveMounts(opts: {
  pid: number;
  mounts: Array<{ mountFd: number; target: string }>;
  covers?: Array<{ mountFd: number; target: string }>;
  skipMissing?: boolean;
  /** the container's root as PID sees it before pivot_root (an engine's hook); targets are resolved under it */
  root?: string;
  nsenter?: string;
}): Promise<{ moved: string[]; skipped: string[]; covered: string[]; hidden: string[] }> {
  const covers = opts.covers ?? [];
  if (opts.mounts.length === 0 && covers.length === 0) return { moved: [], skipped: [], covered: [], hidden: [] };
  if (covers.length > 16) throw new RangeError(`nsenterMoveMounts: at most 16 covers (${covers.length} given)`);
  const args = ['--pid', String(opts.pid)];
  if (opts.root !== undefined && opts.root !== '/') args.push('--root', opts.root);
  if (opts.skipMissing) args.push('--skip-missing');
  covers.forEach((c, i) => args.push('--cover', `${3 + opts.mounts.length + i}:${c.target}`));
  opts.mounts.forEach((m, i) => args.push(`${3 + i}:${m.target}`));
  const fds = [...opts.mounts.map((m) => m.mountFd), ...covers.map((c) => c.mountFd)];
  const out = await runNsenter('move-mounts', args, { fds, ...(opts.nsenter ? { nsenter: opts.nsenter } : {}) });
  const moved: string[] = [];
  const skipped: string[] = [];
  const covered: string[] = [];
  const hidden: string[] = [];
  for (const line of out.split('\n')) {
    if (line.startsWith('moved ')) moved.push(line.slice(6));
    else if (line.startsWith('skipped ')) skipped.push(line.slice(8));
    else if (line.startsWith('covered ')) covered.push(line.slice(8));
    else if (line.startsWith('hidden ')) hidden.push(line.slice(7));
  }
  return { moved, skipped, covered, hidden };
}

/**
 * Creates an overlay from inside a user namespace (as its root, option userxattr) and returns its
 * detached mount fd (O_CLOEXEC); move it somewhere with kernel.moveMount(fd, '', AT_FDCWD, path,
 * MOVE_MOUNT_F_EMPTY_PATH) and close it. Layers should be ID-mapped mounts through that namespace.
 */
export async function nsenterOverlay(
  kernel: Kernel,
  opts: { usernsFd: number; lowerdirs: string[]; upperdir?: string; workdir?: string; options?: string[]; nsenter?: string },
): Promise<number> {
  const args = ['--userns-fd', '3', '--sock', '4', '--lowerdir', opts.lowerdirs.map(escapeLower).join(':')];
  if (opts.upperdir !== undefined) args.push('--upperdir', opts.upperdir);
  if (opts.workdir !== undefined) args.push('--workdir', opts.workdir);
  for (const o of opts.options ?? []) args.push('--opt', o);
  const [mine, theirs] = kernel.socketpair();
  try {
    const got = kernel.recvFds(mine, 1, 16);
    got.catch(() => {}); // awaited below, after the child's exit status
    const ran = runNsenter('overlay', args, { fds: [opts.usernsFd, theirs], ...(opts.nsenter ? { nsenter: opts.nsenter } : {}) });
    // Our copy of the child's end must go once the child has it, so EOF reaches us if it dies.
    kernel.close(theirs);
    let msg: { fds: number[]; data: Buffer };
    try {
      await ran;
      msg = await got;
    } catch (e) {
      got.then((m) => m.fds.forEach((fd) => kernel.close(fd)), () => {});
      throw e;
    }
    const [fd, ...extra] = msg.fds;
    for (const x of extra) kernel.close(x);
    if (fd === undefined) throw new NsenterError('overlay', 0, '', 'sysbox-nsenter overlay: no mount fd received');
    return fd;
  } finally {
    kernel.close(mine);
  }
}

function escapeLower(p: string): string {
  return p.replace(/([\\:,])/g, '\\$1');
}

/** Reads /proc/sys/<path> as `pid` sees it (its user, net, ipc, uts and mount namespaces). */
export function nsenterSysctlRead(opts: { pid: number; path: string; nsenter?: string }): Promise<string> {
  return runNsenter('sysctl', ['--pid', String(opts.pid), '--read', opts.path], opts.nsenter ? { nsenter: opts.nsenter } : {});
}

/** Writes /proc/sys/<path> as `pid` sees it. */
export async function nsenterSysctlWrite(opts: { pid: number; path: string; value: string; nsenter?: string }): Promise<void> {
  await runNsenter('sysctl', ['--pid', String(opts.pid), '--write', opts.path, opts.value], opts.nsenter ? { nsenter: opts.nsenter } : {});
}
