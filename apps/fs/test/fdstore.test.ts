// sysbox-mgr's fd store (@sysbox/ipc) and sysbox-fs's keeper, over FakeKernel's sockets.
import { FakeKernel } from '@sysbox/native';
import { FdStoreClient, serveFdStore } from '@sysbox/ipc';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FdKeeper } from '../src/keeper.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('fd store', () => {
  it('keeps named fds with data; list hands back fresh copies; data updates; drop closes', async () => {
    const k = new FakeKernel();
    const store = serveFdStore(k, '/run/x/mgr-fds.sock');
    const c = FdStoreClient.connect(k, '/run/x/mgr-fds.sock');
    const fuseA = k.open('/dev/fuse', 2);
    const fuseB = k.open('/dev/fuse', 2);
    c.put('a', '{"initPid":1}', fuseA);
    c.put('b', 'B', fuseB);
    c.update('a', '{"initPid":2}');
    await tick();
    expect([...store.entries.keys()].sort()).toEqual(['a', 'b']);
    expect(store.entries.get('a')!.data).toBe('{"initPid":2}');
    // the store's fds are its own copies
    expect(store.entries.get('a')!.fd).not.toBe(fuseA);
    const listed = await c.list();
    expect(listed.map((e) => [e.name, e.data])).toEqual([['a', '{"initPid":2}'], ['b', 'B']]);
    expect(listed.every((e) => e.fd !== store.entries.get(e.name)!.fd)).toBe(true);
    c.drop('b');
    await tick();
    expect([...store.entries.keys()]).toEqual(['a']);
    // a new connection (a restarted sysbox-fs) gets the same entries
    c.close();
    await c.done;
    const c2 = FdStoreClient.connect(k, '/run/x/mgr-fds.sock');
    expect((await c2.list()).map((e) => e.name)).toEqual(['a']);
    c2.close();
    store.close();
    expect(store.entries.size).toBe(0);
  });

  it('serves only root: a peer with another uid (SO_PEERCRED) is cut off before it can list', async () => {
    const k = new FakeKernel();
    const events: string[] = [];
    const store = serveFdStore(k, '/run/x/mgr-fds.sock', { onEvent: (what, name) => events.push(`${what} ${name ?? ''}`) });
    const fuse = k.open('/dev/fuse', 2);
    const root = FdStoreClient.connect(k, '/run/x/mgr-fds.sock');
    root.put('a', 'A', fuse);
    const c = FdStoreClient.connect(k, '/run/x/mgr-fds.sock');
    k.peers.set((c as unknown as { sock: number }).sock + 1, { pid: 4321, uid: 1000, gid: 1000 }); // the server's end of that connection
    await expect(c.list()).rejects.toThrow(/closed/);
    expect(events.some((e) => e.startsWith('refused') && e.includes('uid 1000'))).toBe(true);
    expect((await root.list()).map((e) => e.name)).toEqual(['a']);
    root.close();
    store.close();
  });

  it('the keeper stores everything again when the store comes back', async () => {
    const k = new FakeKernel();
    const log = pino({ level: 'silent' });
    const fd = k.open('/dev/fuse', 2);
    const kept = [{ name: 'c1', data: 'D', fd }];
    const keeper = new FdKeeper(k, '/run/x/s.sock', log, () => kept, 10);
    expect(await keeper.start()).toEqual([]); // no store yet
    expect(keeper.connected).toBe(false);
    const store = serveFdStore(k, '/run/x/s.sock');
    for (let i = 0; i < 50 && !store.entries.has('c1'); i++) await tick();
    expect(store.entries.get('c1')?.data).toBe('D');
    keeper.update('c1', 'E');
    await tick();
    expect(store.entries.get('c1')?.data).toBe('E');
    keeper.drop('c1');
    await tick();
    expect(store.entries.has('c1')).toBe(false);
    keeper.close();
    store.close();
  });
});
