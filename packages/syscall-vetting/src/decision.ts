// What the interceptor answers, and the audit event that records it.
import type { TargetRef } from './paths.js';

/** An operation sysbox-fs performs on the caller's behalf, in its namespaces, with the arguments copied once. */
export type Action =
  /** mount(2) as the caller (its user, mount namespaces, root, cwd): binds, moves, remounts */
  | { op: 'mount'; source: TargetRef | string | null; target: TargetRef; fstype: string | null; flags: number; data: string | null }
  /**
   * a new procfs or sysfs for the caller (its pid namespace for proc, its network namespace for sysfs), with the
   * container's emulated files and its masked and read-only paths laid over it
   */
  | { op: 'mount-proc' | 'mount-sysfs'; source: string | null; target: TargetRef; flags: number; data: string | null }
  /** umount2(2) as the caller */
  | { op: 'umount'; target: TargetRef; flags: number }
  /** mount_setattr(2) as the caller */
  | { op: 'mount-setattr'; target: TargetRef; atFlags: number; attr: { attrSet: bigint; attrClr: bigint; propagation: bigint; usernsFd: bigint } }
  /**
   * openat2(2) as the caller (its IDs), without RESOLVE_NO_XDEV (sysbox-fs's mounts are mount crossings), then the
   * fd installed in the caller with SECCOMP_ADDFD_FLAG_SEND (its O_CLOEXEC kept); only files of sysbox-fs
   */
  | { op: 'openat2'; target: TargetRef; flags: bigint; mode: bigint; resolve: bigint; cloexec: boolean };

export type Decision =
  /** the kernel runs the call as if it were not intercepted (SECCOMP_USER_NOTIF_FLAG_CONTINUE) */
  | { kind: 'continue'; rule: string; reason: string }
  /** sysbox-fs performs `action`; its result (a value, an fd, or an errno) is the caller's */
  | { kind: 'perform'; rule: string; reason: string; action: Action }
  /** the call fails with errno */
  | { kind: 'errno'; rule: string; reason: string; errno: number }
  /** the call returns `value` without doing anything */
  | { kind: 'fake'; rule: string; reason: string; value: number };

/** One line of the audit trail: every decision, with the container, the caller and what it asked. */
export interface AuditEvent {
  containerId: string;
  /** host tid of the caller */
  pid: number;
  syscall: string;
  arch: string;
  args: Record<string, string | number | null>;
  decision: Decision['kind'];
  rule: string;
  reason: string;
  /** errno name, for errno decisions (and performed calls that failed) */
  errno?: string;
}
