// Facts about the host and small parsers the suites share.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface IdMapLine { inside: number; outside: number; size: number }

export function parseIdMap(text: string): IdMapLine[] {
  return text.trim().split('\n').filter((l) => l.trim()).map((l) => {
    const [inside, outside, size] = l.trim().split(/\s+/).map(Number);
    return { inside: inside!, outside: outside!, size: size! };
  });
}

/** One `0 <base> <size>` line → the range, else throws with the text. */
export function singleRange(text: string): IdMapLine {
  const lines = parseIdMap(text);
  if (lines.length !== 1) throw new Error(`expected one id map line, got ${JSON.stringify(text)}`);
  return lines[0]!;
}

export function overlaps(a: IdMapLine, b: IdMapLine): boolean {
  return a.outside < b.outside + b.size && b.outside < a.outside + a.size;
}

/** runc (no user namespace): the identity map over every id. */
export const IDENTITY_MAP = '0 0 4294967295';

export function capField(status: string, field: 'CapEff' | 'CapPrm' | 'CapBnd' | 'CapInh' | 'CapAmb'): bigint {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status);
  if (!m) throw new Error(`no ${field} in ${status}`);
  return BigInt(`0x${m[1]}`);
}

/** The host's capability bounding set, read from this (root) test process. */
export function hostCapBnd(): bigint {
  return capField(readFileSync('/proc/self/status', 'utf8'), 'CapBnd');
}

/** Docker's default capability set for a runc container (20.10). */
export const DOCKER_DEFAULT_CAPS = 0xa80425fbn;

export const CAP_NET_RAW = 13n;

/** The /dev entries DESIGN.md allows (without -t). */
export const DEV_SET = ['fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero'];

export const REFUSAL = {
  ns: (ns: string) =>
    `error in the container spec: invalid or unsupported container spec: sysbox containers can't share namespaces [${ns}] with the host (because they use the linux user-namespace for isolation)`,
  net: "error in the container spec: invalid or unsupported container spec: sysbox containers can't share a network namespace with the host (because they use the linux user-namespace for isolation)",
  restricted: (path: string) => `error in the container spec: can't mount ${path} because it's configured as a restricted host mount`,
};

/** Docker wraps a runtime's create error: `OCI runtime create failed: <msg>: unknown`. */
export function ociCreateFailed(msg: string): string {
  return `OCI runtime create failed: ${msg}: unknown`;
}

export function hostUptime(): number {
  return Number.parseFloat(readFileSync('/proc/uptime', 'utf8').split(' ')[0]!);
}

export function hostMemTotalKb(): number {
  return Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]);
}

export function hostCpuCount(): number {
  return (readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm) ?? []).length;
}

/** The cgroup (v1 controller `controller`, or the v2 path) of a host pid, as an absolute path under /sys/fs/cgroup. */
export function cgroupDirOf(pid: number, controller: string): string | undefined {
  const text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  for (const line of text.trim().split('\n')) {
    const [, ctrls, path] = line.split(':');
    if (ctrls?.split(',').includes(controller)) return join('/sys/fs/cgroup', controller, path ?? '');
  }
  const v2 = /^0::(.*)$/m.exec(text)?.[1];
  return v2 !== undefined ? join('/sys/fs/cgroup', v2) : undefined;
}

/** Every cgroup directory (any v1 controller or v2) whose name contains `needle`, 4 levels deep. */
export function cgroupsMatching(needle: string): string[] {
  const hits: string[] = [];
  const walk = (dir: string, depth: number) => {
    let ents: import('node:fs').Dirent[];
    try { ents = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of ents) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (e.name.includes(needle)) hits.push(p);
      if (depth > 0) walk(p, depth - 1);
    }
  };
  walk('/sys/fs/cgroup', 4);
  return hits;
}

/** Lines of the host's mount table mentioning `needle`. */
export function mountsMatching(needle: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(needle));
}
