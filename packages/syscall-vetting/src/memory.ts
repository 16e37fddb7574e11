// Copies of the caller's memory, taken once, with the kernel's limits and errnos.
import { EFAULT, EINVAL, ENAMETOOLONG, ENOENT, PAGE_SIZE, PATH_MAX } from './constants.js';

/**
 * Reads the caller's memory (process_vm_readv semantics): returns what could be read from `address` on, up to
 * `length` bytes (short at an unmapped page), and throws (any error) when nothing at `address` is readable.
 */
export type MemoryReader = (pid: number, address: bigint, length: number) => Buffer;

/** A failure the kernel would answer with this errno (bad pointer, over-long string, ...). */
export class VetError extends Error {
  override readonly name = 'VetError';
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

/** Reads up to `length` bytes page by page; short when a page is unmapped; EFAULT if not even the first byte reads. */
export function readBytes(read: MemoryReader, pid: number, address: bigint, length: number, what: string): Buffer {
  if (address === 0n) throw new VetError(EFAULT, `${what}: NULL pointer`);
  const parts: Buffer[] = [];
  let got = 0;
  let at = address;
  while (got < length) {
    const toPage = PAGE_SIZE - Number(at % BigInt(PAGE_SIZE));
    const want = Math.min(length - got, toPage);
    let b: Buffer;
    try {
      b = read(pid, at, want);
    } catch {
      b = Buffer.alloc(0);
    }
    if (b.length > want) b = b.subarray(0, want);
    if (b.length > 0) {
      parts.push(Buffer.from(b)); // a copy: the reader may reuse its buffer
      got += b.length;
      at += BigInt(b.length);
    }
    if (b.length < want) break;
    if (at > 0xffffffffffffffffn) break;
  }
  if (got === 0) throw new VetError(EFAULT, `${what}: unreadable address 0x${address.toString(16)}`);
  return Buffer.concat(parts, got);
}

/**
 * A NUL-terminated string of at most `limit` bytes including the NUL, read once.
 * - pathname semantics (getname): empty → ENOENT unless allowEmpty, no NUL within limit → ENAMETOOLONG;
 * - mount-string semantics (strndup_user): no NUL within limit → EINVAL.
 * Unreadable before the NUL → EFAULT.
 */
export function readString(
  read: MemoryReader,
  pid: number,
  address: bigint,
  o: { what: string; limit?: number; kind: 'path' | 'mount-string'; allowEmpty?: boolean },
): string {
  const limit = o.limit ?? PATH_MAX;
  if (address === 0n) throw new VetError(EFAULT, `${o.what}: NULL pointer`);
  // chunks up to the next page boundary (a string may end just before an unmapped page), the first one small
  const parts: Buffer[] = [];
  let got = 0;
  let at = address;
  let chunk = 256;
  for (;;) {
    const toPage = PAGE_SIZE - Number(at % BigInt(PAGE_SIZE));
    const want = Math.min(limit - got, toPage, chunk);
    chunk = PAGE_SIZE;
    let b: Buffer;
    try {
      b = read(pid, at, want);
    } catch {
      b = Buffer.alloc(0);
    }
    if (b.length > want) b = b.subarray(0, want);
    const nul = b.indexOf(0);
    if (nul >= 0) {
      parts.push(b.subarray(0, nul));
      got += nul;
      if (got === 0 && o.kind === 'path' && !o.allowEmpty) throw new VetError(ENOENT, `${o.what}: empty path`);
      return Buffer.concat(parts, got).toString('latin1');
    }
    if (b.length < want) throw new VetError(EFAULT, `${o.what}: unreadable memory at 0x${(at + BigInt(b.length)).toString(16)}`);
    parts.push(Buffer.from(b));
    got += b.length;
    at += BigInt(b.length);
    if (got >= limit) {
      if (o.kind === 'path') throw new VetError(ENAMETOOLONG, `${o.what}: longer than ${limit - 1} bytes`);
      throw new VetError(EINVAL, `${o.what}: longer than ${limit - 1} bytes`);
    }
  }
}

/** mount(2)'s data: up to one page, a short read is fine (copy_mount_options), EFAULT only if nothing reads. */
export function readMountData(read: MemoryReader, pid: number, address: bigint): Buffer | null {
  if (address === 0n) return null;
  return readBytes(read, pid, address, PAGE_SIZE, 'data');
}

/**
 * A versioned struct (copy_struct_from_user): `size` bytes from the caller, of which the first `known` are the
 * struct; bytes past it must be zero (else E2BIG). Returns exactly `known` bytes (zero-filled if size < known).
 */
export function readStruct(read: MemoryReader, pid: number, address: bigint, size: number, known: number, what: string): Buffer {
  const b = readBytes(read, pid, address, size, what);
  if (b.length < size) throw new VetError(EFAULT, `${what}: unreadable past byte ${b.length}`);
  for (let i = known; i < size; i++) {
    if (b[i] !== 0) throw new VetError(7 /* E2BIG */, `${what}: non-zero bytes past the known struct (${known} bytes)`);
  }
  const out = Buffer.alloc(known);
  b.copy(out, 0, 0, Math.min(size, known));
  return out;
}
