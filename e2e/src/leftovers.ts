// What a container leaves behind on the host: shared by the suites that check a removed or refused container is gone.
import { existsSync } from 'node:fs';
import { sleep } from './docker.ts';
import { cgroupsMatching, mountsMatching } from './host.ts';
import { mgrDataEntriesMatching, mgrStateText } from './daemons.ts';
import type { Runtime } from './paths.ts';

/**
 * Waits (up to 20 s) until nothing is left for the container: mgr cleans up special dirs when it notices Docker
 * removed the container, asynchronously. Returns what is still left then.
 */
export async function leftoversAfterRemoval(rt: Runtime, id: string): Promise<string[]> {
  let left = leftovers(rt, id);
  const end = Date.now() + 20_000;
  while (left.length > 0 && Date.now() < end) {
    await sleep(250);
    left = leftovers(rt, id);
  }
  return left;
}

/** What Docker, containerd and the runtime leave for a container id, and mgr's records of it. */
export function leftovers(rt: Runtime, id: string): string[] {
  const found: string[] = [];
  found.push(...cgroupsMatching(id).map((p) => `cgroup ${p}`));
  found.push(...mountsMatching(id).map((l) => `mount ${l}`));
  for (const d of [`/run/docker/runtime-${rt}/moby/${id}`, `/run/containerd/io.containerd.runtime.v2.task/moby/${id}`, `/var/lib/sysboxfs/${id}`]) {
    if (existsSync(d)) found.push(`dir ${d}`);
  }
  if (rt === 'sysbox-runc') {
    if (mgrStateText().includes(id)) found.push(`mgr state holds ${id}`);
    found.push(...mgrDataEntriesMatching(id).map((p) => `mgr data ${p}`));
  }
  return found;
}
