// Renderers of the emulated /proc files: pure functions of host readings, the container's cgroup
// readings and a clock (the host's /proc/uptime).
import type { CgroupReadings } from './cgroup.js';
import type { HostEnv } from './env.js';
import { ProcfsError } from './errors.js';
import { readings, visibleCpus, type ContainerView } from './view.js';

function need(env: HostEnv, path: string): string {
  const t = env.read(path);
  if (t === undefined) throw new ProcfsError('EIO', `can't read ${path}`);
  return t;
}

/** /proc/uptime: seconds since the container's init started; idle scaled to the container's share. */
export function renderUptime(env: HostEnv, v: ContainerView): string {
  const [up, idle] = need(env, '/proc/uptime').trim().split(/\s+/).map(Number) as [number, number];
  const cup = Math.max(0, up - v.startedAt);
  // the host's idle time, in the share the container has been up (kept cheap: no cgroup reads per read)
  const cidle = up > 0 ? idle * (cup / up) : 0;
  return `${cup.toFixed(2)} ${cidle.toFixed(2)}\n`;
}

function parseMeminfo(text: string): Array<[string, number, string]> {
  const out: Array<[string, number, string]> = [];
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(\d+)(\s*kB)?$/.exec(line.trim());
    if (m) out.push([m[1]!, Number(m[2]), m[3] ? ' kB' : '']);
  }
  return out;
}

/** /proc/meminfo: MemTotal = the cgroup limit (when below the host's), free/available from its usage. */
export function renderMeminfo(env: HostEnv, v: ContainerView, cg: CgroupReadings = readings(env, v, ['memory'])): string {
  const host = parseMeminfo(need(env, '/proc/meminfo'));
  const hv = new Map(host.map(([k, n]) => [k, n]));
  const hostTotal = hv.get('MemTotal') ?? 0;
  const limitKb = cg.memLimit !== undefined ? Math.floor(cg.memLimit / 1024) : undefined;
  if (limitKb === undefined || limitKb >= hostTotal) return host.map(([k, n, u]) => fmt(k, n, u)).join('');
  const total = limitKb;
  const used = Math.min(total, Math.floor((cg.memUsage ?? 0) / 1024));
  const cache = Math.min(used, Math.floor((cg.memCache ?? 0) / 1024));
  const free = total - used;
  const over: Record<string, number> = {
    MemTotal: total,
    MemFree: free,
    MemAvailable: free + cache,
    Cached: cache,
    Buffers: 0,
    SwapCached: 0,
  };
  const hostSwap = hv.get('SwapTotal') ?? 0;
  if (cg.swapLimit !== undefined) {
    const swap = Math.min(hostSwap, Math.floor(cg.swapLimit / 1024));
    over['SwapTotal'] = swap;
    over['SwapFree'] = Math.max(0, swap - Math.floor((cg.swapUsage ?? 0) / 1024));
  }
  return host
    .map(([k, n, u]) => {
      if (k in over) return fmt(k, over[k]!, u);
      // everything else a container can't exceed: clamp to its total
      return fmt(k, u && !k.startsWith('Swap') && !k.startsWith('Vmalloc') && !k.startsWith('Commit') && !k.startsWith('Hugepage') && !k.startsWith('DirectMap') ? Math.min(n, total) : n, u);
    })
    .join('');
}

function fmt(k: string, n: number, unit: string): string {
  const label = `${k}:`;
  return `${label.padEnd(16)}${String(n).padStart(unit ? 8 : 8)}${unit}\n`;
}

/** /proc/swaps: the header; plus a virtual line when the container has a swap limit and the host swaps. */
export function renderSwaps(env: HostEnv, v: ContainerView, cg: CgroupReadings = readings(env, v, ['memory'])): string {
  const header = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';
  const hostSwap = parseMeminfo(env.read('/proc/meminfo') ?? '').find(([k]) => k === 'SwapTotal')?.[1] ?? 0;
  if (cg.swapLimit === undefined || cg.swapLimit === 0 || hostSwap === 0) return header;
  const size = Math.min(hostSwap, Math.floor(cg.swapLimit / 1024));
  const used = Math.min(size, Math.floor((cg.swapUsage ?? 0) / 1024));
  return `${header}none\t\t\t\t\tvirtual\t\t${size}\t\t${used}\t\t0\n`;
}

/** /proc/cpuinfo: only the visible CPUs' blocks, renumbered from 0. */
export function renderCpuinfo(env: HostEnv, v: ContainerView, cg: CgroupReadings = readings(env, v, ['cpu'])): string {
  const cpus = visibleCpus(env, cg);
  const blocks = need(env, '/proc/cpuinfo').split(/\n\n+/).filter((b) => b.trim() !== '');
  const out: string[] = [];
  for (const b of blocks) {
    const m = /^processor\s*:\s*(\d+)/m.exec(b);
    if (!m) continue;
    const i = cpus.indexOf(Number(m[1]));
    if (i < 0) continue;
    let blk = b.replace(/^processor(\s*):\s*\d+/m, `processor$1: ${out.length}`);
    blk = blk.replace(/^siblings(\s*):\s*\d+/m, `siblings$1: ${cpus.length}`).replace(/^cpu cores(\s*):\s*\d+/m, `cpu cores$1: ${cpus.length}`);
    out.push(blk);
  }
  return out.map((b) => `${b}\n\n`).join('');
}

/** /proc/stat: per-CPU lines of the visible CPUs (renumbered), "cpu" their sum; other lines as the host's. */
export function renderStat(env: HostEnv, v: ContainerView, cg: CgroupReadings = readings(env, v, ['cpu'])): string {
  const cpus = visibleCpus(env, cg);
  const lines = need(env, '/proc/stat').split('\n');
  const per: string[] = [];
  let sum: number[] = [];
  const rest: string[] = [];
  for (const line of lines) {
    if (line === '') continue;
    const m = /^cpu(\d*)\s+(.*)$/.exec(line);
    if (!m) {
      rest.push(line);
      continue;
    }
    if (m[1] === '') continue;
    if (!cpus.includes(Number(m[1]))) continue;
    const vals = m[2]!.trim().split(/\s+/).map(Number);
    sum = vals.map((x, i) => x + (sum[i] ?? 0));
    per.push(`cpu${per.length} ${vals.join(' ')}`);
  }
  return [`cpu  ${sum.join(' ')}`, ...per, ...rest].join('\n') + '\n';
}

/**
 * /proc/diskstats: the host's devices, each with the container's own read/write counts and sectors (512 B) from the
 * blkio/io cgroup, zeros where it has none (a device it did no I/O on, or a kernel that keeps no such figures: v1's
 * throttle statistics stay 0 without throttle rules), other fields 0. The device list stays the host's, as the
 * kernel's own file in a container shows it: tools (iostat) list the disks even before the container used them.
 */
export function renderDiskstats(env: HostEnv, v: ContainerView, cg: CgroupReadings = readings(env, v, ['io'])): string {
  const out: string[] = [];
  for (const line of need(env, '/proc/diskstats').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    const [maj, min, name] = f as [string, string, string];
    const vals = new Array<number>(f.length - 3).fill(0);
    const io = cg.io?.get(`${maj}:${min}`);
    if (io) {
      vals[0] = io.rios;
      vals[2] = Math.floor(io.rbytes / 512);
      vals[4] = io.wios;
      vals[6] = Math.floor(io.wbytes / 512);
    }
    out.push(`${maj.padStart(4)} ${min.padStart(7)} ${name} ${vals.join(' ')}`);
  }
  return out.join('\n') + (out.length ? '\n' : '');
}
