// The OCI engine sysbox-runc drives (runc by default, crun selectable). Its path and version are checked
// once and cached in a small file keyed by the binary's identity (path, size, mtime), not on every call.
import type { SpawnSyncReturns, StdioOptions } from 'node:child_process';
import { statSync, readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { loadNative } from './native.js';
import { requireLazily } from './require.js';
import { env } from './invocation.js';

/**
 * node:child_process on first use: loading it (with net, dgram and the stream internals it pulls in) costs a
 * create ~2 ms before its first useful step, and a create spawns the engine through the addon (see
 * preloadNativeSpawn) unless the addon is missing.
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

function which(name: string): string | undefined {
  if (name.includes('/')) return name;
  const dirs = (env('PATH') ?? '').split(':').filter(Boolean).concat(SEARCH_PATH);
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

/** Resolves the engine binary; the version is read once per binary and cached in `cacheFile`. */
export function resolveEngine(name: EngineName, explicitPath: string | undefined, cacheFile: string): Engine {
  const path = explicitPath ?? which(name);
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

/** stdio for the engine: the container's fds 0..2 (+ preserved ones) passed through untouched. */
export function passFds(preserveFds: number): number[] {
  const fds = [0, 1, 2];
  for (let i = 0; i < preserveFds; i++) fds.push(3 + i);
  return fds;
}

/** Runs the engine to completion with our stdio passed straight through. Returns its exit code. */
export function runEngine(engine: Engine, args: string[], fds: StdioOptions = [0, 1, 2]): number {
  const r: SpawnSyncReturns<Buffer> = cp().spawnSync(engine.path, args, { stdio: fds });
  if (r.error) throw new EngineError(`engine ${engine.name} (${engine.path}) failed to start: ${r.error.message}`);
  return exitCode(r.status, r.signal);
}

let nativeSpawn: ((path: string, argv: string[], fds: number[]) => Promise<number>) | undefined;

/**
 * Loads the native addon in the background (e.g. while mgr answers), so that runEngineAsync can spawn the
 * engine without fork(): child_process.spawn forks the whole Node process (~1.1 ms here, then copy-on-write
 * faults), the addon's spawnWait clones a vfork-style child (~0.15 ms). Without the addon, spawn is used.
 */
export function preloadNativeSpawn(): void {
  if (nativeSpawn || env('SYSBOX_RUNC_NODE_SPAWN')) return;
  setImmediate(() => {
    try {
      const k = loadNative().realKernel();
      nativeSpawn = (path, argv, fds) => k.spawnWait(path, argv, fds);
    } catch {
      // no addon: child_process.spawn
    }
  });
}

/**
 * Runs the engine to completion like runEngine, without blocking the event loop: work that doesn't depend on
 * the engine (e.g. connecting to sysbox-fs) proceeds meanwhile. With the addon loaded (preloadNativeSpawn),
 * without fork().
 */
export function runEngineAsync(engine: Engine, args: string[], fds: StdioOptions = [0, 1, 2]): Promise<number> {
  if (nativeSpawn && Array.isArray(fds) && fds.every((f) => typeof f === 'number')) {
    return nativeSpawn(engine.path, [engine.path, ...args], fds as number[]).catch((e: Error) => {
      throw new EngineError(`engine ${engine.name} (${engine.path}) failed to start: ${e.message}`);
    });
  }
  return new Promise((resolve, reject) => {
    const child = cp().spawn(engine.path, args, { stdio: fds });
    child.once('error', (e) => reject(new EngineError(`engine ${engine.name} (${engine.path}) failed to start: ${e.message}`)));
    child.once('exit', (code, signal) => resolve(exitCode(code, signal)));
  });
}

/** Runs the engine capturing its stdout (stdin and stderr passed through). */
export function runEngineCapture(engine: Engine, args: string[]): { code: number; stdout: Buffer } {
  const r = cp().spawnSync(engine.path, args, { stdio: [0, 'pipe', 2], maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new EngineError(`engine ${engine.name} (${engine.path}) failed to start: ${r.error.message}`);
  return { code: exitCode(r.status, r.signal), stdout: r.stdout };
}

/** Runs the engine in the foreground, forwarding signals to it (for `run` without --detach). */
export function runEngineForeground(engine: Engine, args: string[], fds: number[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = cp().spawn(engine.path, args, { stdio: fds });
    const sigs: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
    const fwd = (s: NodeJS.Signals) => child.kill(s);
    for (const s of sigs) process.on(s, fwd);
    child.on('error', (e) => reject(new EngineError(`engine ${engine.name} failed to start: ${e.message}`)));
    child.on('exit', (code, signal) => {
      for (const s of sigs) process.off(s, fwd);
      resolve(exitCode(code, signal));
    });
  });
}

/** The engine's exit status as a shell reports it: its code, or 128 + the signal that killed it. */
function exitCode(status: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return 128 + (osConstants.signals[signal] ?? 1);
  return status ?? 1;
}
