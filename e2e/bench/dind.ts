// dind-ready (issue 18): time from the outer `docker run -d` of IMAGES.dind (systemd as init, docker.service enabled)
// to the first inner `docker run --rm busybox true` that succeeds, sysbox-runc beside the runc reference with the
// privileged-equivalent options (src/dind.ts). The inner image comes from the image's busybox tarball (`docker load`
// when the inner Docker lacks it, on the same path for both runtimes). Each round's container is removed after the
// round, untimed.
import { performance } from 'node:perf_hooks';
import { docker, removeContainers, run, sleep, uniqueName, type ExecResult } from '../src/docker.ts';
import { dindRunArgs } from '../src/dind.ts';
import { DIND_BUSYBOX_TAR } from '../src/paths.ts';

/** What the bench's runCase needs of a case (see run.ts). */
export interface DindCase {
  name: string;
  what: string;
  runtimes: string[];
  step(rt: string, i: number): Promise<ExecResult>;
  after(rt: string, i: number): Promise<void>;
  teardown(rt: string): Promise<void>;
}

/** Polling interval while waiting for the inner `docker run` (each try is a `docker exec`, ~80 ms itself). */
const POLL_MS = 50;
/** A round that takes longer than this fails. */
const READY_TIMEOUT_MS = 120_000;

const INNER = `docker image inspect busybox >/dev/null 2>&1 || docker load -q -i ${DIND_BUSYBOX_TAR} >/dev/null 2>&1; docker run --rm busybox true`;

export function dindReadyCase(runtimes: string[]): DindCase {
  const current = new Map<string, string>();
  const all = new Map<string, string[]>();
  return {
    name: 'dind-ready',
    what: 'docker run -d IMAGES.dind (systemd, docker.service) until an inner `docker run --rm busybox true` succeeds',
    runtimes,
    async step(rt) {
      const name = uniqueName(`bench-dind-${rt}`);
      current.set(rt, name);
      all.set(rt, [...(all.get(rt) ?? []), name]);
      const t0 = performance.now();
      const started = await run(rt, ['-d', '--name', name, ...dindRunArgs(rt)], { timeoutMs: 90_000 });
      if (started.code !== 0) return started;
      let last: ExecResult = started;
      while (performance.now() - t0 < READY_TIMEOUT_MS) {
        last = await docker(['exec', name, 'sh', '-c', INNER], { timeoutMs: 60_000 });
        if (last.code === 0) return last;
        const st = await docker(['inspect', '-f', '{{.State.Running}}', name], { timeoutMs: 15_000 });
        if (st.stdout.trim() === 'false') return { ...last, code: last.code || 1, stderr: `the outer container stopped: ${last.stderr}` };
        await sleep(POLL_MS);
      }
      return { ...last, code: last.code || 1, stderr: `no inner docker run within ${READY_TIMEOUT_MS} ms: ${last.stderr}` };
    },
    async after(rt) {
      const name = current.get(rt);
      if (name) await removeContainers([name]);
    },
    async teardown(rt) {
      await removeContainers(all.get(rt) ?? []);
    },
  };
}
