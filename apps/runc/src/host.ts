// Facts about the host that the spec conversion needs, read once per invocation.
import { readFileSync, statSync } from 'node:fs';

/** The capability bounding set of this process (hex mask from /proc/self/status). */
export function boundingSetMask(): bigint {
  const status = readFileSync('/proc/self/status', 'utf8');
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
  if (!m) throw new Error("can't read CapBnd from /proc/self/status");
  return BigInt('0x' + m[1]);
}

const PROC_NS: Record<string, string> = { network: 'net', mount: 'mnt', pid: 'pid', ipc: 'ipc', uts: 'uts', user: 'user', cgroup: 'cgroup' };

/** Is the namespace file at `path` this host's namespace of that type? (dev/ino against /proc/self/ns). */
export function isHostNamespace(type: string, path: string): boolean | undefined {
  const name = PROC_NS[type];
  if (!name) return undefined;
  try {
    const a = statSync(path);
    const b = statSync(`/proc/self/ns/${name}`);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return undefined;
  }
}
