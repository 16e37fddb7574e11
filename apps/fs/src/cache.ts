import { openSync, readSync } from 'node:fs';
import type { HostEnv } from '@sysbox/procfs';

/**
 * A HostEnv whose reads of slowly-changing host files (cgroup files, /proc/cpuinfo) are kept for `ttlMs`:
 * under a burst of reads, each emulated file costs one host read per file per ttl instead of several per
 * request. Knobs (/proc/sys, /sys/module) and the clock (/proc/uptime) are always read fresh; writes too.
 */
export function cachedEnv(env: HostEnv, ttlMs = 100, now: () => number = () => performance.now()): HostEnv {
  const cache = new Map<string, { at: number; value: string | undefined }>();
  const cacheable = (p: string) => p.startsWith('/sys/fs/cgroup/') || p === '/proc/cpuinfo';
  return {
    ticksPerSecond: env.ticksPerSecond,
    read(path) {
      if (!cacheable(path)) return env.read(path);
      const t = now();
      const hit = cache.get(path);
      if (hit && t - hit.at < ttlMs) return hit.value;
      const value = env.read(path);
      if (cache.size > 4096) cache.clear();
      cache.set(path, { at: t, value });
      return value;
    },
    write(path, data) {
      cache.delete(path);
      env.write(path, data);
    },
    ...(env.list ? { list: env.list.bind(env) } : {}),
  };
}

/** Host files read on every open of their emulated file: kept open and re-read with pread(2) at offset 0. */
export const HOT_FILES = ['/proc/uptime', '/proc/meminfo', '/proc/stat', '/proc/loadavg', '/proc/swaps'];

/**
 * A HostEnv that reads `paths` through one kept-open fd each (pread at 0: procfs regenerates the content), one
 * syscall instead of readFileSync's five. Anything else, and any failure, goes to `env`.
 */
export function preadEnv(env: HostEnv, paths: readonly string[] = HOT_FILES): HostEnv {
  const fds = new Map<string, number>();
  let buf = Buffer.allocUnsafe(65536);
  const hot = new Set(paths);
  return {
    ticksPerSecond: env.ticksPerSecond,
    read(path) {
      if (!hot.has(path)) return env.read(path);
      try {
        let fd = fds.get(path);
        if (fd === undefined) {
          fd = openSync(path, 'r');
          fds.set(path, fd);
        }
        const n = readSync(fd, buf, 0, buf.length, 0);
        if (n < buf.length) return buf.toString('utf8', 0, n);
        buf = Buffer.allocUnsafe(buf.length * 2); // bigger than the buffer: grow, and read whole this time
        return env.read(path);
      } catch {
        return env.read(path);
      }
    },
    write(path, data) {
      env.write(path, data);
    },
    ...(env.list ? { list: env.list.bind(env) } : {}),
  };
}
