// Interoperability with @grpc/grpc-js over unix sockets, for the real protos: our client against a grpc-js server
// (here), and a grpc-js client against our server (test/server.test.ts and test/ipc.test.ts, client 'grpc-js').
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { connectFs, connectMgr, IpcError, RpcError } from '../src/index.js';
import { fsMethods } from '../src/fs.js';
import { mgrMethods } from '../src/mgr.js';
import { mgrHandlers, tempDir } from './fixtures.js';
import { serveGrpcJs } from './grpcjs.js';

const dir = tempDir('ipc-interop-');

describe('our client, grpc-js server', () => {
  test('sysbox-mgr: every method, errors with their status and message, large messages, many calls on one connection', async () => {
    const socketPath = join(dir, 'mgr.sock');
    const many = Array.from({ length: 3000 }, (_, i) => ({ containerId: `c-${i}-${'x'.repeat(40)}`, registeredAtMs: i, idRange: { uid: i, gid: i, size: 65536 } }));
    const srv = await serveGrpcJs(
      mgrMethods,
      mgrHandlers({
        list: () => ({ containers: many }),
        unregister: () => {
          throw Object.assign(new Error('busy: try again\nstack'), { code: 'FAILED_PRECONDITION' });
        },
      }) as never,
      socketPath,
    );
    const c = await connectMgr({ socketPath });
    try {
      expect(await c.register({ containerId: 'a' })).toEqual({ idRange: { uid: 100000, gid: 100000, size: 65536 } });
      expect(await c.prepareRootfs({ containerId: 'a' })).toEqual({ rootfs: '/var/lib/sysbox/rootfs/a', method: 'idmap-overlay' });
      const mounts = Array.from({ length: 2000 }, (_, i) => ({ index: i, source: `/src/${'s'.repeat(60)}/${i}`, destination: `/d/${i}` }));
      const pm = await c.prepareMounts({ containerId: 'big', mounts, specialDirs: ['/var/lib/docker'] }); // ~150 KB request
      expect(pm.mounts).toHaveLength(2000);
      expect(pm.specialDirs[0]).toMatchObject({ destination: '/var/lib/docker', created: true });
      expect((await c.list()).containers[2999]!.containerId).toBe(many[2999]!.containerId); // ~200 KB answer
      expect((await c.status()).rangesFree).toBe(4095);
      const notFound = await c.get({ containerId: 'zz' }).catch((e: unknown) => e);
      expect(notFound).toBeInstanceOf(IpcError);
      expect(notFound).toMatchObject({ code: 'NOT_FOUND', message: 'container zz is not registered with sysbox-mgr', service: 'sysbox-mgr' });
      await expect(c.unregister({ containerId: 'a' })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: 'busy: try again' });
      // grpc-js's HPACK encoder fills its dynamic table over many answers
      for (let i = 0; i < 200; i++) expect((await c.prepareRootfs({ containerId: `s${i}` })).rootfs).toBe(`/var/lib/sysbox/rootfs/s${i}`);
    } finally {
      c.close();
      await srv.close();
    }
  });

  test('sysbox-fs: round trip; a deadline the server misses; a server gone', async () => {
    const socketPath = join(dir, 'fs.sock');
    const srv = await serveGrpcJs(
      fsMethods,
      {
        register: (r: { containerId: string; idRange?: { uid: number } }) => ({ mountpoint: `/var/lib/sysboxfs/${r.containerId}:${r.idRange?.uid}` }),
        unregister: () => new Promise((r) => setTimeout(() => r({ found: true }), 400)),
        status: () => {
          throw new RpcError('UNAVAILABLE', 'sysbox-fs is shutting down');
        },
      },
      socketPath,
    );
    const c = await connectFs({ socketPath, deadlineMs: 100 });
    try {
      expect(await c.register({ containerId: 'c', initPid: 42, idRange: { uid: 165536, gid: 165536, size: 65536 } })).toMatchObject({ mountpoint: '/var/lib/sysboxfs/c:165536' });
      await expect(c.unregister({ containerId: 'c' })).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED', message: 'sysbox-fs did not answer within 100ms' });
      await expect(c.status()).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'sysbox-fs is shutting down' });
      expect(await c.unregister({ containerId: 'c' }, { deadlineMs: 5000 })).toEqual({ found: true });
    } finally {
      await srv.close();
    }
    await expect(c.register({ containerId: 'd' })).rejects.toMatchObject({ code: 'NOT_RUNNING' });
    c.close();
  });
});
