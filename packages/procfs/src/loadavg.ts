// Per-container load averages, as the kernel computes the host's (kernel/sched/loadavg.c): every LOAD_FREQ (5 s)
// the count of the container's runnable (R) and uninterruptible (D) threads is folded into three exponentially
// decaying averages (1, 5, 15 minutes) in 11-bit fixed point. The threads are the cgroup's (its whole subtree),
// their states read from /proc/<tid>/stat. Sampling is driven from outside (one timer for all containers, in
// sysbox-fs); this module is the arithmetic, the sampling of one container and the rendering.
import type { CgroupDirs } from './cgroup.js';
import type { HostEnv } from './env.js';
import type { ContainerView } from './view.js';

/** the kernel's fixed point: 11 bits of fraction */
export const FSHIFT = 11;
export const FIXED_1 = 1 << FSHIFT;
/** 1/exp(5s/1min), 1/exp(5s/5min), 1/exp(5s/15min) in fixed point (EXP_1, EXP_5, EXP_15) */
export const LOAD_EXP = [1884, 2014, 2037] as const;
/** the kernel's sampling period (LOAD_FREQ = 5 s) */
export const LOAD_FREQ_MS = 5000;

/** One container's load: the three averages (fixed point) and what the last sample saw. */
export interface LoadState {
  /** 1, 5 and 15-minute averages, fixed point (FIXED_1 = 1.0) */
  readonly avenrun: [number, number, number];
  /** runnable threads at the last sample */
  running: number;
  /** threads at the last sample */
  total: number;
  /** the highest pid (in the container's pid namespace) among its threads at the last sample; 0: unknown */
  lastPid: number;
  /** samples folded into the averages so far (0: none yet) — changes whenever the averages may */
  folds: number;
  /** samples taken so far (folded or not) — changes whenever the rendered file may */
  samples: number;
}

export function newLoadState(): LoadState {
  return { avenrun: [0, 0, 0], running: 0, total: 0, lastPid: 0, samples: 0, folds: 0 };
}

/** The kernel's calc_load(): one step of the exponential average; `active` is a count × FIXED_1. */
export function calcLoad(load: number, exp: number, active: number): number {
  let next = load * exp + active * (FIXED_1 - exp);
  if (active >= load) next += FIXED_1 - 1;
  return Math.floor(next / FIXED_1);
}

/** Folds one sample (`active` = runnable + uninterruptible threads) into the three averages. */
export function foldLoad(s: LoadState, active: number): void {
  const a = Math.max(0, Math.floor(active)) * FIXED_1;
  for (let i = 0; i < 3; i++) s.avenrun[i] = calcLoad(s.avenrun[i]!, LOAD_EXP[i]!, a);
  s.folds++;
}

/** "%lu.%02lu" of a fixed-point average, rounded as /proc/loadavg rounds it. */
export function formatLoad(x: number): string {
  const v = x + Math.floor(FIXED_1 / 200);
  const int = Math.floor(v / FIXED_1);
  const frac = Math.floor(((v % FIXED_1) * 100) / FIXED_1);
  return `${int}.${String(frac).padStart(2, '0')}`;
}

/** What one look at the container's threads saw. */
export interface TaskSample {
  running: number;
  uninterruptible: number;
  total: number;
  lastPid: number;
}

/** at most this many threads are looked at per sample (a fork bomb must not stall the sampler) */
export const MAX_SAMPLED_THREADS = 65536;
const MAX_DEPTH = 32;

/**
 * The thread ids of the container's cgroup and every cgroup below it: v1 `tasks` of the cpu hierarchy (as lxcfs;
 * else cpuacct, pids, memory, or any), else v2 `cgroup.threads`. Subdirectories need `env.list`; without it only
 * the container's own cgroup is read.
 */
export function cgroupThreads(env: HostEnv, dirs: CgroupDirs, max = MAX_SAMPLED_THREADS): number[] {
  const v1 = dirs.v1['cpu'] ?? dirs.v1['cpuacct'] ?? dirs.v1['pids'] ?? dirs.v1['memory'] ?? Object.values(dirs.v1)[0];
  const [root, file] = v1 !== undefined ? [v1, 'tasks'] : dirs.v2 !== undefined ? [dirs.v2, 'cgroup.threads'] : [undefined, ''];
  const out: number[] = [];
  if (root === undefined) return out;
  const walk = (dir: string, depth: number): void => {
    const text = env.read(`${dir}/${file}`);
    if (text !== undefined) {
      for (const line of text.split('\n')) {
        if (out.length >= max) return;
        const n = Number(line);
        if (line !== '' && Number.isSafeInteger(n) && n > 0) out.push(n);
      }
    }
    if (depth >= MAX_DEPTH || !env.list) return;
    for (const e of env.list(dir) ?? []) if (e.type === 'dir' && out.length < max) walk(`${dir}/${e.name}`, depth + 1);
  };
  walk(root, 0);
  return out;
}

/** The state letter of /proc/<tid>/stat (after the comm field, which may hold spaces and parens). */
export function taskState(stat: string): string | undefined {
  const close = stat.lastIndexOf(')');
  return close < 0 ? undefined : stat.charAt(close + 2) || undefined;
}

/** The innermost pid of /proc/<tid>/status's NSpid line (the pid as the container sees it). */
export function innermostPid(status: string): number | undefined {
  const m = /^NSpid:\s*([\d\s]+)$/m.exec(status);
  const last = m?.[1]!.trim().split(/\s+/).pop();
  const n = Number(last);
  return last !== undefined && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** Looks at every thread of the container's cgroup subtree once (threads gone meanwhile are not counted). */
export function sampleTasks(env: HostEnv, v: Pick<ContainerView, 'cgroups'>): TaskSample {
  const s: TaskSample = { running: 0, uninterruptible: 0, total: 0, lastPid: 0 };
  let newest = 0;
  for (const tid of cgroupThreads(env, v.cgroups)) {
    const stat = env.read(`/proc/${tid}/stat`);
    if (stat === undefined) continue;
    s.total++;
    const st = taskState(stat);
    if (st === 'R') s.running++;
    else if (st === 'D') s.uninterruptible++;
    if (tid > newest) newest = tid;
  }
  // host pids grow with the container's own (both allocate upward): the newest thread's pid in the container
  const status = newest > 0 ? env.read(`/proc/${newest}/status`) : undefined;
  s.lastPid = (status !== undefined ? innermostPid(status) : undefined) ?? 0;
  return s;
}

/**
 * Samples the container's threads and records what was seen; `fold` (the 5-second tick) also folds the count of
 * runnable + uninterruptible threads into the averages. Returns the sample.
 */
export function sampleLoad(env: HostEnv, v: Pick<ContainerView, 'cgroups' | 'load'>, fold = true): TaskSample {
  const s = sampleTasks(env, v);
  if (fold) foldLoad(v.load, s.running + s.uninterruptible);
  v.load.running = s.running;
  v.load.total = s.total;
  v.load.lastPid = s.lastPid;
  v.load.samples++;
  return s;
}

/**
 * /proc/loadavg: the container's 1/5/15-minute averages, its runnable/total threads and newest pid as the last
 * sample saw them (as lxcfs: the kernel's own running count includes the reader, hence at least 1).
 */
export function renderLoadavg(_env: HostEnv, v: Pick<ContainerView, 'load'>): string {
  const l = v.load;
  const running = Math.max(1, l.running);
  return `${formatLoad(l.avenrun[0])} ${formatLoad(l.avenrun[1])} ${formatLoad(l.avenrun[2])} ${running}/${Math.max(running, l.total)} ${l.lastPid}\n`;
}
