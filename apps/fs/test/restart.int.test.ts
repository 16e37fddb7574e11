// Integration (root, real kernel): a sysbox-fs killed with SIGKILL and started again takes its FUSE connection back
// from the fd store and keeps serving the same mount, and a read made while no daemon runs waits instead of failing.
// (The /dev/fuse backend itself, adoption included, is tested in packages/fuse.)
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectFs, serveFdStore, type FdStoreServer } from '@sysbox/ipc';
import { realKernel } from '@sysbox/native';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = process.getuid?.() === 0 && existsSync('/dev/fuse');
const here = dirname(fileURLToPath(import.meta.url));
const MAIN = join(here, '..', 'dist', 'main.js');

function cat(path: string, timeoutMs = 10_000): Promise<{ out: string; err: string; code: number | null }> {
  return new Promise((resolve) => {
    execFile('cat', [path], { timeout: timeoutMs }, (e, out, err) => resolve({ out, err, code: e ? ((e as { code?: number }).code ?? null) : 0 }));
  });
}

describe.runIf(root)('sysbox-fs restart (root)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sysbox-fs-restart-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('sysbox-fs SIGKILLed and restarted keeps serving the same mount; reads in the gap wait', async () => {
    expect(existsSync(MAIN), `${MAIN} (pnpm build first)`).toBe(true);
    const k = realKernel();
    const storePath = join(dir, 'mgr-fds.sock');
    const store: FdStoreServer = serveFdStore(k, storePath);
    const sock = join(dir, 'fs.sock');
    const args = ['--socket', sock, '--pid-file', join(dir, 'fs.pid'), '--mount-root', join(dir, 'mnt'), '--log-file', join(dir, 'fs.log'), '--fd-store', storePath];
    const env = { ...process.env };
    delete env['NODE_OPTIONS'];
    const start = async (): Promise<ChildProcess> => {
      rmSync(sock, { force: true });
      const c = spawn(process.execPath, [MAIN, ...args], { stdio: 'ignore', env });
      for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(sock)).toBe(true);
      return c;
    };
    const sleeper = spawn('sleep', ['300'], { stdio: 'ignore' });
    let daemon = await start();
    try {
      const client = await connectFs({ socketPath: sock });
      const { mountpoint } = await client.register({ containerId: 'itest', initPid: sleeper.pid!, idRange: { uid: 0, gid: 0, size: 65536 } });
      client.close();
      const uptime = join(mountpoint, 'proc', 'uptime');
      const first = await cat(uptime);
      expect(first.out).toMatch(/^\d+\.\d+ \d+\.\d+\n$/);
      // a per-container knob written before the kill is still there after it
      await new Promise<void>((r) => execFile('sh', ['-c', `echo 2 > ${join(mountpoint, 'proc/sys/kernel/panic')}`], () => r()));
      for (let i = 0; i < 50 && !store.entries.get('itest')?.data.includes('"2"'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(store.entries.has('itest')).toBe(true);

      daemon.kill('SIGKILL');
      await new Promise((r) => daemon.once('exit', r));
      // no daemon: the read waits in the kernel
      const gap = cat(uptime, 30_000);
      const early = await Promise.race([gap.then(() => 'done'), new Promise((r) => setTimeout(() => r('waiting'), 700))]);
      expect(early).toBe('waiting');
      daemon = await start();
      const during = await gap;
      expect(during.err).not.toMatch(/Transport endpoint/);
      expect(during.out).toMatch(/^\d+\.\d+ \d+\.\d+\n$/);
      const after = await cat(uptime);
      expect(after).toMatchObject({ code: 0 });
      expect(after.out).toMatch(/^\d+\.\d+ \d+\.\d+\n$/);
      expect((await cat(join(mountpoint, 'proc/sys/kernel/panic'))).out).toBe('2\n');
      expect(readFileSync(join(dir, 'fs.log'), 'utf8')).toMatch(/taken over from the fd store/);

      const c2 = await connectFs({ socketPath: sock });
      expect(await c2.unregister({ containerId: 'itest' })).toMatchObject({ found: true });
      c2.close();
      expect(store.entries.has('itest')).toBe(false);
    } finally {
      daemon.kill('SIGKILL');
      sleeper.kill('SIGKILL');
      store.close();
      try {
        k.umount(join(dir, 'mnt', 'itest'), 2);
      } catch {
        /* gone */
      }
    }
  });
});
