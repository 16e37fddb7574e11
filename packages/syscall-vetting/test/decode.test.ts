// The decoders: arguments copied once, with the kernel's limits and errnos.
import { describe, expect, test } from 'vitest';
import {
  E2BIG,
  EFAULT,
  EINVAL,
  ENAMETOOLONG,
  ENOENT,
  FakeMemory,
  MS_MGC_VAL,
  MS_RDONLY,
  VetError,
  decode,
  identify,
  readString,
  AUDIT_ARCH_X86_64,
  AUDIT_ARCH_I386,
  type RawCall,
} from '../src/index.js';
import { harness } from './helpers.js';

function raw(mem: FakeMemory, name: 'mount' | 'umount2' | 'openat2' | 'mount_setattr', args: bigint[], arch = AUDIT_ARCH_X86_64): RawCall {
  const nr = { mount: 165, umount2: 166, openat2: 437, mount_setattr: 442 }[name];
  const id = identify(arch, arch === AUDIT_ARCH_I386 ? ({ mount: 21, umount2: 52, openat2: 437, mount_setattr: 442 } as const)[name] : nr)!;
  return { pid: 1, id: { ...id, name: id.name! }, args };
}

function errnoOf(f: () => unknown): number {
  try {
    f();
  } catch (e) {
    if (e instanceof VetError) return e.errno;
    throw e;
  }
  throw new Error('no error');
}

describe('strings', () => {
  test('NULL, unmapped, unterminated at an unmapped page → EFAULT', async () => {
    const m = new FakeMemory();
    expect(errnoOf(() => readString(m.read, 1, 0n, { what: 't', kind: 'path' }))).toBe(EFAULT);
    expect(errnoOf(() => readString(m.read, 1, 0xdead0000n, { what: 't', kind: 'path' }))).toBe(EFAULT);
    const at = m.put('/abc', undefined, false); // no NUL, then unmapped
    expect(errnoOf(() => readString(m.read, 1, at, { what: 't', kind: 'path' }))).toBe(EFAULT);
  });

  test('PATH_MAX: a path of 4095 bytes is fine, 4096 without NUL is ENAMETOOLONG (EINVAL for mount strings)', async () => {
    const m = new FakeMemory();
    const ok = m.put(`/${'a'.repeat(4094)}`);
    expect(readString(m.read, 1, ok, { what: 't', kind: 'path' })).toHaveLength(4095);
    const long = m.put(`/${'a'.repeat(5000)}`);
    expect(errnoOf(() => readString(m.read, 1, long, { what: 't', kind: 'path' }))).toBe(ENAMETOOLONG);
    expect(errnoOf(() => readString(m.read, 1, long, { what: 't', kind: 'mount-string' }))).toBe(EINVAL);
  });

  test('a string ending just before an unmapped page reads', async () => {
    const m = new FakeMemory();
    const at = m.put('x'.repeat(4095), 0x50001n); // NUL at the last byte of the page 0x51000
    expect(readString(m.read, 1, at, { what: 't', kind: 'path' })).toHaveLength(4095);
  });

  test('empty path → ENOENT', async () => {
    const m = new FakeMemory();
    expect(errnoOf(() => readString(m.read, 1, m.put(''), { what: 't', kind: 'path' }))).toBe(ENOENT);
  });
});

describe('mount(2)', () => {
  test('MS_MGC_VAL discarded, data cut at its NUL, huge data read up to a page', async () => {
    const m = new FakeMemory();
    const a = decode(raw(m, 'mount', [m.put('none'), m.put('/t'), m.put('tmpfs'), BigInt(MS_MGC_VAL | MS_RDONLY), m.put(`size=1m\0garbage`)]), m.read);
    expect(a).toEqual({ syscall: 'mount', source: 'none', target: '/t', fstype: 'tmpfs', flags: MS_RDONLY, data: 'size=1m' });
    const huge = m.put(Buffer.alloc(1 << 20, 0x61));
    const b = decode(raw(m, 'mount', [0n, m.put('/t'), 0n, 0n, huge]), m.read);
    expect(b.syscall === 'mount' && b.data?.length).toBe(4095);
  });

  test("the kernel's order: a bad type is reported before a bad target", async () => {
    const m = new FakeMemory();
    expect(errnoOf(() => decode(raw(m, 'mount', [0n, 0xbad000n, m.put('x'.repeat(5000)), 0n, 0n]), m.read))).toBe(EINVAL);
    expect(errnoOf(() => decode(raw(m, 'mount', [0n, 0xbad000n, m.put('tmpfs'), 0n, 0n]), m.read))).toBe(EFAULT);
    expect(errnoOf(() => decode(raw(m, 'mount', [0n, m.put('/t'), m.put('tmpfs'), 0n, 0xbad000n]), m.read))).toBe(EFAULT);
  });
});

describe('umount2, mount_setattr, openat2', () => {
  test('unknown umount2 flags → EINVAL before the target is read', async () => {
    const m = new FakeMemory();
    expect(errnoOf(() => decode(raw(m, 'umount2', [0xbad000n, 0x10n]), m.read))).toBe(EINVAL);
  });

  test('versioned structs: too small EINVAL, over a page E2BIG, a non-zero tail E2BIG, a zero tail fine', async () => {
    const m = new FakeMemory();
    const p = m.put('/t');
    expect(errnoOf(() => decode(raw(m, 'mount_setattr', [-100n & 0xffffffffn, p, 0n, m.put(Buffer.alloc(32)), 16n]), m.read))).toBe(EINVAL);
    expect(errnoOf(() => decode(raw(m, 'mount_setattr', [-100n & 0xffffffffn, p, 0n, m.put(Buffer.alloc(32)), 8192n]), m.read))).toBe(E2BIG);
    const tail = Buffer.alloc(40);
    tail[36] = 1;
    expect(errnoOf(() => decode(raw(m, 'mount_setattr', [-100n & 0xffffffffn, p, 0n, m.put(tail), 40n]), m.read))).toBe(E2BIG);
    const a = decode(raw(m, 'mount_setattr', [-100n & 0xffffffffn, p, 0n, m.put(Buffer.alloc(40)), 40n]), m.read);
    expect(a).toMatchObject({ syscall: 'mount_setattr', dirfd: -100, path: '/t' });
    expect(errnoOf(() => decode(raw(m, 'openat2', [-100n & 0xffffffffn, p, m.put(Buffer.alloc(24)), 23n]), m.read))).toBe(EINVAL);
    expect(errnoOf(() => decode(raw(m, 'mount_setattr', [0n, p, 0x1n, m.put(Buffer.alloc(32)), 32n]), m.read))).toBe(EINVAL);
  });
});

describe('bad input through the interceptor', () => {
  test("garbage pointers, over-long paths and unknown file systems get the kernel's errno, never a throw", async () => {
    const x = harness();
    expect((await x.call('mount', [0xdeadbeefn, '/t', 'tmpfs', 0, null])).decision).toMatchObject({ kind: 'errno', rule: 'decode', errno: EFAULT });
    expect((await x.call('umount2', [`/${'a'.repeat(5000)}`, 0])).decision).toMatchObject({ kind: 'errno', errno: ENAMETOOLONG });
    expect((await x.call('mount', ['x', '/t', 'nosuchfs', 0, null])).decision).toMatchObject({ kind: 'continue', rule: 'new-mount' });
  });
});
