// The built package (dist/) in a fresh Node process:
// serve, call, errors. Run after a build: pnpm --filter @sysbox/ipc test:integration
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'index.js');

test('dist: round trip, server error, dead daemon; importing loads no HTTP/2', async () => {
  if (!existsSync(dist)) throw new Error(`${dist} is missing: build @sysbox/ipc first`);
  const dir = await mkdtemp(join(tmpdir(), 'ipc-dist-'));
  const code = `
    const ipc = await import(${JSON.stringify(dist)});
    const out = { http2AfterImport: process.moduleLoadList.some((m) => m.endsWith(' http2')) };
    const socketPath = ${JSON.stringify(join(dir, 'mgr.sock'))};
    out.noSocket = await ipc.connectMgr({ socketPath }).catch((e) => e.message);
    const srv = await ipc.serveMgr({
      register: (r) => ({ idRange: { uid: 100000, gid: 100000, size: 65536 } }),
      prepareRootfs: () => ({}), prepareMounts: () => ({}), unregister: () => ({ found: true }), list: () => ({}), status: () => ({ version: 'v' }),
      get: (r) => { throw new ipc.RpcError('NOT_FOUND', 'container ' + r.containerId + ' is not registered with sysbox-mgr'); },
    }, { socketPath });
    const c = await ipc.connectMgr({ socketPath });
    out.register = await c.register({ containerId: 'a' });
    out.get = await c.get({ containerId: 'b' }).catch((e) => [e.name, e.code, e.message]);
    c.close();
    await srv.close();
    const fc = await ipc.connectFs({ socketPath: ${JSON.stringify(join(dir, 'fs.sock'))} }).catch((e) => e.message);
    out.fsNoSocket = fc;
    console.log(JSON.stringify(out));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' }));
  expect(out).toEqual({
    http2AfterImport: false,
    noSocket: `sysbox-mgr is not running (no socket at ${join(dir, 'mgr.sock')})`,
    register: { idRange: { uid: 100000, gid: 100000, size: 65536 } },
    get: ['IpcError', 'NOT_FOUND', 'container b is not registered with sysbox-mgr'],
    fsNoSocket: `sysbox-fs is not running (no socket at ${join(dir, 'fs.sock')})`,
  });
});

test('dist: serving both daemons and calling them loads neither grpc-js nor node:http2', async () => {
  if (!existsSync(dist)) throw new Error(`${dist} is missing: build @sysbox/ipc first`);
  const dir = await mkdtemp(join(tmpdir(), 'ipc-dist-lean-'));
  const code = `
    const ipc = await import(${JSON.stringify(dist)});
    const fsSock = ${JSON.stringify(join(dir, 'fs.sock'))}, mgrSock = ${JSON.stringify(join(dir, 'mgr.sock'))};
    const fs = await ipc.serveFs({
      register: (r) => ({ mountpoint: '/m/' + r.containerId }),
      unregister: () => { throw new ipc.RpcError('NOT_FOUND', 'container x is not registered with sysbox-fs'); },
      status: () => ({ version: 'v' }),
    }, { socketPath: fsSock });
    const mgr = await ipc.serveMgr({
      register: () => ({}), prepareRootfs: () => ({}), prepareMounts: () => ({}), unregister: () => ({ found: true }),
      get: () => ({}), list: () => ({}), status: () => ({ version: 'm' }),
    }, { socketPath: mgrSock });
    const c = await ipc.connectFs({ socketPath: fsSock });
    const m = await ipc.connectMgr({ socketPath: mgrSock });
    const out = { register: await c.register({ containerId: 'a' }), err: await c.unregister({ containerId: 'x' }).catch((e) => [e.code, e.message]), mgr: (await m.status()).version };
    c.close();
    m.close();
    out.loaded = process.moduleLoadList.filter((x) => x.endsWith(' http2') || x.includes('internal/http2') || x.includes('grpc'));
    await fs.close();
    await mgr.close();
    console.log(JSON.stringify(out));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' }));
  expect(out).toEqual({
    register: { mountpoint: '/m/a', covers: [], files: [], overlays: [] },
    err: ['NOT_FOUND', 'container x is not registered with sysbox-fs'],
    mgr: 'm',
    loaded: [],
  });
});
