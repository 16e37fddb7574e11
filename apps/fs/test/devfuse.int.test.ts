// Integration (root, real kernel): the /dev/fuse backend mounts and serves; a sysbox-fs killed with SIGKILL and
// started again takes its FUSE connection back from the fd store and keeps serving the same mount, and a read
// made while no daemon runs waits instead of failing.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectFs, serveFdStore, type FdStoreServer } from '@sysbox/ipc';
import { realKernel } from '@sysbox/native';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devFuseBackend, FuseSession, OP, REQ_BUF } from '../src/devfuse.js';
import { FuseError, type FuseOps } from '../src/fuse.js';

const root = process.getuid?.() === 0 && existsSync('/dev/fuse');
const here = dirname(fileURLToPath(import.meta.url));
const MAIN = join(here, '..', 'dist', 'main.js');

function cat(path: string, timeoutMs = 10_000): Promise<{ out: string; err: string; code: number | null }> {
  return new Promise((resolve) => {
    execFile('cat', [path], { timeout: timeoutMs }, (e, out, err) => resolve({ out, err, code: e ? ((e as { code?: number }).code ?? null) : 0 }));
  });
}

function simpleOps(files: Record<string, string>): FuseOps {
  const dirs: Record<string, string[]> = { '/': ['proc'], '/proc': ['sys', 'uptime'], '/proc/sys': ['x'] };
  return {
    getattr(p) {
      if (dirs[p]) return { mode: 0o40555, uid: 0, gid: 0, size: 0 };
      if (files[p] !== undefined) return { mode: 0o100644, uid: 0, gid: 0, size: 4096 };
      throw new FuseError('ENOENT');
    },
    readdir(p) {
      const d = dirs[p];
      if (!d) throw new FuseError('ENOENT');
      return d;
    },
    open(p) {
      if (files[p] === undefined) throw new FuseError('ENOENT');
      return 7;
    },
    read(p, _fh, len, pos) {
      return Buffer.from(files[p] ?? '').subarray(pos, pos + len);
    },
    write(p, _fh, d) {
      files[p] = d.toString();
      return d.length;
    },
    truncate() {},
    release() {},
  };
}

describe.runIf(root)('devfuse backend (root)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sysbox-devfuse-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('mounts, serves lookups, reads, writes, readdir, statfs; unmounts', async () => {
    const k = realKernel();
    const mnt = join(dir, 'a');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(mnt);
    const files: Record<string, string> = { '/proc/uptime': '12.5 3.0\n', '/proc/sys/x': '1\n' };
    const m = await devFuseBackend(k).mount(mnt, simpleOps(files));
    try {
      expect(await cat(join(mnt, 'proc/uptime'))).toMatchObject({ out: '12.5 3.0\n', code: 0 });
      // this process would block its own loop on a sync FUSE call: the kernel answers through our loop, so use children
      const ls = await new Promise<string>((r) => execFile('ls', ['-a', join(mnt, 'proc')], (_e, o) => r(o)));
      expect(ls.split('\n').filter(Boolean).sort()).toEqual(['.', '..', 'sys', 'uptime']);
      await new Promise<void>((r) => execFile('sh', ['-c', `echo 5 > ${join(mnt, 'proc/sys/x')}`], () => r()));
      expect(files['/proc/sys/x']).toBe('5\n');
      expect((await cat(join(mnt, 'proc/nope'))).err).toMatch(/No such file/);
      const st = await new Promise<string>((r) => execFile('stat', ['-f', '-c', '%s %l', mnt], (_e, o) => r(o)));
      expect(st.trim()).toBe('4096 255');
    } finally {
      await m.unmount();
    }
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(mnt);
  });

  it('requests of several mounts arrive as views of one reused buffer (no allocation per request); writes reach ops intact', async () => {
    const k = realKernel();
    const { mkdirSync } = await import('node:fs');
    const seen = new Set<ArrayBufferLike>();
    let requests = 0;
    const filesA: Record<string, string> = { '/proc/uptime': 'A\n', '/proc/sys/x': '1\n' };
    const filesB: Record<string, string> = { '/proc/uptime': 'B\n', '/proc/sys/x': '2\n' };
    const tracing = (k2: typeof k): typeof k =>
      Object.assign(Object.create(k2) as typeof k, {
        fuseWatch: (fd: number, size: number, on: (b: Buffer) => void, close: (e: number) => void, spin?: number) =>
          k2.fuseWatch(fd, size, (b) => (seen.add(b.buffer), requests++, on(b)), close, spin),
      });
    const mounts = [];
    for (const [name, files] of [['sa', filesA], ['sb', filesB]] as const) {
      const mnt = join(dir, name);
      mkdirSync(mnt);
      mounts.push(await devFuseBackend(tracing(k)).mount(mnt, simpleOps(files)));
    }
    try {
      const reads = await Promise.all(Array.from({ length: 20 }, (_, i) => cat(join(dir, i % 2 ? 'sb' : 'sa', 'proc/uptime'))));
      reads.forEach((r, i) => expect(r).toMatchObject({ out: i % 2 ? 'B\n' : 'A\n', code: 0 }));
      // a WRITE's data outlives the request buffer (ops keep it after the next request overwrote the buffer)
      await new Promise<void>((r) => execFile('sh', ['-c', `echo 55 > ${join(dir, 'sa', 'proc/sys/x')}; echo 66 > ${join(dir, 'sb', 'proc/sys/x')}`], () => r()));
      expect(await cat(join(dir, 'sa', 'proc/uptime'))).toMatchObject({ out: 'A\n' });
      expect([filesA['/proc/sys/x'], filesB['/proc/sys/x']]).toEqual(['55\n', '66\n']);
      expect(requests).toBeGreaterThan(40);
      expect(seen.size).toBe(1);
    } finally {
      for (const m of mounts) await m.unmount();
    }
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

  it('a request the dead process read but never answered is resent to the adopter (FUSE_NOTIFY_RESEND)', async () => {
    const k = realKernel();
    const { mkdirSync } = await import('node:fs');
    const mnt = join(dir, 'r');
    mkdirSync(mnt);
    const ops = simpleOps({ '/proc/uptime': 'hello\n', '/proc/sys/x': '1\n' });
    const fd = k.open('/dev/fuse', 2 | 0o4000);
    k.mount('sysboxfs', mnt, 'fuse.sysboxfs', 6, `fd=${fd},rootmode=40000,user_id=0,group_id=0,allow_other`);
    // the first "process" answers INIT and LOOKUPs, then reads the OPEN and dies before answering it
    let swallowed = 0;
    const first = new FuseSession(ops, (b) => void k.write(fd, b));
    const w = k.fuseWatch(fd, REQ_BUF, (req) => {
      if (req.readUInt32LE(4) === OP.OPEN) swallowed++;
      else first.handle(req);
    }, () => {});
    const reader = cat(join(mnt, 'proc/uptime'));
    for (let i = 0; i < 250 && !swallowed; i++) await new Promise((r) => setTimeout(r, 20));
    expect(swallowed).toBe(1);
    w.close();
    const m = devFuseBackend(k).adopt(mnt, fd, ops);
    try {
      expect(await reader).toMatchObject({ out: 'hello\n', code: 0 });
    } finally {
      await m.unmount();
    }
  });
});
