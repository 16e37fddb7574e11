/**
 * Everything a handler knows about the world comes through HostEnv: host file reads (the host's /proc,
 * the container's cgroup files, /proc/<initPid>/stat) and the few host writes (MAX knobs). Tests pass a
 * fake backed by a map; apps/fs passes `hostEnv()` from '@sysbox/procfs/host'.
 */
export interface HostEnv {
  /** Contents of a host file, or undefined if it does not exist / can't be read. */
  read(path: string): string | undefined;
  /** Writes a host file (only MAX knobs raising the host value do this). Throws on failure. */
  write(path: string, data: string): void;
  /**
   * Entries of a host directory (names and types, no . or ..), or undefined if it can't be listed. Optional:
   * only the /sys covers need it (see sysfs.ts).
   */
  list?(path: string): DirEntry[] | undefined;
  /** Clock ticks per second (USER_HZ, 100 on Linux). */
  readonly ticksPerSecond: number;
}

export interface DirEntry {
  readonly name: string;
  readonly type: 'dir' | 'file' | 'link' | 'other';
}

/** A map-backed HostEnv for tests and embedders; writes land in the map and are recorded. */
export class FakeHostEnv implements HostEnv {
  readonly files: Map<string, string>;
  readonly writes: Array<{ path: string; data: string }> = [];
  readonly dirs = new Map<string, DirEntry[]>();
  readonly ticksPerSecond: number;
  constructor(files: Record<string, string> = {}, ticksPerSecond = 100) {
    this.files = new Map(Object.entries(files));
    this.ticksPerSecond = ticksPerSecond;
  }
  read(path: string): string | undefined {
    return this.files.get(path);
  }
  list(path: string): DirEntry[] | undefined {
    return this.dirs.get(path);
  }
  write(path: string, data: string): void {
    this.writes.push({ path, data });
    this.files.set(path, data.endsWith('\n') ? data : `${data}\n`);
  }
  setDir(path: string, entries: DirEntry[]): this {
    this.dirs.set(path, entries);
    return this;
  }
  set(path: string, data: string): this {
    this.files.set(path, data);
    return this;
  }
}
