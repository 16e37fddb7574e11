// The OCI engine sysbox-runc drives (runc by default, crun selectable). Its path and version are checked once and
// cached in a small file keyed by the binary's identity (path, size, mtime), not on every call. It is started in
// one place, runEngine.
import { statSync, readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { Context } from './context.js';
import { loadNative } from './native.js';
import { requireLazily } from './require.js';

/**
 * node:child_process on first use: loading it (with net, dgram and the stream internals it pulls in) costs a create
 * ~2 ms before its first useful step, and a create spawns the engine through the addon (see preloadNativeSpawn).
 */
let childProcess: typeof import('node:child_process') | undefined;
function cp(): typeof import('node:child_process') {
  childProcess ??= requireLazily('node:child_process') as typeof import('node:child_process');
  return childProcess;
}

export type EngineName = 'runc' | 'crun';

export interface Engine {
  name: EngineName;
  path: string;
  version: string;
}

export class EngineError extends Error {
  override name = 'EngineError';
}

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function which(name: string, path: string | undefined): string | undefined {
  if (name.includes('/')) return name;
  const dirs = (path ?? '').split(':').filter(Boolean).concat(SEARCH_PATH);
  for (const d of dirs) {
    const p = join(d, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

interface CacheEntry {
  path: string;
  size: number;
  mtimeMs: number;
  version: string;
}

/** Resolves the engine binary (through `searchPath`, the invocation's PATH); its version is read once per binary and cached in `cacheFile`. */
export function resolveEngine(name: EngineName, explicitPath: string | undefined, cacheFile: string, searchPath?: string): Engine {
  const path = explicitPath ?? which(name, searchPath);
  if (!path) throw new EngineError(`engine ${name} not found in PATH (install it, or set "enginePath" in /etc/sysbox/config.json)`);
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new EngineError(`engine ${name} not found at ${path}`);
  }
  let cache: Record<string, CacheEntry> = {};
  try {
    cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, CacheEntry>;
  } catch {
    /* no cache yet */
  }
  const hit = cache[path];
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return { name, path, version: hit.version };
  const r = cp().spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new EngineError(`engine ${name} at ${path} does not run: ${(r.stderr || r.error?.message || '').trim()}`);
  const m = /version\s+(\S+)/.exec(r.stdout);
  const version = m?.[1] ?? r.stdout.split('\n')[0]!.trim();
  cache[path] = { path, size: st.size, mtimeMs: st.mtimeMs, version };
  try {
    mkdirSync(dirname(cacheFile), { recursive: true, mode: 0o700 });
    const tmp = `${cacheFile}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify(cache));
    renameSync(tmp, cacheFile);
  } catch {
    /* cache is an optimisation only */
  }
  return { name, path, version };
}

export interface EngineGlobals {
  root: string;
  log?: string | undefined;
  logFormat?: string | undefined;
  debug?: boolean;
  systemdCgroup?: boolean;
  rootless?: string | undefined;
}

export function globalArgs(engine: Engine, g: EngineGlobals): string[] {
  const a = ['--root', g.root];
  if (g.log) a.push('--log', g.log);
  if (g.logFormat) a.push('--log-format', g.logFormat);
  if (g.debug) a.push('--debug');
  if (g.systemdCgroup) a.push('--systemd-cgroup');
  if (g.rootless !== undefined && engine.name === 'runc') a.push(`--rootless=${g.rootless}`);
  return a;
}

/** The caller's fds for the engine: the container's fds 0..2 (+ --preserve-fds ones), passed through untouched. */
export function passFds(preserveFds: number): number[] {
  const fds = [0, 1, 2];
  for (let i = 0; i < preserveFds; i++) fds.push(3 + i);
  return fds;
}

let nativeSpawn: ((path: string, argv: string[], fds: number[]) => Promise<number>) | undefined;

/**
 * Loads the native addon in the background (e.g. while mgr answers), so that runEngine can spawn the engine without
 * fork(): child_process.spawn forks the whole Node process (~1.1 ms here, then copy-on-write faults), the addon's
 * spawnWait clones a vfork-style child (~0.15 ms). Without the addon, child_process.spawn is used.
 */
export function preloadNativeSpawn(ctx: Context): void {
  if (nativeSpawn || ctx.env('SYSBOX_RUNC_NODE_SPAWN')) return;
  setImmediate(() => {
    try {
      const k = loadNative().realKernel();
      nativeSpawn = (path, argv, fds) => k.spawnWait(path, argv, fds);
    } catch {
      // no addon: child_process.spawn
    }
  });
}

export interface EngineRun {
  /**
   * The caller's fds the engine gets as its 0..n-1 (passFds; default 0, 1, 2): the container's stdio. When the
   * invocation is served by the create server, the caller runs the engine (Invocation.runEngine). 'ignore': none.
   */
  fds?: number[] | 'ignore';
  /** capture its stdout (stdin and stderr are the caller's) */
  capture?: boolean;
  /** forward this process's signals to it while it runs (`run` in the foreground) */
  foreground?: boolean;
}

/** Runs the engine to completion: its exit status as a shell reports it (code, or 128 + signal), and the stdout it captured. */
export async function runEngine(ctx: Context, args: string[], o: EngineRun = {}): Promise<{ code: number; stdout?: Buffer }> {
  const engine = ctx.engine;
  const fds = o.fds ?? [0, 1, 2];
  const failed = (e: Error) => new EngineError(`engine ${engine.name} (${engine.path}) failed to start: ${e.message}`);
  if (!o.capture && !o.foreground && fds !== 'ignore') {
    if (ctx.inv.runEngine) return { code: await ctx.inv.runEngine(engine, args, fds) };
    if (nativeSpawn) return { code: await nativeSpawn(engine.path, [engine.path, ...args], fds).catch((e: Error) => Promise.reject(failed(e))) };
  }
  return new Promise((resolve, reject) => {
    const stdio = o.capture ? [0, 'pipe', 2] : fds;
    const child = cp().spawn(engine.path, args, { stdio: stdio as import('node:child_process').StdioOptions });
    const out: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    const sigs: NodeJS.Signals[] = o.foreground ? ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] : [];
    const fwd = (s: NodeJS.Signals) => child.kill(s);
    for (const s of sigs) process.on(s, fwd);
    child.once('error', (e) => reject(failed(e)));
    child.once('close', (code, signal) => {
      for (const s of sigs) process.off(s, fwd);
      resolve({ code: exitCode(code, signal), ...(o.capture ? { stdout: Buffer.concat(out) } : {}) });
    });
  });
}

/** The engine's exit status as a shell reports it: its code, or 128 + the signal that killed it. */
function exitCode(status: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return 128 + (osConstants.signals[signal] ?? 1);
  return status ?? 1;
}
