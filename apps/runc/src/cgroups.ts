// The container's cgroups delegated to its root: the directory of each of its cgroups and the files that create and
// move into children (@sysbox/spec's cgroupDelegation: never a limit file), owned by the container's root on the host.
// With the cgroup file system mounted read-write inside (cgroupsModifier), systemd or an inner Docker manages child
// cgroups, and the container's own limits stay root's. Done once the engine has made the cgroups, before the
// container's process starts.
//
// systemd on a cgroup v2 host also gets a leaf, `init.scope`, delegated the same way, and its init is moved there: v2
// lets a cgroup that holds processes enable no controllers for its children, and systemd enables them in the
// container's cgroup. `exec` then runs processes in that leaf too (the record `exec-cgroup`, read by the front door).
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupDelegation, processCgroupDirs, type IdRange } from '@sysbox/spec';

/** The state dir's record of the leaf cgroup exec'd processes run in (absent: the container's cgroup). */
export const EXEC_CGROUP_RECORD = 'exec-cgroup';
/** systemd's own leaf for PID 1 (it moves itself there on a host it manages): exec'd processes join it. */
export const SYSTEMD_LEAF = 'init.scope';

/** Is the host's cgroup file system v2 only (no v1 controllers: the "unified" layout)? */
export function hostCgroupV2(root = '/sys/fs/cgroup'): boolean {
  return existsSync(join(root, 'cgroup.controllers'));
}

export function readExecCgroup(stateDir: string): string | undefined {
  try {
    return readFileSync(join(stateDir, EXEC_CGROUP_RECORD), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface DelegateOptions {
  /** a leaf to make in the v2 cgroup, delegated too, with the init moved into it (SYSTEMD_LEAF on a v2 host) */
  leaf?: string;
  /** where the cgroup file systems are mounted (default /sys/fs/cgroup) */
  root?: string;
}

export function delegateCgroups(initPid: number, idRange: IdRange, o: DelegateOptions = {}): string[] {
  const root = o.root ?? '/sys/fs/cgroup';
  const text = readFileSync(`/proc/${initPid}/cgroup`, 'utf8');
  const unifiedRoot = hostCgroupV2(root) ? root : `${root}/unified`;
  const done: string[] = [];
  const delegate = (dir: string, version: 1 | 2) => {
    chownSync(dir, idRange.uid, idRange.gid);
    for (const f of cgroupDelegation(version)) {
      const p = join(dir, f);
      if (existsSync(p)) chownSync(p, idRange.uid, idRange.gid);
    }
    done.push(dir);
  };
  const topLevel = new RegExp(`^${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/[^/]+$`);
  for (const { version, dir } of processCgroupDirs(text, { root, unifiedRoot })) {
    // a hierarchy's root is the host's: never delegated (a container there shares it with the host)
    if ((version === 2 ? dir === unifiedRoot : topLevel.test(dir)) || !existsSync(dir)) continue;
    delegate(dir, version);
    if (version === 2 && o.leaf) {
      const leaf = join(dir, o.leaf);
      mkdirSync(leaf, { recursive: true });
      delegate(leaf, 2);
      writeFileSync(join(leaf, 'cgroup.procs'), `${initPid}\n`);
    }
  }
  return done;
}
