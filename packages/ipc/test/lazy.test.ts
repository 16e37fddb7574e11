import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, vi } from 'vitest';

// sysbox-runc starts several times per container and both daemons are long-lived: @sysbox/ipc never loads
// @grpc/grpc-js (the interoperability test's peer only) nor node:http2, whether importing, serving or calling.
const seen = vi.hoisted(() => ({ grpc: 0, http2: 0 }));
vi.mock('@grpc/grpc-js', async (importOriginal) => {
  seen.grpc++;
  return await importOriginal();
});
vi.mock('node:http2', async (importOriginal) => {
  seen.http2++;
  return await importOriginal();
});

test('neither @grpc/grpc-js nor node:http2 loads: import, a missing socket, serve and call', async () => {
  const ipc = await import('../src/index.js');
  await expect(ipc.connectMgr({ socketPath: '/nonexistent/mgr.sock' })).rejects.toThrow('sysbox-mgr is not running (no socket at /nonexistent/mgr.sock)');
  const socketPath = join(await mkdtemp(join(tmpdir(), 'ipc-lazy-')), 'fs.sock');
  const srv = await ipc.serveFs({ register: () => ({}), unregister: () => ({}), status: () => ({ version: 'v' }) }, { socketPath });
  const c = await ipc.connectFs({ socketPath });
  expect((await c.status()).version).toBe('v');
  c.close();
  await srv.close();
  expect(seen).toEqual({ grpc: 0, http2: 0 });
});
