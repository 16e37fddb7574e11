import type { Spec } from '../types.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/**
 * The container's cgroup file system is mounted read-write (Docker mounts it read-only): inside its own cgroup and user
 * namespaces, what the container may change is decided by ownership, not by the mount. sysbox-runc delegates the
 * container's cgroup to its root (its dir and the files that create and move into children: see cgroupDelegation),
 * so systemd or an inner Docker manages child cgroups, while the container's own limits stay root's on the host.
 */
export function cgroupsModifier(spec: Spec, _ctx: ConvertContext, report: Report = noReport): Spec {
  const mounts = spec.mounts ?? [];
  let changed = false;
  const out = mounts.map((m) => {
    if (m.type !== 'cgroup' && m.type !== 'cgroup2') return m;
    if (!(m.options ?? []).includes('ro')) return m;
    changed = true;
    return { ...m, options: (m.options ?? []).filter((o) => o !== 'ro').concat('rw') };
  });
  if (!changed) return spec;
  report('cgroup file system mounted read-write (ownership decides: the container root owns only its delegated cgroup)');
  return { ...spec, mounts: out };
}

/** The cgroup files the container's root gets (besides its cgroup's directory), per cgroup version. */
export function cgroupDelegation(version: 1 | 2): readonly string[] {
  // v1: creating children (the dir) and moving processes (cgroup.procs, tasks); v2 (cgroups(7) delegation): also
  // enabling controllers for the children and threaded subtrees. Never the limit files (memory.max & co).
  return version === 1 ? ['cgroup.procs', 'tasks'] : ['cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads'];
}

/** One cgroup hierarchy's directory of a process, as the host sees it. */
export interface CgroupDir {
  version: 1 | 2;
  dir: string;
}

/**
 * The host directories of a process's cgroups, from its /proc/<pid>/cgroup: every v1 hierarchy (named ones such as
 * name=systemd included, at `<root>/<name>`, as hosts mount them) and the v2 one (at `unifiedRoot`: `<root>` on a
 * v2 host, `<root>/unified` on a hybrid one).
 */
export function processCgroupDirs(procPidCgroup: string, o: { root?: string; unifiedRoot: string }): CgroupDir[] {
  const root = o.root ?? '/sys/fs/cgroup';
  const out: CgroupDir[] = [];
  for (const line of procPidCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line.trim());
    if (!m) continue;
    const [, ctrls, path] = m as unknown as [string, string, string];
    const rel = path === '/' ? '' : path;
    if (ctrls === '') out.push({ version: 2, dir: `${o.unifiedRoot}${rel}` });
    else out.push({ version: 1, dir: `${root}/${ctrls.startsWith('name=') ? ctrls.slice('name='.length) : ctrls}${rel}` });
  }
  return out;
}
