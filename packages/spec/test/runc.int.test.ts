// Integration (root, real kernel): converted captured configs run under the engine (runc 1.1 from
// Debian). Needs root, runc, and Docker's `sysbox-test/busybox` image for a root file system.
// The rootfs here is a plain directory (mgr stages ID-mapped ones in production), so mount points
// the image lacks are created beforehand, and the bind mounts of Docker's container dir and its
// libnetwork hook are taken out (they belonged to the captured container).

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { capsFromMask } from '../src/caps.js';
import { convertSpec, VETTED_SYSCALLS, vettingNotify } from '../src/modifiers/index.js';
import { fixture } from './helpers.js';

const DOCKER = '/usr/bin/docker';
const have = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const usable = process.getuid?.() === 0 && have('runc', ['--version']) && have(DOCKER, ['image', 'inspect', 'sysbox-test/busybox']);

const capBnd = /CapBnd:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]!;
const HOST = capsFromMask(BigInt(`0x${capBnd}`));

let dir = '';
beforeAll(() => {
  if (!usable) return;
  dir = mkdtempSync(join(tmpdir(), 'sysbox-spec-int-'));
  chmodSync(dir, 0o755); // the engine resolves the rootfs from inside the user namespace
  mkdirSync(join(dir, 'rootfs'));
  const id = spawnSync(DOCKER, ['create', 'sysbox-test/busybox', 'true'], { encoding: 'utf8' }).stdout.trim();
  spawnSync('sh', ['-c', `${DOCKER} export ${id} | tar -C ${join(dir, 'rootfs')} -x`]);
  spawnSync(DOCKER, ['rm', id], { stdio: 'ignore' });
  for (const d of ['run', 'mnt', 'tmp']) mkdirSync(join(dir, 'rootfs', d), { recursive: true });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const SCRIPT = [
  'cat /proc/self/uid_map',
  'grep -E "^Cap(Eff|Bnd)" /proc/self/status',
  'mount -t tmpfs t /mnt && echo MOUNT-OK',
  'unshare -m -u -i -p -f -U true && echo UNSHARE-OK',
  'echo DEV: $(ls /dev)',
].join('; ');

function run(name: string): { code: number | null; out: string } {
  const { spec } = convertSpec(fixture(name), {
    idRange: { uid: 3_000_000, gid: 3_000_000, size: 65536 },
    hostCapabilities: HOST,
    rootfs: join(dir, 'rootfs'),
    emulatedPaths: [],
  });
  spec.mounts = (spec.mounts ?? []).filter((m) => m.type !== 'bind');
  delete spec.hooks;
  spec.process!.terminal = false;
  spec.process!.args = ['sh', '-c', SCRIPT];
  spec.linux!.cgroupsPath = `/sysbox-spec-int-${process.pid}`;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  const r = spawnSync('runc', ['--root', join(dir, 'state'), 'run', `spec-int-${process.pid}`], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!usable)('converted Docker configs run under runc (needs root, runc and the sysbox-test/busybox image)', () => {
  test.each([
    'docker-plain',
    'docker-privileged',
    'docker-seccomp-unconfined',
    'docker-device-fuse',
    'docker-memory-cpus',
    'docker-read-only-tmpfs',
    'docker-network-none',
    'containerd-plain',
    'containerd-privileged',
  ])('%s: user namespace, host caps, few devices, mount and unshare work', (name) => {
    const { code, out } = run(name);
    expect(out).toMatch(/^\s*0\s+3000000\s+65536$/m);
    expect(out).toContain(`CapEff:\t${capBnd}`);
    expect(out).toContain(`CapBnd:\t${capBnd}`);
    expect(out).toContain('MOUNT-OK');
    expect(out).toContain('UNSHARE-OK');
    const devs = /DEV: (.*)/.exec(out)![1]!.split(' ').filter((d) => !['fd', 'stdin', 'stdout', 'stderr', 'ptmx', 'pts', 'mqueue', 'shm', 'console'].includes(d));
    const expected = ['full', 'null', 'random', 'tty', 'urandom', 'zero', ...(name === 'docker-device-fuse' ? ['fuse'] : [])].sort();
    expect(devs.sort()).toEqual(expected);
    expect(code).toBe(0);
  });

  test.each(['docker-user-1000', 'docker-cap-drop-all-add-net-admin'])('%s: restricted caps still start', (name) => {
    const { code, out } = run(name);
    expect(out).toMatch(/^\s*0\s+3000000\s+65536$/m);
    expect(out).toContain(`CapBnd:\t`);
    expect(out).not.toContain('MOUNT-OK');
    expect(code).toBe(0);
  });
});

// How libseccomp (through runc) orders a conditional ERRNO rule against an unconditional ALLOW for the same syscall,
// and the kernel-side rules of sysbox-fs's vetting, for real. The probe is compiled here from native's C source.
const PROBE_SRC = join(import.meta.dirname, '..', '..', '..', 'native', 'csrc', 'test', 'vetting-probe.c');
const canProbe = usable && have('cc', ['--version']);

function runProbe(spec: ReturnType<typeof convertSpec>['spec'], args: string[]): string {
  spec.mounts = (spec.mounts ?? []).filter((m) => m.type !== 'bind');
  delete spec.hooks;
  spec.process!.terminal = false;
  spec.process!.args = ['/vetting-probe', ...args];
  spec.linux!.cgroupsPath = `/sysbox-spec-int-${process.pid}`;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  const r = spawnSync('runc', ['--root', join(dir, 'state'), 'run', `spec-int-${process.pid}`], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  return `${r.stdout}${r.stderr}`;
}

describe.skipIf(!canProbe)('seccomp rule order under runc 1.1 / libseccomp (measured)', () => {
  beforeAll(() => {
    const r = spawnSync('cc', ['-static', '-O2', '-o', join(dir, 'rootfs', 'vetting-probe'), PROBE_SRC], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cc vetting-probe: ${r.stderr}`);
  });
  const convert = (notify: boolean) =>
    convertSpec(fixture('docker-plain'), {
      idRange: { uid: 3_000_000, gid: 3_000_000, size: 65536 },
      hostCapabilities: HOST,
      rootfs: join(dir, 'rootfs'),
      emulatedPaths: [],
      ...(notify ? { seccompNotify: vettingNotify('/nonexistent.sock') } : {}),
    }).spec;

  test("an unconditional ALLOW wins over a conditional ERRNO for the same syscall, whichever comes first: the vetting rules can't sit beside Docker's", () => {
    const spec = convert(false);
    // Docker's profile allows seccomp unconditionally; add the NEW_LISTENER refusal before and after it
    const refusal = { names: ['seccomp'], action: 'SCMP_ACT_ERRNO' as const, errnoRet: 16, args: [{ index: 1, value: 8, valueTwo: 8, op: 'SCMP_CMP_MASKED_EQ' as const }] };
    spec.linux!.seccomp!.syscalls = [refusal, ...spec.linux!.seccomp!.syscalls!, refusal];
    const out = runProbe(spec, ['listener']);
    expect(out).toMatch(/seccomp-new-listener r=\d+ errno=0/);
  });

  test('the converted profile: a second listener EBUSY, a plain filter allowed, the new mount API ENOSYS, open_tree without CLONE allowed', () => {
    const spec = convert(true);
    // runc would connect to listenerPath for the NOTIFY rules: without a supervisor here, drop them (their
    // decisions are sysbox-fs's, tested elsewhere); every other rule stays as converted
    const s = spec.linux!.seccomp!;
    delete s.listenerPath;
    delete s.listenerMetadata;
    s.syscalls = s.syscalls!.filter((r) => r.action !== 'SCMP_ACT_NOTIFY');
    s.syscalls.push({ names: [...VETTED_SYSCALLS], action: 'SCMP_ACT_ALLOW' });
    const out = runProbe(spec, ['listener']) + runProbe(spec, ['newapi']);
    expect(out).toContain('seccomp-new-listener r=-1 errno=16');
    expect(out).toContain('seccomp-filter r=0 errno=0');
    expect(out).toContain('fsopen r=-1 errno=38');
    expect(out).toContain('open_tree-clone r=-1 errno=38');
    expect(out).toMatch(/open_tree-path r=\d+ errno=0/);
    expect(out).toContain('move_mount r=-1 errno=38');
  });
});
