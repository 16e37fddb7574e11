// systemd as PID 1 (issue 18): the image's own init, no --stop-signal, no --privileged. One container per runtime goes
// through a whole life: boot, journal, /sys/kernel, its own limits and a child's, docker exec beside it, stop, start.
// runc is the insecure reference: the privileged-equivalent options plus what systemd needs there (a tmpfs /run and
// /run/lock, the host's cgroup tree read-write in the host's cgroup namespace, SIGRTMIN+3 as stop signal).
import { afterAll, describe, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { caseFor } from '../src/cases.ts';
import { docker, run, uniqueName } from '../src/docker.ts';
import { systemBooted, systemdRunArgs } from '../src/workloads.ts';
import { IMAGES, REPO_DIR, RUNTIMES } from '../src/paths.ts';

/** The units the README lists as failing in a system container (section "systemd"), with their reasons. */
function listedFailingUnits(): Set<string> {
  const text = readFileSync(join(REPO_DIR, 'README.md'), 'utf8');
  const section = /### Units that fail in a system container\n([\s\S]*?)(\n#{2,3} |$)/.exec(text)?.[1] ?? '';
  return new Set([...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!));
}

async function exec(name: string, cmd: string[]) {
  return docker(['exec', name, ...cmd], { timeoutMs: 30_000 });
}

async function failedUnits(name: string): Promise<string[]> {
  const r = await exec(name, ['systemctl', '--failed', '--no-legend', '--plain']);
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean).sort();
}

describe.each(RUNTIMES)('%s', (rt) => {
  const t = caseFor(rt);
  const isRunc = rt === 'runc';
  const name = uniqueName('systemd');
  const listed = listedFailingUnits();
  afterAll(async () => {
    await docker(['rm', '-f', name], { timeoutMs: 60_000 });
  });

  const expectHealthy = async () => {
    const state = await systemBooted(name);
    const failed = await failedUnits(name);
    // degraded only by units the README lists
    expect({ state, unlisted: failed.filter((u) => !listed.has(u)) }).toEqual({ state: failed.length ? 'degraded' : 'running', unlisted: [] });
  };

  t('systemd: boots to running (or degraded by the README\'s units only) from the image\'s /sbin/init; journalctl -b shows the boot', async () => {
    const r = await run(rt, ['-d', '--name', name, '--memory', '256m', ...systemdRunArgs(rt), IMAGES.system], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    await expectHealthy();
    expect((await exec(name, ['cat', '/proc/1/comm'])).stdout.trim()).toBe('systemd');
    const j = await exec(name, ['journalctl', '-b', '--no-pager', '-q', '-o', 'cat']);
    expect(j.code, j.stderr).toBe(0);
    expect(j.stdout).toMatch(/systemd-journald|Journal started/);
    expect(j.stdout).toMatch(/Reached target .*(Multi-User|multi-user)|Startup finished/);
  }, 120_000);

  // (not for the reference: it shows the host's /sys/kernel, and hands systemd the host's cgroup tree read-write)
  if (!isRunc) t('systemd: /sys/kernel/{config,debug,security,tracing} are empty dirs owned by root inside', async () => {
    const r = await exec(name, ['sh', '-c', 'for d in config debug security tracing; do echo "$d $(stat -c "%u %F" /sys/kernel/$d) $(ls -A /sys/kernel/$d | wc -l)"; done']);
    expect(r.stdout.trim().split('\n')).toEqual(['config', 'debug', 'security', 'tracing'].map((d) => `${d} 0 directory 0`));
  });

  if (!isRunc) t("systemd: with --memory 256m the container can't raise its own limit; a child cgroup systemd made can be limited", async () => {
    const own = await exec(name, ['sh', '-c', 'f=/sys/fs/cgroup/memory/memory.limit_in_bytes; [ -f $f ] || f=/sys/fs/cgroup/memory.max; echo 1073741824 > $f; echo rc=$?; cat $f']);
    expect(own.stdout.trim().split('\n')).toEqual(['rc=2', '268435456']);
    expect(own.stderr).toMatch(/Permission denied/);
    const unit = `sbx-limited-${process.pid}`;
    const started = await exec(name, ['systemd-run', '--unit', unit, '-p', 'MemoryMax=64M', 'sleep', '300']);
    expect(started.code, started.stderr).toBe(0);
    const child = await exec(name, ['sh', '-c', `cg=$(systemctl show -p ControlGroup --value ${unit}); cat /sys/fs/cgroup/memory$cg/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup$cg/memory.max; systemctl is-active ${unit}`]);
    expect(child.stdout.trim().split('\n')).toEqual(['67108864', 'active']);
    await exec(name, ['systemctl', 'stop', unit]);
  });

  t('systemd: docker exec beside it (foreground, detached, a shell) leaves its units healthy', async () => {
    for (let i = 0; i < 3; i++) expect((await exec(name, ['true'])).code).toBe(0);
    expect((await docker(['exec', '-d', name, 'sleep', '2'])).code).toBe(0);
    const sh = await exec(name, ['sh', '-c', 'echo $$ > /dev/null; systemctl is-active dbus.service systemd-journald.service']);
    expect(sh.stdout.trim().split('\n')).toEqual(['active', 'active']);
    await expectHealthy();
  });

  t('systemd: docker stop shuts it down cleanly (exit code 0, not 137: no SIGKILL after the timeout), docker start boots it again', async () => {
    const t0 = Date.now();
    const stop = await docker(['stop', name], { timeoutMs: 60_000 });
    const ms = Date.now() - t0;
    expect(stop.code, stop.stderr).toBe(0);
    const code = (await docker(['inspect', '-f', '{{.State.ExitCode}}', name])).stdout.trim();
    console.log(`${rt}: docker stop of systemd took ${ms} ms, exit code ${code}`);
    // runc's reference allows reboot(2) (seccomp unconfined, CAP_SYS_BOOT): the kernel ends the namespace's init with
    // SIGINT (130). sysbox-runc leaves reboot to Docker's profile (EPERM): systemd-shutdown exits 0.
    expect(code).toBe(isRunc ? '130' : '0');
    const start = await docker(['start', name], { timeoutMs: 60_000 });
    expect(start.code, start.stderr).toBe(0);
    await expectHealthy();
  }, 120_000);
});
