import { cgroupDirs, readCgroup, type CgroupDirs, type CgroupPart, type CgroupReadings } from './cgroup.js';
import type { HostEnv } from './env.js';
import { ProcfsError } from './errors.js';
import { newLoadState, type LoadState } from './loadavg.js';
import type { Cover } from './sysfs.js';

/** One container's emulation state: what was learned at registration, plus the knob values it wrote. */
export interface ContainerView {
  readonly containerId: string;
  readonly initPid: number;
  /** the init process's start, in seconds since host boot (/proc/<pid>/stat field 22 / USER_HZ) */
  readonly startedAt: number;
  readonly cgroups: CgroupDirs;
  /** per-container sysctl values (container path, e.g. /proc/sys/kernel/panic → "1") */
  readonly knobs: Map<string, string>;
  /** container uid/gid of host uid 0 view owner (the range base), reported as the files' owner */
  readonly owner: { uid: number; gid: number };
  /** FUSE dirs placed whole over container dirs (see sysfs.ts); fixed at registration */
  readonly covers: readonly Cover[];
  /** the load averages of its threads (loadavg.ts), sampled from outside every 5 s */
  readonly load: LoadState;
}

/** The start time (field 22) of /proc/<pid>/stat; the comm field may hold spaces and parens. */
export function parseStartTicks(stat: string): number {
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state); starttime is field 22
  const v = Number(fields[19]);
  if (!Number.isFinite(v)) throw new ProcfsError('EIO', 'malformed /proc/<pid>/stat');
  return v;
}

export interface NewViewOptions {
  containerId: string;
  initPid: number;
  owner?: { uid: number; gid: number };
  /** cgroup mount root, default /sys/fs/cgroup */
  cgroupRoot?: string;
  /** the container's covers (sysCovers() at registration; kept across a sysbox-fs restart); default none */
  covers?: readonly Cover[];
}

/** Reads /proc/<initPid>/stat and /proc/<initPid>/cgroup once and builds the view. */
export function newView(env: HostEnv, o: NewViewOptions): ContainerView {
  const stat = env.read(`/proc/${o.initPid}/stat`);
  if (stat === undefined) throw new ProcfsError('ENOENT', `no process ${o.initPid} (the container's init)`);
  const cg = env.read(`/proc/${o.initPid}/cgroup`) ?? '';
  return {
    containerId: o.containerId,
    initPid: o.initPid,
    startedAt: parseStartTicks(stat) / env.ticksPerSecond,
    cgroups: cgroupDirs(env, cg, o.cgroupRoot),
    knobs: new Map(),
    owner: o.owner ?? { uid: 0, gid: 0 },
    covers: o.covers ?? [],
    load: newLoadState(),
  };
}

/** The CPUs a container sees (host numbering): its cpuset ∩ online, cut to ceil(quota/period). */
export function visibleCpus(env: HostEnv, cg: CgroupReadings): number[] {
  const online = hostCpus(env);
  let cpus = cg.cpus ? cg.cpus.filter((c) => online.includes(c)) : online;
  if (cpus.length === 0) cpus = online;
  if (cg.cpuQuota) {
    const n = Math.max(1, Math.ceil(cg.cpuQuota.quota / cg.cpuQuota.period));
    cpus = cpus.slice(0, n);
  }
  return cpus;
}

/** Host CPUs as /proc/stat lists them. */
export function hostCpus(env: HostEnv): number[] {
  const out: number[] = [];
  for (const line of (env.read('/proc/stat') ?? '').split('\n')) {
    const m = /^cpu(\d+)\s/.exec(line);
    if (m) out.push(Number(m[1]));
  }
  return out;
}

export function readings(env: HostEnv, v: ContainerView, parts?: readonly CgroupPart[]): CgroupReadings {
  return readCgroup(env, v.cgroups, parts);
}
