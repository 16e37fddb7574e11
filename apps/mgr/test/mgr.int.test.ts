// Integration (root): the built daemon as a child process on a tmp socket and data dir.
// Run: pnpm --filter @sysbox/mgr test:integration (after a build).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectMgr, IpcError, type IdRange, type MgrClient } from '@sysbox/ipc';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js');
let dir: string;
let socket: string;
let pidFile: string;
let dataDir: string;
let logFile: string;
const children: ChildProcess[] = [];

function start(extra: string[] = []): ChildProcess & { out: string[] } {
  const c = spawn(process.execPath, [main, '--socket', socket, '--pid-file', pidFile, '--data-dir', dataDir, '--log-file', logFile, '--log-level', 'debug', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { out: string[] };
  c.out = [];
  c.stderr!.on('data', (d: Buffer) => c.out.push(d.toString()));
  children.push(c);
  return c;
}

function exited(c: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve({ code: c.exitCode, signal: c.signalCode });
  return new Promise((r) => c.once('exit', (code, signal) => r({ code, signal })));
}

async function ready(c: ChildProcess): Promise<MgrClient> {
  const t0 = Date.now();
  for (;;) {
    if (c.exitCode !== null) throw new Error(`sysbox-mgr exited ${c.exitCode}: ${(c as ChildProcess & { out: string[] }).out.join('')}`);
    try {
      const client = await connectMgr({ socketPath: socket, deadlineMs: 2000 });
      const s = await client.status().catch((e: unknown) => {
        client.close();
        throw e;
      });
      if (s.pid === c.pid) return client;
      client.close();
    } catch {
      /* not yet */
    }
    if (Date.now() - t0 > 15_000) throw new Error(`sysbox-mgr not ready after 15s; log: ${await readFile(logFile, 'utf8').catch(() => '')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function disjoint(rs: IdRange[]): boolean {
  for (let a = 0; a < rs.length; a++)
    for (let b = a + 1; b < rs.length; b++) {
      const x = rs[a]!;
      const y = rs[b]!;
      if (x.uid < y.uid + y.size && y.uid < x.uid + x.size) return false;
      if (x.gid < y.gid + y.size && y.gid < x.gid + x.size) return false;
    }
  return true;
}

beforeAll(async () => {
  if (!existsSync(main)) throw new Error(`${main} is missing: build @sysbox/mgr first`);
  if (process.getuid?.() !== 0) throw new Error('the sysbox-mgr integration test needs root (useradd, /etc/subuid)');
  dir = await mkdtemp(join(tmpdir(), 'mgr-int-'));
  socket = join(dir, 'run', 'mgr.sock');
  pidFile = join(dir, 'run', 'mgr.pid');
  dataDir = join(dir, 'lib', 'sysbox');
  logFile = join(dir, 'mgr.log');
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('sysbox-mgr daemon', () => {
  test('20 concurrent registrations, SIGKILL + restart keeps live ranges, unregister releases, SIGTERM cleans up', async () => {
    // --- first daemon
    const d1 = start();
    let c = await ready(d1);
    expect((await stat(socket)).mode & 0o777).toBe(0o600);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o711);
    expect((await readFile(pidFile, 'utf8')).trim()).toBe(String(d1.pid));

    const ids = Array.from({ length: 20 }, (_, i) => `int-${i}`);
    const res = await Promise.all(ids.map((containerId) => c.register({ containerId, rootfs: `/tmp/${containerId}`, bundle: `/b/${containerId}` })));
    const before = new Map(ids.map((id, i) => [id, res[i]!.idRange!]));
    expect(disjoint([...before.values()])).toBe(true);
    for (const r of before.values()) {
      expect(r.size).toBe(65536);
      expect(r.uid).toBeGreaterThan(0);
    }

    // cross-process latency (informational)
    const t: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await c.get({ containerId: ids[i % 20]! });
      t.push(performance.now() - t0);
    }
    t.sort((a, b) => a - b);
    console.log(`sysbox-mgr Get over unix socket, separate processes: p50 ${t[100]!.toFixed(3)} ms, p99 ${t[198]!.toFixed(3)} ms`);

    // a second daemon refuses to start while the first is alive
    const dup = start();
    const dupExit = await exited(dup);
    expect(dupExit.code).toBe(1);
    expect(dup.out.join('')).toContain(`sysbox-mgr: sysbox-mgr is already running (pid ${d1.pid}, from ${pidFile})`);

    // --- SIGKILL: socket and pid file stay behind, state on disk
    c.close();
    d1.kill('SIGKILL');
    await exited(d1);
    expect(existsSync(socket)).toBe(true);
    const dead = await connectMgr({ socketPath: socket, deadlineMs: 2000 });
    const deadErr = await dead.status().catch((e: unknown) => e);
    dead.close();
    expect(deadErr).toBeInstanceOf(IpcError);
    expect((deadErr as Error).message).toBe(`sysbox-mgr is not running (connection refused at ${socket})`);

    // --- restart: every live range survives
    const d2 = start();
    c = await ready(d2);
    const listed = (await c.list()).containers;
    expect(listed.map((x) => x.containerId).sort()).toEqual([...ids].sort());
    for (const x of listed) expect(x.idRange).toEqual(before.get(x.containerId));
    const more = await Promise.all(['new-0', 'new-1', 'new-2', 'new-3', 'new-4'].map((containerId) => c.register({ containerId })));
    const all = [...before.values(), ...more.map((m) => m.idRange!)];
    expect(disjoint(all)).toBe(true);
    // idempotent after restart
    expect((await c.register({ containerId: 'int-7' })).idRange).toEqual(before.get('int-7'));

    // --- unregister releases: the freed range is the lowest free one again
    const s0 = await c.status();
    expect(await c.unregister({ containerId: 'int-3' })).toEqual({ found: true, unstageError: expect.any(String) });
    expect((await c.status()).rangesFree).toBe(s0.rangesFree + 1);
    expect((await c.unregister({ containerId: 'int-3' })).found).toBe(false);
    expect((await c.unregister({ containerId: 'never-registered' })).found).toBe(false);
    expect((await c.register({ containerId: 'reuse' })).idRange).toEqual(before.get('int-3'));
    const nf = await c.get({ containerId: 'int-3' }).catch((e: unknown) => e);
    expect([(nf as IpcError).code, (nf as IpcError).message]).toEqual(['NOT_FOUND', 'container int-3 is not registered with sysbox-mgr']);

    // --- SIGTERM: exit 0, socket and pid file removed, state kept
    c.close();
    d2.kill('SIGTERM');
    expect(await exited(d2)).toEqual({ code: 0, signal: null });
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
    // the registry is beside the socket (on /run in production), not in the data dir
    expect(existsSync(join(dataDir, 'state.json'))).toBe(false);
    const state = JSON.parse(await readFile(join(dirname(socket), 'mgr-state.json'), 'utf8')) as { containers: Record<string, unknown> };
    expect(Object.keys(state.containers)).toHaveLength(20 - 1 + 5 + 1);
    const log = (await readFile(logFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(log.some((l) => l.msg === 'sysbox-mgr stopped')).toBe(true);
    expect(log.some((l) => l.msg === 'registered' && l.containerId === 'int-0')).toBe(true);

    // dead daemon, no socket
    const e = await connectMgr({ socketPath: socket }).catch((x: unknown) => x);
    expect((e as Error).message).toBe(`sysbox-mgr is not running (no socket at ${socket})`);
  });

  test('PrepareRootfs through the daemon stages an ID-mapped view; Unregister removes it', async () => {
    const d = start();
    const c = await ready(d);
    try {
      const img = join(dir, 'img');
      await mkdir(join(img, 'etc'), { recursive: true });
      await writeFile(join(img, 'etc', 'hostname'), 'x\n');
      const { idRange } = await c.register({ containerId: 'stage-1', rootfs: img });
      const staged = await c.prepareRootfs({ containerId: 'stage-1', rootfs: img });
      expect(['idmap', 'idmap-overlay', 'chown']).toContain(staged.method);
      expect(staged.rootfs.startsWith(dataDir)).toBe(true);
      // disk uid 0 shows as the range's base on the host
      expect((await stat(join(staged.rootfs, 'etc', 'hostname'))).uid).toBe(idRange!.uid);
      expect((await c.get({ containerId: 'stage-1' })).stagedRootfs).toBe(staged.rootfs);
      expect(await c.prepareRootfs({ containerId: 'stage-1', rootfs: img })).toEqual(staged);
      expect(await c.unregister({ containerId: 'stage-1' })).toEqual({ found: true, unstageError: '' });
      expect(existsSync(join(staged.rootfs, 'etc', 'hostname'))).toBe(false);
      expect((await stat(join(img, 'etc', 'hostname'))).uid).toBe(0);
    } finally {
      c.close();
      d.kill('SIGTERM');
      expect((await exited(d)).code).toBe(0);
    }
  });

  test('containers whose liveness path is gone are reaped: periodically, and at start after a crash', async () => {
    const d = start(['--reap-interval', '0.2']);
    let c = await ready(d);
    const live = join(dir, 'live');
    await mkdir(join(live, 'r1'), { recursive: true });
    await mkdir(join(live, 'r2'), { recursive: true });
    const r1 = (await c.register({ containerId: 'reap-1', livenessPath: join(live, 'r1') })).idRange!;
    await c.register({ containerId: 'reap-2', livenessPath: join(live, 'r2') });
    await c.register({ containerId: 'reap-none' });
    await rm(join(live, 'r1'), { recursive: true });
    const t0 = Date.now();
    while ((await c.list()).containers.some((x) => x.containerId === 'reap-1')) {
      if (Date.now() - t0 > 5000) throw new Error('reap-1 was not reaped within 5s');
      await new Promise((r) => setTimeout(r, 50));
    }
    // its range is free again
    expect((await c.register({ containerId: 'reap-3' })).idRange).toEqual(r1);
    // mgr down while a container is deleted: the restarted mgr reaps it at start
    c.close();
    d.kill('SIGKILL');
    await exited(d);
    await rm(join(live, 'r2'), { recursive: true });
    const d2 = start(['--reap-interval', '0']);
    c = await ready(d2);
    const ids = (await c.list()).containers.map((x) => x.containerId);
    expect(ids).toContain('reap-none');
    expect(ids).toContain('reap-3');
    expect(ids).not.toContain('reap-2');
    c.close();
    d2.kill('SIGTERM');
    expect((await exited(d2)).code).toBe(0);
  });

  test('a removed liveness path is reaped at once (inotify), without waiting for the periodic check', async () => {
    const d = start(['--reap-interval', '0']);
    const c = await ready(d);
    try {
      const live = join(dir, 'live-watch');
      await mkdir(join(live, 'w1'), { recursive: true });
      await mkdir(join(live, 'w2'), { recursive: true });
      await c.register({ containerId: 'watch-1', livenessPath: join(live, 'w1') });
      await c.register({ containerId: 'watch-2', livenessPath: join(live, 'w2') });
      await rm(join(live, 'w1'), { recursive: true });
      const t0 = Date.now();
      while ((await c.list()).containers.some((x) => x.containerId === 'watch-1')) {
        if (Date.now() - t0 > 3000) throw new Error('watch-1 was not reaped within 3s of its liveness path going away');
        await new Promise((r) => setTimeout(r, 10));
      }
      expect((await c.list()).containers.map((x) => x.containerId)).toContain('watch-2');
    } finally {
      c.close();
      d.kill('SIGTERM');
      expect((await exited(d)).code).toBe(0);
    }
  });

  test("an older mgr's <data-dir>/state.json is moved to the state file once, its registrations kept", async () => {
    const stateFile = join(dir, 'run2', 'mgr-state.json');
    const legacy = join(dataDir, 'state.json');
    const d0 = start(['--state-file', stateFile, '--reap-interval', '0']);
    let c = await ready(d0);
    const r = (await c.register({ containerId: 'legacy-1' })).idRange!;
    c.close();
    d0.kill('SIGTERM');
    expect((await exited(d0)).code).toBe(0);
    // as an older mgr left it: the registry in the data dir, none at the state file
    await writeFile(legacy, await readFile(stateFile, 'utf8'));
    await rm(stateFile);
    const d1 = start(['--state-file', stateFile, '--reap-interval', '0']);
    c = await ready(d1);
    try {
      expect((await c.get({ containerId: 'legacy-1' })).idRange).toEqual(r);
      expect(existsSync(legacy)).toBe(false);
      expect(JSON.parse(await readFile(stateFile, 'utf8')).containers).toHaveProperty('legacy-1');
      expect((await c.unregister({ containerId: 'legacy-1' })).found).toBe(true);
    } finally {
      c.close();
      d1.kill('SIGTERM');
      expect((await exited(d1)).code).toBe(0);
    }
  });

  test('bad flags: one line, exit 1', async () => {
    const b = spawn(process.execPath, [main, '--frobnicate'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    b.stderr.on('data', (d: Buffer) => (err += d.toString()));
    expect((await exited(b)).code).toBe(1);
    expect(err).toBe('sysbox-mgr: unknown flag --frobnicate (see sysbox-mgr --help)\n');
  });
});
