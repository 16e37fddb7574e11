import type { LinuxSeccomp, LinuxSyscall, Spec } from '../types.js';
import { clone } from '../util.js';
import { type ConvertContext, type Report, noReport } from './context.js';

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
 * its syscalls (taken out of every other rule) and sets listenerPath.
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

  let rules = without(profile.syscalls ?? [], new Set([...needed, ...denied, ...notify]));
  const allow = SYSCONT_SYSCALLS.filter((n) => !notify.has(n));
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
    rules.push({ names: [...notify], action: 'SCMP_ACT_NOTIFY' });
    profile.listenerPath = ctx.seccompNotify.listenerPath;
    if (ctx.seccompNotify.listenerMetadata !== undefined) profile.listenerMetadata = ctx.seccompNotify.listenerMetadata;
    report(`notify ${[...notify].join(' ')} via ${ctx.seccompNotify.listenerPath}`);
  }
  rules = rules.filter((r) => r.names.length > 0);
  profile.syscalls = rules;
  return { ...spec, linux: { ...linux, seccomp: profile } };
}
