// The gRPC server (src/server.ts) against both clients (ours and grpc-js's)
// and against node:http2 directly (raw frames: unknown method, server-side grpc-timeout, PING, non-gRPC).
import { connect as h2connect, constants as h2c } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { stat, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { connectMgr, IpcError, RpcError, serveFs, serveMgr } from '../src/index.js';
import { percentEncode, parseTimeout } from '../src/h2.js';
import { mgrHandlers, tempDir } from './fixtures.js';
import { connectFsVia, connectMgrVia } from './grpcjs.js';

const dir = tempDir('ipc-server-');

const handlers = mgrHandlers;

async function caught(p: Promise<unknown>): Promise<IpcError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(IpcError);
  return e as IpcError;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** a unary call made with node:http2 directly; returns the response headers, trailers and body */
function rawCall(socketPath: string, path: string, body: Buffer, headers: Record<string, string> = {}) {
  return new Promise<{ headers: Record<string, unknown>; trailers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    const s = h2connect('http://localhost', { createConnection: () => netConnect(socketPath) });
    s.on('error', reject);
    const req = s.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let hs: Record<string, unknown> = {};
    let ts: Record<string, unknown> = {};
    const parts: Buffer[] = [];
    req.on('response', (h) => (hs = h));
    req.on('trailers', (t) => (ts = t));
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      s.close();
      resolve({ headers: hs, trailers: ts, body: Buffer.concat(parts) });
    });
    req.on('error', reject);
    req.end(body);
  });
}
const EMPTY_MSG = Buffer.from([0, 0, 0, 0, 0]);

describe.each(['ipc', 'grpc-js'] as const)('server, client %s', (transport) => {
  test('every method; socket mode 0600; onCall; close removes the socket', async () => {
    const socketPath = join(dir, `rt-${transport}`, 'mgr.sock');
    const calls: string[] = [];
    const srv = await serveMgr(handlers(), { socketPath, onCall: (e) => calls.push(e.method) });
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    const c = await connectMgrVia(transport, { socketPath });
    try {
      expect(await c.register({ containerId: 'c1', rootfs: '/r' })).toEqual({ idRange: { uid: 100000, gid: 100000, size: 65536 } });
      expect(await c.prepareRootfs({ containerId: 'c1', rootfs: '/r' })).toEqual({ rootfs: '/var/lib/sysbox/rootfs/c1', method: 'idmap-overlay' });
      expect(await c.prepareMounts({ containerId: 'c1', mounts: [{ index: 3, source: '/home/u', readonly: true }], specialDirs: ['/var/lib/docker'] })).toEqual({
        mounts: [{ index: 3, source: '/var/lib/sysbox/mounts/c1/3', method: 'idmap' }],
        specialDirs: [{ destination: '/var/lib/docker', source: '/s/var/lib/docker', method: 'idmap', created: true }],
      });
      expect(await c.unregister({ containerId: 'known' })).toEqual({ found: true, unstageError: '' });
      expect((await c.unregister({ containerId: 'other' })).found).toBe(false);
      expect((await c.list()).containers[0]).toMatchObject({ containerId: 'a', registeredAtMs: 1_700_000_000_000, idRange: { uid: 1, gid: 2, size: 3 } });
      expect((await c.status()).rangesFree).toBe(4095);
      const err = await caught(c.get({ containerId: 'zz' }));
      expect([err.code, err.message]).toEqual(['NOT_FOUND', 'container zz is not registered with sysbox-mgr']);
      expect(calls).toEqual(['register', 'prepareRootfs', 'prepareMounts', 'unregister', 'unregister', 'list', 'status', 'get']);
    } finally {
      c.close();
    }
    await expect(c.status()).rejects.toMatchObject({ code: 'CLOSED', message: 'sysbox-mgr client is closed' });
    await srv.close();
    await expect(stat(socketPath)).rejects.toThrow(/ENOENT/);
  });

  test('errors: status codes and messages (percent-encoded on the wire) reach the client unchanged', async () => {
    const socketPath = join(dir, `err-${transport}.sock`);
    const srv = await serveMgr(
      handlers({
        register: () => {
          throw new Error('boom: disk full\nstack noise');
        },
        prepareRootfs: () => {
          throw Object.assign(new Error('no free ID range: 2 containers hold all 2 ranges'), { code: 'RESOURCE_EXHAUSTED' });
        },
        unregister: async () => {
          await sleep(1);
          throw new RpcError('FAILED_PRECONDITION', '100% full, naïve ünïcode ✓, a,b;c/d?e #f');
        },
        status: () => {
          throw Object.assign(new Error('denied'), { grpcStatus: 7 });
        },
      }),
      { socketPath },
    );
    const c = await connectMgrVia(transport, { socketPath });
    try {
      const e1 = await caught(c.register({ containerId: 'a' }));
      expect([e1.code, e1.message]).toEqual(['INTERNAL', 'boom: disk full']);
      const e2 = await caught(c.prepareRootfs({ containerId: 'a' }));
      expect([e2.code, e2.message]).toEqual(['RESOURCE_EXHAUSTED', 'no free ID range: 2 containers hold all 2 ranges']);
      const e3 = await caught(c.unregister({ containerId: 'a' }));
      expect([e3.code, e3.message]).toEqual(['FAILED_PRECONDITION', '100% full, naïve ünïcode ✓, a,b;c/d?e #f']);
      const e4 = await caught(c.status());
      expect([e4.code, e4.message]).toEqual(['PERMISSION_DENIED', 'denied']);
      // the connection stays usable after errors
      expect((await c.list()).containers).toHaveLength(1);
    } finally {
      c.close();
      await srv.close();
    }
  });

  test('large requests and answers (> 64 KB windows, > 16 KB frames) and concurrent calls on one connection', async () => {
    const socketPath = join(dir, `big-${transport}`, 'mgr.sock');
    const many = Array.from({ length: 3000 }, (_, i) => ({ containerId: `c-${i}-${'x'.repeat(40)}`, registeredAtMs: i, idRange: { uid: i, gid: i, size: 65536 } }));
    const srv = await serveMgr(handlers({ list: () => ({ containers: many }) }), { socketPath });
    const c = await connectMgrVia(transport, { socketPath });
    try {
      const mounts = Array.from({ length: 2000 }, (_, i) => ({ index: i, source: `/src/${'s'.repeat(60)}/${i}`, destination: `/d/${i}` }));
      const [r, l, l2, ...st] = await Promise.all([
        c.prepareMounts({ containerId: 'big', mounts, specialDirs: [] }), // ~150 KB request
        c.list({}), // ~200 KB answer
        c.list({}),
        ...Array.from({ length: 30 }, (_, i) => (i % 2 ? c.status({}) : c.prepareRootfs({ containerId: `p${i}` }))),
      ]);
      expect(r.mounts).toHaveLength(2000);
      expect(r.mounts[1999]!.source).toBe('/var/lib/sysbox/mounts/big/1999');
      expect(l.containers).toHaveLength(3000);
      expect(l.containers[2999]!.containerId).toBe(many[2999]!.containerId);
      expect(l2.containers).toHaveLength(3000);
      st.forEach((s, i) => expect(s).toEqual(i % 2 ? expect.objectContaining({ rangesFree: 4095 }) : { rootfs: `/var/lib/sysbox/rootfs/p${i}`, method: 'idmap-overlay' }));
      // many sequential calls on the same connection (stream ids, HPACK dynamic table of grpc-js's encoder)
      for (let i = 0; i < 300; i++) expect((await c.prepareRootfs({ containerId: `s${i}` })).rootfs).toBe(`/var/lib/sysbox/rootfs/s${i}`);
    } finally {
      c.close();
      await srv.close();
    }
  });

  test('deadline: a handler slower than the deadline; the server goes on', async () => {
    const socketPath = join(dir, `slow-${transport}.sock`);
    const srv = await serveMgr(handlers({ status: () => new Promise((r) => setTimeout(() => r({ version: 'late' }), 300)) }), { socketPath });
    const c = await connectMgrVia(transport, { socketPath, deadlineMs: 100 });
    try {
      const e = await caught(c.status());
      expect([e.code, e.message]).toEqual(['DEADLINE_EXCEEDED', 'sysbox-mgr did not answer within 100ms']);
      expect((await c.status(undefined, { deadlineMs: 2000 })).version).toBe('late');
      expect((await c.list()).containers).toHaveLength(1);
    } finally {
      c.close();
      await srv.close(50);
    }
  });

  test('fs service: round trip', async () => {
    const socketPath = join(dir, `fs-${transport}.sock`);
    const srv = await serveFs(
      {
        register: (r) => ({ mountpoint: `/var/lib/sysboxfs/${r.containerId}:${r.initPid}:${r.idRange?.uid}:${r.options?.procfs}` }),
        unregister: () => ({ found: true }),
        status: () => ({ version: 'v', containers: 2, mountRoot: '/var/lib/sysboxfs' }),
      },
      { socketPath },
    );
    const c = await connectFsVia(transport, { socketPath });
    try {
      const r = await c.register({ containerId: 'c', initPid: 42, idRange: { uid: 165536, gid: 165536, size: 65536 }, options: { procfs: true, memoryLimitBytes: 2 ** 40 } });
      expect(r.mountpoint).toBe('/var/lib/sysboxfs/c:42:165536:true');
      expect((await c.unregister({ containerId: 'c' })).found).toBe(true);
      expect(await c.status()).toEqual({ version: 'v', pid: 0, containers: 2, mountRoot: '/var/lib/sysboxfs' });
    } finally {
      c.close();
      await srv.close();
    }
  });
});

describe('server: clients that go away mid-call', () => {
  test.each(['h2 client closed', 'http2 session destroyed', 'stream reset (RST_STREAM)'] as const)('%s: the handler finishes, nothing is written, other clients are served', async (how) => {
    const socketPath = join(dir, `gone-${how.split(' ')[0]}-${how.length}.sock`);
    let finished = 0;
    const events: Array<{ method: string; error?: unknown }> = [];
    const srv = await serveMgr(
      handlers({
        status: async () => {
          await sleep(150);
          finished++;
          return { version: 'v' };
        },
      }),
      { socketPath, onCall: (e) => events.push(e) },
    );
    const path = (await import('../src/mgr.js')).mgrMethods['status']!.path;
    if (how === 'h2 client closed') {
      const c = await connectMgr({ socketPath });
      const p = c.status().catch((e: unknown) => e);
      await sleep(30);
      c.close();
      expect(await p).toBeInstanceOf(IpcError);
    } else {
      const s = h2connect('http://localhost', { createConnection: () => netConnect(socketPath) });
      s.on('error', () => {});
      const req = s.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
      req.on('error', () => {});
      req.end(EMPTY_MSG);
      await sleep(30);
      if (how === 'http2 session destroyed') s.destroy();
      else {
        req.close(h2c.NGHTTP2_CANCEL);
        await sleep(200);
        s.close();
      }
    }
    await sleep(200);
    expect(finished).toBe(1);
    expect(events.at(-1)).toEqual(expect.objectContaining({ method: 'status' }));
    for (const transport of ['ipc', 'grpc-js'] as const) {
      const c2 = await connectMgrVia(transport, { socketPath });
      expect((await c2.status()).version).toBe('v');
      c2.close();
    }
    await srv.close();
  });
});

describe('server: socket file and lifecycle', () => {
  test('stale socket replaced; live one refused; a non-socket refused; a missing handler refused', async () => {
    const socketPath = join(dir, 'stale.sock');
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.exit(0))`]);
    expect((await stat(socketPath)).isSocket()).toBe(true);
    const srv = await serveMgr(handlers(), { socketPath });
    const e = await caught(serveMgr(handlers(), { socketPath }));
    expect([e.code, e.message]).toEqual(['IN_USE', `cannot serve sysbox-mgr: another server is listening on ${socketPath}`]);
    const c = await connectMgr({ socketPath });
    expect((await c.status()).version).toBe('0.1.0');
    c.close();
    await srv.close();
    const file = join(dir, 'file.sock');
    await writeFile(file, '');
    const e2 = await caught(serveMgr(handlers(), { socketPath: file }));
    expect([e2.code, e2.message]).toEqual(['BAD_SOCKET', `cannot serve sysbox-mgr: ${file} exists and is not a socket`]);
    const e3 = await caught(serveFs({} as never, { socketPath: join(dir, 'x.sock') }));
    expect(e3.message).toMatch(/handler register is missing/);
  });

  test('close() waits for a call in flight (grace), then the next client finds no server', async () => {
    const socketPath = join(dir, 'grace.sock');
    const srv = await serveMgr(handlers({ status: () => sleep(150).then(() => ({ version: 'done' })) }), { socketPath });
    const c = await connectMgrVia('grpc-js', { socketPath });
    const p = c.status();
    await sleep(30);
    const t0 = performance.now();
    await srv.close(2000);
    expect(performance.now() - t0).toBeGreaterThan(80);
    expect((await p).version).toBe('done');
    c.close();
    await expect(stat(socketPath)).rejects.toThrow(/ENOENT/);
  });

  test('close() after graceMs drops a call that does not finish', async () => {
    const socketPath = join(dir, 'hang.sock');
    const srv = await serveMgr(handlers({ status: () => new Promise(() => {}) }), { socketPath });
    const c = await connectMgr({ socketPath });
    const p = c.status().catch((e: unknown) => e);
    await sleep(30);
    const t0 = performance.now();
    await srv.close(100);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(await p).toBeInstanceOf(IpcError);
    c.close();
  });
});

describe('server: raw HTTP/2 (node:http2)', () => {
  test('unknown method: UNIMPLEMENTED trailers-only; grpc-timeout answered by the server; PING; non-gRPC content type; garbage', async () => {
    const socketPath = join(dir, 'raw.sock');
    const srv = await serveMgr(handlers({ status: () => new Promise((r) => setTimeout(() => r({}), 2000)) }), { socketPath });
    try {
      const u = await rawCall(socketPath, '/sysbox.mgr.Mgr/Nope', EMPTY_MSG);
      expect(u.headers[':status']).toBe(200);
      expect(u.headers['grpc-status']).toBe('12'); // trailers-only: the status is in the (only) HEADERS
      expect(u.headers['grpc-message']).toBe('the server does not implement the method /sysbox.mgr.Mgr/Nope');

      const path = (await import('../src/mgr.js')).mgrMethods['status']!.path;
      const t0 = performance.now();
      const d = await rawCall(socketPath, path, EMPTY_MSG, { 'grpc-timeout': '100m' });
      expect(performance.now() - t0).toBeLessThan(1500);
      expect(d.headers['grpc-status']).toBe('4');

      const ok = await rawCall(socketPath, (await import('../src/mgr.js')).mgrMethods['list']!.path, EMPTY_MSG);
      expect(ok.headers['content-type']).toBe('application/grpc+proto');
      expect(ok.trailers['grpc-status']).toBe('0');
      expect(ok.body.readUInt32BE(1)).toBe(ok.body.length - 5);

      const compressed = await rawCall(socketPath, path, Buffer.from([1, 0, 0, 0, 0]));
      expect(compressed.headers['grpc-status']).toBe('12');

      const notGrpc = await rawCall(socketPath, path, EMPTY_MSG, { 'content-type': 'text/plain' });
      expect(notGrpc.headers[':status']).toBe(415);

      const pingMs = await new Promise<number>((resolve, reject) => {
        const s = h2connect('http://localhost', { createConnection: () => netConnect(socketPath) });
        s.on('error', reject);
        s.on('connect', () =>
          s.ping((err, ms) => {
            s.close();
            if (err) reject(err);
            else resolve(ms);
          }),
        );
      });
      expect(pingMs).toBeGreaterThanOrEqual(0);

      // an HTTP/1 request: the connection is closed, the server goes on
      const closed = await new Promise<string>((resolve) => {
        const s = netConnect(socketPath);
        let got = '';
        s.on('data', (b) => (got += b.toString('latin1')));
        s.on('close', () => resolve(got));
        s.on('error', () => {});
        s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      });
      expect(closed.length).toBeGreaterThanOrEqual(0);
      const c = await connectMgrVia('grpc-js', { socketPath });
      expect((await c.list()).containers).toHaveLength(1);
      c.close();
    } finally {
      await srv.close(50);
    }
  });

  test('helpers: percent-encoding and grpc-timeout units', () => {
    expect(percentEncode('a b%c\né')).toBe('a b%25c%0A%C3%A9');
    expect(decodeURIComponent(percentEncode('100% ✓ a,b;c'))).toBe('100% ✓ a,b;c');
    expect(parseTimeout('100m')).toBe(100);
    expect(parseTimeout('2S')).toBe(2000);
    expect(parseTimeout('1M')).toBe(60000);
    expect(parseTimeout('1H')).toBe(3600000);
    expect(parseTimeout('5000u')).toBe(5);
    expect(parseTimeout('1000000n')).toBe(1);
    expect(parseTimeout('100')).toBeUndefined();
    expect(parseTimeout('123456789m')).toBeUndefined();
    expect(parseTimeout(undefined)).toBeUndefined();
  });
});
