// The FUSE protocol of the /dev/fuse backend, with buffers (no kernel).
import { describe, expect, it, vi } from 'vitest';
import { devFuseBackend, idleTrimmer, FuseSession, FUSE_NOTIFY_RESEND, IN_HEADER, nodeIdOf, OP, OUT_HEADER, u64 } from '../src/devfuse.js';
import { fakeOps } from './ops.js';

let uniq = 100;
function req(opcode: number, nodeid: number, body: Buffer = Buffer.alloc(0), unique = uniq++): Buffer {
  const b = Buffer.alloc(IN_HEADER + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt32LE(opcode, 4);
  b.writeBigUInt64LE(BigInt(unique), 8);
  b.writeBigUInt64LE(BigInt(nodeid), 16);
  b.writeUInt32LE(0, 24);
  b.writeUInt32LE(0, 28);
  b.writeUInt32LE(42, 32);
  body.copy(b, IN_HEADER);
  return b;
}

function readIn(fh: bigint, offset: number, size: number): Buffer {
  const b = Buffer.alloc(40);
  b.writeBigUInt64LE(fh, 0);
  b.writeBigUInt64LE(BigInt(offset), 8);
  b.writeUInt32LE(size, 16);
  return b;
}

const ops = (files: Record<string, string>) => fakeOps(files, { owner: 100000, fh: 5 });

function session(files: Record<string, string> = { '/proc/uptime': '1.00 2.00\n', '/proc/sys/x': '1\n' }, generation = 77) {
  const out: Buffer[] = [];
  const o = ops(files);
  const s = new FuseSession(o, (b) => void out.push(Buffer.from(b)), { generation }); // send()s buffer is reused: copy
  const last = () => {
    const b = out[out.length - 1]!;
    expect(b.readUInt32LE(0)).toBe(b.length);
    return { error: b.readInt32LE(4), unique: Number(b.readBigUInt64LE(8)), body: b.subarray(OUT_HEADER) };
  };
  return { s, out, last, o, files };
}

describe('FUSE protocol', () => {
  it('echoes the unique id; a short or overlong request is reported and not answered', () => {
    const errors: string[] = [];
    const out: Buffer[] = [];
    const s = new FuseSession(ops({ '/proc/uptime': '1\n' }), (b) => void out.push(Buffer.from(b)), { onError: (what) => errors.push(what) });
    s.handle(req(OP.GETATTR, 0x1_0000_0003, Buffer.from('ab'), 0x1_0000_0009));
    expect(Number(out[0]!.readBigUInt64LE(8))).toBe(0x1_0000_0009);
    expect(out[0]!.readInt32LE(4)).toBe(-116); // ESTALE: no such node
    s.handle(Buffer.alloc(10));
    const long = req(OP.GETATTR, 1);
    long.writeUInt32LE(long.length + 1, 0);
    s.handle(long);
    expect(errors).toEqual(['request', 'request']);
    expect(out).toHaveLength(1);
  });

  it('node ids are stable 52-bit hashes, 1 for the root', () => {
    expect(nodeIdOf('/')).toBe(1);
    expect(nodeIdOf('/proc/uptime')).toBe(nodeIdOf('/proc/uptime'));
    expect(nodeIdOf('/proc/uptime')).not.toBe(nodeIdOf('/proc/meminfo'));
    expect(nodeIdOf('/proc/uptime')).toBeLessThan(2 ** 52);
    expect(nodeIdOf('/proc/uptime')).toBeGreaterThan(1);
  });

  it('answers INIT with protocol 7.x, max_write and no FLUSH afterwards', () => {
    const { s, last } = session();
    const b = Buffer.alloc(64);
    b.writeUInt32LE(7, 0);
    b.writeUInt32LE(41, 4);
    b.writeUInt32LE(131072, 8);
    b.writeUInt32LE(0xffffffff, 12);
    s.handle(req(OP.INIT, 0, b, 1));
    const a = last();
    expect(a).toMatchObject({ error: 0, unique: 1 });
    expect(a.body.length).toBe(64);
    expect(a.body.readUInt32LE(0)).toBe(7);
    expect(a.body.readUInt32LE(4)).toBe(31);
    expect(a.body.readUInt32LE(20)).toBe(4096); // max_write: one page (knob values are a few bytes)
    expect(s.initialized).toBe(true);
    s.handle(req(OP.FLUSH, 1));
    expect(last().error).toBe(-38); // ENOSYS: the kernel stops sending FLUSH
  });

  it('LOOKUP → entry with the stable id and attributes; unknown names ENOENT', () => {
    const { s, last } = session();
    s.handle(req(OP.LOOKUP, 1, Buffer.from('proc\0')));
    let a = last();
    expect(a.error).toBe(0);
    expect(u64(a.body, 0)).toBe(nodeIdOf('/proc'));
    expect(a.body.readUInt32LE(40 + 60)).toBe(0o40555); // attr.mode
    s.handle(req(OP.LOOKUP, nodeIdOf('/proc'), Buffer.from('uptime\0')));
    a = last();
    expect(u64(a.body, 0)).toBe(nodeIdOf('/proc/uptime'));
    expect(u64(a.body, 40 + 8)).toBe(4096); // attr.size
    expect(a.body.readUInt32LE(40 + 68)).toBe(100000); // attr.uid
    s.handle(req(OP.LOOKUP, 1, Buffer.from('nope\0')));
    expect(last().error).toBe(-2);
  });

  it('knows every node up front (an adopted connection asks about ids it got from an earlier process)', () => {
    const { s, last } = session();
    s.handle(req(OP.GETATTR, nodeIdOf('/proc/sys/x'), Buffer.alloc(16)));
    const a = last();
    expect(a.error).toBe(0);
    expect(a.body.readUInt32LE(16 + 60)).toBe(0o100644);
    s.handle(req(OP.GETATTR, 12345, Buffer.alloc(16)));
    expect(last().error).toBe(-116); // ESTALE
  });

  it('OPEN/READ/RELEASE: direct_io, handles carry the generation; a handle of an earlier process reads fresh', () => {
    const { s, last, o } = session();
    const id = nodeIdOf('/proc/uptime');
    s.handle(req(OP.OPEN, id, Buffer.alloc(8)));
    let a = last();
    expect(a.error).toBe(0);
    const fh = a.body.readBigUInt64LE(0);
    expect(fh).toBe((77n << 32n) | 5n);
    expect(a.body.readUInt32LE(8) & 1).toBe(1); // FOPEN_DIRECT_IO
    s.handle(req(OP.READ, id, readIn(fh, 0, 4096)));
    a = last();
    expect(a.body.toString()).toBe('1.00 2.00\n');
    s.handle(req(OP.READ, id, readIn(fh, 5, 4096)));
    expect(last().body.toString()).toBe('2.00\n');
    s.handle(req(OP.READ, id, readIn(fh, 100, 4096)));
    expect(last().body.length).toBe(0);
    s.handle(req(OP.READ, id, readIn((3n << 32n) | 5n, 0, 4096)));
    expect(last().body.toString()).toBe('fresh:1.00 2.00\n');
    s.handle(req(OP.RELEASE, id, Buffer.alloc(24))); // a handle of an earlier process: nothing to release
    s.handle(req(OP.RELEASE, id, (() => { const b = Buffer.alloc(24); b.writeBigUInt64LE(fh, 0); return b; })()));
    expect(last().error).toBe(0);
    expect(o.released).toEqual([5]);
  });

  it('OPEN through the page cache where ops allow it, once INIT negotiated FUSE_AUTO_INVAL_DATA; a changed file is invalidated first', () => {
    const out: Buffer[] = [];
    const o = ops({ '/proc/uptime': '1.00 2.00\n', '/proc/sys/x': '1\n' });
    let invalidate = true;
    o.openCached = (p) => (p === '/proc/uptime' ? { fh: 9, invalidate } : undefined);
    const s = new FuseSession(o, (b) => void out.push(Buffer.from(b)), { generation: 5 });
    const id = nodeIdOf('/proc/uptime');
    const init = (flags: number) => {
      const b = Buffer.alloc(64);
      b.writeUInt32LE(7, 0);
      b.writeUInt32LE(41, 4);
      b.writeUInt32LE(flags, 12);
      return req(OP.INIT, 0, b);
    };
    // a kernel without FUSE_AUTO_INVAL_DATA (or a connection adopted from an earlier process): direct I/O only
    s.handle(init(0));
    expect(s.pageCache).toBe(false);
    s.handle(req(OP.OPEN, id, Buffer.alloc(8)));
    expect(out.pop()!.readUInt32LE(OUT_HEADER + 8)).toBe(1); // FOPEN_DIRECT_IO
    s.handle(init(1 << 12));
    expect(out.pop()!.readUInt32LE(OUT_HEADER + 12) & (1 << 12)).not.toBe(0); // FUSE_AUTO_INVAL_DATA accepted
    expect(s.pageCache).toBe(true);
    out.length = 0;
    s.handle(req(OP.OPEN, id, Buffer.alloc(8), 31));
    // first the notification (unique 0, FUSE_NOTIFY_INVAL_INODE, the node, every page), then the answer
    expect(out).toHaveLength(2);
    expect(out[0]!.readUInt32LE(0)).toBe(40);
    expect(out[0]!.readInt32LE(4)).toBe(2);
    expect(out[0]!.readBigUInt64LE(8)).toBe(0n);
    expect(Number(out[0]!.readBigUInt64LE(16))).toBe(id);
    expect(out[0]!.readBigInt64LE(24)).toBe(0n);
    expect(out[0]!.readBigInt64LE(32)).toBe(0n);
    expect(Number(out[1]!.readBigUInt64LE(8))).toBe(31);
    expect(out[1]!.readBigUInt64LE(OUT_HEADER)).toBe((5n << 32n) | 9n);
    expect(out[1]!.readUInt32LE(OUT_HEADER + 8)).toBe(2); // FOPEN_KEEP_CACHE, not DIRECT_IO
    invalidate = false;
    out.length = 0;
    s.handle(req(OP.OPEN, id, Buffer.alloc(8)));
    expect(out).toHaveLength(1);
    expect(out[0]!.readUInt32LE(OUT_HEADER + 8)).toBe(2);
    // other files: direct I/O as before
    s.handle(req(OP.OPEN, nodeIdOf('/proc/sys/x'), Buffer.alloc(8)));
    expect(out.pop()!.readUInt32LE(OUT_HEADER + 8)).toBe(1);
  });

  it('attributes carry the mtime and timeout ops give (ms → seconds + nanoseconds)', () => {
    const { s, last, o } = session();
    const getattr = o.getattr.bind(o);
    o.getattr = (p, pc) => (p === '/proc/uptime' ? { ...getattr(p, pc), size: 10, mtimeMs: 1_700_000_000_123.5, ttlMs: 10 } : getattr(p, pc));
    s.handle(req(OP.GETATTR, nodeIdOf('/proc/uptime'), Buffer.alloc(16)));
    const b = last().body;
    expect(u64(b, 0)).toBe(0); // attr_valid: 0 s
    expect(b.readUInt32LE(8)).toBe(10_000_000); // + 10 ms
    expect(u64(b, 16 + 8)).toBe(10); // size
    expect(u64(b, 16 + 32)).toBe(1_700_000_000); // mtime
    expect(b.readUInt32LE(16 + 52)).toBe(123_500_000); // mtimensec
  });

  it('WRITE hands the data to the handler; its errno is the answer', () => {
    const { s, last, files } = session();
    const id = nodeIdOf('/proc/sys/x');
    const w = (text: string) => {
      const b = Buffer.alloc(40 + text.length);
      b.writeUInt32LE(text.length, 16);
      b.write(text, 40);
      return b;
    };
    s.handle(req(OP.WRITE, id, w('7\n')));
    const a = last();
    expect(a.error).toBe(0);
    expect(a.body.readUInt32LE(0)).toBe(2);
    expect(files['/proc/sys/x']).toBe('7\n');
    s.handle(req(OP.WRITE, id, w('bad\n')));
    expect(last().error).toBe(-22);
  });

  it('READDIR lists . .. and the entries from the offset, within the size', () => {
    const { s, last } = session();
    const id = nodeIdOf('/proc');
    s.handle(req(OP.OPENDIR, id, Buffer.alloc(8)));
    expect(last().error).toBe(0);
    const names = (body: Buffer) => {
      const out: string[] = [];
      for (let off = 0; off < body.length; ) {
        const len = body.readUInt32LE(off + 16);
        out.push(body.toString('utf8', off + 24, off + 24 + len));
        off += (24 + len + 7) & ~7;
      }
      return out;
    };
    s.handle(req(OP.READDIR, id, readIn(0n, 0, 4096)));
    expect(names(last().body)).toEqual(['.', '..', 'sys', 'uptime']);
    s.handle(req(OP.READDIR, id, readIn(0n, 3, 4096)));
    expect(names(last().body)).toEqual(['uptime']);
    s.handle(req(OP.READDIR, id, readIn(0n, 0, 64)));
    expect(names(last().body)).toEqual(['.', '..']);
    s.handle(req(OP.READDIR, id, readIn(0n, 0, 63)));
    expect(names(last().body)).toEqual(['.']);
    s.handle(req(OP.OPENDIR, nodeIdOf('/proc/uptime'), Buffer.alloc(8)));
    expect(last().error).toBe(-20); // ENOTDIR
  });

  it('no answer to FORGET/INTERRUPT; ENOSYS for what it does not implement; SETATTR chmod EPERM', () => {
    const { s, out, last } = session();
    s.handle(req(OP.FORGET, 1, Buffer.alloc(8)));
    s.handle(req(OP.INTERRUPT, 0, Buffer.alloc(8)));
    expect(out.length).toBe(0);
    s.handle(req(OP.GETXATTR, 1, Buffer.alloc(8)));
    expect(last().error).toBe(-38);
    const sa = Buffer.alloc(88);
    sa.writeUInt32LE(1, 0);
    s.handle(req(OP.SETATTR, nodeIdOf('/proc/sys/x'), sa));
    expect(last().error).toBe(-1);
    sa.writeUInt32LE(8, 0); // FATTR_SIZE (O_TRUNC)
    s.handle(req(OP.SETATTR, nodeIdOf('/proc/sys/x'), sa));
    expect(last().error).toBe(0);
  });

  it('the backend mounts with fd=N and, when adopting, asks the kernel to resend unanswered requests', async () => {
    const calls: string[] = [];
    const kernel = {
      open: (p: string) => (calls.push(`open ${p}`), 9),
      close: (fd: number) => void calls.push(`close ${fd}`),
      mount: (_s: string | null, t: string, type: string | null, _f: number, data?: string | null) => void calls.push(`mount ${t} ${type} ${data}`),
      umount: (t: string) => void calls.push(`umount ${t}`),
      fuseWatch: (fd: number) => (calls.push(`watch ${fd}`), { close: () => void calls.push('unwatch') }),
      write: (fd: number, b: Buffer) => (calls.push(`write ${fd} ${b.readInt32LE(4)}`), b.length),
    };
    const be = devFuseBackend(kernel);
    const m = await be.mount('/m', ops({}));
    expect(m.fd).toBe(9);
    expect(calls[1]).toMatch(/^mount \/m fuse\.sysboxfs fd=9,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions/);
    await m.unmount();
    expect(calls.slice(-3)).toEqual(['umount /m', 'unwatch', 'close 9']);
    calls.length = 0;
    be.adopt('/m2', 12, ops({}));
    expect(calls).toEqual(['watch 12', `write 12 ${FUSE_NOTIFY_RESEND}`]);
  });
});

describe('idle trim after a burst', () => {
  it('one GC + malloc_trim once requests stop for idleTrimMs, not during a burst; again after the next burst', async () => {
    vi.useFakeTimers();
    try {
      const calls: string[] = [];
      let onRequest: ((b: Buffer) => void) | undefined;
      const kernel = {
        open: () => 9,
        close: () => {},
        mount: () => {},
        umount: () => {},
        fuseWatch: (_fd: number, _n: number, on: (b: Buffer) => void) => ((onRequest = on), { close: () => {} }),
        write: (_fd: number, b: Buffer) => b.length,
        mallocTrim: () => (calls.push('trim'), true),
      };
      const be = devFuseBackend(kernel, { idleTrimMs: 100, gc: () => calls.push('gc') });
      await be.mount('/m', ops({}));
      const getattr = () => onRequest!(req(OP.GETATTR, 1, Buffer.alloc(16)));
      for (let i = 0; i < 10; i++) {
        getattr();
        vi.advanceTimersByTime(30); // a burst: never 100 ms without a request
      }
      expect(calls).toEqual([]);
      vi.advanceTimersByTime(250);
      expect(calls).toEqual(['gc', 'trim']);
      vi.advanceTimersByTime(1000);
      expect(calls).toEqual(['gc', 'trim']); // idle: nothing more
      getattr();
      vi.advanceTimersByTime(250);
      expect(calls).toEqual(['gc', 'trim', 'gc', 'trim']);
      // off with idleTrimMs 0
      calls.length = 0;
      await devFuseBackend(kernel, { idleTrimMs: 0 }).mount('/n', ops({}));
      getattr();
      vi.advanceTimersByTime(5000);
      expect(calls).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
  it('idleTrimmer: a timer per burst, not per request', () => {
    vi.useFakeTimers();
    try {
      let trims = 0;
      const touch = idleTrimmer(50, () => trims++);
      for (let i = 0; i < 1000; i++) touch();
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(120);
      expect(trims).toBe(1);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
