// A VetHost for tests: the caller's memory as regions, path lookups answered from a mount table (the mount whose
// mount point is the longest prefix of the path, the topmost of a stack), no kernel at all.
import { EFAULT, ENOENT, EXDEV, PROC_SUPER_MAGIC, SYSFS_MAGIC, TMPFS_MAGIC } from './constants.js';
import type { MemoryReader } from './memory.js';
import { VetError } from './memory.js';
import { parseMountinfo, type IdMap, type MountEntry } from './mounts.js';
import type { CallerIds, TargetRef } from './paths.js';
import type { Lookup, VetHost } from './vetter.js';

/** A process's memory: regions of bytes at addresses; reads stop at a region's end. */
export class FakeMemory {
  private readonly regions: Array<{ at: bigint; bytes: Buffer }> = [];
  private next = 0x10000n;

  /** Places bytes (a string gets its NUL) at a fresh page-aligned address, or at `at`. */
  put(data: string | Buffer, at?: bigint, terminate = true): bigint {
    const bytes = typeof data === 'string' ? Buffer.from(terminate ? `${data}\0` : data, 'latin1') : data;
    const addr = at ?? this.next;
    this.next = ((addr + BigInt(bytes.length) + 0x2000n) / 0x1000n) * 0x1000n;
    this.regions.push({ at: addr, bytes });
    return addr;
  }

  /** Forgets every region (a fresh address space). */
  clear(): void {
    this.regions.length = 0;
    this.next = 0x10000n;
  }

  readonly read: MemoryReader = (_pid, address, length) => {
    for (const r of this.regions) {
      const off = address - r.at;
      if (off >= 0n && off < BigInt(r.bytes.length)) return r.bytes.subarray(Number(off), Number(off) + length);
    }
    throw new VetError(EFAULT, 'unmapped');
  };
}

export interface FakeHostOptions {
  /** the caller's mount table (mountinfo text or entries) */
  mounts: string | MountEntry[];
  memory?: FakeMemory;
  /** CapEff; default all capabilities */
  capEff?: bigint;
  idMap?: IdMap;
  /** paths that don't exist (lookup answers ENOENT) */
  missing?: string[];
  /** fds of the caller: fd → path in its root */
  fds?: Record<number, string>;
  cwd?: string;
  nsKey?: string;
  tgid?: number;
  /** false: lookups don't tell the file system's type (as sysbox-fs's host, which doesn't ask a daemon) */
  fsTypes?: boolean;
}

/** statfs f_type of the types the recorded tables hold */
const FS_TYPES: Readonly<Record<string, number>> = { proc: PROC_SUPER_MAGIC, sysfs: SYSFS_MAGIC, tmpfs: TMPFS_MAGIC, overlay: 0x794c7630, ext4: 0xef53, devtmpfs: TMPFS_MAGIC, devpts: 0x1cd1, mqueue: 0x19800202, cgroup: 0x27e0eb, 'fuse.sysboxfs': 0x65735546 };

/** Normalises an absolute path (no symlinks in a fake: `..` is lexical). */
function norm(p: string): string {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (!c || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return `/${out.join('/')}`;
}

export class FakeHost implements VetHost {
  readonly memory: FakeMemory;
  table: MountEntry[];
  reads = 0;
  lookups: TargetRef[] = [];
  constructor(readonly o: FakeHostOptions) {
    this.memory = o.memory ?? new FakeMemory();
    this.table = typeof o.mounts === 'string' ? parseMountinfo(o.mounts) : o.mounts;
  }

  get read(): MemoryReader {
    return this.memory.read;
  }

  tgid(tid: number): number {
    return this.o.tgid ?? tid;
  }

  /** The path a TargetRef names in the caller's root. */
  pathOf(t: TargetRef): string {
    switch (t.kind) {
      case 'root':
        return norm(t.path);
      case 'cwd':
        return norm(`${this.o.cwd ?? '/'}/${t.path}`);
      case 'fd': {
        const base = this.o.fds?.[t.fd];
        if (base === undefined) throw new VetError(9 /* EBADF */, `fd ${t.fd} not open`);
        return norm(`${base}/${t.rest}`);
      }
    }
  }

  lookup(_who: CallerIds, t: TargetRef): Lookup {
    this.lookups.push(t);
    const p = this.pathOf(t);
    if (this.o.missing?.some((m) => p === m || p.startsWith(`${m}/`))) throw new VetError(ENOENT, `${p}: no such file`);
    // the namespace links of /proc/<pid>/ns are magic links: a lookup confined to the caller's root refuses them
    if (t.kind === 'root' && /^\/proc\/\d+(\/task\/\d+)?\/ns\/[^/]+$/.test(p)) throw new VetError(EXDEV, `${p}: magic link`);
    let best: MountEntry | undefined;
    for (const m of this.table) {
      const mp = m.mountpoint;
      if (p === mp || mp === '/' || p.startsWith(`${mp}/`)) {
        if (!best || mp.length >= best.mountpoint.length) best = m;
      }
    }
    if (!best) throw new VetError(ENOENT, `${p}: outside every mount`);
    const fsType = FS_TYPES[best.fstype];
    return { mountId: best.id, dev: best.dev, mountRoot: p === best.mountpoint, ...(fsType !== undefined && this.o.fsTypes !== false ? { fsType } : {}) };
  }

  mountNamespace(): { key: string; read(): MountEntry[] } {
    return {
      key: this.o.nsKey ?? 'mnt:1',
      read: () => {
        this.reads++;
        return this.table;
      },
    };
  }

  capEff(): bigint {
    return this.o.capEff ?? 0x1fffeffffffn;
  }

  idMap(): IdMap {
    return this.o.idMap ?? { uid: [[0, 100000, 65536]], gid: [[0, 100000, 65536]] };
  }
}
