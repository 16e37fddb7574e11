import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { hookBinary, listenForHooks, type Attached } from '../src/fs.js';

// sysbox-runc-hook (native/csrc/sysbox-runc-hook.c) against create's listener: notify brings the init pid from
// the OCI state, wait returns only once the placement it started is over.
const dir = mkdtempSync(join(tmpdir(), 'hooks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hook = hookBinary();

function runHook(op: string, socket: string, state = ''): Promise<{ code: number | null; stderr: string; endedAt: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(hook, [op, socket], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('error', reject);
    c.stdin!.on('error', () => undefined); // a hook that exits without reading its stdin (usage error)
    c.on('close', (code) => resolve({ code, stderr, endedAt: performance.now() }));
    c.stdin!.end(state);
  });
}

const placed: Attached = { mountpoint: '/m', paths: ['/proc/uptime'], skipped: [], covered: [] };

describe('attach hooks', () => {
  test('the hook binary is built', () => {
    expect(existsSync(hook)).toBe(true);
  });

  test.each([
    ['a short socket path', () => join(dir, 'h.sock')],
    // Docker's state dirs make paths longer than sun_path (108): both sides go through the directory's fd
    ['a socket path longer than sun_path', () => {
      const d = join(dir, 'x'.repeat(60), 'y'.repeat(60));
      mkdirSync(d, { recursive: true });
      return join(d, 'hook.sock');
    }],
  ])('notify starts the placement for the pid of the OCI state; wait returns after it (%s)', async (_what, path) => {
    const socket = path();
    expect(socket.length >= 108).toBe(_what.includes('longer'));
    let release!: () => void;
    const pids: number[] = [];
    const hooks = await listenForHooks(socket, (pid) => {
      pids.push(pid);
      return new Promise((r) => (release = () => r(placed)));
    });
    try {
      const n = await runHook('notify', socket, JSON.stringify({ ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 4242, bundle: '/b' }));
      expect(n).toMatchObject({ code: 0, stderr: '' });
      expect(pids).toEqual([4242]);
      const waiting = runHook('wait', socket);
      await new Promise((r) => setTimeout(r, 100));
      const releasedAt = performance.now();
      release();
      const w = await waiting;
      expect(w.code).toBe(0);
      expect(w.endedAt).toBeGreaterThanOrEqual(releasedAt);
      expect(await hooks.attached).toEqual({ ok: true, attached: placed });
    } finally {
      hooks.close();
    }
    expect(existsSync(socket)).toBe(false);
  });

  test('wait without a notify returns at once (the files are then placed after the engine); a second notify is ignored', async () => {
    const socket = join(dir, 'w.sock');
    const pids: number[] = [];
    const hooks = await listenForHooks(socket, async (pid) => (pids.push(pid), placed));
    try {
      expect((await runHook('wait', socket)).code).toBe(0);
      expect(hooks.attached).toBeUndefined();
      await runHook('notify', socket, '{"pid": 7}');
      await runHook('notify', socket, '{"pid": 8}');
      expect(pids).toEqual([7]);
    } finally {
      hooks.close();
    }
  });

  test('for `run` (needNotify), a wait without a notify fails: nothing could place the files later', async () => {
    const socket = join(dir, 'n.sock');
    const hooks = await listenForHooks(socket, async () => placed, true);
    try {
      const w = await runHook('wait', socket);
      expect(w.code).toBe(1);
      expect(w.stderr).toMatch(/without the notify hook: the \/proc and \/sys emulation was not placed/);
    } finally {
      hooks.close();
    }
  });

  test('a placement that fails fails the wait hook with its reason (and with it the engine)', async () => {
    const socket = join(dir, 'f.sock');
    const hooks = await listenForHooks(socket, async () => {
      throw new Error('sysbox-fs did not answer within 10000 ms');
    });
    try {
      expect((await runHook('notify', socket, '{"pid": 7}')).code).toBe(0);
      const w = await runHook('wait', socket);
      expect(w.code).toBe(1);
      expect(w.stderr).toBe('sysbox-runc-hook: sysbox-fs did not answer within 10000 ms\n');
      const p = await hooks.attached;
      expect(p?.ok).toBe(false);
    } finally {
      hooks.close();
    }
  });

  test('nobody listening: both hooks fail (never a container without its emulation); bad usage exits 1', async () => {
    const socket = join(dir, 'none.sock');
    const n = await runHook('notify', socket, '{"pid": 7}');
    expect(n.code).toBe(1);
    expect(n.stderr).toMatch(/notify: cannot reach sysbox-runc create at .*none\.sock/);
    expect((await runHook('wait', socket)).code).toBe(1);
    expect((await runHook('notify', socket, '{}')).code).toBe(1);
    expect((await runHook('bogus', socket)).code).toBe(1);
  });

  test('create going away while wait waits fails the hook (the engine then fails the create)', async () => {
    const socket = join(dir, 'gone.sock');
    const hooks = await listenForHooks(socket, () => new Promise(() => {}));
    await runHook('notify', socket, '{"pid": 9}');
    const waiting = runHook('wait', socket);
    await new Promise((r) => setTimeout(r, 100));
    hooks.close();
    const w = await waiting;
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/sysbox-runc create went away/);
  });
});
