import type { LinuxSeccomp, LinuxSyscall, Spec } from '../types.js';
import { clone, isUnder } from '../util.js';
import { type ConvertContext, type Report, noReport } from './context.js';
import { LOCKED_TREES } from './paths.js';

/**
 * Syscalls a system container needs that Docker's default profile refuses (Docker allows most of them
 * only with CAP_SYS_ADMIN, which it did not grant): mounting and the new mount API, namespaces
 * (unshare, setns, clone/clone3 with namespace flags), pivot_root and chroot for inner runtimes,
 * hostname, the kernel keyring (namespaced per user namespace), name_to_handle_at and kcmp (systemd).
 * The kernel checks each against the container's user namespace; mounts are vetted through seccomp-notify.
 * reboot is not here: Docker's profile refuses it (EPERM) unless CAP_SYS_BOOT was asked for, as under runc.
 * That refusal is what makes `docker stop` of systemd end with 0: systemd-shutdown's reboot() fails with
 * EPERM, so it exits 0 ("Exiting container."); allowed, the kernel would kill the namespace's init with
 * SIGINT (exit code 130).
 */
export const SYSCONT_SYSCALLS: readonly string[] = Object.freeze([
  'mount', 'umount', 'umount2', 'unshare', 'setns', 'pivot_root', 'chroot', 'clone', 'clone3',
  'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr',
  'sethostname', 'setdomainname', 'keyctl', 'add_key', 'request_key', 'name_to_handle_at', 'kcmp',
]);

/**
 * Syscalls always refused (EPERM), also with `--privileged` or `seccomp=unconfined`: they act on the
 * whole host (kernel modules, kexec, BPF, perf, swap, clock, accounting, raw I/O ports, the kernel log)
 * or break out of a mount namespace (open_by_handle_at), and none of them is confined by a user namespace.
 * (userfaultfd is not here: without CAP_SYS_PTRACE in the host's namespace the kernel grants only
 * user-mode faults, so `seccomp=unconfined` allows it as plain runc would; Docker's profile still denies it.)
 */
export const DENIED_SYSCALLS: readonly string[] = Object.freeze([
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'create_module',
  'query_module', 'get_kernel_syms', 'open_by_handle_at', 'bpf', 'perf_event_open', 'lookup_dcookie',
  'acct', 'swapon', 'swapoff', 'iopl', 'ioperm', 'syslog', 'nfsservctl', 'uselib', '_sysctl',
  'vm86', 'vm86old', 'settimeofday', 'stime', 'clock_settime', 'clock_settime64',
]);

/**
 * The calls sysbox-fs vets (SCMP_ACT_NOTIFY, every call: their decisions need the path strings, which a kernel-side
 * filter can't see). i386's `umount` resolves on x86 only; `umount` on x86_64 is unknown to the kernel.
 * See @sysbox/syscall-vetting's README for the decision per call.
 */
export const VETTED_SYSCALLS: readonly string[] = Object.freeze(['mount', 'umount', 'umount2', 'mount_setattr', 'openat2']);

/**
 * The new mount API's calls refused kernel-side with ENOSYS while sysbox-fs vets mounts: util-linux's libmount and
 * systemd fall back to mount(2), which is vetted. open_tree is refused only with OPEN_TREE_CLONE (a detached copy,
 * i.e. a bind outside mount(2)); without it, it is an O_PATH open.
 */
export const ENOSYS_MOUNT_API: readonly string[] = Object.freeze(['fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount']);

const ENOSYS = 38;
const MS_RDONLY = 0x1;
const MS_REMOUNT = 0x20;
const MS_BIND = 0x1000;
/** mount(2)'s flags argument of a read-only bind remount: all three bits */
const RO_BIND_REMOUNT = MS_REMOUNT | MS_BIND | MS_RDONLY;

/**
 * The read-only mounts of a spec whose read-only flag the kernel doesn't lock: it is set inside the container's user
 * namespace, so the container's root could clear it with a bind remount. Those are the root file system with
 * `root.readonly`, a read-only mount outside LOCKED_TREES that is not a bind (e.g. `--tmpfs /x:ro`), and a read-only
 * bind unless `bindsLocked` (ConvertContext.bindsLocked: sysbox-mgr stages every read-only bind on the host, where its
 * flag gets locked when the engine copies the mount namespace into the container's user namespace, as runc does).
 */
export function unlockedReadOnly(spec: Spec, bindsLocked = false): string[] {
  const out: string[] = [];
  if (spec.root?.readonly) out.push('/');
  for (const m of spec.mounts ?? []) {
    const o = m.options ?? [];
    const bind = m.type === 'bind' || o.includes('bind') || o.includes('rbind');
    if (o.includes('ro') && !(bind && bindsLocked) && !LOCKED_TREES.some((t) => isUnder(m.destination, t))) out.push(m.destination);
  }
  return out;
}

/**
 * The mount rules with vetting: one per value of the masked flags, all on the same mask, so that the kernel filter
 * libseccomp builds is a plain comparison of one masked value (rules on different masks of the same argument were
 * merged so that `MS_REMOUNT|MS_RDONLY` of a tmpfs fell through to ALLOW: never vetted, EINVAL from the kernel for its
 * host-ID options). A bind remount (`MS_REMOUNT|MS_BIND`: per-mount flags only, its data is ignored) is allowed (on a
 * default-deny profile) when `bindRemounts` says the kernel locks every read-only mount of the container: the mask is
 * then MS_REMOUNT|MS_BIND, 4 values. Otherwise only a bind remount that sets read-only is allowed: the mask has
 * MS_RDONLY too, 8 values. The other values are notified. (Each rule costs runc a share of the libseccomp compile it
 * does at every create and exec: 4 rules instead of 8 where 4 say the same.)
 */
function mountRules(permissive: boolean, bindRemounts: boolean): LinuxSyscall[] {
  const mask = bindRemounts ? MS_REMOUNT | MS_BIND : RO_BIND_REMOUNT;
  const rule = (value: number, action: 'SCMP_ACT_NOTIFY' | 'SCMP_ACT_ALLOW'): LinuxSyscall => ({
    names: ['mount'],
    action,
    args: [{ index: 3, value: mask, valueTwo: value, op: 'SCMP_CMP_MASKED_EQ' }],
  });
  // every value of the mask's bits
  const values = [MS_RDONLY, MS_REMOUNT, MS_BIND].filter((b) => mask & b).reduce<number[]>((vs, b) => vs.flatMap((v) => [v, v | b]), [0]);
  const notified = values.filter((v) => v !== mask).map((v) => rule(v, 'SCMP_ACT_NOTIFY'));
  return permissive ? notified : [...notified, rule(mask, 'SCMP_ACT_ALLOW')];
}
const EBUSY = 16;
const OPEN_TREE_CLONE = 1;
const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;
/** seccomp(2)'s flags argument with SECCOMP_FILTER_FLAG_NEW_LISTENER set (8) or not (0) */
const listenerFlag = (valueTwo: number) => ({ index: 1, value: SECCOMP_FILTER_FLAG_NEW_LISTENER, valueTwo, op: 'SCMP_CMP_MASKED_EQ' as const });

/** ctx.seccompNotify for sysbox-fs's vetting: the trapped calls and its listener socket. */
export function vettingNotify(listenerPath: string, listenerMetadata?: string): NonNullable<ConvertContext['seccompNotify']> {
  return { listenerPath, syscalls: [...VETTED_SYSCALLS], vetting: true, ...(listenerMetadata !== undefined ? { listenerMetadata } : {}) };
}

/**
 * Kernel-side rules that keep vetting whole (added with `ctx.seccompNotify.vetting`):
 * - the new mount API: ENOSYS (fsopen fsconfig fsmount fspick move_mount; open_tree with OPEN_TREE_CLONE);
 * - seccomp() with SECCOMP_FILTER_FLAG_NEW_LISTENER: EBUSY (the kernel's own answer while a listener is in the chain):
 *   a process inside may not install a listener whose supervisor would answer the container's own mount calls. Only
 *   SECCOMP_SET_MODE_FILTER takes flags: another operation with that flag, EINVAL from the kernel, gets EBUSY.
 * libseccomp lets an unconditional rule for a syscall win over conditional ones of another action, whatever their
 * order (measured with runc 1.1.5, packages/spec/test/runc.int.test.ts): so `seccomp` and `open_tree` leave every
 * other rule, and on a default-deny profile their allowed forms get conditional ALLOW rules of their own.
 */
function vettingRules(permissive: boolean): LinuxSyscall[] {
  const rules: LinuxSyscall[] = [
    { names: [...ENOSYS_MOUNT_API], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    { names: ['open_tree'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, args: [{ index: 2, value: OPEN_TREE_CLONE, valueTwo: OPEN_TREE_CLONE, op: 'SCMP_CMP_MASKED_EQ' }] },
    // on the flags alone: SECCOMP_SET_MODE_FILTER is the only operation that takes flags (the others get EINVAL for
    // any), and a second condition on the operation would cost runc ~1 ms more libseccomp compile at every exec
    { names: ['seccomp'], action: 'SCMP_ACT_ERRNO', errnoRet: EBUSY, args: [listenerFlag(SECCOMP_FILTER_FLAG_NEW_LISTENER)] },
  ];
  if (!permissive) {
    rules.push(
      { names: ['open_tree'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: OPEN_TREE_CLONE, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['seccomp'], action: 'SCMP_ACT_ALLOW', args: [listenerFlag(0)] },
    );
  }
  return rules;
}

export const DEFAULT_SECCOMP_ARCHITECTURES: readonly string[] = Object.freeze(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);

const EPERM = 1;
const PERMISSIVE = new Set(['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG']);

/** Removes `names` from every rule, dropping rules left empty (argument-conditioned ones included). */
function without(rules: LinuxSyscall[], names: ReadonlySet<string>): LinuxSyscall[] {
  return rules
    .map((r) => ({ ...r, names: (r.names ?? []).filter((n) => !names.has(n)) }))
    .filter((r) => r.names.length > 0);
}

/**
 * Rewrites the seccomp profile for a system container, as sysbox-runc does:
 * - Docker's profile (default ERRNO, allow-list): every rule naming a SYSCONT_SYSCALLS entry is removed
 *   (that includes the argument-conditioned `clone` rule that refuses namespace flags, and `clone3`'s
 *   ENOSYS rule) and one unconditional ALLOW rule lists them; the rest of Docker's refusals stay.
 * - A deny-list profile (default ALLOW/LOG): SYSCONT_SYSCALLS are removed from its refusals.
 * - No profile (`--privileged`, `seccomp=unconfined`): a default-allow profile is built.
 * In every case DENIED_SYSCALLS are refused with EPERM, and `ctx.seccompNotify` adds a NOTIFY rule for
 * its syscalls (taken out of every other rule) and sets listenerPath; with `vetting` (vettingNotify), the kernel-side
 * rules of vettingRules too.
 */
export function seccompModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  const linux = spec.linux ?? {};
  let profile: LinuxSeccomp;
  if (linux.seccomp) {
    profile = clone(linux.seccomp);
  } else {
    profile = { defaultAction: 'SCMP_ACT_ALLOW', architectures: [...(ctx.seccompArchitectures ?? DEFAULT_SECCOMP_ARCHITECTURES)], syscalls: [] };
    report('no profile: built a default-allow profile');
  }
  const permissive = PERMISSIVE.has(profile.defaultAction);
  const needed = new Set(SYSCONT_SYSCALLS);
  const denied = new Set(DENIED_SYSCALLS.filter((n) => !needed.has(n)));
  const notify = new Set(ctx.seccompNotify?.syscalls ?? []);

  const vetting = ctx.seccompNotify?.vetting === true && notify.size > 0;
  const unlocked = unlockedReadOnly(spec, ctx.bindsLocked === true);
  const kernelSide = vetting ? new Set([...ENOSYS_MOUNT_API, 'open_tree', 'seccomp']) : new Set<string>();
  let rules = without(profile.syscalls ?? [], new Set([...needed, ...denied, ...notify, ...kernelSide]));
  const allow = SYSCONT_SYSCALLS.filter((n) => !notify.has(n) && !kernelSide.has(n));
  if (!permissive && allow.length > 0) {
    rules.push({ names: allow, action: 'SCMP_ACT_ALLOW' });
    report(`allowed ${allow.join(' ')}`);
  }
  const deny = [...denied].filter((n) => !notify.has(n));
  if (permissive && deny.length > 0) {
    rules.push({ names: deny, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM });
    report(`refused ${deny.join(' ')}`);
  }
  if (ctx.seccompNotify && notify.size > 0) {
    // with vetting, a read-only bind remount (MS_REMOUNT|MS_BIND|MS_RDONLY) is left to the kernel: it only sets the
    // per-mount read-only flag of a mount of the caller's namespace (its data is ignored), which no rule refuses.
    // systemd remounts ~100 mounts so per sandboxed service (ProtectSystem=, ProtectKernelTunables=...): notified and
    // performed, that was ~0.5 s of a boot. A bind remount that doesn't set read-only is left to the kernel too when
    // it locks every read-only mount of the container (unlockedReadOnly: none): it refuses to clear a locked flag
    // itself, as the vetter would (systemd asks ~30 of those per service, nosuid,nodev,noexec on /proc and /sys
    // entries, ~1.7 ms each when notified). Every other mount is notified (a superblock remount's data may need the
    // caller's IDs rewritten).
    const roFast = vetting && notify.has('mount');
    const notified = [...notify].filter((n) => !roFast || n !== 'mount');
    if (notified.length) rules.push({ names: notified, action: 'SCMP_ACT_NOTIFY' });
    if (roFast) rules.push(...mountRules(permissive, unlocked.length === 0));
    profile.listenerPath = ctx.seccompNotify.listenerPath;
    if (ctx.seccompNotify.listenerMetadata !== undefined) profile.listenerMetadata = ctx.seccompNotify.listenerMetadata;
    report(`notify ${[...notify].join(' ')} via ${ctx.seccompNotify.listenerPath}`);
  }
  if (vetting) {
    rules.push(...vettingRules(permissive));
    const binds = !notify.has('mount') ? 'nothing' : unlocked.length ? `read-only bind remounts (read-only mounts the kernel doesn't lock: ${unlocked.join(' ')})` : 'bind remounts (the kernel locks every read-only mount)';
    report(`refused kernel-side: ${ENOSYS_MOUNT_API.join(' ')} and open_tree(OPEN_TREE_CLONE) (ENOSYS), seccomp(NEW_LISTENER) (EBUSY); allowed kernel-side: ${binds}`);
  }
  rules = rules.filter((r) => r.names.length > 0);
  profile.syscalls = rules;
  return { ...spec, linux: { ...linux, seccomp: profile } };
}
