import type { HostEnv } from './env.js';

/** Where a container's cgroup files are, resolved once from /proc/<initPid>/cgroup (host view). */
export interface CgroupDirs {
  /** v1 controller → host directory, e.g. memory → /sys/fs/cgroup/memory/docker/<id> */
  v1: Record<string, string>;
  /** the v2 (unified) directory, if the process has one with controllers we use */
  v2?: string;
}

/** Parses /proc/<pid>/cgroup; `root` is the cgroup mount root (default /sys/fs/cgroup). */
export function cgroupDirs(env: HostEnv, procCgroup: string, root = '/sys/fs/cgroup'): CgroupDirs {
  const v1: Record<string, string> = {};
  let v2: string | undefined;
  // pure v2 hosts have cgroup.controllers at the root; hybrid hosts mount the unified tree at <root>/unified
  const v2root = env.read(`${root}/cgroup.controllers`) !== undefined ? root : `${root}/unified`;
  for (const line of procCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, , ctrls, path] = m as unknown as [string, string, string, string];
    const rel = path === '/' ? '' : path;
    if (ctrls === '') {
      v2 = `${v2root}${rel}`;
      continue;
    }
    for (const c of ctrls.split(',')) {
      if (c.startsWith('name=')) continue;
      v1[c] = `${root}/${ctrls}${rel}`;
    }
  }
  return v2 === undefined ? { v1 } : { v1, v2 };
}

const V1_UNLIMITED = 2n ** 62n; // v1 reports "no limit" as a huge page-aligned number (0x7FFFFFFFFFFFF000)

function num(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === '' || t === 'max') return undefined;
  if (!/^-?\d+$/.test(t)) return undefined;
  const b = BigInt(t);
  if (b < 0n || b >= V1_UNLIMITED) return undefined;
  return Number(b);
}

function kv(text: string | undefined): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) m.set(k, Number(v));
  }
  return m;
}

/** The container's limits and usage as its cgroups report them; undefined fields: no limit / unknown. */
export interface CgroupReadings {
  memLimit?: number;
  memUsage?: number;
  /** page cache (v1 memory.stat total_cache/cache, v2 memory.stat file) */
  memCache?: number;
  /** swap limit in bytes (v1: memsw.limit - limit; v2: memory.swap.max) */
  swapLimit?: number;
  swapUsage?: number;
  /** CPUs of the cpuset (host numbering), undefined: all */
  cpus?: number[];
  /** CFS quota and period in µs */
  cpuQuota?: { quota: number; period: number };
  /** per device "maj:min" → io counters */
  io?: Map<string, { rbytes: number; wbytes: number; rios: number; wios: number }>;
}

/** Parses a cpuset list ("0-2,4") into sorted CPU numbers. */
export function parseCpuList(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let i = a; i <= b && i - a < 4096; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** Reads limits and usage: v1 controllers first (hybrid hosts keep them there), then the v2 directory. */
export type CgroupPart = 'memory' | 'cpu' | 'io';
const ALL_PARTS: readonly CgroupPart[] = ['memory', 'cpu', 'io'];

export function readCgroup(env: HostEnv, dirs: CgroupDirs, parts: readonly CgroupPart[] = ALL_PARTS): CgroupReadings {
  const r: CgroupReadings = {};
  const v2 = dirs.v2;
  const v2has = (ctrl: string) => v2 !== undefined && (env.read(`${v2}/cgroup.controllers`) ?? '').split(/\s+/).includes(ctrl);
  const mem = dirs.v1['memory'];
  if (!parts.includes('memory')) {
    /* not asked */
  } else if (mem !== undefined && env.read(`${mem}/memory.limit_in_bytes`) !== undefined) {
    r.memLimit = num(env.read(`${mem}/memory.limit_in_bytes`));
    r.memUsage = num(env.read(`${mem}/memory.usage_in_bytes`));
    const st = kv(env.read(`${mem}/memory.stat`));
    r.memCache = st.get('total_cache') ?? st.get('cache');
    const memsw = num(env.read(`${mem}/memory.memsw.limit_in_bytes`));
    if (memsw !== undefined && r.memLimit !== undefined) r.swapLimit = Math.max(0, memsw - r.memLimit);
    const memswUse = num(env.read(`${mem}/memory.memsw.usage_in_bytes`));
    if (memswUse !== undefined && r.memUsage !== undefined) r.swapUsage = Math.max(0, memswUse - r.memUsage);
  } else if (v2has('memory')) {
    r.memLimit = num(env.read(`${v2}/memory.max`));
    r.memUsage = num(env.read(`${v2}/memory.current`));
    r.memCache = kv(env.read(`${v2}/memory.stat`)).get('file');
    r.swapLimit = num(env.read(`${v2}/memory.swap.max`));
    r.swapUsage = num(env.read(`${v2}/memory.swap.current`));
  }
  const cs = dirs.v1['cpuset'];
  const wantCpu = parts.includes('cpu');
  const cpusText = !wantCpu ? undefined : cs !== undefined ? env.read(`${cs}/cpuset.effective_cpus`) ?? env.read(`${cs}/cpuset.cpus`) : undefined;
  if (cpusText !== undefined) r.cpus = parseCpuList(cpusText);
  else if (wantCpu && v2has('cpuset')) {
    const t = env.read(`${v2}/cpuset.cpus.effective`);
    if (t !== undefined && t.trim() !== '') r.cpus = parseCpuList(t);
  }
  const cpu = dirs.v1['cpu'];
  if (!wantCpu) {
    /* not asked */
  } else if (cpu !== undefined && env.read(`${cpu}/cpu.cfs_quota_us`) !== undefined) {
    const q = Number((env.read(`${cpu}/cpu.cfs_quota_us`) ?? '').trim());
    const p = Number((env.read(`${cpu}/cpu.cfs_period_us`) ?? '').trim());
    if (q > 0 && p > 0) r.cpuQuota = { quota: q, period: p };
  } else if (v2has('cpu')) {
    const [q, p] = (env.read(`${v2}/cpu.max`) ?? '').trim().split(/\s+/);
    if (q !== undefined && q !== 'max' && Number(q) > 0 && Number(p) > 0) r.cpuQuota = { quota: Number(q), period: Number(p) };
  }
  const blk = dirs.v1['blkio'];
  const io = new Map<string, { rbytes: number; wbytes: number; rios: number; wios: number }>();
  const get = (dev: string) => {
    let e = io.get(dev);
    if (!e) io.set(dev, (e = { rbytes: 0, wbytes: 0, rios: 0, wios: 0 }));
    return e;
  };
  if (!parts.includes('io')) return r;
  const bytes = blk !== undefined ? env.read(`${blk}/blkio.throttle.io_service_bytes`) : undefined;
  if (blk !== undefined && bytes !== undefined) {
    const ios = env.read(`${blk}/blkio.throttle.io_serviced`) ?? '';
    for (const [text, rk, wk] of [
      [bytes, 'rbytes', 'wbytes'],
      [ios, 'rios', 'wios'],
    ] as const) {
      for (const line of text.split('\n')) {
        const [dev, op, v] = line.trim().split(/\s+/);
        if (!dev || !/^\d+:\d+$/.test(dev) || v === undefined) continue;
        if (op === 'Read') get(dev)[rk] += Number(v);
        else if (op === 'Write') get(dev)[wk] += Number(v);
      }
    }
    r.io = io;
  } else if (v2has('io')) {
    for (const line of (env.read(`${v2}/io.stat`) ?? '').split('\n')) {
      const [dev, ...fields] = line.trim().split(/\s+/);
      if (!dev || !/^\d+:\d+$/.test(dev)) continue;
      const e = get(dev);
      for (const f of fields) {
        const [k, v] = f.split('=');
        if (k === 'rbytes' || k === 'wbytes' || k === 'rios' || k === 'wios') e[k] += Number(v);
      }
    }
    r.io = io;
  }
  return r;
}
