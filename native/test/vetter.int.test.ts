// The vetting thread (SeccompNotify.vetter) against the real kernel: the vetting probe (csrc/test/vetting-probe.c,
// `notify-loop`) traps its own mount/umount2 calls and hands the listener over a unix socket, as runc does; the
// thread answers what its table matches and gives JS the rest with the arguments copied and the target looked up.
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realKernel, AUDIT_ARCH_X86_64, MNT_DETACH, MS_BIND, MS_REMOUNT, TMPFS_MAGIC, UMOUNT_NOFOLLOW, type SeccompNotification, type VetTable, type Vetter } from '../src/index.js';
import { nsenterPath } from '../src/index.js';

const k = realKernel();
const isRoot = process.getuid?.() === 0;
const PROBE = join(nsenterPath(), '..', 'vetting-probe');

/** A mount rule and an umount2 rule like @sysbox/syscall-vetting's (the mechanism under test, not those rules). */
function table(o: { umountNotTmpfs?: boolean } = {}): VetTable {
  return {
    calls: [
      { arch: AUDIT_ARCH_X86_64, nr: 165, pointers: [0, 1, 2, 4], long32: false },
      { arch: AUDIT_ARCH_X86_64, nr: 166, pointers: [0], long32: false },
    ],
    rules: [
      { index: 0, arch: AUDIT_ARCH_X86_64, nr: 165, flagsArg: 3, flagsClear: MS_BIND | MS_REMOUNT, strings: [{ arg: 2, not: ['proc'] }, { arg: 0 }, { arg: 1 }], readable: 4, target: 1, noFollow: 0, mountRoot: false, fsTypesNot: [], fsTypesUnless: 0 },
      { index: 1, arch: AUDIT_ARCH_X86_64, nr: 166, flagsArg: 1, flagsClear: ~0xf >>> 0, strings: [{ arg: 0 }], readable: -1, target: 0, noFollow: UMOUNT_NOFOLLOW, mountRoot: true, fsTypesNot: o.umountNotTmpfs ? [TMPFS_MAGIC] : [], fsTypesUnless: MNT_DETACH },
    ],
  };
}

interface Round {
  out: string;
  handed: SeccompNotification[];
  lastId: bigint;
  closed: boolean;
}

/** Runs `vetting-probe notify-loop pairs dir sock` (in a mount namespace of its own); JS answers CONTINUE to what it is given. */
async function round(v: Vetter, pairs: number, o: { arm?: () => void } = {}): Promise<Round> {
  const dir = mkdtempSync(join(tmpdir(), 'sbx-vetter-'));
  const target = join(dir, 't');
  mkdirSync(target);
  const sock = join(dir, 's.sock');
  const lfd = k.listenUnix(sock, 4);
  const handed: SeccompNotification[] = [];
  let closed = false;
  const child = spawn('unshare', ['-m', '--propagation', 'private', PROBE, 'notify-loop', String(pairs), target, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  const conn = await k.accept(lfd);
  const { fds, data } = await k.recvFds(conn, 2, 4096);
  k.close(conn);
  k.close(lfd);
  expect(JSON.parse(data.toString()).state.id).toBe('probe');
  const listener = fds[0]!;
  const journal = join(dir, 'journal');
  const jfd = openSync(journal, 'w+');
  o.arm?.();
  let done!: () => void;
  const hung = new Promise<void>((r) => (done = r));
  const w = v.watch(
    listener,
    (n) => {
      handed.push(n);
      k.seccompNotify.respond(listener, { id: n.id, continue: true });
    },
    () => {
      closed = true;
      done();
    },
    { lastIdFd: jfd },
  );
  closeSync(jfd);
  await exited;
  await hung; // the listener hangs up once the probe is gone
  w.close();
  k.close(listener);
  const lastId = readFileSync(journal).readBigUInt64LE(0);
  rmSync(dir, { recursive: true, force: true });
  return { out: out.trim(), handed, lastId, closed };
}

describe.runIf(isRoot)('vetting thread (root)', () => {
  beforeAll(() => {
    execFileSync('make', ['-s', '-C', join(__dirname, '..', 'csrc'), 'test-helpers']);
  });

  it('armed: answers every tmpfs mount and its umount itself; counts them per rule; keeps the newest id', async () => {
    const v = k.seccompNotify.vetter(table(), { timing: true });
    v.setDevs([]);
    const r = await round(v, 200);
    expect(r.out).toMatch(/^loop pairs=200 failures=0/);
    expect(r.handed).toEqual([]);
    const st = v.stats();
    expect(st).toMatchObject({ received: 400, handed: 0, continued: [200, 200], stale: 0 });
    expect(st.ns!.answered).toBe(400);
    expect(st.ns!.lookup).toBeGreaterThan(0);
    expect(r.lastId).not.toBe(0n);
    expect(r.closed).toBe(true);
    v.close();
  });

  it('unarmed (the protected file systems not given yet): everything to JS, with the memory copied and the target looked up', async () => {
    const v = k.seccompNotify.vetter(table());
    const r = await round(v, 3);
    expect(r.out).toMatch(/^loop pairs=3 failures=0/);
    expect(r.handed).toHaveLength(6);
    const [m, u] = r.handed as [SeccompNotification, SeccompNotification];
    expect(m.syscall).toBe(165);
    const copy = (n: SeccompNotification, arg: number) => n.memory!.find((x) => x.address === n.args[arg])!.bytes;
    const cstr = (b: Buffer) => b.subarray(0, b.indexOf(0)).toString('latin1');
    expect(cstr(copy(m, 0))).toBe('none');
    expect(cstr(copy(m, 2))).toBe('tmpfs');
    const target = cstr(copy(m, 1));
    expect(target).toMatch(/\/t$/);
    expect(m.memory!.every((x) => x.bytes.length > 0 && x.bytes.length <= 4096)).toBe(true);
    expect(m.memory!.some((x) => x.address === 0n)).toBe(false); // data is NULL: not copied
    // the target as the caller sees it: a directory on the scratch dir's file system, not a mount root
    const st = statSync(tmpdir());
    expect(m.lookup).toMatchObject({ path: target, follow: true, mountRoot: false });
    expect(`${m.lookup!.devMajor}:${m.lookup!.devMinor}`).toBe(`${Math.floor(st.dev / 256)}:${st.dev % 256}`);
    // the umount's target: the root of the tmpfs just mounted
    expect(u.syscall).toBe(166);
    expect(u.lookup).toMatchObject({ path: target, mountRoot: true });
    expect(v.stats()).toMatchObject({ received: 6, handed: 6, continued: [0, 0] });
    v.close();
  });

  it("a protected file system's, or a type the rule refuses: to JS (the mount on the scratch file system, the tmpfs umount)", async () => {
    const v = k.seccompNotify.vetter(table({ umountNotTmpfs: true }));
    let dev = '';
    const r = await round(v, 5, {
      arm: () => {
        // the file system the probe's target directory is on (its parent's)
        const st = statSync(tmpdir());
        dev = `${Math.floor(st.dev / 256)}:${st.dev % 256}`;
        v.setDevs([dev]);
      },
    });
    expect(r.out).toMatch(/^loop pairs=5 failures=0/);
    expect(r.handed.filter((n) => n.syscall === 165)).toHaveLength(5);
    const umounts = r.handed.filter((n) => n.syscall === 166);
    expect(umounts).toHaveLength(5);
    expect(umounts[0]!.lookup).toMatchObject({ mountRoot: true, fsType: TMPFS_MAGIC });
    expect(v.stats().continued).toEqual([0, 0]);
    v.close();
  });

  it('a malformed table is refused; close is idempotent and a closed vetter watches nothing', () => {
    expect(() => k.seccompNotify.vetter({ calls: [], rules: [{ ...table().rules[0]!, target: 9 }] })).toThrow(/malformed/);
    const v = k.seccompNotify.vetter(table());
    v.close();
    v.close();
    const [a, b] = k.socketpair();
    expect(() => v.watch(a, () => undefined, () => undefined)).toThrow();
    k.close(a);
    k.close(b);
  });
});
