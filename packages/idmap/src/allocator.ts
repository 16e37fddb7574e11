import { IdmapError, RangeExhaustedError } from './errors.js';

/** A container's ID range: container id 0 maps to host `uid`/`gid`, `size` ids each. */
export interface IdRange {
  uid: number;
  gid: number;
  size: number;
}

/** The pool ranges are carved from: the sysbox entries of /etc/subuid and /etc/subgid. */
export interface IdPool {
  uid: { start: number; count: number };
  gid: { start: number; count: number };
}

export interface AllocatorOptions {
  pool: IdPool;
  /** ids per range (default 65536) */
  size?: number;
}

/** Persisted form (JSON-serialisable). Ranges are stored whole, so they stay held even if the pool changes. */
export interface AllocatorState {
  version: 1;
  size: number;
  allocations: Record<string, IdRange>;
}

export interface AllocatorStats {
  /** ranges the pool holds */
  total: number;
  /** ranges held by containers */
  used: number;
  /** ranges allocate() can still hand out */
  free: number;
}

export const DEFAULT_RANGE_SIZE = 65536;

function overlaps(aStart: number, aSize: number, bStart: number, bSize: number): boolean {
  return aStart < bStart + bSize && bStart < aStart + aSize;
}

/** `first-last` of `size` ids from `start`. */
function span(start: number, size: number): string {
  return `${start}-${start + size - 1}`;
}

function describeRange(r: IdRange): string {
  return `uids ${span(r.uid, r.size)} and gids ${span(r.gid, r.size)}`;
}

function checkId(containerId: string): void {
  if (typeof containerId !== 'string' || containerId === '') {
    throw new IdmapError('INVALID', 'container id must be a non-empty string');
  }
}

function isRange(v: unknown): v is IdRange {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return [r.uid, r.gid, r.size].every((n) => Number.isSafeInteger(n) && (n as number) >= 0) && (r.size as number) > 0;
}

/**
 * Hands out exclusive uid AND gid ranges of `size` ids from a pool, lowest free range first.
 * Range i is `{ uid: pool.uid.start + i*size, gid: pool.gid.start + i*size, size }`.
 * Pure in-memory state: persist `snapshot()` and feed it back with `load()` after a restart.
 * Synchronous, so concurrent callers on one event loop never race.
 */
export class RangeAllocator {
  readonly size: number;
  readonly pool: IdPool;
  /** number of ranges the pool holds */
  readonly total: number;
  private readonly held = new Map<string, IdRange>();

  constructor(opts: AllocatorOptions) {
    const size = opts.size ?? DEFAULT_RANGE_SIZE;
    if (!Number.isSafeInteger(size) || size <= 0) throw new IdmapError('INVALID', `range size must be a positive integer, got ${size}`);
    for (const k of ['uid', 'gid'] as const) {
      const p = opts.pool[k];
      if (!Number.isSafeInteger(p.start) || !Number.isSafeInteger(p.count) || p.start < 0 || p.count < 0) {
        throw new IdmapError('INVALID', `${k} pool must have non-negative integer start and count, got ${JSON.stringify(p)}`);
      }
    }
    this.size = size;
    this.pool = { uid: { ...opts.pool.uid }, gid: { ...opts.pool.gid } };
    this.total = Math.min(Math.floor(this.pool.uid.count / size), Math.floor(this.pool.gid.count / size));
  }

  /** The container's range: the one it holds, else the lowest free one. Throws RangeExhaustedError. */
  allocate(containerId: string): IdRange {
    checkId(containerId);
    const known = this.held.get(containerId);
    if (known) return { ...known };
    const i = this.lowestFree();
    if (i < 0) throw new RangeExhaustedError(this.held.size, this.total);
    const r = this.rangeAt(i);
    this.held.set(containerId, r);
    return { ...r };
  }

  /**
   * Holds exactly `range` for the container (a range its caller chose, e.g. the ID maps of its spec) instead of
   * allocating one. The uid range and the gid range must each lie inside the pool and overlap no range another
   * container holds; the container's own range is answered again (idempotent), another one it holds is an error.
   * Throws IdmapError: 'INVALID' (malformed range, or the container holds another one), 'OUTSIDE_POOL', 'IN_USE'.
   * Messages start with "uid range" or "gid range" when they are about one of them.
   */
  reserve(containerId: string, range: IdRange): IdRange {
    checkId(containerId);
    if (!isRange(range)) throw new IdmapError('INVALID', `range must have non-negative integer uid, gid and a positive size, got ${JSON.stringify(range)}`);
    const want = { uid: range.uid, gid: range.gid, size: range.size };
    const known = this.held.get(containerId);
    if (known) {
      if (known.uid === want.uid && known.gid === want.gid && known.size === want.size) return { ...known };
      throw new IdmapError('INVALID', `container "${containerId}" already holds ${describeRange(known)}, not ${describeRange(want)}`);
    }
    for (const k of ['uid', 'gid'] as const) {
      const p = this.pool[k];
      if (want[k] < p.start || want[k] + want.size > p.start + p.count) {
        throw new IdmapError('OUTSIDE_POOL', `${k} range ${span(want[k], want.size)} is not inside the subordinate ${k}s ${span(p.start, p.count)}`);
      }
    }
    for (const [id, r] of this.held) {
      for (const k of ['uid', 'gid'] as const) {
        if (overlaps(want[k], want.size, r[k], r.size)) {
          throw new IdmapError('IN_USE', `${k} range ${span(want[k], want.size)} overlaps the ${k} range ${span(r[k], r.size)} of container "${id}"`);
        }
      }
    }
    this.held.set(containerId, want);
    return { ...want };
  }

  /** Releases the container's range; returns it, or undefined for an unknown id (never throws). */
  release(containerId: string): IdRange | undefined {
    const r = this.held.get(containerId);
    if (r) this.held.delete(containerId);
    return r ? { ...r } : undefined;
  }

  get(containerId: string): IdRange | undefined {
    const r = this.held.get(containerId);
    return r ? { ...r } : undefined;
  }

  list(): Array<{ containerId: string; idRange: IdRange }> {
    return [...this.held].map(([containerId, r]) => ({ containerId, idRange: { ...r } }));
  }

  stats(): AllocatorStats {
    let free = 0;
    const busy = this.busyIndexes();
    for (let i = 0; i < this.total; i++) if (!busy.has(i)) free++;
    return { total: this.total, used: this.held.size, free };
  }

  snapshot(): AllocatorState {
    const allocations: Record<string, IdRange> = {};
    for (const [id, r] of this.held) allocations[id] = { ...r };
    return { version: 1, size: this.size, allocations };
  }

  /**
   * Replaces the held ranges with a snapshot's. Ranges outside the current pool or of another size stay held
   * (a live container keeps them) and block every pool range they overlap. Throws IdmapError('BAD_STATE')
   * for malformed state or two containers holding overlapping ranges.
   */
  load(state: AllocatorState): void {
    if (typeof state !== 'object' || state === null || state.version !== 1 || typeof state.allocations !== 'object' || state.allocations === null) {
      throw new IdmapError('BAD_STATE', 'allocator state is malformed: expected { version: 1, size, allocations }');
    }
    const entries = Object.entries(state.allocations);
    for (const [id, r] of entries) {
      if (id === '' || !isRange(r)) throw new IdmapError('BAD_STATE', `allocator state: container "${id}" has a malformed range ${JSON.stringify(r)}`);
    }
    for (let a = 0; a < entries.length; a++) {
      for (let b = a + 1; b < entries.length; b++) {
        const [ia, ra] = entries[a]!;
        const [ib, rb] = entries[b]!;
        if (overlaps(ra.uid, ra.size, rb.uid, rb.size) || overlaps(ra.gid, ra.size, rb.gid, rb.size)) {
          throw new IdmapError('BAD_STATE', `allocator state: containers "${ia}" and "${ib}" hold overlapping ranges`);
        }
      }
    }
    this.held.clear();
    for (const [id, r] of entries) this.held.set(id, { uid: r.uid, gid: r.gid, size: r.size });
  }

  private rangeAt(i: number): IdRange {
    return { uid: this.pool.uid.start + i * this.size, gid: this.pool.gid.start + i * this.size, size: this.size };
  }

  /** Pool indexes blocked by a held range (uid or gid overlap). */
  private busyIndexes(): Set<number> {
    const busy = new Set<number>();
    const s = this.size;
    for (const r of this.held.values()) {
      for (const [rs, ps] of [
        [r.uid, this.pool.uid.start],
        [r.gid, this.pool.gid.start],
      ] as const) {
        const first = Math.max(0, Math.floor((rs - ps) / s));
        const last = Math.min(this.total - 1, Math.floor((rs + r.size - 1 - ps) / s));
        for (let i = first; i <= last; i++) busy.add(i);
      }
    }
    return busy;
  }

  private lowestFree(): number {
    const busy = this.busyIndexes();
    for (let i = 0; i < this.total; i++) if (!busy.has(i)) return i;
    return -1;
  }
}
