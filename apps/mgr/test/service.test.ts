import { MemoryStore, type IdRange } from '@sysbox/idmap';
import { connectMgr, IpcError, serveMgr } from '@sysbox/ipc';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, test } from 'vitest';
import { MgrError } from '../src/errors.js';
import { MgrService, type MgrState } from '../src/service.js';
import type { Stager } from '../src/stager.js';

const pool = (n: number) => ({ uid: { start: 100000, count: n * 65536 }, gid: { start: 200000, count: n * 65536 } });

class FakeStager implements Stager {
  staged = new Map<string, { rootfs: string; idRange: IdRange }>();
  calls: string[] = [];
  failStage = false;
  failUnstage = false;
  gcKeep: Set<string> | undefined;
  async stage(o: { containerId: string; rootfs: string; idRange: IdRange; dataDir: string }) {
    this.calls.push(`stage ${o.containerId}`);
    if (this.failStage) throw new Error('open_tree /x: EINVAL');
    this.staged.set(o.containerId, { rootfs: o.rootfs, idRange: o.idRange });
    return { rootfs: `${o.dataDir}/rootfs/${o.containerId}/merged`, method: 'idmap-overlay' };
  }
  async unstage(o: { containerId: string }) {
    this.calls.push(`unstage ${o.containerId}`);
    if (this.failUnstage) throw new Error('umount: EBUSY');
    this.staged.delete(o.containerId);
  }
  async gc(o: { keep: Set<string> }) {
    this.gcKeep = o.keep;
  }
}

class FlakyStore extends MemoryStore {
  fail = false;
  override async write(text: string) {
    if (this.fail) throw new Error('ENOSPC: no space left on device');
    await super.write(text);
  }
}

function logger() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

async function make(opts: { n?: number; store?: MemoryStore; stager?: FakeStager } = {}) {
  const store = opts.store ?? new MemoryStore();
  const stager = opts.stager ?? new FakeStager();
  const { log, lines } = logger();
  const svc = await MgrService.open({ pool: pool(opts.n ?? 16), store, stager, dataDir: '/var/lib/sysbox', log, version: 't', pid: 1 });
  return { svc, store, stager, lines };
}

const reg = (containerId: string, rootfs = '/docker/merged') => ({ containerId, rootfs, bundle: `/b/${containerId}` });

function disjoint(rs: IdRange[]) {
  for (let a = 0; a < rs.length; a++)
    for (let b = a + 1; b < rs.length; b++) {
      const x = rs[a]!;
      const y = rs[b]!;
      if (x.uid < y.uid + y.size && y.uid < x.uid + x.size) return false;
      if (x.gid < y.gid + y.size && y.gid < x.gid + x.size) return false;
    }
  return true;
}

async function err(p: Promise<unknown>): Promise<MgrError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(MgrError);
  return e as MgrError;
}

describe('register', () => {
  test('allocates the lowest free range, idempotent, persisted before answering', async () => {
    const { svc, store } = await make();
    expect(await svc.register(reg('a'))).toEqual({ idRange: { uid: 100000, gid: 200000, size: 65536 } });
    expect(await svc.register(reg('b'))).toEqual({ idRange: { uid: 165536, gid: 265536, size: 65536 } });
    expect(await svc.register(reg('a'))).toEqual({ idRange: { uid: 100000, gid: 200000, size: 65536 } });
    const state = JSON.parse(store.text!) as MgrState;
    expect(Object.keys(state.containers)).toEqual(['a', 'b']);
    expect(state.allocator.allocations.b).toEqual({ uid: 165536, gid: 265536, size: 65536 });
    expect(state.containers.a).toMatchObject({ rootfs: '/docker/merged', bundle: '/b/a', stagedRootfs: '' });
  });
  test('50 concurrent registrations: distinct ranges, state writes coalesced', async () => {
    const { svc, store } = await make({ n: 64 });
    const res = await Promise.all(Array.from({ length: 50 }, (_, i) => svc.register(reg(`c${i}`))));
    const ranges = res.map((r) => r.idRange as IdRange);
    expect(new Set(ranges.map((r) => r.uid)).size).toBe(50);
    expect(disjoint(ranges)).toBe(true);
    expect(Object.keys((JSON.parse(store.text!) as MgrState).containers)).toHaveLength(50);
    expect(store.writes).toBeLessThan(50);
  });
  test('exhaustion is RESOURCE_EXHAUSTED with the counts', async () => {
    const { svc } = await make({ n: 2 });
    await svc.register(reg('a'));
    await svc.register(reg('b'));
    const e = await err(svc.register(reg('c')));
    expect(e.code).toBe('RESOURCE_EXHAUSTED');
    expect(e.message).toBe('no free ID range: 2 containers hold all 2 ranges');
  });
  test('invalid container ids', async () => {
    const { svc } = await make();
    expect((await err(svc.register(reg('')))).message).toBe('container id is empty');
    const e = await err(svc.register(reg('../etc')));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/invalid container id "\.\.\/etc"/);
  });
  test('a failed state write rolls the allocation back', async () => {
    const store = new FlakyStore();
    const { svc } = await make({ store });
    store.fail = true;
    const e = await err(svc.register(reg('a')));
    expect(e.message).toBe('cannot persist sysbox-mgr state: ENOSPC: no space left on device');
    expect((await svc.status()).containers).toBe(0);
    store.fail = false;
    expect((await svc.register(reg('b'))).idRange?.uid).toBe(100000);
  });
});

describe('register with a requested range (the ID maps of config.json)', () => {
  const want = (containerId: string, uid: number, gid: number, size = 65536) => ({ ...reg(containerId), requestedIdRange: { uid, gid, size } });

  test('reserves exactly that range, persisted; allocations step around it; idempotent', async () => {
    const { svc, store } = await make({ n: 4 });
    expect(await svc.register(want('r', 100000 + 65536, 200000 + 65536))).toEqual({ idRange: { uid: 165536, gid: 265536, size: 65536 } });
    expect((await svc.register(reg('a'))).idRange).toEqual({ uid: 100000, gid: 200000, size: 65536 });
    expect((await svc.register(reg('b'))).idRange).toEqual({ uid: 231072, gid: 331072, size: 65536 });
    expect((await svc.register(want('r', 165536, 265536))).idRange).toEqual({ uid: 165536, gid: 265536, size: 65536 });
    expect((JSON.parse(store.text!) as MgrState).containers.r!.idRange).toEqual({ uid: 165536, gid: 265536, size: 65536 });
  });

  test.each([
    ['outside the subordinate uids', want('r', 1000, 200000), 'INVALID_ARGUMENT', 'uid range 1000-66535 is not inside the subordinate uids 100000-362143'],
    ['outside the subordinate gids', want('r', 100000, 1000), 'INVALID_ARGUMENT', 'gid range 1000-66535 is not inside the subordinate gids 200000-462143'],
  ])('%s: %s', async (_what, req, code, message) => {
    const { svc } = await make({ n: 4 });
    const e = await err(svc.register(req));
    expect([e.code, e.message]).toEqual([code, message]);
    expect((await svc.status()).containers).toBe(0);
  });

  test("overlapping another container's range: ALREADY_EXISTS, nothing registered", async () => {
    const { svc } = await make({ n: 4 });
    await svc.register(reg('a'));
    const e = await err(svc.register(want('r', 100000 + 1000, 200000 + 65536)));
    expect([e.code, e.message]).toEqual(['ALREADY_EXISTS', 'uid range 101000-166535 overlaps the uid range 100000-165535 of container "a"']);
    expect((await svc.status()).containers).toBe(1);
  });

  test('a registered id asked for another range without replace: ALREADY_EXISTS; with replace: the new range', async () => {
    const { svc } = await make({ n: 4 });
    await svc.register(reg('a'));
    const e = await err(svc.register(want('a', 165536, 265536)));
    expect(e.code).toBe('ALREADY_EXISTS');
    expect((await svc.register({ ...want('a', 165536, 265536), replace: true })).idRange).toEqual({ uid: 165536, gid: 265536, size: 65536 });
  });
});

describe('restart', () => {
  test('a new service on the same store keeps every live range and never collides', async () => {
    const store = new MemoryStore();
    const first = await make({ store });
    for (const id of ['a', 'b', 'c']) await first.svc.register(reg(id));
    await first.svc.unregister({ containerId: 'b' });
    const second = await make({ store });
    expect((await second.svc.get({ containerId: 'a' })).idRange).toEqual({ uid: 100000, gid: 200000, size: 65536 });
    expect((await second.svc.get({ containerId: 'c' })).idRange?.uid).toBe(100000 + 2 * 65536);
    const d = (await second.svc.register(reg('d'))).idRange!;
    expect(d.uid).toBe(165536); // b's hole
    const e = (await second.svc.register(reg('e'))).idRange!;
    expect(e.uid).toBe(100000 + 3 * 65536);
    const all = (await second.svc.list()).containers!.map((c) => c!.idRange as IdRange);
    expect(disjoint(all)).toBe(true);
  });
  test('malformed or inconsistent state refuses to load', async () => {
    await expect(make({ store: new MemoryStore('{oops') })).rejects.toThrow(/state file is not valid JSON/);
    await expect(make({ store: new MemoryStore('{"version":2}') })).rejects.toThrow(/state file is malformed/);
    const r = { uid: 100000, gid: 200000, size: 65536 };
    const bad: MgrState = {
      version: 1,
      allocator: { version: 1, size: 65536, allocations: {} },
      containers: {
        a: { containerId: 'a', idRange: r, rootfs: '', bundle: '', stagedRootfs: '', stagingMethod: '', registeredAt: 1 },
        b: { containerId: 'b', idRange: r, rootfs: '', bundle: '', stagedRootfs: '', stagingMethod: '', registeredAt: 2 },
      },
    };
    await expect(make({ store: new MemoryStore(JSON.stringify(bad)) })).rejects.toThrow(/state file is inconsistent: .*"a" and "b" hold overlapping ranges/);
  });
});

describe('prepareRootfs', () => {
  test('stages with the container range, idempotent for the same rootfs, persisted', async () => {
    const { svc, stager, store } = await make();
    await svc.register(reg('a'));
    const r = await svc.prepareRootfs({ containerId: 'a', rootfs: '/docker/merged' });
    expect(r).toEqual({ rootfs: '/var/lib/sysbox/rootfs/a/merged', method: 'idmap-overlay' });
    expect(stager.staged.get('a')).toEqual({ rootfs: '/docker/merged', idRange: { uid: 100000, gid: 200000, size: 65536 } });
    expect(await svc.prepareRootfs({ containerId: 'a', rootfs: '/docker/merged' })).toEqual(r);
    expect(stager.calls).toEqual(['stage a']);
    expect((JSON.parse(store.text!) as MgrState).containers.a).toMatchObject({ stagedRootfs: r.rootfs, stagingMethod: 'idmap-overlay' });
    expect(await svc.get({ containerId: 'a' })).toMatchObject({ stagedRootfs: r.rootfs, stagingMethod: 'idmap-overlay' });
  });
  test('another rootfs: unstage then stage again', async () => {
    const { svc, stager } = await make();
    await svc.register(reg('a'));
    await svc.prepareRootfs({ containerId: 'a', rootfs: '/x' });
    await svc.prepareRootfs({ containerId: 'a', rootfs: '/y' });
    expect(stager.calls).toEqual(['stage a', 'unstage a', 'stage a']);
  });
  test('errors: unregistered, relative rootfs, staging failure', async () => {
    const { svc, stager } = await make();
    let e = await err(svc.prepareRootfs({ containerId: 'nope', rootfs: '/x' }));
    expect([e.code, e.message]).toEqual(['NOT_FOUND', 'container nope is not registered with sysbox-mgr']);
    await svc.register(reg('a'));
    e = await err(svc.prepareRootfs({ containerId: 'a', rootfs: 'rel' }));
    expect([e.code, e.message]).toEqual(['INVALID_ARGUMENT', 'rootfs of container a must be an absolute path, got "rel"']);
    stager.failStage = true;
    e = await err(svc.prepareRootfs({ containerId: 'a', rootfs: '/x' }));
    expect([e.code, e.message]).toEqual(['INTERNAL', 'cannot stage rootfs /x of container a: open_tree /x: EINVAL']);
    expect((await svc.get({ containerId: 'a' })).stagedRootfs).toBe('');
  });
});

describe('unregister', () => {
  test('unknown ids answer found=false and never throw', async () => {
    const { svc } = await make();
    expect(await svc.unregister({ containerId: 'ghost' })).toEqual({ found: false });
    expect(await svc.unregister({ containerId: '' })).toEqual({ found: false });
    expect(await svc.unregister({ containerId: '../../x' })).toEqual({ found: false });
  });
  test('unstages, releases the range, is idempotent', async () => {
    const { svc, stager } = await make({ n: 1 });
    await svc.register(reg('a'));
    await svc.prepareRootfs({ containerId: 'a', rootfs: '/x' });
    expect(await svc.unregister({ containerId: 'a' })).toEqual({ found: true, unstageError: '' });
    expect(stager.staged.size).toBe(0);
    expect(await svc.unregister({ containerId: 'a' })).toEqual({ found: false });
    expect((await svc.register(reg('b'))).idRange?.uid).toBe(100000);
  });
  test('an unstage failure is reported and the range is released anyway', async () => {
    const { svc, stager, lines } = await make({ n: 1 });
    await svc.register(reg('a'));
    stager.failUnstage = true;
    expect(await svc.unregister({ containerId: 'a' })).toEqual({ found: true, unstageError: 'cannot unstage rootfs of container a: umount: EBUSY' });
    expect((await svc.status()).rangesFree).toBe(1);
    expect(lines.some((l) => l.level === 50 && l.containerId === 'a')).toBe(true);
  });
  test('register and unregister of one id are serialised', async () => {
    const { svc } = await make({ n: 4 });
    const ops = [];
    for (let i = 0; i < 20; i++) ops.push(i % 2 ? svc.unregister({ containerId: 'x' }) : svc.register(reg('x')));
    await Promise.all(ops);
    expect((await svc.status()).containers).toBe(0);
    expect((await svc.status()).rangesFree).toBe(4);
  });
});

describe('reap', () => {
  test('unregisters containers whose liveness path is gone, never those without one', async () => {
    const live = new Set(['/run/c/a', '/run/c/b']);
    const store = new MemoryStore();
    const stager = new FakeStager();
    const { log, lines } = logger();
    const svc = await MgrService.open({
      pool: pool(4), store, stager, dataDir: '/d', log, version: 't',
      pathExists: async (p) => live.has(p),
    });
    await svc.register({ ...reg('a'), livenessPath: '/run/c/a' });
    await svc.register({ ...reg('b'), livenessPath: '/run/c/b' });
    await svc.register(reg('nopath'));
    expect(await svc.reap()).toEqual([]);
    live.delete('/run/c/b');
    expect(await svc.reap()).toEqual(['b']);
    expect((await svc.list()).containers!.map((c) => c!.containerId)).toEqual(['a', 'nopath']);
    expect(stager.calls).toContain('unstage b');
    expect(lines.some((l) => l.containerId === 'b' && /liveness path missing/.test(String(l.msg)))).toBe(true);
    expect((await svc.get({ containerId: 'a' })).livenessPath).toBe('/run/c/a');
    const e = await err(svc.register({ ...reg('c'), livenessPath: 'rel/x' }));
    expect(e.message).toBe('liveness path of container c must be an absolute path, got "rel/x"');
  });
});

describe('teardown left to mgr (sysbox-runc delete removes only its state dir)', () => {
  test('reap(only) checks just the named liveness paths; onUnregister runs first; onRegistered reports paths', async () => {
    const live = new Set(['/run/c/a', '/run/c/b']);
    const calls: string[] = [];
    const stager = new FakeStager();
    const { log } = logger();
    const svc = await MgrService.open({
      pool: pool(4), store: new MemoryStore(), stager, dataDir: '/d', log, version: 't',
      pathExists: async (p) => live.has(p),
      onRegistered: (id, p) => calls.push(`registered ${id} ${p}`),
      onUnregister: async (id) => {
        calls.push(`fs ${id}`);
        if (id === 'b') throw new Error('sysbox-fs: deadline exceeded');
      },
    });
    await svc.register({ ...reg('a'), livenessPath: '/run/c/a' });
    await svc.register({ ...reg('b'), livenessPath: '/run/c/b' });
    await svc.register(reg('nopath'));
    expect(svc.livenessPaths().sort()).toEqual(['/run/c/a', '/run/c/b']);
    live.clear();
    expect(await svc.reap(new Set(['/run/c/b']))).toEqual(['b']);
    // a failing hook is logged; the range is released anyway
    expect(calls).toEqual(['registered a /run/c/a', 'registered b /run/c/b', 'fs b']);
    expect(stager.calls).toContain('unstage b');
    expect((await svc.status()).containers).toBe(2);
    expect(await svc.reap()).toEqual(['a']);
    expect(calls.at(-1)).toBe('fs a');
  });
  test('Register with replace tears a stale registration of the same id down first; without it, answers the held range', async () => {
    const { svc, stager } = await make({ n: 2 });
    const first = (await svc.register(reg('x'))).idRange!;
    await svc.prepareRootfs({ containerId: 'x', rootfs: '/old/merged' });
    expect((await svc.register(reg('x'))).idRange).toEqual(first);
    expect(stager.calls).toEqual(['stage x']);
    const again = (await svc.register({ ...reg('x'), replace: true })).idRange!;
    expect(stager.calls).toEqual(['stage x', 'unstage x']);
    expect((await svc.get({ containerId: 'x' })).stagedRootfs).toBe('');
    expect(again.size).toBe(first.size);
    expect((await svc.status()).rangesFree).toBe(1);
    // replace of an unknown id is a plain register
    expect((await svc.register({ ...reg('y'), replace: true })).idRange).toBeDefined();
    expect((await svc.status()).rangesFree).toBe(0);
  });
});

describe('list, get, status, gc, logging', () => {
  test('list in registration order; status counts', async () => {
    const { svc } = await make({ n: 8 });
    for (const id of ['z', 'y', 'x']) await svc.register(reg(id));
    expect((await svc.list()).containers!.map((c) => c!.containerId)).toEqual(['z', 'y', 'x']);
    expect(await svc.status()).toEqual({ version: 't', pid: 1, containers: 3, rangesTotal: 8, rangesFree: 5 });
    const e = await err(svc.get({ containerId: 'q' }));
    expect(e.code).toBe('NOT_FOUND');
  });
  test('gcStaging keeps registered containers', async () => {
    const { svc, stager } = await make();
    await svc.register(reg('a'));
    await svc.gcStaging();
    expect([...stager.gcKeep!]).toEqual(['a']);
  });
  test('per-container log lines carry containerId', async () => {
    const { svc, lines } = await make();
    await svc.register(reg('abc'));
    expect(lines.find((l) => l.msg === 'registered')).toMatchObject({ containerId: 'abc', idRange: { uid: 100000 } });
  });
});

describe('over gRPC', () => {
  test('the service behind serveMgr: typed errors reach the client unchanged', async () => {
    const { svc } = await make({ n: 1 });
    const socketPath = join(await mkdtemp(join(tmpdir(), 'mgr-')), 'mgr.sock');
    const srv = await serveMgr(svc, { socketPath });
    const c = await connectMgr({ socketPath });
    expect((await c.register({ containerId: 'a', rootfs: '/r' })).idRange).toEqual({ uid: 100000, gid: 200000, size: 65536 });
    const e = await c.register({ containerId: 'b' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(IpcError);
    expect([(e as IpcError).code, (e as IpcError).message]).toEqual(['RESOURCE_EXHAUSTED', 'no free ID range: 1 containers hold all 1 ranges']);
    const g = await c.get({ containerId: 'a' });
    expect(g.registeredAtMs).toBeGreaterThan(1_700_000_000_000);
    c.close();
    await srv.close();
  });
});
