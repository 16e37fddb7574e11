// The seccomp server on a FakeKernel: a listener fd arrives as runc sends it, notifications are vetted, answered,
// audited, journaled (a file per listener) and counted; listener fds and the listening socket go to the fd store. The caller is this test process (its /proc entries are real).
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import pino from 'pino';
import { FakeKernel } from '@sysbox/native';
import { parseMountinfo } from '@sysbox/syscall-vetting';
import { startSeccompServer, STORE_LISTEN, isSeccompEntry } from '../src/seccomp-server.js';

const PID = process.pid;
const hostTable = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
const procMount = hostTable.find((m) => m.mountpoint === '/proc' && m.fstype === 'proc')!;

function setup(storeAfterMs = 30) {
  const k = new FakeKernel();
  k.files.set(`/proc/${PID}/ns/mnt`, { ino: 4026531840n });
  k.files.set(`/proc/${PID}/root`, { ino: 2n, mntId: 1n });
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb(); } }));
  const store = { puts: [] as string[], updates: [] as Array<[string, string]>, drops: [] as string[] };
  const journalDir = mkdtempSync(join(tmpdir(), 'sbx-journal-'));
  const server = startSeccompServer({
    kernel: k,
    journalDir,
    log,
    socketPath: '/nonexistent-dir/fs-seccomp.sock',
    emulation: () => undefined,
    storeAfterMs,
    store: { put: (e) => store.puts.push(e.name), update: (n, d) => store.updates.push([n, d]), drop: (n) => store.drops.push(n) },
  });
  // the engine: connect, send the listener fd with its JSON state
  const engineListener = k.newListener();
  const conn = k.connectUnix('/nonexistent-dir/fs-seccomp.sock');
  k.sendFds(conn, [engineListener], Buffer.from(JSON.stringify({ ociVersion: '1.0.2', fds: ['seccompFd'], pid: PID, metadata: '', state: { id: 'c1', pid: PID } })));
  const mem = new Map<bigint, Buffer>();
  k.memory.set(PID, mem);
  let next = 0x10000n;
  const str = (s: string) => {
    const at = next;
    mem.set(at, Buffer.from(`${s}\0`));
    next += 0x1000n;
    return at;
  };
  return { k, server, lines, store, str, journalDir };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('seccomp server', () => {
  test("a listener arrives over the socket; umount /proc is refused with EBUSY, audited with the container's id, counted", async () => {
    const { k, server, lines, store, str, journalDir } = setup();
    await tick();
    const [l] = server.listeners();
    expect(l).toMatchObject({ containerId: 'c1', pid: PID });
    expect(store.puts).toContain(STORE_LISTEN);
    k.resolved.set('/proc', { mntId: BigInt(procMount.id), devMajor: Number(procMount.dev.split(':')[0]), devMinor: Number(procMount.dev.split(':')[1]), attributes: 0x2000n });
    k.notify(l!.fd, { id: 7n, pid: PID, syscall: 166, args: [str('/proc'), 0n, 0n, 0n, 0n, 0n] });
    // journaled while in flight (the decision waits for a lookup), then cleared
    const [jname] = readdirSync(journalDir);
    // the JSON after the first page (where the vetting thread keeps the newest id it received)
    const journaled = () => JSON.parse(readFileSync(join(journalDir, jname!)).subarray(4096).toString('utf8').trim());
    expect(journaled()).toMatchObject({ lastId: '7', inflight: [{ id: '7', pid: PID, syscall: 166 }] });
    await tick();
    expect(journaled()).toEqual({ lastId: '7', inflight: [] });
    expect(k.seccompResponses).toContainEqual({ id: 7n, error: 16 });
    const audit = lines.find((x) => x.audit && x.rule === 'base-busy')!;
    expect(audit).toMatchObject({ containerId: 'c1', callerPid: PID, syscall: 'umount2', decision: 'errno', errno: 'EBUSY', args: { target: '/proc' } });
    expect(String(audit.reason)).toContain('/proc');
    expect(server.counters).toMatchObject({ notifications: 1, errno: 1, listeners: 1, native: { 'new-mount': 0, umount: 0 } });
    // the container's vetting thread got the fast rules, and its protected file systems once its table was read
    expect(k.callsOf('seccompNotify.vetter')).toHaveLength(1);
    expect(k.vetterDevs).toContain(procMount.dev);
    server.close();
  });

  test('a new tmpfs mount continues; a garbage pointer gets EFAULT; nothing throws', async () => {
    const { k, server, str } = setup();
    await tick();
    const fd = server.listeners()[0]!.fd;
    k.resolved.set('/t', { mntId: 1n, devMajor: 0, devMinor: 1, attributes: 0n });
    k.notify(fd, { id: 1n, pid: PID, syscall: 165, args: [str('none'), str('/t'), str('tmpfs'), 0n, 0n, 0n] });
    k.notify(fd, { id: 2n, pid: PID, syscall: 165, args: [0xdead0000n, str('/t'), str('tmpfs'), 0n, 0n, 0n] });
    await tick();
    expect(k.seccompResponses).toContainEqual({ id: 1n, continue: true });
    expect(k.seccompResponses).toContainEqual({ id: 2n, error: 14 });
    expect(server.counters).toMatchObject({ continue: 1, errno: 1 });
    server.close();
  });

  test('a listener goes to the store once it has lived storeAfterMs; one gone before is neither stored nor dropped', async () => {
    const { server, store } = setup(60);
    await tick();
    expect(store.puts.filter((n) => n.startsWith('seccomp:c1:'))).toEqual([]);
    expect(server.kept().map((e) => e.name)).toEqual([STORE_LISTEN]);
    await new Promise((r) => setTimeout(r, 80));
    expect(store.puts.filter((n) => n.startsWith('seccomp:c1:'))).toHaveLength(1);
    expect(server.kept().map((e) => e.name)).toContain(store.puts.find((n) => n.startsWith('seccomp:c1:')));
    server.close();
    // a short-lived one (an exec'd `true`): gone before, no message to the store at all
    const short = setup(60);
    await tick();
    short.k.hangup(short.server.listeners()[0]!.fd);
    await new Promise((r) => setTimeout(r, 80));
    expect(short.store.puts.filter((n) => n.startsWith('seccomp:c1:'))).toEqual([]);
    expect(short.store.drops).toEqual([]);
    short.server.close();
  });

  test('a stopping server stores the listeners not stored yet (the next sysbox-fs adopts them)', async () => {
    const { server, store } = setup(10_000);
    await tick();
    expect(store.puts.filter((n) => n.startsWith('seccomp:c1:'))).toEqual([]);
    server.close();
    expect(store.puts.filter((n) => n.startsWith('seccomp:c1:'))).toHaveLength(1);
    expect(store.drops).toEqual([]);
  });

  test('the listener goes when its processes are gone (POLLHUP): closed and dropped from the store', async () => {
    const { k, server, store } = setup();
    await new Promise((r) => setTimeout(r, 50));
    const l = server.listeners()[0]!;
    expect(store.puts.some((n) => n.startsWith('seccomp:c1:'))).toBe(true);
    k.hangup(l.fd);
    expect(server.listeners()).toEqual([]);
    expect(store.drops.some((n) => n.startsWith('seccomp:c1:'))).toBe(true);
    expect(k.fds.has(l.fd)).toBe(false);
    server.close();
  });

  test('a successor answers what the journal says was in flight (the kernel would not deliver it again)', async () => {
    const { k, server, str, journalDir } = setup();
    await tick();
    server.close();
    // the previous sysbox-fs's listener as the fd store hands it back, with a journaled notification
    const fd = k.newListener();
    const name = 'seccomp:c1:1:9:x';
    const target = str('/t');
    writeFileSync(join(journalDir, name), JSON.stringify({ lastId: '9', inflight: [{ id: '9', pid: PID, syscall: 166, arch: 0xc000003e, args: [String(target), '0', '0', '0', '0', '0'] }] }));
    // 9 journaled; 11 received by the previous sysbox-fs after its last journal write
    (k as unknown as { pendingIds: Set<bigint> }).pendingIds.add(9n);
    (k as unknown as { pendingIds: Set<bigint> }).pendingIds.add(11n);
    k.resolved.set('/t', { mntId: 1n, devMajor: 0, devMinor: 1, attributes: 0x2000n });
    const successor = startSeccompServer({ kernel: k, log: pino({ level: 'silent' }), socketPath: '/nonexistent-dir/fs-seccomp2.sock', journalDir, emulation: () => undefined });
    successor.adopt(name, JSON.stringify({ containerId: 'c1', pid: PID, initPid: PID }), fd);
    await tick();
    expect(k.seccompResponses).toContainEqual({ id: 9n, continue: true });
    expect(k.seccompResponses).toContainEqual({ id: 11n, error: 4 });
    successor.close();
  });

  test("a successor answers EINTR to the newest id the vetting thread kept (the journal's first page), just past it and below it", async () => {
    const { k, server, journalDir } = setup();
    await tick();
    server.close();
    const fd = k.newListener();
    const name = 'seccomp:c1:1:10:x';
    // the JSON's lastId is older than what the vetting thread received and answered itself since
    const file = Buffer.alloc(4096 + 64, 0);
    file.writeBigUInt64LE(500n, 0);
    file.write(JSON.stringify({ lastId: '9', inflight: [] }).padEnd(64, ' '), 4096);
    writeFileSync(join(journalDir, name), file);
    // 500: received by the thread, which was killed while deciding it; 497: handed to the loop, never journaled;
    // 501: received after the thread's last store
    for (const id of [497n, 500n, 501n]) (k as unknown as { pendingIds: Set<bigint> }).pendingIds.add(id);
    const successor = startSeccompServer({ kernel: k, log: pino({ level: 'silent' }), socketPath: '/nonexistent-dir/fs-seccomp3.sock', journalDir, emulation: () => undefined });
    successor.adopt(name, JSON.stringify({ containerId: 'c1', pid: PID, initPid: PID }), fd);
    await tick();
    for (const id of [497n, 500n, 501n]) expect(k.seccompResponses).toContainEqual({ id, error: 4 });
    expect(k.seccompResponses.filter((r) => r.error === 4)).toHaveLength(3);
    successor.close();
  });

  test('isSeccompEntry tells its fd store entries from the FUSE ones', () => {
    expect(isSeccompEntry('seccomp-listen')).toBe(true);
    expect(isSeccompEntry('seccomp:c1:12:100')).toBe(true);
    expect(isSeccompEntry('c1')).toBe(false);
  });
});
