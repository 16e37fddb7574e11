// Root, the real kernel: device nodes made for the engine to bind in, and what a joined namespace is.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as spec from '@sysbox/spec';
import { afterAll, describe, expect, test } from 'vitest';
import { inspectNamespace, removeStagedDevices, stageDevices } from '../src/conformance.js';
import type { Context } from '../src/context.js';

const isRoot = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'runc-conformance-int-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RANGE = { uid: 200000, gid: 300000, size: 65536 };
const ctxWith = (devicesDir: string) => ({ config: { devicesDir } }) as unknown as Context;
const withDevices = (devices: spec.LinuxDevice[]): spec.Spec => ({ ociVersion: '1.0.2', linux: { devices } });
const TEST_DEVICES: spec.LinuxDevice[] = [
  { path: '/dev/null', type: 'c', major: 1, minor: 3 }, // the host has it: left to the engine
  { path: '/dev/sysbox-test1', type: 'c', major: 10, minor: 666, fileMode: 0o660, uid: 0, gid: 0 },
  { path: '/dev/sysbox-test2', type: 'b', major: 8, minor: 666, fileMode: 0o640, uid: 5, gid: 6 },
  { path: '/dev/sysbox-test3', type: 'p', fileMode: 0o600 },
];

describe.runIf(isRoot)('stageDevices (root)', () => {
  test('makes the nodes the host lacks: type, numbers, mode, owner shifted into the range; removable', () => {
    const base = join(dir, 'devices');
    const r = stageDevices(ctxWith(base), spec, withDevices(TEST_DEVICES), 'c1', RANGE)!;
    expect(r.dir).toBe(join(base, 'c1'));
    expect(r.stagedDevices).toEqual([1, 2, 3].map((i) => ({ path: TEST_DEVICES[i]!.path, source: join(base, 'c1', String(i)) })));
    const st = r.stagedDevices.map((d) => lstatSync(d.source));
    expect(st.map((s) => s.mode & 0o170000)).toEqual([0o020000, 0o060000, 0o010000]);
    expect(st.map((s) => s.mode & 0o7777)).toEqual([0o660, 0o640, 0o600]);
    expect(st.map((s) => [s.uid, s.gid])).toEqual([[200000, 300000], [200005, 300006], [200000, 300000]]);
    expect([Math.floor(st[0]!.rdev / 256) & 0xfff, st[0]!.rdev & 0xff]).toEqual([10, 154]); // 666 = 0x29a: low byte 0x9a
    expect(lstatSync(r.dir).mode & 0o777).toBe(0o711);
    removeStagedDevices(r.dir);
    expect(existsSync(r.dir)).toBe(false);
  });

  test('nothing to make: undefined, nothing created', () => {
    const base = join(dir, 'none');
    expect(stageDevices(ctxWith(base), spec, withDevices([TEST_DEVICES[0]!]), 'c2', RANGE)).toBeUndefined();
    expect(existsSync(base)).toBe(false);
  });

  test('an owner outside the range, or a nodev staging dir: refused naming the device, nothing left', () => {
    const base = join(dir, 'refused');
    const bad = withDevices([{ path: '/dev/sysbox-test4', type: 'c', major: 1, minor: 1, uid: 70000 }]);
    expect(() => stageDevices(ctxWith(base), spec, bad, 'c3', RANGE)).toThrow(
      "error in the container spec: invalid or unsupported container spec: linux.devices[0] (/dev/sysbox-test4): the host has no such device and sysbox-runc can't make it: uid 70000 is outside the container's 65536 IDs",
    );
    const nodev = join(dir, 'nodev');
    mkdirSync(nodev);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'nodev', 'tmpfs', nodev]);
    try {
      expect(() => stageDevices(ctxWith(nodev), spec, withDevices([TEST_DEVICES[1]!]), 'c4', RANGE)).toThrow(
        `linux.devices[0] (/dev/sysbox-test1): the host has no such device and sysbox-runc can't make it: ${nodev} is on a nodev mount`,
      );
      expect(existsSync(join(nodev, 'c4'))).toBe(false);
    } finally {
      execFileSync('umount', [nodev]);
    }
  });
});

describe.runIf(isRoot)('inspectNamespace (root)', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
  });
  /** A sleeping process in new namespaces (unshare --fork: its child holds them). */
  async function unshared(...flags: string[]): Promise<number> {
    const c = spawn('unshare', [...flags, '--fork', 'sleep', '300'], { stdio: 'ignore' });
    children.push(c);
    for (let i = 0; i < 100; i++) {
      try {
        const kids = execFileSync('pgrep', ['-P', String(c.pid)], { encoding: 'utf8' }).trim();
        if (kids) return Number(kids.split('\n')[0]);
      } catch {
        // not forked yet
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('unshare did not fork');
  }

  test("the host's own namespaces", () => {
    expect(inspectNamespace('/proc/self/ns/net')).toEqual({ type: 'network', isHost: true, ownedByHost: true });
    expect(inspectNamespace(`/proc/${process.pid}/ns/mnt`)).toEqual({ type: 'mount', isHost: true, ownedByHost: true });
    expect(inspectNamespace('/proc/self/ns/user')).toEqual({ type: 'user', isHost: true, ownedByHost: false });
  });

  test('namespaces made on the host (unshare): owned by the host, not its own; the real type of a path', async () => {
    const pid = await unshared('--net', '--ipc');
    expect(inspectNamespace(`/proc/${pid}/ns/net`)).toEqual({ type: 'network', isHost: false, ownedByHost: true });
    expect(inspectNamespace(`/proc/${pid}/ns/ipc`)).toEqual({ type: 'ipc', isHost: false, ownedByHost: true });
    expect(inspectNamespace(`/proc/${pid}/ns/uts`)).toEqual({ type: 'uts', isHost: true, ownedByHost: true });
  });

  test("namespaces of another user namespace (as another container's are)", async () => {
    const pid = await unshared('--user', '--map-root-user', '--net');
    expect(inspectNamespace(`/proc/${pid}/ns/net`)).toEqual({ type: 'network', isHost: false, ownedByHost: false });
    expect(inspectNamespace(`/proc/${pid}/ns/user`)).toEqual({ type: 'user', isHost: false, ownedByHost: true });
  });

  test('not a namespace, or missing: undefined', () => {
    expect(inspectNamespace('/proc/self/status')).toBeUndefined();
    expect(inspectNamespace('/nonexistent')).toBeUndefined();
  });
});
