// Hand-made OCI bundles and direct runtime invocations (runc / sysbox-runc without Docker), for the bad-input
// tests and the raw bundle bench.
import { spawn, execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeBusyboxRootfs } from './harness.ts';
import { RUNC, SYSBOX_RUNC, type Runtime } from './paths.ts';
import type { ExecResult } from './docker.ts';

export function runtimeBinary(rt: Runtime | 'crun'): string {
  return rt === 'sysbox-runc' ? SYSBOX_RUNC : rt === 'crun' ? '/usr/bin/crun' : RUNC;
}

let template: Record<string, any> | undefined;
/** runc's default spec (root, not rootless), with terminal off: the base of every hand-made bundle. */
function specTemplate(): Record<string, any> {
  if (!template) {
    const d = mkdtempSync('/var/tmp/sysbox-e2e-spec-');
    try {
      execFileSync(RUNC, ['spec', '--bundle', d]);
      template = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as Record<string, any>;
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }
  return structuredClone(template);
}

export interface Bundle {
  /** tmp dir holding bundle/ and root/ (the runtime's --root) */
  dir: string;
  bundle: string;
  rootfs: string;
  /** the runtime's --root state dir */
  stateRoot: string;
  cleanup(): void;
}

/** A busybox bundle under a fresh tmp dir; `edit` may change config.json before it is written. */
export function makeBundle(args: string[] = ['true'], edit?: (spec: Record<string, any>, b: Bundle) => void): Bundle {
  const dir = mkdtempSync('/var/tmp/sysbox-e2e-bundle-');
  const b: Bundle = {
    dir,
    bundle: join(dir, 'bundle'),
    rootfs: join(dir, 'bundle', 'rootfs'),
    stateRoot: join(dir, 'state'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  mkdirSync(b.rootfs, { recursive: true });
  mkdirSync(b.stateRoot, { recursive: true });
  makeBusyboxRootfs(b.rootfs);
  const spec = specTemplate();
  spec.process.terminal = false;
  spec.process.args = args;
  spec.process.env = ['PATH=/bin', 'HOME=/root'];
  spec.root = { path: b.rootfs, readonly: false };
  edit?.(spec, b);
  writeFileSync(join(b.bundle, 'config.json'), JSON.stringify(spec, null, 2));
  return b;
}

/**
 * Runs the runtime binary directly. Output goes to files (not pipes): a created container inherits its stdio
 * and would keep a pipe open. Resolves on the runtime's exit.
 */
export function rawRuntime(bin: string, args: string[], opts: { timeoutMs?: number; dir: string; env?: Record<string, string> }): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const tag = `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  const outPath = join(opts.dir, `out-${tag}`);
  const errPath = join(opts.dir, `err-${tag}`);
  const out = openSync(outPath, 'w');
  const err = openSync(errPath, 'w');
  return new Promise((resolve) => {
    const env = { ...process.env, ...opts.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const child = spawn(bin, args, { stdio: ['ignore', out, err], env });
    closeSync(out);
    closeSync(err);
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    const finish = (code: number, extra = '') => {
      clearTimeout(timer);
      const read = (p: string) => { try { return readFileSync(p, 'utf8'); } catch { return ''; } finally { rmSync(p, { force: true }); } };
      resolve({ code, stdout: read(outPath), stderr: read(errPath) + extra, timedOut });
    };
    child.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ENOENT' ? 127 : 126, `${bin}: ${e.message}`));
    child.on('exit', (code, sig) => finish(code ?? (sig ? 128 + 9 : 1)));
  });
}

/** Files and dirs under `dir` (recursive) whose path contains `needle`. */
export function entriesMatching(dir: string, needle: string, depth = 4): string[] {
  const hits: string[] = [];
  const walk = (d: string, n: number) => {
    let ents: string[];
    try { ents = readdirSync(d); } catch { return; }
    for (const e of ents) {
      const p = join(d, e);
      if (e.includes(needle)) hits.push(p);
      if (n > 0) walk(p, n - 1);
    }
  };
  if (existsSync(dir)) walk(dir, depth);
  return hits;
}
