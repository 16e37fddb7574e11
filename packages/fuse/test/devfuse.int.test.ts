// Integration (root, real kernel): the /dev/fuse backend mounts and serves; a connection whose process died with a
// request read but unanswered is adopted and the request resent. (sysbox-fs's restart with the fd store: apps/fs.)
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realKernel } from '@sysbox/native';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devFuseBackend, FuseSession, OP, REQ_BUF } from '../src/devfuse.js';
import { fakeOps } from './ops.js';

const root = process.getuid?.() === 0 && existsSync('/dev/fuse');

function cat(path: string, timeoutMs = 10_000): Promise<{ out: string; err: string; code: number | null }> {
  return new Promise((resolve) => {
    execFile('cat', [path], { timeout: timeoutMs }, (e, out, err) => resolve({ out, err, code: e ? ((e as { code?: number }).code ?? null) : 0 }));
  });
}

const simpleOps = (files: Record<string, string>) => fakeOps(files);

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
