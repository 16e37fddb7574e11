// The daemons' memory (bench case daemon-rss, only when named):
// - sysbox-mgr's VmRSS after each of three bursts of BURST concurrent `docker run -d` (each burst removed before the
//   next), from a freshly started sysbox-mgr; the figure is the median of the three (target < 130 MB);
// - sysbox-fs's VmRSS with 20 idle sysbox-runc containers (target < 100 MB).
import { readFileSync } from 'node:fs';
import { docker, removeContainers, run, uniqueName } from '../src/docker.ts';
import { FS, MGR, assertHarnessOwns, readPid, startDaemon, stopDaemon, type DaemonSpec } from '../src/daemons.ts';
import { IMAGES } from '../src/paths.ts';
import { log } from '../src/harness.ts';

export const MGR_RSS_TARGET_MB = 130;
export const FS_RSS_TARGET_MB = 100;

/** VmRSS of a process in MB. */
export function vmRssMB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb ?? Number.NaN) / 1024;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function burst(n: number): Promise<void> {
  const names = Array.from({ length: n }, () => uniqueName('rss'));
  try {
    const started = await Promise.all(names.map((name) => run('sysbox-runc', ['-d', '--name', name, IMAGES.busybox, 'sleep', '300'], { timeoutMs: 300_000 })));
    const failed = started.filter((r) => r.code !== 0).length;
    if (failed) log(`daemon-rss: ${failed} of ${n} docker runs failed in a burst`);
  } finally {
    await removeContainers(names);
  }
}

/** Restarts a daemon (the project's or the harness's instance) so that its RSS is measured from a fresh start; its pid. */
export async function restartFresh(spec: DaemonSpec): Promise<number> {
  assertHarnessOwns(spec);
  await stopDaemon(spec);
  const st = await startDaemon(spec);
  if (!st.available) throw new Error(`${spec.name} did not start again: ${st.reason}`);
  return readPid(spec)!;
}

export async function daemonRss(burstSize: number): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  // sysbox-mgr, started afresh
  const mgrPid = await restartFresh(MGR);
  const fresh = vmRssMB(mgrPid);
  const after: number[] = [];
  for (let i = 0; i < 3; i++) {
    await burst(burstSize);
    after.push(vmRssMB(mgrPid));
    log(`daemon-rss: sysbox-mgr after burst ${i + 1} of ${burstSize}: ${after.at(-1)!.toFixed(1)} MB`);
  }
  const mgrMed = median(after);
  console.log(`\ndaemon-rss: sysbox-mgr VmRSS, fresh ${fresh.toFixed(1)} MB; after 3 bursts of ${burstSize} concurrent docker run -d: ${after.map((x) => x.toFixed(1)).join(', ')} MB (median ${mgrMed.toFixed(1)} MB, target < ${MGR_RSS_TARGET_MB})`);
  rows.push({ case: 'daemon-rss', daemon: 'sysbox-mgr', burst: burstSize, rssMBFresh: fresh, rssMBAfterBursts: after, rssMBMedian: mgrMed, targetMB: MGR_RSS_TARGET_MB, meetsTarget: mgrMed < MGR_RSS_TARGET_MB });

  // sysbox-fs with 20 idle containers
  const fsPid = readPid(FS)!;
  const names = Array.from({ length: 20 }, () => uniqueName('rss-fs'));
  try {
    const before = vmRssMB(fsPid);
    for (const name of names) await run('sysbox-runc', ['-d', '--name', name, IMAGES.busybox, 'sleep', '300'], { timeoutMs: 60_000 });
    const running = (await docker(['ps', '-q', '--filter', 'name=sysbox-e2e-rss-fs'])).stdout.split('\n').filter(Boolean).length;
    const withContainers = vmRssMB(fsPid);
    console.log(`daemon-rss: sysbox-fs VmRSS ${before.toFixed(1)} MB idle, ${withContainers.toFixed(1)} MB with ${running} idle containers (target < ${FS_RSS_TARGET_MB})`);
    rows.push({ case: 'daemon-rss', daemon: 'sysbox-fs', idleContainers: running, rssMBBefore: before, rssMB: withContainers, targetMB: FS_RSS_TARGET_MB, meetsTarget: withContainers < FS_RSS_TARGET_MB });
  } finally {
    await removeContainers(names);
  }
  return rows;
}
