// Small typed helpers around the Docker CLI (always /usr/bin/docker: the Debian client matching dockerd 20.10).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGES } from './paths.ts';

export const DOCKER = '/usr/bin/docker';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** true when the command was killed because it ran past timeoutMs */
  timedOut: boolean;
}

export interface ExecOptions {
  timeoutMs?: number;
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs a program, collects its output; never throws for a non-zero exit (only for a spawn error other than ENOENT). */
export function exec(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve) => {
    const child = spawn(file, args as string[], {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let done = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    const finish = (code: number, extraErr = '') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + extraErr + (timedOut ? `\n[timed out after ${timeoutMs} ms]` : ''),
        timedOut,
      });
    };
    child.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ENOENT' ? 127 : 126, `${file}: ${e.message}`));
    child.on('close', (code, signal) => finish(code ?? (signal ? 128 + (signalNumber(signal) ?? 0) : 1)));
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(opts.input);
    }
  });
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 } as Record<string, number>)[sig];
}

/** `docker <args>` via /usr/bin/docker. */
export function docker(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return exec(DOCKER, args, opts);
}

/** Like docker() but throws with the command's stderr when it exits non-zero. */
export async function dockerOk(args: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const r = await docker(args, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} → exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** Every container the suites and the bench start carries this label (so leftovers can be found and removed). */
export const E2E_LABEL = 'sysbox-e2e=1';
/** ...and the id of its run (the pid of the vitest main process or of the bench): runs on one host don't collide. */
export const E2E_RUN_LABEL = 'sysbox-e2e.run';

/** This run's id: set by global-setup in the main process (inherited by the workers); the pid otherwise. */
export function runId(): string {
  return process.env.SYSBOX_E2E_RUN_ID ?? String(process.pid);
}

export function labelArgs(): string[] {
  return ['--label', E2E_LABEL, '--label', `${E2E_RUN_LABEL}=${runId()}`];
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the labelled containers of this run, and those of earlier runs whose process is gone (an aborted run);
 * containers of another live run on the same host are left alone. Returns how many were removed.
 */
export async function removeLabelledContainers(): Promise<number> {
  const r = await docker(['ps', '-a', '--filter', `label=${E2E_LABEL}`, '--format', `{{.ID}} {{.Label "${E2E_RUN_LABEL}"}}`], { timeoutMs: 30_000 });
  const mine = runId();
  const ids = r.stdout.split('\n').map((l) => l.trim().split(' ')).filter(([id]) => id).filter(([, run]) => {
    if (!run) return false;
    if (run === mine) return true;
    const pid = Number.parseInt(run, 10);
    return Number.isInteger(pid) && pid > 0 && !pidAlive(pid);
  }).map(([id]) => id!);
  await removeContainers(ids);
  return ids.length;
}

let counter = 0;
/** A unique name for containers, networks, volumes: sysbox-e2e-<prefix>-<pid>-<n>-<random>. */
export function uniqueName(prefix = 'c'): string {
  counter += 1;
  return `sysbox-e2e-${prefix}-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}

/** `docker run --runtime=<runtime> <args>` (add --rm/-d/--name yourself). */
export function run(runtime: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return docker(['run', '--pull=never', ...labelArgs(), `--runtime=${runtime}`, ...args], opts);
}

export interface Container {
  name: string;
  runtime: string;
  /** the `docker run` result (stdout holds the id for -d) */
  started: ExecResult;
  exec(cmd: readonly string[], opts?: ExecOptions & { flags?: readonly string[] }): Promise<ExecResult>;
  inspect(format: string): Promise<string>;
}

function makeContainer(name: string, runtime: string, started: ExecResult): Container {
  return {
    name,
    runtime,
    started,
    exec: (cmd, opts = {}) => docker(['exec', ...(opts.flags ?? []), name, ...cmd], opts),
    inspect: async (format) => (await dockerOk(['inspect', '-f', format, name])).trim(),
  };
}

/** Removes containers (force), ignoring "no such container". */
export async function removeContainers(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await docker(['rm', '-f', '-v', ...names], { timeoutMs: 60_000 });
}

/**
 * Starts a container detached (`docker run -d --name <unique> --runtime=<runtime> <args>`), hands it to fn and
 * always removes it afterwards. Throws if `docker run` fails (unless allowFail: then fn gets the failed start).
 */
export async function withContainer<T>(
  runtime: string,
  args: readonly string[],
  fn: (c: Container) => Promise<T>,
  opts: ExecOptions & { allowFail?: boolean; detach?: boolean } = {},
): Promise<T> {
  const name = uniqueName(runtime);
  try {
    const detach = opts.detach ?? true;
    const started = await run(runtime, [...(detach ? ['-d'] : []), '--name', name, ...args], { timeoutMs: 90_000, ...opts });
    if (started.code !== 0 && !opts.allowFail) {
      throw new Error(`docker run --runtime=${runtime} ${args.join(' ')} → exit ${started.code}: ${started.stderr.trim()}`);
    }
    return await fn(makeContainer(name, runtime, started));
  } finally {
    await removeContainers([name]);
  }
}

/** Several detached containers at once; all removed afterwards. */
export async function withContainers<T>(
  runtime: string,
  argsList: readonly (readonly string[])[],
  fn: (cs: Container[]) => Promise<T>,
  opts: ExecOptions = {},
): Promise<T> {
  const names = argsList.map(() => uniqueName(runtime));
  try {
    const started = await Promise.all(
      argsList.map((args, i) => run(runtime, ['-d', '--name', names[i]!, ...args], { timeoutMs: 120_000, ...opts })),
    );
    const bad = started.findIndex((s) => s.code !== 0);
    if (bad >= 0) throw new Error(`docker run --runtime=${runtime} (container ${bad}) → exit ${started[bad]!.code}: ${started[bad]!.stderr.trim()}`);
    return await fn(started.map((s, i) => makeContainer(names[i]!, runtime, s)));
  } finally {
    await removeContainers(names);
  }
}

/** Polls fn until it returns a truthy value or timeoutMs passes; returns the last value. */
export async function waitFor<T>(fn: () => Promise<T>, timeoutMs = 20_000, intervalMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last = await fn();
  while (!last && Date.now() < end) {
    await new Promise((r) => setTimeout(r, intervalMs));
    last = await fn();
  }
  return last;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `docker run --rm --runtime=<rt> <args> <image> sh -c <script>` */
export function sh(rt: string, args: readonly string[], script: string, image: string = IMAGES.busybox, timeoutMs = 90_000): Promise<ExecResult> {
  return run(rt, ['--rm', ...args, image, 'sh', '-c', script], { timeoutMs });
}

/** A scratch dir under /var/tmp, mode 0755 (container ranges can traverse it). */
export function tmpDir(prefix: string): string {
  const d = mkdtempSync(join('/var/tmp', `sysbox-e2e-${prefix}-`));
  chmodSync(d, 0o755);
  return d;
}
