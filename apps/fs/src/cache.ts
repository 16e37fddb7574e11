import { openSync, readSync } from 'node:fs';
import type { ContainerView, Handler, HostEnv } from '@sysbox/procfs';

/**
 * One container's renderings: each emulated file is rendered at most once per its handler's `maxAgeMs` (never
 * longer than the kernel's own update period of what it shows) or whenever its `generation` changes, and every
 * read meanwhile is answered from the same Buffer (the FUSE answer copies from it: one copy per read). A write to
 * the file drops its rendering. A handler that throws is not cached.
 */
export class Renderings {
  private readonly m = new Map<Handler, { buf: Buffer; at: number; gen: number }>();
  constructor(
    private readonly env: HostEnv,
    private readonly view: ContainerView,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(h: Handler): Buffer {
    const e = this.m.get(h);
    const gen = h.generation ? h.generation(this.view) : 0;
    if (e && e.gen === gen && h.maxAgeMs > 0) {
      if (h.maxAgeMs === Infinity) return e.buf;
      const t = this.now();
      if (t - e.at < h.maxAgeMs) return e.buf;
      e.buf = Buffer.from(h.read(this.env, this.view));
      e.at = t;
      return e.buf;
    }
    const buf = Buffer.from(h.read(this.env, this.view));
    if (h.maxAgeMs > 0) this.m.set(h, { buf, at: h.maxAgeMs === Infinity ? 0 : this.now(), gen });
    return buf;
  }

  /** forgets the file's rendering (after a write) */
  drop(h: Handler): void {
    this.m.delete(h);
  }

  get size(): number {
    return this.m.size;
  }
}

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
