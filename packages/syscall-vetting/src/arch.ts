// The syscall table: which (architecture, number) is which vetted call, per architecture the profile allows.
// A notification for anything else is refused (ENOSYS) by the interceptor: it is never continued unvetted.

import { AUDIT_ARCH_I386, AUDIT_ARCH_X86_64 } from '@sysbox/native';

export { AUDIT_ARCH_I386, AUDIT_ARCH_X86_64 };
/** x32 calls arrive with AUDIT_ARCH_X86_64 and this bit set in the number. */
export const X32_SYSCALL_BIT = 0x40000000;

/** The calls sysbox-fs vets (what the spec's NOTIFY rules trap). */
export type VettedSyscall = 'mount' | 'umount' | 'umount2' | 'mount_setattr' | 'openat2';

/**
 * Calls of the new mount API that the spec refuses kernel-side (seccomp ERRNO ENOSYS, never notified), with why:
 * userspace (util-linux's libmount, systemd) falls back to mount(2), which is vetted.
 */
export const REFUSED_ENOSYS: Readonly<Record<string, string>> = Object.freeze({
  fsopen: 'a new superblock through the new mount API; util-linux falls back to mount(2), which is vetted',
  fsconfig: 'configures an fsopen/fspick context, which are refused',
  fsmount: 'attaches an fsopen context, which is refused',
  fspick: 'reconfigures a superblock outside mount(2) MS_REMOUNT, which is vetted',
  move_mount: 'moves or attaches mounts outside mount(2) MS_MOVE, which is vetted',
  open_tree: 'with OPEN_TREE_CLONE, a detached copy of a mount tree (a bind outside mount(2) MS_BIND, which is vetted); without it, an O_PATH open: allowed',
});

export type Arch = 'x86_64' | 'i386' | 'x32';

/** Numbers of the vetted calls; i386's umount is oldumount(target), umount2 without flags. */
export const VETTED_NUMBERS: Readonly<Record<Arch, Readonly<Record<number, VettedSyscall>>>> = Object.freeze({
  x86_64: { 165: 'mount', 166: 'umount2', 437: 'openat2', 442: 'mount_setattr' },
  x32: { 165: 'mount', 166: 'umount2', 437: 'openat2', 442: 'mount_setattr' },
  i386: { 21: 'mount', 22: 'umount', 52: 'umount2', 437: 'openat2', 442: 'mount_setattr' },
});

/** Numbers (x86_64, i386) of every trapped or refused call, for the README and the spec's tests. */
export const NUMBERS: Readonly<Record<string, { x86_64?: number; i386: number }>> = Object.freeze({
  mount: { x86_64: 165, i386: 21 },
  umount: { i386: 22 },
  umount2: { x86_64: 166, i386: 52 },
  open_tree: { x86_64: 428, i386: 428 },
  move_mount: { x86_64: 429, i386: 429 },
  fsopen: { x86_64: 430, i386: 430 },
  fsconfig: { x86_64: 431, i386: 431 },
  fsmount: { x86_64: 432, i386: 432 },
  fspick: { x86_64: 433, i386: 433 },
  openat2: { x86_64: 437, i386: 437 },
  mount_setattr: { x86_64: 442, i386: 442 },
  seccomp: { x86_64: 317, i386: 354 },
});

export interface SyscallId {
  arch: Arch;
  /** the number without the x32 bit */
  nr: number;
  name: VettedSyscall | undefined;
  /** pointers and longs are 32-bit (i386 and x32) */
  ptr32: boolean;
  /** unsigned long arguments are 32-bit (i386 only: x32's kernel entry takes 64-bit registers) */
  long32: boolean;
}

/** Which call a notification is, from its AUDIT_ARCH and number; undefined for an architecture not covered. */
export function identify(auditArch: number, nr: number): SyscallId | undefined {
  if (auditArch === AUDIT_ARCH_X86_64) {
    if (nr & X32_SYSCALL_BIT) {
      const n = nr & ~X32_SYSCALL_BIT;
      return { arch: 'x32', nr: n, name: VETTED_NUMBERS.x32[n], ptr32: true, long32: false };
    }
    return { arch: 'x86_64', nr, name: VETTED_NUMBERS.x86_64[nr], ptr32: false, long32: false };
  }
  if (auditArch === AUDIT_ARCH_I386) return { arch: 'i386', nr, name: VETTED_NUMBERS.i386[nr], ptr32: true, long32: true };
  return undefined;
}
