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
  };
}
