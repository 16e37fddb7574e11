// What every command gets, parsed once: the command line, the invocation (environment, cwd, error line, who runs the
// engine with the caller's fds), its logger, the configuration, the engine and our state dirs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { get, isSet, type ParsedArgs } from './cli.js';
import { DEFAULT_MGR_SOCKET } from './daemons.js';
import { resolveEngine, globalArgs, type Engine, type EngineName } from './engine.js';
import type { Invocation } from './invocation.js';
import { makeLog, type Log } from './log.js';

export interface SysboxConfig {
  engine?: EngineName;
  enginePath?: string;
  mgrSocket?: string;
  fsSocket?: string;
  /** [vetting] sysbox-fs's seccomp listener socket (default /run/sysbox/fs-seccomp.sock) */
  fsSeccompSocket?: string;
  /** [vetting] false: no seccomp vetting of mount calls (the container's mounts are then unvetted) */
  vetting?: boolean;
  /** where sysbox-fs's files are placed: during the engine's hooks (default with runc) or after its create */
  fsAttach?: 'hooks' | 'after-create';
  /** a call to sysbox-mgr or sysbox-fs that gets no answer within this fails the create (default 10000) */
  daemonTimeoutMs?: number;
  /** how long a create waits for a daemon whose socket is missing or refuses connections, e.g. restarting (default 3000) */
  daemonStartWaitMs?: number;
  /** honour config.json's capabilities by default (a container's SYSBOX_HONOR_CAPS overrides it); default false */
  honorCaps?: boolean;
  /** system containers by default (true); false: regular containers (a container's SYSBOX_SYSCONT_MODE overrides it) */
  syscontMode?: boolean;
  /** where device nodes the host lacks are made for the engine to bind in (not on a nodev mount) */
  devicesDir?: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const DEFAULT_ROOT = '/run/sysbox-runc';
export const DEFAULT_CONFIG = '/etc/sysbox/config.json';

export function loadConfig(path: string): SysboxConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError(`can't read ${path}: ${(e as Error).message}`);
  }
  try {
    const c = JSON.parse(text) as SysboxConfig;
    if (c.engine !== undefined && c.engine !== 'runc' && c.engine !== 'crun')
      throw new ConfigError(`${path}: engine: must be "runc" or "crun", got ${JSON.stringify(c.engine)}`);
    if (c.fsAttach !== undefined && c.fsAttach !== 'hooks' && c.fsAttach !== 'after-create')
      throw new ConfigError(`${path}: fsAttach: must be "hooks" or "after-create", got ${JSON.stringify(c.fsAttach)}`);
    for (const k of ['daemonTimeoutMs', 'daemonStartWaitMs'] as const) {
      const v = c[k];
      if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) throw new ConfigError(`${path}: ${k}: must be a whole number of milliseconds, got ${JSON.stringify(v)}`);
    }
    for (const k of ['honorCaps', 'syscontMode'] as const) {
      if (c[k] !== undefined && typeof c[k] !== 'boolean') throw new ConfigError(`${path}: ${k}: must be true or false, got ${JSON.stringify(c[k])}`);
    }
    if (c.devicesDir !== undefined && (typeof c.devicesDir !== 'string' || !c.devicesDir.startsWith('/')))
      throw new ConfigError(`${path}: devicesDir: must be an absolute path, got ${JSON.stringify(c.devicesDir)}`);
    return c;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${path}: invalid JSON: ${(e as Error).message}`);
  }
}

export class Context {
  readonly root: string;
  readonly engineRoot: string;
  readonly stateRoot: string;
  readonly config: SysboxConfig;
  readonly log: Log;
  private engineCache: Engine | undefined;

  constructor(
    readonly args: ParsedArgs,
    readonly inv: Invocation,
  ) {
    this.root = get(args.global, 'root') ?? DEFAULT_ROOT;
    this.engineRoot = join(this.root, 'engine');
    this.stateRoot = join(this.root, 'sysbox');
    const format = get(args.global, 'log-format') === 'json' ? 'json' : 'text';
    this.log = makeLog({ file: get(args.global, 'log'), format, debug: isSet(args.global, 'debug') }, inv.t0);
    this.config = loadConfig(this.env('SYSBOX_CONFIG') ?? DEFAULT_CONFIG);
  }

  /** An environment variable of this invocation. */
  env(name: string): string | undefined {
    return this.inv.env[name];
  }

  get cwd(): string {
    return this.inv.cwd;
  }

  get engineName(): EngineName {
    const n = get(this.args.global, 'engine') ?? this.env('SYSBOX_ENGINE') ?? this.config.engine ?? 'runc';
    if (n !== 'runc' && n !== 'crun') throw new ConfigError(`--engine: must be runc or crun, got ${JSON.stringify(n)}`);
    return n;
  }

  get engine(): Engine {
    if (!this.engineCache) {
      const explicit = get(this.args.global, 'engine') ? undefined : this.config.enginePath;
      this.engineCache = resolveEngine(this.engineName, explicit, join(this.root, 'engine-cache.json'), this.env('PATH'));
    }
    return this.engineCache;
  }

  get mgrSocket(): string {
    return this.env('SYSBOX_MGR_SOCKET') ?? this.config.mgrSocket ?? DEFAULT_MGR_SOCKET;
  }

  /** The engine's global flags: ours, with --root pointing at the engine's own state under ours. */
  engineGlobals(): string[] {
    const g = this.args.global;
    return globalArgs(this.engine, {
      root: this.engineRoot,
      log: get(g, 'log'),
      logFormat: get(g, 'log-format'),
      debug: isSet(g, 'debug'),
      systemdCgroup: isSet(g, 'systemd-cgroup'),
      rootless: get(g, 'rootless'),
    });
  }

  stateDir(id: string): string {
    return join(this.stateRoot, id);
  }
}
