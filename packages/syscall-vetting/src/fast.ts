// The fast rules: the calls answered CONTINUE without a mount table — a new tmpfs (or any superblock but proc and
// sysfs) and the umount of a mount the container made, the hot path of a mount/umount loop. They are written once,
// here, as data: the interceptor (vet) applies them first to every call, and sysbox-fs hands the same table to its
// native vetting thread (@sysbox/native's SeccompNotify.vetter), which answers the calls they match without
// entering JS. Whatever no rule matches goes on to the handlers (src/vetter.ts); what a rule matches, a handler
// would continue too (test/fast.test.ts checks that over random calls and tables).
import type { VetTable, VetTableCall, VetTableRule } from '@sysbox/native';
import { AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, VETTED_NUMBERS, X32_SYSCALL_BIT, type VettedSyscall } from './arch.js';
import { MNT_DETACH, MS_BIND, MS_MOVE, MS_NOUSER, MS_PROPAGATION, MS_REMOUNT, PROC_SUPER_MAGIC, SYSFS_MAGIC, UMOUNT_NOFOLLOW, UMOUNT_VALID } from './constants.js';
import { POINTER_ARGS, stringArgs, type DecodedArgs } from './decode.js';

/** A rule: the conditions of @sysbox/native's VetTableRule (documented there), for one syscall by name, with its audit names. */
export interface FastRule extends Omit<VetTableRule, 'index' | 'arch' | 'nr'> {
  /** the rule's name (audit events, counts): the handler's name for the same decision */
  rule: string;
  /** the audit event's reason */
  reason(a: DecodedArgs): string;
  syscall: VettedSyscall;
}

const UMOUNT_REASON = (a: DecodedArgs) => `${'target' in a ? a.target : ''} is not protected: the kernel unmounts it`;

/**
 * Each rule also requires that the target's file system carries no protected mount (NamespaceTables.protectedDevs):
 * such a lookup needs the table, so the handlers decide it.
 */
export const FAST_RULES: readonly FastRule[] = Object.freeze([
  {
    // vetMount's last branch: a new superblock other than proc/sysfs, on a target on no protected file system
    // (covering one needs the table: cover-protected)
    rule: 'new-mount',
    reason: (a) => (a.syscall === 'mount' ? `a new ${a.fstype} mount on ${a.target}: the kernel decides (the file system's own user-namespace rules)` : ''),
    syscall: 'mount',
    flagsArg: 3,
    flagsClear: (MS_NOUSER | MS_REMOUNT | MS_BIND | MS_MOVE | MS_PROPAGATION) >>> 0,
    strings: [{ arg: 2, not: ['proc', 'sysfs'] }, { arg: 0 }, { arg: 1 }],
    readable: 4,
    target: 1,
    noFollow: 0,
    mountRoot: false,
    fsTypesNot: [],
    fsTypesUnless: 0,
  },
  {
    // vetUmount's last branch: a mount on no protected file system, and (without MNT_DETACH) not a proc or sysfs
    // (one may carry the emulation: umount-emulated performs it with what it carries; the handler reads the table)
    rule: 'umount',
    reason: UMOUNT_REASON,
    syscall: 'umount2',
    flagsArg: 1,
    flagsClear: ~UMOUNT_VALID >>> 0,
    strings: [{ arg: 0 }],
    readable: -1,
    target: 0,
    noFollow: UMOUNT_NOFOLLOW,
    mountRoot: true,
    fsTypesNot: [PROC_SUPER_MAGIC, SYSFS_MAGIC],
    fsTypesUnless: MNT_DETACH,
  },
  {
    rule: 'umount',
    reason: UMOUNT_REASON,
    syscall: 'umount',
    flagsArg: -1,
    flagsClear: 0,
    strings: [{ arg: 0 }],
    readable: -1,
    target: 0,
    noFollow: 0,
    mountRoot: true,
    fsTypesNot: [PROC_SUPER_MAGIC, SYSFS_MAGIC],
    fsTypesUnless: MNT_DETACH,
  },
]);

/** The rule for a call, if any (at most one per call). */
export function fastRuleOf(syscall: VettedSyscall): FastRule | undefined {
  return FAST_RULES.find((r) => r.syscall === syscall);
}

/** What a rule asks of a call before the lookup: its flags, and the target path (undefined: the rule doesn't apply). */
export function fastCandidate(r: FastRule, raw: readonly bigint[], a: DecodedArgs): { flags: number; target: string; follow: boolean } | undefined {
  const flags = r.flagsArg < 0 ? 0 : Number((raw[r.flagsArg] ?? 0n) & 0xffffffffn);
  if ((flags & r.flagsClear) >>> 0 !== 0) return undefined;
  const strs = stringArgs(a);
  for (const s of r.strings) {
    const v = strs.get(s.arg);
    if (v === null || v === undefined || s.not?.includes(v)) return undefined;
  }
  const target = strs.get(r.target);
  if (!target) return undefined;
  return { flags, target, follow: (flags & r.noFollow) === 0 };
}

/** Whether the rule answers, given where the target landed and the container's protected file systems. */
export function fastAnswers(r: FastRule, flags: number, l: { dev: string; mountRoot: boolean; fsType?: number }, protectedDevs: ReadonlySet<string>): boolean {
  if (r.mountRoot && !l.mountRoot) return false;
  if (protectedDevs.has(l.dev)) return false;
  if (r.fsTypesNot.length > 0 && (flags & r.fsTypesUnless) === 0 && (l.fsType === undefined || r.fsTypesNot.includes(l.fsType))) return false;
  return true;
}

/**
 * The table for the vetting thread: every vetted call (x86_64, x32, i386) with its pointer arguments (copied for the
 * interceptor), and the rules for x86_64's calls (the compat ones always reach the interceptor). `names[i]` is the
 * rule counted at stats().continued[i].
 */
export function vetTable(): { table: VetTable; names: string[] } {
  const names = [...new Set(FAST_RULES.map((r) => r.rule))];
  const calls: VetTableCall[] = [];
  const x86 = new Map<VettedSyscall, number>();
  for (const [nr, name] of Object.entries(VETTED_NUMBERS.x86_64)) {
    x86.set(name, Number(nr));
    calls.push({ arch: AUDIT_ARCH_X86_64, nr: Number(nr), pointers: POINTER_ARGS[name], long32: false });
  }
  for (const [nr, name] of Object.entries(VETTED_NUMBERS.x32)) calls.push({ arch: AUDIT_ARCH_X86_64, nr: Number(nr) | X32_SYSCALL_BIT, pointers: POINTER_ARGS[name], long32: false });
  for (const [nr, name] of Object.entries(VETTED_NUMBERS.i386)) calls.push({ arch: AUDIT_ARCH_I386, nr: Number(nr), pointers: POINTER_ARGS[name], long32: true });
  const rules = FAST_RULES.flatMap((r) => {
    const nr = x86.get(r.syscall);
    if (nr === undefined) return [];
    const { rule, reason: _reason, syscall: _syscall, ...rest } = r;
    return [{ ...rest, index: names.indexOf(rule), arch: AUDIT_ARCH_X86_64, nr, strings: r.strings.map((s) => ({ ...s })) }];
  });
  return { table: { calls, rules }, names };
}
