// Kernel ABI constants the decoders and rules need (x86: x86_64, i386, x32 share these values).
import { AT_EMPTY_PATH, AT_NO_AUTOMOUNT, AT_RECURSIVE, AT_SYMLINK_NOFOLLOW } from '@sysbox/native';

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

// The kernel's flag values: one list for the tree, @sysbox/native's.
export {
  MS_RDONLY,
  MS_NOSUID,
  MS_NODEV,
  MS_NOEXEC,
  MS_SYNCHRONOUS,
  MS_REMOUNT,
  MS_MANDLOCK,
  MS_DIRSYNC,
  MS_NOSYMFOLLOW,
  MS_NOATIME,
  MS_NODIRATIME,
  MS_BIND,
  MS_MOVE,
  MS_REC,
  MS_SILENT,
  MS_POSIXACL,
  MS_UNBINDABLE,
  MS_PRIVATE,
  MS_SLAVE,
  MS_SHARED,
  MS_RELATIME,
  MS_KERNMOUNT,
  MS_I_VERSION,
  MS_STRICTATIME,
  MS_LAZYTIME,
  MS_NOUSER,
  MS_MGC_VAL,
  MS_MGC_MSK,
  MS_PROPAGATION,
  MNT_FORCE,
  MNT_DETACH,
  MNT_EXPIRE,
  UMOUNT_NOFOLLOW,
  UMOUNT_VALID,
  AT_FDCWD,
  AT_SYMLINK_NOFOLLOW,
  AT_NO_AUTOMOUNT,
  AT_EMPTY_PATH,
  AT_RECURSIVE,
  MOUNT_ATTR_RDONLY,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NOEXEC,
  MOUNT_ATTR__ATIME,
  MOUNT_ATTR_NODIRATIME,
  MOUNT_ATTR_IDMAP,
  MOUNT_ATTR_NOSYMFOLLOW,
  MOUNT_ATTR_SIZE_VER0,
  OPEN_HOW_SIZE_VER0,
  RESOLVE_NO_XDEV,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
  RESOLVE_BENEATH,
  RESOLVE_IN_ROOT,
  RESOLVE_CACHED,
  RESOLVE_VALID,
  O_ACCMODE,
  O_CREAT,
  O_NOFOLLOW,
  O_CLOEXEC,
  O_PATH,
  O_TMPFILE,
  OPEN_TREE_CLONE,
  SECCOMP_SET_MODE_FILTER,
  SECCOMP_FILTER_FLAG_NEW_LISTENER,
  PROC_SUPER_MAGIC,
  SYSFS_MAGIC,
  TMPFS_MAGIC,
} from '@sysbox/native';

/** The flags mount_setattr(2) takes. */
export const MOUNT_SETATTR_VALID_FLAGS = AT_EMPTY_PATH | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT;

/** CAP_SYS_ADMIN's bit in CapEff. */
export const CAP_SYS_ADMIN = 21;
