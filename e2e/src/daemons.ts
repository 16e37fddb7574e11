// sysbox daemons for the e2e suites: start sysbox-mgr, sysbox-fs and sysbox-runc's create server from the build if
// not running, wait for the socket, stop after the suite. Tests that kill a daemon call ensureDaemons() to restore it.
import { spawn } from 'node:child_process';
import { afterEach } from 'vitest';
import { existsSync, mkdirSync, openSync, readFileSync, closeSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import {
  FS_LOG_FILE, FS_PID_FILE, FS_SOCKET, MGR_DATA_DIR, MGR_LOG_FILE, MGR_PID_FILE, MGR_SOCKET, MGR_STATE_FILE, REPO_DIR,
  RUNC_SERVER_LOG_FILE, RUNC_SERVER_PID_FILE, RUNC_SERVER_SOCKET, SYSBOX_FS, SYSBOX_MGR, SYSBOX_RUNC,
} from './paths.ts';

export interface DaemonSpec {
  name: 'sysbox-mgr' | 'sysbox-fs' | 'sysbox-runc-server';
  socket: string;
  pidFile: string;
  logFile: string;
  /** the installed launcher, or a build output run with node */
  command(): { file: string; args: string[] } | undefined;
  args: string[];
}

/** A launcher in /usr/local/bin, else the app's built entry point (dist/) run by this Node. */
function launcher(installed: string, app: string): { file: string; args: string[] } | undefined {
  if (existsSync(installed)) return { file: installed, args: [] };
  const dist = join(REPO_DIR, 'apps', app, 'dist');
  for (const f of ['load.cjs', 'main.js', 'cli.js', 'bin.js', `${app}.js`, `sysbox-${app}.js`]) {
    if (existsSync(join(dist, f))) return { file: process.execPath, args: [join(dist, f)] };
  }
  try {
    const pkg = JSON.parse(readFileSync(join(REPO_DIR, 'apps', app, 'package.json'), 'utf8')) as { bin?: string | Record<string, string> };
    const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin ? Object.values(pkg.bin)[0] : undefined;
    if (bin && existsSync(join(REPO_DIR, 'apps', app, bin))) return { file: process.execPath, args: [join(REPO_DIR, 'apps', app, bin)] };
  } catch {
    /* no package.json: no launcher */
  }
  return undefined;
}

export const MGR: DaemonSpec = {
  name: 'sysbox-mgr',
  socket: MGR_SOCKET,
  pidFile: MGR_PID_FILE,
  logFile: MGR_LOG_FILE,
  command: () => launcher(SYSBOX_MGR, 'mgr'),
  args: ['--socket', MGR_SOCKET, '--pid-file', MGR_PID_FILE, '--data-dir', MGR_DATA_DIR, '--log-file', MGR_LOG_FILE],
};

export const FS: DaemonSpec = {
  name: 'sysbox-fs',
  socket: FS_SOCKET,
  pidFile: FS_PID_FILE,
  logFile: FS_LOG_FILE,
  command: () => launcher(SYSBOX_FS, 'fs'),
  args: ['--socket', FS_SOCKET, '--pid-file', FS_PID_FILE, '--log-file', FS_LOG_FILE],
};

/** sysbox-runc's create server: `sysbox-runc serve` (creates fall back to a Node per create without it). */
export const RUNC_SERVER: DaemonSpec = {
  name: 'sysbox-runc-server',
  socket: RUNC_SERVER_SOCKET,
  pidFile: RUNC_SERVER_PID_FILE,
  logFile: RUNC_SERVER_LOG_FILE,
  command: () => launcher(SYSBOX_RUNC, 'runc'),
  args: ['serve', '--socket', RUNC_SERVER_SOCKET, '--pid-file', RUNC_SERVER_PID_FILE, '--log-file', RUNC_SERVER_LOG_FILE],
};

export function readPid(spec: DaemonSpec): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(spec.pidFile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // a zombie still answers kill(0); treat it as dead
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    if (!existsSync(path)) return resolve(false);
    const s = connect(path);
    const t = setTimeout(() => { s.destroy(); resolve(false); }, timeoutMs);
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.once('error', () => { clearTimeout(t); resolve(false); });
  });
}

export async function isRunning(spec: DaemonSpec): Promise<boolean> {
  return readPid(spec) !== undefined && (await socketAnswers(spec.socket));
}

export interface StartResult { started: boolean; available: boolean; pid?: number; reason?: string }

/** Starts the daemon unless it already runs; waits for its socket (up to timeoutMs). */
export async function startDaemon(spec: DaemonSpec, timeoutMs = 20_000): Promise<StartResult> {
  if (await isRunning(spec)) return { started: false, available: true, pid: readPid(spec)! };
  const cmd = spec.command();
  if (!cmd) return { started: false, available: false, reason: `${spec.name} is not built/installed yet` };
  mkdirSync(dirname(spec.socket), { recursive: true });
  mkdirSync(dirname(spec.logFile), { recursive: true });
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const errLog = openSync(`${spec.logFile}.stderr`, 'a');
  const child = spawn(cmd.file, [...cmd.args, ...spec.args], { detached: true, stdio: ['ignore', errLog, errLog], env });
  closeSync(errLog);
  let exited: number | null = null;
  child.on('exit', (code) => { exited = code ?? -1; });
  child.unref();
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (exited !== null) return { started: false, available: false, reason: `${spec.name} exited with ${exited} (see ${spec.logFile}.stderr)` };
    if (await socketAnswers(spec.socket, 500)) {
      const pid = readPid(spec) ?? child.pid!;
      writeFileSync(ownerFile(spec), `${pid}\n`);
      return { started: true, available: true, pid };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { started: false, available: false, reason: `${spec.name} did not open ${spec.socket} within ${timeoutMs} ms` };
}

/** `<pid file>.e2e`: the pid of the daemon instance the e2e harness started. */
function ownerFile(spec: DaemonSpec): string {
  return `${spec.pidFile}.e2e`;
}

/** `<pid file>.install`: the pid of the instance the project's own scripts/install.sh started. */
function installFile(spec: DaemonSpec): string {
  return `${spec.pidFile}.install`;
}

function pidIn(file: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Records the running instance as the harness's (e.g. started by scripts/install.sh that the harness ran). */
export function claimDaemon(spec: DaemonSpec): void {
  const pid = readPid(spec);
  if (pid !== undefined) writeFileSync(ownerFile(spec), `${pid}\n`);
}

/**
 * Tests that kill or stop a daemon only touch an instance the harness started or the project's own install started
 * (scripts/install.sh marks those; the suite leaves one running afterwards, see global-setup.ts), or any, on a machine
 * where SYSBOX_E2E_OWN_DAEMONS=1 says the suite owns them: a daemon someone else runs is left alone.
 */
export function harnessOwns(spec: DaemonSpec): boolean {
  try {
    assertHarnessOwns(spec);
    return true;
  } catch {
    return false;
  }
}

export function assertHarnessOwns(spec: DaemonSpec): number {
  const pid = readPid(spec);
  if (pid === undefined) throw new Error(`${spec.name} is not running`);
  if (process.env.SYSBOX_E2E_OWN_DAEMONS === '1' || /^(1|true)$/i.test(process.env.CI ?? '')) return pid;
  if (pidIn(ownerFile(spec)) !== pid && pidIn(installFile(spec)) !== pid) {
    throw new Error(`${spec.name} (pid ${pid}) was started neither by the e2e harness nor by scripts/install.sh: not killing it (SYSBOX_E2E_OWN_DAEMONS=1 lets the suite restart it)`);
  }
  return pid;
}

/** Stops the daemon (SIGTERM, then SIGKILL after graceMs). */
export async function stopDaemon(spec: DaemonSpec, graceMs = 10_000): Promise<void> {
  const pid = readPid(spec);
  if (pid === undefined) return;
  await killDaemon(spec, 'SIGTERM');
  const end = Date.now() + graceMs;
  while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) {
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sends a signal to the daemon (pid from its pid file); waits for it to die on SIGKILL. */
export async function killDaemon(spec: DaemonSpec, signal: NodeJS.Signals): Promise<number | undefined> {
  const pid = readPid(spec);
  if (pid === undefined) return undefined;
  process.kill(pid, signal);
  if (signal === 'SIGKILL') {
    const end = Date.now() + 5000;
    while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }
  return pid;
}

/** The daemons this build has (mgr always; fs and the create server once their launchers exist). */
export function daemonSpecs(): DaemonSpec[] {
  return [MGR, ...(FS.command() ? [FS] : []), ...(RUNC_SERVER.command() ? [RUNC_SERVER] : [])];
}

/** Makes sure every built daemon runs. Returns, per daemon, what happened. */
export async function ensureDaemons(): Promise<Record<string, StartResult>> {
  const out: Record<string, StartResult> = {};
  for (const spec of daemonSpecs()) out[spec.name] = await startDaemon(spec);
  return out;
}

/** mgr's persisted state file as text ('' if absent): tests check that a container id no longer appears. */
export function mgrStateText(): string {
  try {
    return readFileSync(MGR_STATE_FILE, 'utf8');
  } catch {
    return '';
  }
}

/** Entries under mgr's data dir (recursively, 3 levels) whose path contains `needle`. */
export function mgrDataEntriesMatching(needle: string): string[] {
  const hits: string[] = [];
  const walk = (dir: string, depth: number) => {
    let ents: string[];
    try { ents = readdirSync(dir); } catch { return; }
    for (const e of ents) {
      const p = join(dir, e);
      if (p.includes(needle)) hits.push(p);
      if (depth > 0) walk(p, depth - 1);
    }
  };
  walk(MGR_DATA_DIR, 3);
  return hits;
}

/**
 * For a suite whose tests stop or kill sysbox-mgr or sysbox-fs: a test that did calls `touched()`, and the
 * daemons are running again (ensureDaemons) before the next test.
 */
export function restoreDaemonsAfterEach(): { touched(): void } {
  let touched = false;
  afterEach(async () => {
    if (!touched) return;
    touched = false;
    await ensureDaemons();
  });
  return { touched: () => void (touched = true) };
}
