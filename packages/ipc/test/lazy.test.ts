import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, vi } from 'vitest';

// sysbox-runc starts several times per container: importing @sysbox/ipc must not load @grpc/grpc-js.
const seen = vi.hoisted(() => ({ grpc: 0 }));
vi.mock('@grpc/grpc-js', async (importOriginal) => {
  seen.grpc++;
  return await importOriginal();
});

test('@grpc/grpc-js loads only when a client or server is made, never for a missing socket', async () => {
  const ipc = await import('../src/index.js');
  expect(seen.grpc).toBe(0);
  await expect(ipc.connectMgr({ socketPath: '/nonexistent/mgr.sock' })).rejects.toThrow('sysbox-mgr is not running (no socket at /nonexistent/mgr.sock)');
  expect(seen.grpc).toBe(0);
  const socketPath = join(await mkdtemp(join(tmpdir(), 'ipc-lazy-')), 'fs.sock');
  const srv = await ipc.serveFs({ register: () => ({}), unregister: () => ({}), status: () => ({}) }, { socketPath });
  expect(seen.grpc).toBe(1);
  await srv.close();
});
