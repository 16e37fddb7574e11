// Issue 16 "Done when" (syscall vetting): sysbox-fs vets the container's mount calls through seccomp user
// notification. runc beside it with --cap-add SYS_ADMIN is the unvetted reference: there the same calls run as asked.
// A static probe (native/csrc/test/vetting-probe.c, compiled here) makes the calls busybox can't.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { docker, removeContainers, run, sh, sleep, uniqueName, waitFor, withContainer } from '../src/docker.ts';
import { caseFor } from '../src/cases.ts';
import { FS, assertHarnessOwns, killDaemon, readPid, restoreDaemonsAfterEach, startDaemon } from '../src/daemons.ts';
import { E2E_DIR, FS_LOG_FILE, IMAGES, REPO_DIR, RUNTIMES } from '../src/paths.ts';

const BB = IMAGES.busybox;
const DEB = IMAGES.debian;
const HEAVY = process.env.SYSBOX_HEAVY === '1';
const PROBE = join(E2E_DIR, '.cache', 'vetting-probe');
const daemons = restoreDaemonsAfterEach();

beforeAll(() => {
  mkdirSync(join(E2E_DIR, '.cache'), { recursive: true });
  execFileSync('cc', ['-static', '-O2', '-o', PROBE, join(REPO_DIR, 'native', 'csrc', 'test', 'vetting-probe.c')]);
});

/** busybox with CAP_SYS_ADMIN (runc: Docker's profile then allows mount) and the probe at /probe */
const ADMIN = ['--cap-add', 'SYS_ADMIN', '-v', `${PROBE}:/probe:ro`];

/** "<what> rc=N" lines of a script's output */
function rcs(out: string): Record<string, number> {
  const m: Record<string, number> = {};
  for (const [, k, v] of out.matchAll(/^(\S+(?: \S+)?) rc=(\d+)$/gm)) m[k!] = Number(v);
  return m;
}

function fsPid(): number {
  const pid = readPid(FS);
  if (pid === undefined) throw new Error('sysbox-fs is not running');
  return pid;
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

describe.each(RUNTIMES)('%s', (rt) => {
  const t = caseFor(rt);
  const isRunc = rt === 'runc';

  t('vetting: emulated files and masked paths stay mounted, /proc and /sys are busy; also after unshare -m and in a chroot; each refusal audited', async () => {
    const cid = join('/var/tmp', `${uniqueName('cid')}.cid`);
    const script = [
      'for p in /proc/uptime /proc/sys/kernel/panic /proc/keys /proc/timer_list /sys/firmware; do umount $p 2>/dev/null; echo "$p rc=$?"; done',
      'umount /proc 2>/dev/null; echo "/proc rc=$?"',
      'umount /sys 2>/dev/null; echo "/sys rc=$?"',
      'unshare -m sh -c \'umount /proc/uptime 2>/dev/null; echo "unshare uptime rc=$?"; umount /proc/keys 2>/dev/null; echo "unshare keys rc=$?"; umount /proc 2>/dev/null; echo "unshare proc rc=$?"\'',
      'mkdir /c && mount --rbind / /c && chroot /c sh -c \'umount /proc/uptime 2>/dev/null; echo "chroot uptime rc=$?"; umount /proc 2>/dev/null; echo "chroot proc rc=$?"\'',
      'echo keys=$(wc -c < /proc/keys) firmware=$(ls /sys/firmware | wc -l) mounts=$(grep -c sysboxfs /proc/self/mountinfo)',
    ].join('; ');
    try {
      const r = await run(rt, ['--rm', `--cidfile=${cid}`, ...ADMIN, BB, 'sh', '-c', script], { timeoutMs: 90_000 });
      expect(r.code, r.stderr).toBe(0);
      const rc = rcs(r.stdout);
      if (isRunc) {
        // unvetted: the masks come off
        expect(rc['/proc/keys'], r.stdout).toBe(0);
        expect(rc['/sys/firmware'], r.stdout).toBe(0);
        return;
      }
      for (const k of ['/proc/uptime', '/proc/sys/kernel/panic', '/proc/keys', '/proc/timer_list', '/sys/firmware', '/proc', '/sys', 'unshare uptime', 'unshare keys', 'unshare proc', 'chroot uptime', 'chroot proc']) {
        expect(rc[k], `${k}\n${r.stdout}`).toBe(1);
      }
      expect(r.stdout).toMatch(/keys=0 firmware=0 mounts=[1-9]/);
      const id = readFileSync(cid, 'utf8').trim();
      const audit = readFileSync(FS_LOG_FILE, 'utf8').split('\n').filter((l) => l.includes(id) && l.includes('"audit":true')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const keys = audit.find((a) => a.decision === 'errno' && (a.args as { target?: string }).target === '/proc/keys');
      expect(keys, 'an audit line for umount /proc/keys').toMatchObject({ containerId: id, syscall: 'umount2', errno: 'EINVAL', rule: 'protected-umount' });
      expect(typeof keys!.callerPid).toBe('number');
      expect(String(keys!.reason)).toContain('/proc/keys');
      expect(audit.find((a) => (a.args as { target?: string }).target === '/proc' && a.errno === 'EBUSY')).toBeDefined();
    } finally {
      rmSync(cid, { force: true });
    }
  });

  t("vetting: mount -t proc and -t sysfs inside get the container's emulation; so do unshare --mount-proc and an inner runc-style container", async () => {
    const script = [
      'mkdir /p /s /r',
      'echo 7 > /proc/sys/kernel/panic 2>/dev/null',
      'mount -t proc proc /p && echo "p uptime=$(cut -d. -f1 /p/uptime) panic=$(cat /p/sys/kernel/panic) keys=$(wc -c < /p/keys)"',
      'echo "p fuse=$(grep " /p/" /proc/self/mountinfo | grep -c sysboxfs)"',
      'mount -t sysfs sysfs /s && echo "s fuse=$(grep " /s/" /proc/self/mountinfo | grep -c sysboxfs) firmware=$(ls /s/firmware | wc -l)"',
      'unshare -i -m -n -p -u -f --mount-proc sh -c \'echo "ns uptime=$(cut -d. -f1 /proc/uptime) pid1=$(cat /proc/1/comm) fuse=$(grep -c sysboxfs /proc/self/mountinfo)"\'',
      // an inner runc: a new mount and pid namespace, a root of its own with proc mounted in it, chroot
      'mount --bind / /r && unshare -m -p -f sh -c \'mount -t proc proc /r/proc && chroot /r sh -c "echo inner uptime=\\$(cut -d. -f1 /proc/uptime) fuse=\\$(grep -c sysboxfs /proc/self/mountinfo)"\'',
      'echo host-uptime-floor=$(cut -d. -f1 /proc/uptime)',
    ].join('; ');
    const r = await sh(rt, ADMIN, script);
    expect(r.code, r.stderr).toBe(0);
    if (isRunc) return;
    const hostUptime = Number(readFileSync('/proc/uptime', 'utf8').split('.')[0]);
    const up = (tag: string) => Number(new RegExp(`${tag} uptime=(\\d+)`).exec(r.stdout)?.[1] ?? NaN);
    // the container's uptime (seconds), not the host's
    for (const tag of ['p', 'ns', 'inner']) expect(up(tag), `${tag}\n${r.stdout}`).toBeLessThan(Math.min(60, hostUptime - 1));
    expect(r.stdout).toMatch(/p uptime=\d+ panic=7 keys=0/);
    expect(r.stdout).toMatch(/p fuse=[1-9]/);
    expect(r.stdout).toMatch(/s fuse=[1-9]\d* firmware=0/);
    expect(r.stdout).toMatch(/ns uptime=\d+ pid1=sh fuse=[1-9]/);
    expect(r.stdout).toMatch(/inner uptime=\d+ fuse=[1-9]/);
  });

  t('vetting: tmpfs inside: mount, remount ro and rw in both argument forms, findmnt shows each state; an overlay on a special dir with whiteouts', async () => {
    const script = [
      'mkdir /t && mount -t tmpfs tmpfs /t && echo a > /t/a',
      'mount -o remount,ro /t && echo "1 $(findmnt -no OPTIONS /t | cut -d, -f1)" && ! touch /t/b 2>/dev/null',
      'mount -o remount,rw /t && echo "2 $(findmnt -no OPTIONS /t | cut -d, -f1)" && touch /t/b',
      'mount -t tmpfs -o remount,ro tmpfs /t && echo "3 $(findmnt -no OPTIONS /t | cut -d, -f1)"',
      'mount -t tmpfs -o remount,rw tmpfs /t && echo "4 $(findmnt -no OPTIONS /t | cut -d, -f1)"',
      'umount /t && echo tmpfs-done',
      'cd /var/lib/docker && mkdir -p l u w m && echo x > l/gone && echo y > l/kept',
      'mount -t overlay overlay -o lowerdir=l,upperdir=u,workdir=w m && rm m/gone && echo "overlay $(ls m) $(stat -c %F:%t:%T u/gone)"',
    ].join(' && ');
    const r = await run(rt, ['--rm', '--cap-add', 'SYS_ADMIN', DEB, 'sh', '-c', script], { timeoutMs: 90_000 });
    if (isRunc) return; // reference only: overlay on overlay differs under runc
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^1 ro\n2 rw\n3 ro\n4 rw\ntmpfs-done\n/);
    expect(r.stdout).toContain('overlay kept character special file:0:0');
  });

  t('vetting: the static probe: openat2(RESOLVE_NO_XDEV) reads emulated files (O_CLOEXEC kept), a mount through /proc/self/fd/N is vetted, no second seccomp listener, the new mount API is ENOSYS', async () => {
    const script = [
      'echo "uptime $(cut -d. -f1 /proc/uptime)"',
      '/probe openat2 /proc uptime',
      '/probe openat2-nocloexec /proc/sys/kernel panic',
      'mkdir /fdm && /probe fdmount /fdm && grep -c " /fdm " /proc/self/mountinfo',
      // as runc mounts a container's /proc: the emulation is laid over the new mount, not the directory it covers
      'mkdir /fdp && /probe fdproc /fdp && echo "fdp-uptime $(cut -d. -f1 /fdp/uptime)"',
      '/probe fdumount /proc/uptime',
      '/probe listener',
      '/probe newapi',
    ].join('; ');
    const r = await sh(rt, ADMIN, script);
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/openat2 r=\d+ errno=0\ncloexec=1\ncontent=\d+\.\d+ /);
    if (isRunc) {
      // unvetted: a process inside may install its own listener; the new mount API works
      expect(out).toMatch(/seccomp-new-listener r=\d+ errno=0/);
      expect(out).toMatch(/fsopen r=\d+ errno=0/);
      return;
    }
    const uptime = Number(/^uptime (\d+)/m.exec(out)![1]);
    const read = Number(/content=(\d+)\./.exec(out)![1]);
    expect(Math.abs(read - uptime), out).toBeLessThanOrEqual(2); // the container's uptime, through openat2
    expect(out).toMatch(/openat2 r=\d+ errno=0\ncloexec=0\ncontent=\d+\n/);
    expect(out).toMatch(/fd-mount r=0 errno=0\n1\n/);
    expect(out).toMatch(/fd-proc r=0 errno=0\n/);
    expect(Math.abs(Number(/^fdp-uptime (\d+)/m.exec(out)?.[1]) - uptime), out).toBeLessThanOrEqual(2);
    expect(out).toContain('fd-umount r=-1 errno=22');
    expect(out).toContain('seccomp-new-listener r=-1 errno=16');
    expect(out).toContain('seccomp-filter r=0 errno=0');
    expect(out).toContain('fsopen r=-1 errno=38');
    expect(out).toContain('open_tree-clone r=-1 errno=38');
    expect(out).toMatch(/open_tree-path r=\d+ errno=0/);
    expect(out).toContain('move_mount r=-1 errno=38');
  });

  // ── load and faults ──
  const PAIRS = HEAVY ? 10_000 : 2_000;
  t(`vetting: ${PAIRS} tmpfs mount/umount pairs in one container are all answered`, async () => {
    const r = await sh(rt, ADMIN, `mkdir /t && /probe loop ${PAIRS} /t`, BB, 300_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`loop pairs=${PAIRS} failures=0`);
  }, 320_000);

  const MANY = HEAVY ? 20 : 4;
  const EACH = HEAVY ? 2_000 : 500;
  t(`vetting: ${MANY} containers looping at once each finish, and a container beside them still reads its emulated files`, async () => {
    const names = Array.from({ length: MANY }, () => uniqueName('loop'));
    try {
      const started = await Promise.all(names.map((n) => run(rt, ['-d', '--name', n, ...ADMIN, BB, 'sh', '-c', `mkdir /t && /probe loop ${EACH} /t`], { timeoutMs: 120_000 })));
      for (const s of started) expect(s.code, s.stderr).toBe(0);
      const beside = await sh(rt, [], 'for i in $(seq 50); do cat /proc/uptime /proc/meminfo > /dev/null || exit 1; done; echo read-ok');
      expect(beside.stdout, beside.stderr).toContain('read-ok');
      const codes = await Promise.all(names.map((n) => docker(['wait', n], { timeoutMs: 300_000 })));
      for (const c of codes) expect(c.stdout.trim()).toBe('0');
      const logs = await Promise.all(names.map((n) => docker(['logs', n])));
      for (const l of logs) expect(l.stdout).toContain(`loop pairs=${EACH} failures=0`);
    } finally {
      await removeContainers(names);
    }
  }, 400_000);

  t("vetting: after a tmpfs loop (answered by the container's vetting thread), protected mounts are still refused and an inner proc still goes with its emulation", async () => {
    if (isRunc) return;
    const script = [
      'mkdir /t /p && /probe loop 2000 /t',
      'for p in /proc/uptime /proc/keys /sys/firmware; do umount $p 2>/dev/null; echo "$p rc=$?"; umount -l $p 2>/dev/null; echo "$p lazy rc=$?"; done',
      'mount -t tmpfs none /proc/uptime 2>/dev/null; echo "cover rc=$?"',
      'mount -t proc proc /p; umount /p/uptime 2>/dev/null; echo "inner uptime rc=$?"; umount /p; echo "inner proc rc=$?"',
      '/probe loop 2000 /t',
      'echo mounts=$(grep -c sysboxfs /proc/self/mountinfo) keys=$(wc -c < /proc/keys)',
    ].join('; ');
    const r = await sh(rt, ADMIN, script);
    expect(r.stdout, r.stderr).toMatch(/loop pairs=2000 failures=0[^]*loop pairs=2000 failures=0/);
    const rc = rcs(r.stdout);
    for (const p of ['/proc/uptime', '/proc/keys', '/sys/firmware']) {
      expect(rc[p], p).not.toBe(0);
      expect(rc[`${p} lazy`], p).not.toBe(0);
    }
    expect(rc.cover).not.toBe(0);
    expect(rc['inner uptime']).not.toBe(0);
    expect(rc['inner proc']).toBe(0);
    expect(Number(/mounts=(\d+)/.exec(r.stdout)?.[1])).toBeGreaterThan(0);
    expect(r.stdout).toContain('keys=0');
  }, 120_000);

  // A CONTINUE lets the kernel read the caller's memory again (packages/syscall-vetting's README, "What a rewritten
  // argument can reach"): a sibling thread rewrites mount's type from "tmpfs" to "proc" after the check, or umount's
  // target from the container's own tmpfs to a masked directory. runc (unvetted) mounts and unmounts as asked.
  t('vetting: a sibling thread rewriting a checked argument (mount type to proc, umount target to a mask) gets neither a raw procfs nor an unmasked path', async () => {
    const r = await sh(rt, ADMIN, 'mkdir /r /u && /probe race-proc 10 /r && /probe race-umount 10 /u /sys/firmware', BB, 90_000);
    expect(r.code, r.stderr).toBe(0);
    const raw = Number(/race-proc tries=\d+ mounts=\d+ raw=(\d+)/.exec(r.stdout)?.[1]);
    const unmasked = Number(/race-umount tries=\d+ unmasked=(\d+)/.exec(r.stdout)?.[1]);
    expect(Number.isInteger(raw) && Number.isInteger(unmasked), r.stdout).toBe(true);
    if (isRunc) {
      expect(raw, r.stdout).toBeGreaterThan(0);
      expect(unmasked, r.stdout).toBeGreaterThan(0);
      return;
    }
    expect(raw, r.stdout).toBe(0);
    expect(unmasked, r.stdout).toBe(0);
  }, 120_000);

  t('vetting: a container killed mid-loop leaves sysbox-fs healthy, with no leaked fds', async () => {
    if (isRunc) return;
    const pid = fsPid();
    const before = fdCount(pid);
    await withContainer(rt, [...ADMIN, BB, 'sh', '-c', 'mkdir /t && /probe loop 100000000 /t'], async (c) => {
      await sleep(1500);
      const k = await docker(['kill', c.name]);
      expect(k.code, k.stderr).toBe(0);
    });
    // the listener goes with its processes; sysbox-fs is the same process and still vets
    const settled = await waitFor(async () => fdCount(pid) <= before, 20_000);
    expect(settled, `sysbox-fs fds: ${fdCount(pid)} now, ${before} before`).toBe(true);
    expect(fsPid()).toBe(pid);
    const r = await sh(rt, ADMIN, 'umount /proc/keys 2>/dev/null; echo "keys rc=$?"');
    expect(r.stdout).toContain('keys rc=1');
  }, 120_000);

  t('vetting: sysbox-fs SIGKILLed and restarted during a loop and during in-flight notifications: the loops finish, docker exec during the restart succeeds once it is back', async () => {
    if (isRunc) return;
    assertHarnessOwns(FS);
    const n = uniqueName('restart');
    try {
      // tmpfs pairs (microseconds each) and proc mounts (performed by sysbox-fs: milliseconds each, so the kill
      // lands while one is in flight)
      const st = await run(rt, ['-d', '--name', n, ...ADMIN, BB, 'sh', '-c', 'mkdir /t /p; (/probe loop 20000 /t > /loop.out) & for i in $(seq 300); do mount -t proc proc /p && umount /p || echo fail; done > /proc.out; wait; cat /loop.out /proc.out; echo done'], { timeoutMs: 60_000 });
      expect(st.code, st.stderr).toBe(0);
      await sleep(1000);
      daemons.touched();
      const killed = await killDaemon(FS, 'SIGKILL');
      expect(killed).toBeDefined();
      // an exec while sysbox-fs is down: the engine's connection to the seccomp socket queues (mgr holds it)
      const exec = docker(['exec', n, 'sh', '-c', 'mkdir -p /e && mount -t tmpfs none /e && umount /e && echo exec-ok'], { timeoutMs: 120_000 });
      await sleep(500);
      const back = await startDaemon(FS);
      expect(back.available, back.reason).toBe(true);
      const e = await exec;
      expect(e.stdout, e.stderr).toContain('exec-ok');
      const w = await docker(['wait', n], { timeoutMs: 180_000 });
      expect(w.stdout.trim()).toBe('0');
      const logs = (await docker(['logs', n])).stdout;
      expect(logs).toContain('done');
      // every pair answered; at most the one call in flight at the kill may have been told EINTR
      const failures = Number(/failures=(\d+)/.exec(logs)?.[1] ?? NaN);
      expect(failures, logs).toBeLessThanOrEqual(1);
      expect((logs.match(/^fail$/gm) ?? []).length, logs).toBeLessThanOrEqual(1);
    } finally {
      await removeContainers([n]);
    }
  }, 300_000);
});

afterAll(() => {
  if (existsSync(PROBE)) rmSync(PROBE, { force: true });
});
