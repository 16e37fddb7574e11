import { describe, expect, test } from 'vitest';
import { IdmapError, MemoryStore, RangeAllocator, RangeExhaustedError, type IdRange } from '../src/index.js';

const pool = (n: number, size = 65536, gidShift = 0) => ({
  uid: { start: 100000, count: n * size },
  gid: { start: 100000 + gidShift, count: n * size },
});

function disjoint(rs: IdRange[]): boolean {
  for (let a = 0; a < rs.length; a++)
    for (let b = a + 1; b < rs.length; b++) {
      const x = rs[a]!;
      const y = rs[b]!;
      if (x.uid < y.uid + y.size && y.uid < x.uid + x.size) return false;
      if (x.gid < y.gid + y.size && y.gid < x.gid + x.size) return false;
    }
  return true;
}

describe('RangeAllocator', () => {
  test('lowest free range first; uid and gid carved from their own pools', () => {
    const a = new RangeAllocator({ pool: pool(4, 65536, 1000) });
    expect(a.total).toBe(4);
    expect(a.allocate('c1')).toEqual({ uid: 100000, gid: 101000, size: 65536 });
    expect(a.allocate('c2')).toEqual({ uid: 165536, gid: 166536, size: 65536 });
    a.release('c1');
    expect(a.allocate('c3')).toEqual({ uid: 100000, gid: 101000, size: 65536 });
  });
  test('idempotent for a known container', () => {
    const a = new RangeAllocator({ pool: pool(4) });
    const r = a.allocate('c1');
    expect(a.allocate('c1')).toEqual(r);
    expect(a.stats()).toEqual({ total: 4, used: 1, free: 3 });
  });
  test('release of an unknown id is a no-op', () => {
    const a = new RangeAllocator({ pool: pool(1) });
    expect(a.release('nope')).toBeUndefined();
  });
  test('total is bounded by the smaller pool; configurable size', () => {
    const a = new RangeAllocator({ pool: { uid: { start: 0, count: 1000 }, gid: { start: 0, count: 350 } }, size: 100 });
    expect(a.total).toBe(3);
  });
  test('exhaustion: typed error with counts', () => {
    const a = new RangeAllocator({ pool: pool(3) });
    a.allocate('a');
    a.allocate('b');
    a.allocate('c');
    let err: unknown;
    try {
      a.allocate('d');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RangeExhaustedError);
    expect(err).toBeInstanceOf(IdmapError);
    expect((err as IdmapError).code).toBe('EXHAUSTED');
    expect((err as Error).message).toBe('no free ID range: 3 containers hold all 3 ranges');
    a.release('b');
    expect(a.allocate('d').uid).toBe(100000 + 65536);
  });
  test('rejects an empty container id and bad sizes', () => {
    const a = new RangeAllocator({ pool: pool(1) });
    expect(() => a.allocate('')).toThrow(/non-empty/);
    expect(() => new RangeAllocator({ pool: pool(1), size: 0 })).toThrow(/positive integer/);
  });
  test('concurrent interleaved allocate/release never hands out overlapping ranges', async () => {
    const a = new RangeAllocator({ pool: pool(64) });
    const live = new Set<string>();
    const worker = async (w: number) => {
      for (let i = 0; i < 200; i++) {
        await Promise.resolve();
        const id = `w${w}-${i % 7}`;
        if (live.has(id) && i % 3 === 0) {
          a.release(id);
          live.delete(id);
        } else {
          a.allocate(id);
          live.add(id);
        }
        const held = a.list().map((x) => x.idRange);
        expect(held.length).toBe(live.size);
        expect(disjoint(held)).toBe(true);
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
  });
  test('persistence round trip through a Store', async () => {
    const store = new MemoryStore();
    const a = new RangeAllocator({ pool: pool(8) });
    for (const id of ['x', 'y', 'z']) a.allocate(id);
    a.release('y');
    await store.write(JSON.stringify(a.snapshot()));

    const b = new RangeAllocator({ pool: pool(8) });
    b.load(JSON.parse((await store.read())!));
    expect(b.list()).toEqual(a.list());
    expect(b.allocate('x')).toEqual(a.get('x'));
    const n = b.allocate('new');
    expect(n.uid).toBe(100000 + 65536); // the hole y left
    expect(disjoint(b.list().map((r) => r.idRange))).toBe(true);
  });
  test('held ranges of another size or outside the pool still block what they overlap', () => {
    const a = new RangeAllocator({ pool: pool(4) });
    // a container holding a 100000-wide range from an older config: overlaps pool ranges 0 and 1
    a.load({ version: 1, size: 100000, allocations: { old: { uid: 100000, gid: 100000, size: 100000 } } });
    expect(a.stats()).toEqual({ total: 4, used: 1, free: 2 });
    expect(a.allocate('n').uid).toBe(100000 + 2 * 65536);
  });
  test('load rejects malformed or overlapping state', () => {
    const a = new RangeAllocator({ pool: pool(4) });
    expect(() => a.load({} as never)).toThrow(IdmapError);
    expect(() => a.load({ version: 1, size: 1, allocations: { c: { uid: -1, gid: 0, size: 1 } } })).toThrow(/container "c" has a malformed range/);
    expect(() =>
      a.load({ version: 1, size: 10, allocations: { a: { uid: 0, gid: 0, size: 10 }, b: { uid: 5, gid: 100, size: 10 } } }),
    ).toThrow(/containers "a" and "b" hold overlapping ranges/);
  });
});

describe('RangeAllocator.reserve: a range the caller chose', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return [(e as IdmapError).code, (e as Error).message];
    }
    return undefined;
  };

  test('exactly the requested range, unaligned and larger ones too; allocate() steps around it', () => {
    const a = new RangeAllocator({ pool: pool(4) });
    expect(a.reserve('c', { uid: 100000 + 1000, gid: 100000 + 1000, size: 65536 })).toEqual({ uid: 101000, gid: 101000, size: 65536 });
    // pool slots 0 and 1 overlap it: the next allocation is slot 2
    expect(a.allocate('n')).toEqual({ uid: 100000 + 2 * 65536, gid: 100000 + 2 * 65536, size: 65536 });
    expect(a.reserve('big', { uid: 100000 + 3 * 65536, gid: 100000 + 3 * 65536, size: 65536 })).toMatchObject({ size: 65536 });
    expect(() => a.allocate('full')).toThrow(RangeExhaustedError);
    expect(disjoint(a.list().map((r) => r.idRange))).toBe(true);
  });

  test('idempotent for the same range; persisted like any other', async () => {
    const a = new RangeAllocator({ pool: pool(4) });
    const r = { uid: 120000, gid: 130000, size: 65536 };
    expect(a.reserve('c', r)).toEqual(r);
    expect(a.reserve('c', r)).toEqual(r);
    const b = new RangeAllocator({ pool: pool(4) });
    b.load(a.snapshot());
    expect(b.get('c')).toEqual(r);
  });

  test.each([
    ['below the pool', { uid: 1000, gid: 100000, size: 65536 }, 'OUTSIDE_POOL', 'uid range 1000-66535 is not inside the subordinate uids 100000-362143'],
    ['past the end of the gid pool', { uid: 100000, gid: 300000, size: 65536 }, 'OUTSIDE_POOL', 'gid range 300000-365535 is not inside the subordinate gids 100000-362143'],
    ['malformed', { uid: 100000, gid: 100000, size: 0 }, 'INVALID', 'range must have non-negative integer uid, gid and a positive size, got {"uid":100000,"gid":100000,"size":0}'],
  ])('%s: refused', (_what, range, c, message) => {
    const a = new RangeAllocator({ pool: pool(4) });
    expect(code(() => a.reserve('c', range))).toEqual([c, message]);
    expect(a.get('c')).toBeUndefined();
  });

  test("overlapping another container's uids or gids: IN_USE, naming it", () => {
    const a = new RangeAllocator({ pool: pool(4) });
    a.allocate('first'); // 100000-165535
    expect(code(() => a.reserve('c', { uid: 150000, gid: 300000 - 65536, size: 65536 }))).toEqual([
      'IN_USE',
      'uid range 150000-215535 overlaps the uid range 100000-165535 of container "first"',
    ]);
    expect(code(() => a.reserve('c', { uid: 200000, gid: 165535, size: 65536 }))).toEqual([
      'IN_USE',
      'gid range 165535-231070 overlaps the gid range 100000-165535 of container "first"',
    ]);
    expect(a.reserve('c', { uid: 165536, gid: 165536, size: 65536 })).toEqual({ uid: 165536, gid: 165536, size: 65536 });
  });

  test('a container that holds another range: INVALID', () => {
    const a = new RangeAllocator({ pool: pool(4) });
    a.allocate('c');
    expect(code(() => a.reserve('c', { uid: 165536, gid: 165536, size: 65536 }))?.[0]).toBe('INVALID');
  });
});
