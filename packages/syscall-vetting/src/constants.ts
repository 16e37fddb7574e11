// Kernel ABI constants the decoders and rules need (x86: x86_64, i386, x32 share these values).

export const PATH_MAX = 4096;
export const PAGE_SIZE = 4096;

/** errno numbers (x86). */
export const EPERM = 1;
export const ENOENT = 2;
export const EFAULT = 14;
export const EBUSY = 16;
export const EINVAL = 22;
export const ENAMETOOLONG = 36;
export const ENOSYS = 38;
export const E2BIG = 7;
export const EXDEV = 18;
export const ELOOP = 40;
export const EACCES = 13;

export const ERRNO_NAMES: Readonly<Record<number, string>> = Object.freeze({
  1: 'EPERM', 2: 'ENOENT', 7: 'E2BIG', 13: 'EACCES', 14: 'EFAULT', 16: 'EBUSY', 18: 'EXDEV', 20: 'ENOTDIR', 22: 'EINVAL',
  36: 'ENAMETOOLONG', 38: 'ENOSYS', 40: 'ELOOP',
});

export function errnoName(n: number): string {
  return ERRNO_NAMES[n] ?? `E${n}`;
}

// mount(2) flags
export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_SYNCHRONOUS = 0x10;
export const MS_REMOUNT = 0x20;
export const MS_MANDLOCK = 0x40;
export const MS_DIRSYNC = 0x80;
export const MS_NOSYMFOLLOW = 0x100;
export const MS_NOATIME = 0x400;
export const MS_NODIRATIME = 0x800;
export const MS_BIND = 0x1000;
export const MS_MOVE = 0x2000;
export const MS_REC = 0x4000;
export const MS_SILENT = 0x8000;
export const MS_POSIXACL = 0x10000;
export const MS_UNBINDABLE = 0x20000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_SHARED = 0x100000;
export const MS_RELATIME = 0x200000;
export const MS_KERNMOUNT = 0x400000;
export const MS_I_VERSION = 0x800000;
export const MS_STRICTATIME = 0x1000000;
export const MS_LAZYTIME = 0x2000000;
export const MS_NOUSER = 0x80000000;
/** Old magic in the top 16 bits, discarded by the kernel. */
export const MS_MGC_VAL = 0xc0ed0000;
export const MS_MGC_MSK = 0xffff0000;
export const MS_PROPAGATION = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;

// umount2(2) flags
export const MNT_FORCE = 0x1;
export const MNT_DETACH = 0x2;
export const MNT_EXPIRE = 0x4;
export const UMOUNT_NOFOLLOW = 0x8;
export const UMOUNT_VALID = MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW;

// *at flags
export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_NO_AUTOMOUNT = 0x800;
export const AT_EMPTY_PATH = 0x1000;
export const AT_RECURSIVE = 0x8000;

// mount_setattr(2)
export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;
export const MOUNT_ATTR_NOEXEC = 0x8;
export const MOUNT_ATTR__ATIME = 0x70;
export const MOUNT_ATTR_NODIRATIME = 0x80;
export const MOUNT_ATTR_IDMAP = 0x100000;
export const MOUNT_ATTR_NOSYMFOLLOW = 0x200000;
export const MOUNT_ATTR_SIZE_VER0 = 32;
export const MOUNT_SETATTR_VALID_FLAGS = AT_EMPTY_PATH | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT;

// openat2(2)
export const OPEN_HOW_SIZE_VER0 = 24;
export const RESOLVE_NO_XDEV = 0x1;
export const RESOLVE_NO_MAGICLINKS = 0x2;
export const RESOLVE_NO_SYMLINKS = 0x4;
export const RESOLVE_BENEATH = 0x8;
export const RESOLVE_IN_ROOT = 0x10;
export const RESOLVE_CACHED = 0x20;
export const RESOLVE_VALID = 0x3f;
export const O_ACCMODE = 0o3;
export const O_CREAT = 0o100;
export const O_NOFOLLOW = 0o400000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;
export const O_TMPFILE = 0o20200000;

// open_tree(2), seccomp(2)
export const OPEN_TREE_CLONE = 0x1;
export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 0x8;

/** CAP_SYS_ADMIN's bit in CapEff. */
export const CAP_SYS_ADMIN = 21;
