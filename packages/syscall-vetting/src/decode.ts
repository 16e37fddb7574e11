// Decoders of a raw seccomp notification: the arguments, copied ONCE from the caller's memory, with the kernel's
// limits and errnos (in the kernel's order, so the caller gets the errno the kernel would have given).
import type { SyscallId, VettedSyscall } from './arch.js';
import {
  E2BIG,
  EINVAL,
  MOUNT_ATTR_SIZE_VER0,
  MOUNT_SETATTR_VALID_FLAGS,
  MS_MGC_MSK,
  MS_MGC_VAL,
  OPEN_HOW_SIZE_VER0,
  PAGE_SIZE,
  UMOUNT_VALID,
  AT_EMPTY_PATH,
} from './constants.js';
import { type MemoryReader, VetError, readMountData, readString, readStruct } from './memory.js';

export interface MountArgs {
  syscall: 'mount';
  source: string | null;
  target: string;
  fstype: string | null;
  /** the low 32 bits the kernel acts on, with the old MS_MGC_VAL magic discarded */
  flags: number;
  /** data up to its first NUL (mount options), latin1; null for a NULL pointer */
  data: string | null;
}

export interface UmountArgs {
  syscall: 'umount2' | 'umount';
  target: string;
  flags: number;
}

export interface MountSetattrArgs {
  syscall: 'mount_setattr';
  dirfd: number;
  path: string;
  atFlags: number;
  attr: { attrSet: bigint; attrClr: bigint; propagation: bigint; usernsFd: bigint };
  size: number;
}

export interface Openat2Args {
  syscall: 'openat2';
  dirfd: number;
  path: string;
  how: { flags: bigint; mode: bigint; resolve: bigint };
  size: number;
}

export type DecodedArgs = MountArgs | UmountArgs | MountSetattrArgs | Openat2Args;

/** What the interceptor knows of a notification before decoding. */
export interface RawCall {
  /** host tid of the caller (seccomp_notif.pid) */
  pid: number;
  id: SyscallId & { name: VettedSyscall };
  args: readonly bigint[];
}

const M32 = 0xffffffffn;

function arg(c: RawCall, i: number): bigint {
  const v = c.args[i] ?? 0n;
  return c.id.long32 ? v & M32 : v;
}

/** A pointer argument as the kernel uses it (i386: the low 32 bits). */
function ptr(c: RawCall, i: number): bigint {
  return arg(c, i);
}

/** An int argument (fds, sizes given as int): the low 32 bits, signed. */
function int(c: RawCall, i: number): number {
  const v = Number((c.args[i] ?? 0n) & M32);
  return v > 0x7fffffff ? v - 0x100000000 : v;
}

/** An unsigned int / unsigned long argument that the kernel reads as 32 bits (flags). */
function u32(c: RawCall, i: number): number {
  return Number((c.args[i] ?? 0n) & M32);
}

/** Decodes the call's arguments or throws VetError with the kernel's errno. */
export function decode(c: RawCall, read: MemoryReader): DecodedArgs {
  switch (c.id.name) {
    case 'mount': {
      // SYSCALL_DEFINE5(mount): type, then dev_name, then data are copied; then do_mount resolves dir_name
      const fstype = ptr(c, 2) === 0n ? null : readString(read, c.pid, ptr(c, 2), { what: 'filesystemtype', kind: 'mount-string' });
      const source = ptr(c, 0) === 0n ? null : readString(read, c.pid, ptr(c, 0), { what: 'source', kind: 'mount-string' });
      const raw = readMountData(read, c.pid, ptr(c, 4));
      const target = readString(read, c.pid, ptr(c, 1), { what: 'target', kind: 'path' });
      let flags = u32(c, 3) >>> 0;
      if (((flags & MS_MGC_MSK) >>> 0) === MS_MGC_VAL) flags = (flags & ~MS_MGC_MSK) >>> 0;
      let data: string | null = null;
      if (raw) {
        const nul = raw.indexOf(0);
        data = (nul < 0 ? raw.subarray(0, Math.min(raw.length, PAGE_SIZE - 1)) : raw.subarray(0, nul)).toString('latin1');
      }
      return { syscall: 'mount', source, target, fstype, flags, data };
    }
    case 'umount2':
    case 'umount': {
      const flags = c.id.name === 'umount' ? 0 : u32(c, 1);
      if (flags & ~UMOUNT_VALID) throw new VetError(EINVAL, `umount2: unknown flags 0x${(flags & ~UMOUNT_VALID).toString(16)}`);
      const target = readString(read, c.pid, ptr(c, 0), { what: 'target', kind: 'path' });
      return { syscall: c.id.name, target, flags };
    }
    case 'mount_setattr': {
      const dirfd = int(c, 0);
      const atFlags = u32(c, 2);
      const size = Number(arg(c, 4));
      if (atFlags & ~MOUNT_SETATTR_VALID_FLAGS) throw new VetError(EINVAL, `mount_setattr: unknown flags 0x${(atFlags & ~MOUNT_SETATTR_VALID_FLAGS).toString(16)}`);
      if (size > PAGE_SIZE) throw new VetError(E2BIG, `mount_setattr: size ${size} larger than a page`);
      if (size < MOUNT_ATTR_SIZE_VER0) throw new VetError(EINVAL, `mount_setattr: size ${size} smaller than struct mount_attr (${MOUNT_ATTR_SIZE_VER0})`);
      const b = readStruct(read, c.pid, ptr(c, 3), size, MOUNT_ATTR_SIZE_VER0, 'struct mount_attr');
      const attr = { attrSet: b.readBigUInt64LE(0), attrClr: b.readBigUInt64LE(8), propagation: b.readBigUInt64LE(16), usernsFd: b.readBigUInt64LE(24) };
      const path = readString(read, c.pid, ptr(c, 1), { what: 'path', kind: 'path', allowEmpty: (atFlags & AT_EMPTY_PATH) !== 0 });
      return { syscall: 'mount_setattr', dirfd, path, atFlags, attr, size };
    }
    case 'openat2': {
      const dirfd = int(c, 0);
      const size = Number(arg(c, 3));
      if (size < OPEN_HOW_SIZE_VER0) throw new VetError(EINVAL, `openat2: size ${size} smaller than struct open_how (${OPEN_HOW_SIZE_VER0})`);
      if (size > PAGE_SIZE) throw new VetError(E2BIG, `openat2: size ${size} larger than a page`);
      const b = readStruct(read, c.pid, ptr(c, 2), size, OPEN_HOW_SIZE_VER0, 'struct open_how');
      const how = { flags: b.readBigUInt64LE(0), mode: b.readBigUInt64LE(8), resolve: b.readBigUInt64LE(16) };
      const path = readString(read, c.pid, ptr(c, 1), { what: 'path', kind: 'path' });
      return { syscall: 'openat2', dirfd, path, how, size };
    }
  }
}

/**
 * The pointer arguments of each call: what the decoder reads from the caller, at most a page from each (strings up to
 * PATH_MAX, mount data up to a page, versioned structs up to a page). A vetting thread copies exactly these.
 */
export const POINTER_ARGS: Readonly<Record<VettedSyscall, readonly number[]>> = Object.freeze({
  mount: [0, 1, 2, 4],
  umount: [0],
  umount2: [0],
  mount_setattr: [1, 3],
  openat2: [1, 2],
});

/** The string arguments a call decoded, by argument index (null: a NULL pointer). */
export function stringArgs(a: DecodedArgs): ReadonlyMap<number, string | null> {
  switch (a.syscall) {
    case 'mount':
      return new Map([[0, a.source], [1, a.target], [2, a.fstype]]);
    case 'umount':
    case 'umount2':
      return new Map([[0, a.target]]);
    case 'mount_setattr':
    case 'openat2':
      return new Map([[1, a.path]]);
  }
}

/** The arguments as an audit record (strings cut to 256 chars, numbers in hex). */
export function describeArgs(a: DecodedArgs): Record<string, string | number | null> {
  const cut = (s: string | null) => (s === null ? null : s.length > 256 ? `${s.slice(0, 256)}…` : s);
  switch (a.syscall) {
    case 'mount':
      return { source: cut(a.source), target: cut(a.target), fstype: cut(a.fstype), flags: `0x${a.flags.toString(16)}`, data: cut(a.data) };
    case 'umount':
    case 'umount2':
      return { target: cut(a.target), flags: `0x${a.flags.toString(16)}` };
    case 'mount_setattr':
      return {
        dirfd: a.dirfd, path: cut(a.path), flags: `0x${a.atFlags.toString(16)}`,
        attrSet: `0x${a.attr.attrSet.toString(16)}`, attrClr: `0x${a.attr.attrClr.toString(16)}`, propagation: `0x${a.attr.propagation.toString(16)}`,
      };
    case 'openat2':
      return { dirfd: a.dirfd, path: cut(a.path), flags: `0x${a.how.flags.toString(16)}`, resolve: `0x${a.how.resolve.toString(16)}` };
  }
}
