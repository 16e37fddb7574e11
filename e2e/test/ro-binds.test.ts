// Every read-only bind mount stays read-only inside, whatever its source: an ordinary host dir (ID-mapped by
// sysbox-mgr), a source under /dev or /sys (never ID-mapped), and a file system that refuses ID mapping
// (overlayfs). sysbox-mgr stages each read-only bind on the host with MOUNT_ATTR_RDONLY, so that the kernel
// locks the flag once the engine copies the mount namespace into the container's user namespace. With
// CAP_SYS_ADMIN inside, three ways of making such a mount writable are tried: a bind remount, mount_setattr
// clearing MOUNT_ATTR_RDONLY, and an open_tree copy made writable and mounted elsewhere. runc (the unlocked
// reference: root there is the host's root) lets each of them write to the source; sysbox-runc refuses them all,
// and no file reaches the source (checked on the host).
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { chmodSync, existsSync, mkdirSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { exec, run, tmpDir, withContainer } from '../src/docker.ts';
import { caseFor } from '../src/cases.ts';
import { IMAGES, RUNTIMES } from '../src/paths.ts';

/** perl (Debian image: perl-base) runs the raw syscalls; each prints `<tag> r=<ret> errno=<n>`. */
const PERL = String.raw`
sub show { my ($tag, $r) = @_; my $e = $r == -1 ? (0+$!) : 0; print "$tag r=$r errno=$e\n"; return $r; }
my $mode = shift @ARGV;
my $clr_ro = pack("QQQQ", 0, 1, 0, 0);  # struct mount_attr: attr_set 0, attr_clr MOUNT_ATTR_RDONLY
my ($mnt, $b, $empty) = ("/mnt", "/b", "");  # (syscall() needs modifiable scalars, not literals)
if ($mode eq "setattr") { show("mount_setattr", syscall(442, -100, $mnt, 0, $clr_ro, 32)); }
if ($mode eq "tree") {
  my $fd = show("open_tree", syscall(428, -100, $mnt, 1 | 0x80000));             # OPEN_TREE_CLONE|O_CLOEXEC
  show("mount_setattr", syscall(442, $fd, $empty, 0x1000, $clr_ro, 32));          # AT_EMPTY_PATH
  show("move_mount", syscall(429, $fd, $empty, -100, $b, 4));                    # MOVE_MOUNT_F_EMPTY_PATH
}
`;

/**
 * Each probe tries to make the read-only bind at /mnt writable (`made=` the rc of the step that does it, or the
 * raw syscalls' `r=`), then writes `name` through it. Whether the write reached the source is checked on the host.
 */
const PROBES: Record<string, (name: string) => string> = {
  remount: (name) => `mount -o remount,bind,rw /mnt; echo made=$?; touch /mnt/${name}; echo write=$?`,
  mount_setattr: (name) => `perl -e '${PERL}' setattr; touch /mnt/${name}; echo write=$?`,
  'open_tree copy': (name) =>
    `mkdir -p /b && perl -e '${PERL}' tree && mount -o remount,bind,rw /b; echo made=$?; touch /b/${name}; echo write=$?`,
};

interface Source {
  name: string;
  /** host path bound read-only at /mnt */
  path: () => string;
}

/** whether the file system under `path` is read-only itself (its superblock), whatever a mount's flag says */
function superblockReadOnly(path: string): boolean {
  const opts = execFileSync('findmnt', ['-no', 'FS-OPTIONS', '-T', path], { encoding: 'utf8' }).trim();
  return opts.split(',').includes('ro');
}

let shmDir = '';
let ovl = '';
const SOURCES: Source[] = [
  { name: 'a dir under /dev/shm', path: () => shmDir },
  { name: '/sys/fs/cgroup (sysfs tree, recursive)', path: () => '/sys/fs/cgroup' },
  { name: 'an overlayfs mount (refuses ID mapping)', path: () => join(ovl, 'merged') },
];

beforeAll(() => {
  shmDir = `/dev/shm/sysbox-e2e-ro-${process.pid}`;
  mkdirSync(shmDir, { recursive: true });
  chmodSync(shmDir, 0o1777);
  ovl = tmpDir('ro-ovl');
  for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(ovl, d));
  chmodSync(join(ovl, 'upper'), 0o1777);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${ovl}/lower,upperdir=${ovl}/upper,workdir=${ovl}/work`, join(ovl, 'merged')]);
  chmodSync(join(ovl, 'merged'), 0o1777);
});

afterAll(() => {
  rmSync(shmDir, { recursive: true, force: true });
  if (ovl) {
    try {
      execFileSync('umount', [join(ovl, 'merged')]);
    } catch {
      /* not mounted */
    }
    rmSync(ovl, { recursive: true, force: true });
  }
});

describe.each(RUNTIMES)('%s', (rt) => {
  const t = caseFor(rt);
  for (const src of SOURCES) {
    for (const [probe, script] of Object.entries(PROBES)) {
      t(`ro binds: ${src.name} stays read-only against ${probe} (CAP_SYS_ADMIN)`, async () => {
        const name = `sysbox-e2e-w-${process.pid}-${probe.replace(/\W/g, '')}-${rt}`;
        const host = join(src.path(), name);
        try {
          const r = await run(rt, ['--rm', '--cap-add', 'SYS_ADMIN', '-v', `${src.path()}:/mnt:ro`, IMAGES.debian, 'sh', '-c', script(name)], { timeoutMs: 60_000 });
          const out = `${r.stdout}\n${r.stderr}`;
          expect(r.code, out).toBe(0);
          if (rt === 'runc') {
            // the unlocked reference: the mount is made writable, and the write reaches the source unless its
            // superblock is read-only on the host (Debian's systemd mounts the /sys/fs/cgroup tmpfs ro)
            expect(r.stdout, out).not.toMatch(/made=[1-9]|r=-1/);
            expect(existsSync(host), out).toBe(!superblockReadOnly(src.path()));
            return;
          }
          // the step that would make it writable is refused (the kernel's lock: EPERM), and nothing reaches the source
          expect(r.stdout, out).toMatch(/made=[1-9]|mount_setattr r=-1 errno=1\b/);
          expect(existsSync(host), `${host} reached the source: ${out}`).toBe(false);
        } finally {
          rmSync(host, { force: true });
        }
      });
    }
  }
});

/**
 * Which read-only mounts (the topmost at each mount point) the container's root can make writable with the kernel
 * alone: run from the host in the container's user, mount and pid namespaces (no seccomp filter), it tries a
 * `remount,bind,rw` of each and prints those that took (then puts them back).
 */
const UNLOCKED = String.raw`
n=0
for mp in $(awk '{top[$5]=$6} END {for (m in top) if (top[m] ~ /^ro/) print m}' /proc/1/mountinfo | sort); do
  n=$((n+1))
  if mount -o remount,bind,rw "$mp" 2>/dev/null; then echo "unlocked $mp"; mount -o remount,bind,ro "$mp" 2>/dev/null; fi
done
echo "ro=$n"`;

async function unlockedReadOnly(pid: string): Promise<{ ro: number; unlocked: string[]; out: string }> {
  // (runc's container has the host's user namespace, which nsenter can't enter again)
  const userns = readlinkSync(`/proc/${pid}/ns/user`) !== readlinkSync('/proc/self/ns/user') ? ['-U'] : [];
  const r = await exec('nsenter', ['-t', pid, ...userns, '-m', '-p', '-F', '/bin/sh', '-c', UNLOCKED], { timeoutMs: 60_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  expect(r.code, out).toBe(0);
  return { ro: Number(/ro=(\d+)/.exec(r.stdout)?.[1] ?? 0), unlocked: [...r.stdout.matchAll(/^unlocked (.+)$/gm)].map((m) => m[1]!), out };
}

// Why sysbox-runc's seccomp filter leaves bind remounts to the kernel (@sysbox/spec's unlockedReadOnly): every read-only
// mount of a container is locked (binds staged on the host, /proc and /sys locked whole, masks laid by sysbox-runc
// before that lock rather than by runc after it). runc's container (root there is the host's root) is the reference
// that shows the check finds unlocked mounts; a read-only root file system is the one read-only mount the kernel
// doesn't lock under sysbox-runc, so its bind remounts stay vetted.
describe.each(RUNTIMES)('%s', (rt) => {
  const t = caseFor(rt);
  t('ro binds: every read-only mount is locked by the kernel (its root, without seccomp, can make none writable)', async () => {
    const dir = tmpDir('ro-locked');
    await withContainer(rt, ['--cap-add', 'SYS_ADMIN', '-v', `${dir}:/h:ro`, IMAGES.busybox, 'sleep', '300'], async (c) => {
      const { ro, unlocked, out } = await unlockedReadOnly(await c.inspect('{{.State.Pid}}'));
      expect(ro, out).toBeGreaterThan(rt === 'runc' ? 3 : 20);
      if (rt === 'runc') expect(unlocked, out).toEqual(expect.arrayContaining(['/h', '/proc/bus', '/sys']));
      else expect(unlocked, out).toEqual([]);
    });
  });
  t('ro binds: a read-only root file system: not locked by the kernel, its bind remount read-write refused by the vetter', async () => {
    await withContainer(rt, ['--read-only', '--cap-add', 'SYS_ADMIN', IMAGES.busybox, 'sleep', '300'], async (c) => {
      const { unlocked, out } = await unlockedReadOnly(await c.inspect('{{.State.Pid}}'));
      expect(unlocked, out).toContain('/');
      if (rt !== 'runc') expect(unlocked, out).toEqual(['/']);
      const r = await c.exec(['sh', '-c', 'mount -o remount,bind,rw /; echo made=$?; touch /x; echo write=$?']);
      if (rt === 'runc') expect(r.stdout, `${r.stdout}${r.stderr}`).toMatch(/made=0\s+write=0/);
      else expect(r.stdout, `${r.stdout}${r.stderr}`).toMatch(/made=[1-9]\d*\s+write=[1-9]/);
    });
  });
});
