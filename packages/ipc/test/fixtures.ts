// Test fixtures shared by the ipc tests: a temp dir per test file, a sysbox-mgr handler set with fixed answers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { RpcError, type MgrHandlers } from '../src/index.js';

/** A temp dir for one test file's sockets, removed after its tests. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const mgrHandlers = (over: Partial<MgrHandlers> = {}): MgrHandlers => ({
  register: () => ({ idRange: { uid: 100000, gid: 100000, size: 65536 } }),
  prepareRootfs: (r) => ({ rootfs: `/var/lib/sysbox/rootfs/${r.containerId}`, method: 'idmap-overlay' }),
  prepareMounts: (r) => ({
    mounts: r.mounts.map((m) => ({ index: m.index, source: `/var/lib/sysbox/mounts/${r.containerId}/${m.index}`, method: 'idmap' })),
    specialDirs: r.specialDirs.map((d) => ({ destination: d, source: `/s${d}`, method: 'idmap', created: true })),
  }),
  unregister: (r) => ({ found: r.containerId === 'known' }),
  get: (r) => {
    throw new RpcError('NOT_FOUND', `container ${r.containerId} is not registered with sysbox-mgr`);
  },
  list: () => ({ containers: [{ containerId: 'a', registeredAtMs: 1_700_000_000_000, idRange: { uid: 1, gid: 2, size: 3 } }] }),
  status: () => ({ version: '0.1.0', pid: process.pid, containers: 1, rangesTotal: 4096, rangesFree: 4095 }),
  ...over,
});
