import { stat, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { connectFs, connectMgr, IpcError, serveFs, serveMgr } from '../src/index.js';
import { mgrHandlers, tempDir } from './fixtures.js';

const dir = tempDir('ipc-');

const handlers = mgrHandlers;

function expectIpcError(err: unknown, code: string, msg: string | RegExp) {
  expect(err).toBeInstanceOf(IpcError);
  expect((err as IpcError).code).toBe(code);
  if (typeof msg === 'string') expect((err as Error).message).toBe(msg);
  else expect((err as Error).message).toMatch(msg);
}

describe('mgr round trip over a unix socket', () => {
  test('latency: p50 of 200 sequential calls (informational)', async () => {
    const socketPath = join(dir, 'lat.sock');
    const srv = await serveMgr(handlers(), { socketPath });
    const c = await connectMgr({ socketPath });
    await c.status();
    const t: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await c.register({ containerId: `c${i}` });
      t.push(performance.now() - t0);
    }
    t.sort((a, b) => a - b);
    console.log(`in-process unary RPC: p50 ${t[100]!.toFixed(3)} ms, p99 ${t[198]!.toFixed(3)} ms`);
    expect(t[100]!).toBeLessThan(20);
    c.close();
    await srv.close();
  });
});

async function expectIpcErrorAsync(p: Promise<unknown>, code: string, msg: string | RegExp) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expectIpcError(err, code, msg);
}

describe('client', () => {
  test('large requests and answers cross frame and flow-control window sizes; concurrent calls on one connection', async () => {
    const socketPath = join(dir, 'big', 'mgr.sock');
    const many = Array.from({ length: 3000 }, (_, i) => ({ containerId: `c-${i}-${'x'.repeat(40)}`, registeredAtMs: i, idRange: { uid: i, gid: i, size: 65536 } }));
    const srv = await serveMgr(handlers({ list: () => ({ containers: many }) }), { socketPath });
    const c = await connectMgr({ socketPath });
    try {
      const mounts = Array.from({ length: 2000 }, (_, i) => ({ index: i, source: `/src/${'s'.repeat(60)}/${i}`, destination: `/d/${i}` }));
      const [r, l, ...st] = await Promise.all([
        c.prepareMounts({ containerId: 'big', mounts, specialDirs: [] }), // ~150 KB request: more than the 64 KB initial window
        c.list({}), // ~200 KB answer
        ...Array.from({ length: 20 }, () => c.status({})),
      ]);
      expect(r.mounts).toHaveLength(2000);
      expect(r.mounts[1999]!.source).toBe('/var/lib/sysbox/mounts/big/1999');
      expect(l.containers).toHaveLength(3000);
      expect(l.containers[2999]!.containerId).toBe(many[2999]!.containerId);
      expect(st.every((s) => (s as { rangesFree: number }).rangesFree === 4095)).toBe(true);
    } finally {
      c.close();
      await srv.close();
    }
  });

  test('the server going away mid-connection: the next call reconnects to a new server', async () => {
    const socketPath = join(dir, 'again', 'mgr.sock');
    let srv = await serveMgr(handlers(), { socketPath });
    const c = await connectMgr({ socketPath });
    try {
      expect((await c.status({})).containers).toBe(1);
      await srv.close();
      srv = await serveMgr(handlers({ status: () => ({ version: 'new', pid: 1, containers: 7, rangesTotal: 1, rangesFree: 1 }) }), { socketPath });
      let last: unknown;
      for (let i = 0; i < 3; i++) {
        try {
          last = await c.status({});
          break;
        } catch (e) {
          last = e; // the call that met the closing connection may fail with UNAVAILABLE
          expectIpcError(e, 'UNAVAILABLE', /sysbox-mgr/);
        }
      }
      expect((last as { containers: number }).containers).toBe(7);
    } finally {
      c.close();
      await srv.close();
    }
  });
});

describe('dead daemon', () => {
  test('no socket: fails in connect with the one-line message', async () => {
    const socketPath = join(dir, 'none', 'mgr.sock');
    await expectIpcErrorAsync(connectMgr({ socketPath }), 'NOT_RUNNING', `sysbox-mgr is not running (no socket at ${socketPath})`);
    await expectIpcErrorAsync(connectFs({ socketPath }), 'NOT_RUNNING', `sysbox-fs is not running (no socket at ${socketPath})`);
  });
  test('a regular file is not a socket', async () => {
    const socketPath = join(dir, 'file.sock');
    await writeFile(socketPath, '');
    await expectIpcErrorAsync(connectMgr({ socketPath }), 'NOT_RUNNING', `sysbox-mgr is not running (${socketPath} is not a socket)`);
    await expectIpcErrorAsync(serveMgr(handlers(), { socketPath }), 'BAD_SOCKET', `cannot serve sysbox-mgr: ${socketPath} exists and is not a socket`);
  });
  test('stale socket (nobody listening): connection refused; serve* replaces it', async () => {
    const socketPath = join(dir, 'stale.sock');
    // a crashed daemon: a process bound the socket and died without removing it
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.exit(0))`]);
    expect((await stat(socketPath)).isSocket()).toBe(true);
    const c = await connectMgr({ socketPath, deadlineMs: 2000 });
    await expectIpcErrorAsync(c.status(), 'NOT_RUNNING', `sysbox-mgr is not running (connection refused at ${socketPath})`);
    c.close();
    const srv = await serveMgr(handlers(), { socketPath });
    const c2 = await connectMgr({ socketPath });
    expect((await c2.status()).version).toBe('0.1.0');
    c2.close();
    await srv.close();
  });
  test('serve refuses a socket another server listens on', async () => {
    const socketPath = join(dir, 'busy.sock');
    const srv = await serveMgr(handlers(), { socketPath });
    await expectIpcErrorAsync(serveMgr(handlers(), { socketPath }), 'IN_USE', `cannot serve sysbox-mgr: another server is listening on ${socketPath}`);
    await srv.close();
  });
});

describe('deadline', () => {
  test('a handler slower than the deadline', async () => {
    const socketPath = join(dir, 'slow.sock');
    const srv = await serveMgr(handlers({ status: () => new Promise((r) => setTimeout(() => r({}), 500)) }), { socketPath });
    const c = await connectMgr({ socketPath, deadlineMs: 100 });
    await expectIpcErrorAsync(c.status(), 'DEADLINE_EXCEEDED', 'sysbox-mgr did not answer within 100ms');
    // per-call override
    expect(await c.status(undefined, { deadlineMs: 2000 })).toEqual({ version: '', pid: 0, containers: 0, rangesTotal: 0, rangesFree: 0 });
    c.close();
    await srv.close(50);
  });
});

describe('fs service', () => {
  test('round trip', async () => {
    const socketPath = join(dir, 'fs.sock');
    const srv = await serveFs(
      {
        register: (r) => ({ mountpoint: `/var/lib/sysboxfs/${r.containerId}:${r.initPid}:${r.idRange?.uid}:${r.options?.procfs}` }),
        unregister: () => ({ found: true }),
        status: () => ({ version: 'v', containers: 2, mountRoot: '/var/lib/sysboxfs' }),
      },
      { socketPath },
    );
    const c = await connectFs({ socketPath });
    const r = await c.register({ containerId: 'c', initPid: 42, idRange: { uid: 165536, gid: 165536, size: 65536 }, options: { procfs: true, memoryLimitBytes: 2 ** 40 } });
    expect(r.mountpoint).toBe('/var/lib/sysboxfs/c:42:165536:true');
    expect((await c.unregister({ containerId: 'c' })).found).toBe(true);
    expect((await c.status()).mountRoot).toBe('/var/lib/sysboxfs');
    c.close();
    await srv.close();
  });
  test('a missing handler is refused at serve time', async () => {
    await expectIpcErrorAsync(serveFs({} as never, { socketPath: join(dir, 'x.sock') }), 'UNIMPLEMENTED', /handler register is missing/);
  });
});
