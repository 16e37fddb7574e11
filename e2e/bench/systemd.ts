// System workloads in the bench (issue 18), only when named:
// - systemd-boot: from `docker run -d <systemd image>` to `systemctl is-system-running` saying running (or degraded),
//   sysbox-runc vs runc's reference (RUNC_SYSTEMD_REFERENCE), interleaved; the container removed outside the timing;
// - systemd-rss: VmRSS of sysbox-mgr + sysbox-fs together with 5 systemd containers up (target < 200 MB).
import { removeContainers, run, uniqueName, type ExecResult } from '../src/docker.ts';
import { FS, MGR } from '../src/daemons.ts';
import { IMAGES } from '../src/paths.ts';
import { systemBooted, systemdRunArgs } from '../src/workloads.ts';
import { restartFresh, vmRssMB } from './daemon-rss.ts';

export const SYSTEMD_BOOT_TARGET_RATIO = 1.3;
export const SYSTEMD_RSS_TARGET_MB = 200;
export const SYSTEMD_RSS_CONTAINERS = 5;

/** One boot: the timed part ends when systemd says it is up; the container is removed afterwards (untimed). */
export async function bootOnce(rt: string): Promise<{ result: ExecResult; name: string }> {
  const name = uniqueName(`bench-sd-${rt}`);
  const r = await run(rt, ['-d', '--name', name, ...systemdRunArgs(rt), IMAGES.system], { timeoutMs: 60_000 });
  if (r.code !== 0) return { result: r, name };
  const state = await systemBooted(name, 60_000, 50);
  const ok = state === 'running' || state === 'degraded';
  return { result: { ...r, code: ok ? 0 : 1, stderr: ok ? r.stderr : `systemd did not come up: ${state || 'timeout'}` }, name };
}

export async function systemdRss(): Promise<Record<string, unknown>[]> {
  // both daemons freshly started, as the issue measures them
  const mgr = await restartFresh(MGR);
  const fs = await restartFresh(FS);
  const before = vmRssMB(mgr) + vmRssMB(fs);
  const names = Array.from({ length: SYSTEMD_RSS_CONTAINERS }, () => uniqueName('bench-sd-rss'));
  try {
    const started = await Promise.all(names.map((n) => run('sysbox-runc', ['-d', '--name', n, IMAGES.system], { timeoutMs: 120_000 })));
    const bad = started.find((r) => r.code !== 0);
    if (bad) throw new Error(`systemd-rss: docker run failed: ${bad.stderr.trim().split('\n').pop()}`);
    const states = await Promise.all(names.map((n) => systemBooted(n, 120_000)));
    const up = states.filter((s) => s === 'running' || s === 'degraded').length;
    const m = vmRssMB(mgr);
    const f = vmRssMB(fs);
    const total = m + f;
    console.log(`\nsystemd-rss: sysbox-mgr ${m.toFixed(1)} MB + sysbox-fs ${f.toFixed(1)} MB = ${total.toFixed(1)} MB with ${up} of ${SYSTEMD_RSS_CONTAINERS} systemd containers up (${before.toFixed(1)} MB before; target < ${SYSTEMD_RSS_TARGET_MB})`);
    return [{ case: 'systemd-rss', containers: SYSTEMD_RSS_CONTAINERS, up, rssMBBefore: before, mgrMB: m, fsMB: f, totalMB: total, targetMB: SYSTEMD_RSS_TARGET_MB, meetsTarget: up === SYSTEMD_RSS_CONTAINERS && total < SYSTEMD_RSS_TARGET_MB }];
  } finally {
    await removeContainers(names);
  }
}
