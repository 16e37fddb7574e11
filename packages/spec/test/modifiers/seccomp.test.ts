import { describe, expect, test } from 'vitest';
import { DENIED_SYSCALLS, ENOSYS_MOUNT_API, SYSCONT_SYSCALLS, VETTED_SYSCALLS, seccompModifier, unlockedReadOnly, vettingNotify } from '../../src/modifiers/seccomp.js';
import type { LinuxSeccomp, LinuxSyscall, Spec } from '../../src/types.js';
import { CTX, fixture } from '../helpers.js';

/** What a profile does with a syscall called with `arg0` (first matching rule, else the default). */
function decide(p: LinuxSeccomp, name: string, arg0 = 0): string {
  const matching = (p.syscalls ?? []).filter((r) => r.names.includes(name));
  for (const r of matching) {
    if (!r.args || r.args.length === 0) return r.action;
  }
  for (const r of matching) {
    const ok = (r.args ?? []).every((a) =>
      a.op === 'SCMP_CMP_EQ' ? arg0 === a.value : a.op === 'SCMP_CMP_MASKED_EQ' ? (arg0 & a.value) === (a.valueTwo ?? 0) : false,
    );
    if (ok) return r.action;
  }
  return p.defaultAction;
}

const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNS = 0x00020000;

function profileOf(spec: Spec): LinuxSeccomp {
  return spec.linux!.seccomp!;
}

describe("Docker's default profile (allow-list)", () => {
  const input = fixture('docker-plain');
  const before = structuredClone(input);
  const out = profileOf(seccompModifier(input, CTX));

  test('Docker itself refuses what a system container needs', () => {
    const docker = profileOf(input);
    for (const n of ['mount', 'umount2', 'unshare', 'setns', 'pivot_root', 'keyctl', 'add_key', 'request_key', 'sethostname', 'open_tree', 'move_mount']) {
      expect(decide(docker, n)).toBe('SCMP_ACT_ERRNO');
    }
    expect(decide(docker, 'clone', CLONE_NEWUSER)).toBe('SCMP_ACT_ERRNO');
    expect(decide(docker, 'clone3')).toBe('SCMP_ACT_ERRNO');
  });

  test.each([...SYSCONT_SYSCALLS])('%s allowed', (name) => {
    expect(decide(out, name)).toBe('SCMP_ACT_ALLOW');
  });

  test('clone with namespace flags allowed, no argument-conditioned clone rule left', () => {
    expect(decide(out, 'clone', CLONE_NEWUSER | CLONE_NEWNS)).toBe('SCMP_ACT_ALLOW');
    const cloneRules = (out.syscalls ?? []).filter((r) => r.names.includes('clone') || r.names.includes('clone3'));
    expect(cloneRules.every((r) => !r.args && r.action === 'SCMP_ACT_ALLOW')).toBe(true);
  });

  test.each([...DENIED_SYSCALLS])('%s still refused', (name) => {
    expect(decide(out, name)).not.toBe('SCMP_ACT_ALLOW');
  });

  test("the rest of Docker's decisions stay", () => {
    for (const n of ['read', 'write', 'ptrace', 'io_uring_setup', 'socket']) expect(decide(out, n)).toBe('SCMP_ACT_ALLOW');
    expect(decide(out, 'personality', 8)).toBe('SCMP_ACT_ALLOW');
    expect(decide(out, 'personality', 1234)).toBe('SCMP_ACT_ERRNO');
    expect(decide(out, 'open_by_handle_at')).toBe('SCMP_ACT_ERRNO');
    expect(out.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(out.architectures).toEqual(profileOf(input).architectures);
  });

  test('pure', () => expect(input).toEqual(before));
});

describe('no profile (--privileged, seccomp=unconfined)', () => {
  test.each(['docker-privileged', 'docker-seccomp-unconfined', 'containerd-privileged'])('%s: default-allow with the dangerous ones refused', (name) => {
    const input = fixture(name);
    expect(input.linux!.seccomp).toBeUndefined();
    const changes: string[] = [];
    const out = profileOf(seccompModifier(input, CTX, (c) => changes.push(c)));
    expect(out.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(out.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    for (const n of DENIED_SYSCALLS) expect(decide(out, n)).toBe('SCMP_ACT_ERRNO');
    for (const n of SYSCONT_SYSCALLS) expect(decide(out, n)).toBe('SCMP_ACT_ALLOW');
    expect(out.syscalls!.every((r) => r.action !== 'SCMP_ACT_ERRNO' || r.errnoRet === 1)).toBe(true);
    expect(changes[0]).toContain('default-allow');
  });

  test('architectures from ctx', () => {
    const out = profileOf(seccompModifier(fixture('docker-privileged'), { ...CTX, seccompArchitectures: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] }));
    expect(out.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  });
});

describe('a deny-list profile', () => {
  test('needed syscalls removed from its refusals, dangerous ones added', () => {
    const rules: LinuxSyscall[] = [
      { names: ['mount', 'chmod'], action: 'SCMP_ACT_ERRNO' },
      { names: ['unshare'], action: 'SCMP_ACT_KILL' },
      { names: ['setns'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }] },
    ];
    const s: Spec = { ociVersion: '1.0.2', linux: { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: rules } } };
    const out = profileOf(seccompModifier(s, CTX));
    for (const n of ['mount', 'unshare', 'setns']) expect(decide(out, n)).toBe('SCMP_ACT_ALLOW');
    expect(decide(out, 'chmod')).toBe('SCMP_ACT_ERRNO');
    expect(decide(out, 'init_module')).toBe('SCMP_ACT_ERRNO');
  });
});

describe('seccomp-notify hook', () => {
  test.each(['docker-plain', 'docker-privileged'])('%s: a NOTIFY rule and listenerPath', (name) => {
    const out = profileOf(seccompModifier(fixture(name), { ...CTX, seccompNotify: { listenerPath: '/run/sysbox/fs-seccomp.sock', syscalls: ['mount', 'umount2'], listenerMetadata: 'abc' } }));
    expect(out.listenerPath).toBe('/run/sysbox/fs-seccomp.sock');
    expect(out.listenerMetadata).toBe('abc');
    expect(decide(out, 'mount')).toBe('SCMP_ACT_NOTIFY');
    expect(decide(out, 'umount2')).toBe('SCMP_ACT_NOTIFY');
    expect(out.syscalls!.filter((r) => r.names.includes('mount'))).toHaveLength(1);
    expect(decide(out, 'umount')).toBe('SCMP_ACT_ALLOW');
  });
});

/** What a profile does with a call of these arguments (libseccomp: an unconditional rule wins over conditional ones). */
function decideArgs(p: LinuxSeccomp, name: string, args: number[]): string {
  const matching = (p.syscalls ?? []).filter((r) => r.names.includes(name));
  const plain = matching.filter((r) => !r.args || r.args.length === 0);
  const withErrno = (r: LinuxSyscall) => (r.errnoRet !== undefined ? `${r.action}:${r.errnoRet}` : r.action);
  if (plain.length) return withErrno(plain[0]!);
  for (const r of matching) {
    const ok = (r.args ?? []).every((a) => {
      const v = args[a.index] ?? 0;
      if (a.op === 'SCMP_CMP_EQ') return v === a.value;
      if (a.op === 'SCMP_CMP_NE') return v !== a.value;
      if (a.op === 'SCMP_CMP_MASKED_EQ') return (v & a.value) === (a.valueTwo ?? 0);
      return false;
    });
    if (ok) return withErrno(r);
  }
  return p.defaultAction;
}

describe("sysbox-fs's vetting (vettingNotify)", () => {
  const notify = vettingNotify('/run/sysbox/fs-seccomp.sock', 'c1');
  test.each(['docker-plain', 'docker-privileged', 'docker-seccomp-unconfined', 'docker-cap-add-sys-admin'])('%s: the trap list, the new mount API refused, no second listener', (name) => {
    const changes: string[] = [];
    const out = profileOf(seccompModifier(fixture(name), { ...CTX, seccompNotify: notify }, (c) => changes.push(c)));
    expect(out.listenerPath).toBe('/run/sysbox/fs-seccomp.sock');
    for (const n of VETTED_SYSCALLS) {
      expect(decideArgs(out, n, [])).toBe('SCMP_ACT_NOTIFY');
      if (n !== 'mount') expect(out.syscalls!.filter((r) => r.names.includes(n))).toHaveLength(1);
    }
    // mount: every flags value notified but a bind remount (MS_REMOUNT|MS_BIND, whatever else: these specs have no
    // read-only mount the kernel doesn't lock), left to the kernel; no unconditional mount rule (it would win over the
    // conditional ones)
    const MS_RDONLY = 1, MS_REMOUNT = 0x20, MS_BIND = 0x1000, MS_NOSUID = 2, MS_MGC_VAL = 0xc0ed0000;
    expect(unlockedReadOnly(fixture(name))).toEqual([]);
    for (const f of [0, MS_BIND, MS_REMOUNT, MS_RDONLY, MS_RDONLY | MS_BIND, MS_MGC_VAL | MS_RDONLY, MS_REMOUNT | MS_RDONLY, MS_MGC_VAL | MS_REMOUNT | MS_RDONLY, MS_REMOUNT | MS_NOSUID]) {
      expect(decideArgs(out, 'mount', [0, 0, 0, f]), `flags ${f.toString(16)}`).toBe('SCMP_ACT_NOTIFY');
    }
    for (const f of [MS_REMOUNT | MS_BIND, MS_REMOUNT | MS_BIND | MS_NOSUID, MS_REMOUNT | MS_RDONLY | MS_BIND, MS_REMOUNT | MS_RDONLY | MS_BIND | MS_NOSUID, MS_MGC_VAL | MS_REMOUNT | MS_RDONLY | MS_BIND]) {
      expect(decideArgs(out, 'mount', [0, 0, 0, f]), `flags ${f.toString(16)}`).toBe('SCMP_ACT_ALLOW');
    }
    expect(out.syscalls!.filter((r) => r.names.includes('mount') && !r.args?.length)).toEqual([]);
    // libseccomp's tree merges conditional rules on different masks of one argument so that MS_REMOUNT|MS_RDONLY
    // fell through to ALLOW (seen on the kernel: a tmpfs remount never vetted); every mount rule has one mask, and
    // one rule per value of it (4: each rule is a share of runc's libseccomp compile at every create and exec)
    const mountRules = out.syscalls!.filter((r) => r.names.includes('mount'));
    const masks = mountRules.map((r) => JSON.stringify(r.args!.map((a) => [a.index, a.op, a.value])));
    expect(new Set(masks)).toEqual(new Set([JSON.stringify([[3, 'SCMP_CMP_MASKED_EQ', MS_REMOUNT | MS_BIND]])]));
    expect(mountRules.map((r) => r.args![0]!.valueTwo).sort((a, b) => a! - b!)).toEqual(
      // a default-allow profile (no Docker profile) needs no ALLOW rule
      out.defaultAction === 'SCMP_ACT_ALLOW' ? [0, MS_REMOUNT, MS_BIND] : [0, MS_REMOUNT, MS_BIND, MS_REMOUNT | MS_BIND],
    );
    for (const n of ENOSYS_MOUNT_API) expect(decideArgs(out, n, [])).toBe('SCMP_ACT_ERRNO:38');
    // open_tree: a detached copy refused, an O_PATH open allowed
    expect(decideArgs(out, 'open_tree', [0, 0, 1])).toBe('SCMP_ACT_ERRNO:38');
    expect(decideArgs(out, 'open_tree', [0, 0, 0x80000 | 1])).toBe('SCMP_ACT_ERRNO:38');
    expect(decideArgs(out, 'open_tree', [0, 0, 0x80000])).toBe('SCMP_ACT_ALLOW');
    // seccomp: SET_MODE_FILTER with NEW_LISTENER refused with EBUSY, every other use allowed
    expect(decideArgs(out, 'seccomp', [1, 8])).toBe('SCMP_ACT_ERRNO:16');
    expect(decideArgs(out, 'seccomp', [1, 8 | 2])).toBe('SCMP_ACT_ERRNO:16');
    expect(decideArgs(out, 'seccomp', [1, 2])).toBe('SCMP_ACT_ALLOW');
    expect(decideArgs(out, 'seccomp', [0, 0])).toBe('SCMP_ACT_ALLOW');
    expect(decideArgs(out, 'seccomp', [2, 0])).toBe('SCMP_ACT_ALLOW');
    // (an operation other than SET_MODE_FILTER takes no flags: EINVAL from the kernel, EBUSY here)
    expect(decideArgs(out, 'seccomp', [2, 8])).toBe('SCMP_ACT_ERRNO:16');
    // no unconditional rule left for them (it would win over the conditional refusals)
    for (const n of ['seccomp', 'open_tree']) expect(out.syscalls!.filter((r) => r.names.includes(n) && !r.args?.length)).toEqual([]);
    expect(changes.some((c) => c.includes('refused kernel-side'))).toBe(true);
  });

  test('a read-only mount the kernel does not lock (read-only root, a read-only tmpfs, a read-only bind under crun): a bind remount that does not set read-only is vetted', () => {
    const MS_RDONLY = 1, MS_REMOUNT = 0x20, MS_BIND = 0x1000, MS_NOSUID = 2;
    const ro = fixture('docker-read-only-tmpfs');
    expect(unlockedReadOnly(ro, true)).toEqual(['/']);
    expect(unlockedReadOnly(ro)).toEqual(['/', '/etc/resolv.conf', '/etc/hostname', '/etc/hosts']);
    const plain = fixture('docker-plain');
    const tmpfsRo: Spec = { ...plain, mounts: [...(plain.mounts ?? []), { destination: '/x', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid'] }] };
    // binds (staged on the host, locked there) and mounts in /proc and /sys (locked whole) don't count
    const locked: Spec = { ...plain, mounts: [...(plain.mounts ?? []), { destination: '/y', type: 'bind', source: '/tmp', options: ['rbind', 'ro'] }, { destination: '/proc/z', type: 'tmpfs', source: 'tmpfs', options: ['ro'] }] };
    expect(unlockedReadOnly(tmpfsRo)).toEqual(['/x']);
    // a read-only bind is locked only where the engine copies the mount namespace into the user namespace (runc)
    expect(unlockedReadOnly(locked, true)).toEqual([]);
    expect(unlockedReadOnly(locked)).toEqual(['/y']);
    const bindsLocked = profileOf(seccompModifier(locked, { ...CTX, seccompNotify: notify, bindsLocked: true }));
    expect(decideArgs(bindsLocked, 'mount', [0, 0, 0, MS_REMOUNT | MS_BIND])).toBe('SCMP_ACT_ALLOW');
    for (const spec of [ro, tmpfsRo, locked]) {
      const changes: string[] = [];
      const out = profileOf(seccompModifier(spec, { ...CTX, seccompNotify: notify, bindsLocked: spec !== locked }, (c) => changes.push(c)));
      for (const f of [MS_REMOUNT | MS_BIND, MS_REMOUNT | MS_BIND | MS_NOSUID]) expect(decideArgs(out, 'mount', [0, 0, 0, f])).toBe('SCMP_ACT_NOTIFY');
      expect(decideArgs(out, 'mount', [0, 0, 0, MS_REMOUNT | MS_BIND | MS_RDONLY])).toBe('SCMP_ACT_ALLOW');
      expect(changes.some((c) => c.includes("read-only mounts the kernel doesn't lock"))).toBe(true);
    }
  });

  test('without vetting, nothing changes for the new mount API', () => {
    const out = profileOf(seccompModifier(fixture('docker-plain'), CTX));
    expect(decideArgs(out, 'fsopen', [])).toBe('SCMP_ACT_ALLOW');
    expect(decideArgs(out, 'seccomp', [1, 8])).toBe('SCMP_ACT_ALLOW');
  });
});
