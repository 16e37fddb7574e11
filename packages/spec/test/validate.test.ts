import { describe, expect, test } from 'vitest';
import { SpecError, formatProblem } from '../src/errors.js';
import type { Spec } from '../src/types.js';
import { parseSpec, validateSpec } from '../src/validate.js';
import { FIXTURES, fixture, fixtureText } from './helpers.js';

// biome-ignore lint: tests poke at arbitrary shapes
type Any = any;

describe('captured configs are accepted', () => {
  test.each(Object.keys(FIXTURES))('%s', (name) => {
    const r = validateSpec(fixture(name));
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([]);
    expect(parseSpec(fixtureText(name))).toEqual(FIXTURES[name]);
  });

  test('a minimal spec and a 1.2 spec with ID-mapped mounts', () => {
    expect(validateSpec({ ociVersion: '1.0.0' }).ok).toBe(true);
    const s: Spec = {
      ociVersion: '1.2.0',
      process: { user: { uid: 0, gid: 0, umask: 18 }, cwd: '/', args: ['sh'], ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 4 } },
      root: { path: 'rootfs' },
      mounts: [{ destination: '/data', source: '/srv', type: 'bind', options: ['rbind', 'idmap'], uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] }],
      hooks: { createRuntime: [{ path: '/bin/true', timeout: 5 }] },
      linux: {
        namespaces: [{ type: 'user' }, { type: 'time' }],
        uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
        timeOffsets: { monotonic: { secs: 10, nanosecs: 0 } },
        seccomp: { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/x.sock', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_NOTIFY' }] },
        resources: { unified: { 'memory.high': '1G' }, devices: [{ allow: true, type: 'c', major: null, minor: null, access: 'm' }] },
      },
    };
    const r = validateSpec(s);
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([]);
  });
});

// [what, mutation of Docker's plain config, expected path, expected message part]
const MALFORMED: Array<[string, (s: Any) => unknown, string, string]> = [
  ['not an object', () => 42, '', 'expected a JSON object, got 42'],
  ['an array', () => [], '', 'expected a JSON object, got an array'],
  ['null', () => null, '', 'expected a JSON object, got null'],
  ['ociVersion missing', (s) => { delete s.ociVersion; }, 'ociVersion', 'required field missing'],
  ['ociVersion a number', (s) => { s.ociVersion = 1; }, 'ociVersion', 'expected a string'],
  ['ociVersion 2.0.0', (s) => { s.ociVersion = '2.0.0'; }, 'ociVersion', 'unsupported version "2.0.0"'],
  ['process a string', (s) => { s.process = 'sh'; }, 'process', 'expected an object'],
  ['process.user missing', (s) => { delete s.process.user; }, 'process.user', 'required field missing'],
  ['process.user.uid negative', (s) => { s.process.user.uid = -1; }, 'process.user.uid', 'must be >= 0'],
  ['process.user.uid too big', (s) => { s.process.user.uid = 2 ** 32; }, 'process.user.uid', 'must be <= 4294967295'],
  ['process.user.gid fractional', (s) => { s.process.user.gid = 1.5; }, 'process.user.gid', 'expected an integer'],
  ['process.user.additionalGids[0] string', (s) => { s.process.user.additionalGids = ['0']; }, 'process.user.additionalGids[0]', 'expected an integer'],
  ['process.args not array', (s) => { s.process.args = 'true'; }, 'process.args', 'expected an array'],
  ['process.args[1] number', (s) => { s.process.args = ['echo', 1]; }, 'process.args[1]', 'expected a string'],
  ['process.env[0] object', (s) => { s.process.env[0] = {}; }, 'process.env[0]', 'expected a string'],
  ['process.cwd missing', (s) => { delete s.process.cwd; }, 'process.cwd', 'required field missing'],
  ['process.cwd relative', (s) => { s.process.cwd = 'tmp'; }, 'process.cwd', 'must be an absolute path'],
  ['process.terminal string', (s) => { s.process.terminal = 'yes'; }, 'process.terminal', 'expected a boolean'],
  ['capability name bad', (s) => { s.process.capabilities.bounding[2] = 'chown'; }, 'process.capabilities.bounding[2]', 'invalid capability "chown"'],
  ['capabilities.effective not array', (s) => { s.process.capabilities.effective = 'CAP_CHOWN'; }, 'process.capabilities.effective', 'expected an array'],
  ['rlimit type', (s) => { s.process.rlimits = [{ type: 'NOFILE', hard: 1, soft: 1 }]; }, 'process.rlimits[0].type', 'unknown rlimit "NOFILE"'],
  ['rlimit hard missing', (s) => { s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1 }]; }, 'process.rlimits[0].hard', 'required field missing'],
  ['oomScoreAdj out of range', (s) => { s.process.oomScoreAdj = 1001; }, 'process.oomScoreAdj', 'must be <= 1000'],
  ['scheduler policy', (s) => { s.process.scheduler = { policy: 'SCHED_FAST' }; }, 'process.scheduler.policy', 'unknown scheduler policy'],
  ['consoleSize width', (s) => { s.process.consoleSize = { height: 1, width: 'x' }; }, 'process.consoleSize.width', 'expected an integer'],
  ['root.path missing', (s) => { s.root = {}; }, 'root.path', 'required field missing'],
  ['root.path empty', (s) => { s.root.path = ''; }, 'root.path', 'must not be empty'],
  ['root.readonly string', (s) => { s.root.readonly = 'true'; }, 'root.readonly', 'expected a boolean'],
  ['hostname number', (s) => { s.hostname = 7; }, 'hostname', 'expected a string'],
  ['mounts object', (s) => { s.mounts = {}; }, 'mounts', 'expected an array'],
  ['mount destination missing', (s) => { delete s.mounts[3].destination; }, 'mounts[3].destination', 'required field missing'],
  ['mount destination relative', (s) => { s.mounts[0].destination = 'proc'; }, 'mounts[0].destination', 'must be an absolute path'],
  ['mount options[1] number', (s) => { s.mounts[1].options[1] = 3; }, 'mounts[1].options[1]', 'expected a string'],
  ['mount is a string', (s) => { s.mounts[2] = '/dev/pts'; }, 'mounts[2]', 'expected an object'],
  ['mount uidMappings without gidMappings', (s) => { s.mounts[0].uidMappings = [{ containerID: 0, hostID: 1, size: 1 }]; }, 'mounts[0]', 'needs both uidMappings and gidMappings'],
  ['hook kind unknown', (s) => { s.hooks.prestartt = []; }, 'hooks.prestartt', 'unknown hook kind'],
  ['hook path relative', (s) => { s.hooks.prestart[0].path = 'dockerd'; }, 'hooks.prestart[0].path', 'must be an absolute path'],
  ['hook timeout 0', (s) => { s.hooks.prestart[0].timeout = 0; }, 'hooks.prestart[0].timeout', 'must be >= 1'],
  ['annotation value number', (s) => { s.annotations = { a: 1 }; }, 'annotations.a', 'expected a string'],
  ['linux a string', (s) => { s.linux = 'yes'; }, 'linux', 'expected an object'],
  ['unknown namespace', (s) => { s.linux.namespaces[2].type = 'foo'; }, 'linux.namespaces[2].type', 'unknown namespace "foo"'],
  ['namespace type missing', (s) => { s.linux.namespaces[0] = {}; }, 'linux.namespaces[0].type', 'required field missing'],
  ['duplicate namespace', (s) => { s.linux.namespaces.push({ type: 'pid' }); }, 'linux.namespaces[5].type', 'duplicate namespace "pid"'],
  ['namespace path relative', (s) => { s.linux.namespaces[1].path = 'netns'; }, 'linux.namespaces[1].path', 'must be an absolute path'],
  ['uid mapping without user namespace', (s) => { s.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }]; }, 'linux.uidMappings', 'require a user namespace'],
  ['uid mapping size 0', (s) => { s.linux.namespaces.push({ type: 'user' }); s.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 0 }]; }, 'linux.uidMappings[0].size', 'must be > 0'],
  ['gid mapping hostID missing', (s) => { s.linux.namespaces.push({ type: 'user' }); s.linux.gidMappings = [{ containerID: 0, size: 1 }]; }, 'linux.gidMappings[0].hostID', 'required field missing'],
  ['sysctl value number', (s) => { s.linux.sysctl['net.ipv4.ip_forward'] = 1; }, 'linux.sysctl["net.ipv4.ip_forward"]', 'expected a string'],
  ['device type x', (s) => { s.linux.devices = [{ path: '/dev/x', type: 'x', major: 1, minor: 1 }]; }, 'linux.devices[0].type', 'unknown device type "x"'],
  ['device major missing', (s) => { s.linux.devices = [{ path: '/dev/x', type: 'c', minor: 1 }]; }, 'linux.devices[0].major', 'required field missing'],
  ['device path relative', (s) => { s.linux.devices = [{ path: 'dev/x', type: 'p' }]; }, 'linux.devices[0].path', 'must be an absolute path'],
  ['device cgroup allow missing', (s) => { delete s.linux.resources.devices[1].allow; }, 'linux.resources.devices[1].allow', 'required field missing'],
  ['device cgroup access', (s) => { s.linux.resources.devices[0].access = 'rwx'; }, 'linux.resources.devices[0].access', 'invalid access "rwx"'],
  ['memory limit string', (s) => { s.linux.resources.memory.limit = '256m'; }, 'linux.resources.memory.limit', 'expected an integer'],
  ['cpu shares negative', (s) => { s.linux.resources.cpu.shares = -5; }, 'linux.resources.cpu.shares', 'must be >= 0'],
  ['pids limit missing', (s) => { s.linux.resources.pids = {}; }, 'linux.resources.pids.limit', 'required field missing'],
  ['blockIO weight too big', (s) => { s.linux.resources.blockIO.weight = 5000; }, 'linux.resources.blockIO.weight', 'must be <= 1000'],
  ['hugepage pageSize missing', (s) => { s.linux.resources.hugepageLimits = [{ limit: 1 }]; }, 'linux.resources.hugepageLimits[0].pageSize', 'required field missing'],
  ['seccomp defaultAction unknown', (s) => { s.linux.seccomp.defaultAction = 'SCMP_ACT_MAYBE'; }, 'linux.seccomp.defaultAction', 'unknown seccomp action'],
  ['seccomp defaultAction missing', (s) => { delete s.linux.seccomp.defaultAction; }, 'linux.seccomp.defaultAction', 'required field missing'],
  ['seccomp architecture', (s) => { s.linux.seccomp.architectures[1] = 'x86'; }, 'linux.seccomp.architectures[1]', 'invalid architecture "x86"'],
  ['seccomp rule action', (s) => { s.linux.seccomp.syscalls[3].action = 'ALLOW'; }, 'linux.seccomp.syscalls[3].action', 'unknown seccomp action "ALLOW"'],
  ['seccomp rule names empty', (s) => { s.linux.seccomp.syscalls[0].names = []; }, 'linux.seccomp.syscalls[0].names', 'at least one syscall'],
  ['seccomp rule names missing', (s) => { delete s.linux.seccomp.syscalls[0].names; }, 'linux.seccomp.syscalls[0].names', 'required field missing'],
  ['seccomp syscall name', (s) => { s.linux.seccomp.syscalls[0].names[4] = 'Mount!'; }, 'linux.seccomp.syscalls[0].names[4]', 'invalid syscall name'],
  ['seccomp arg index 6', (s) => { s.linux.seccomp.syscalls[2].args[0].index = 6; }, 'linux.seccomp.syscalls[2].args[0].index', 'must be <= 5'],
  ['seccomp arg op', (s) => { s.linux.seccomp.syscalls[2].args[0].op = '=='; }, 'linux.seccomp.syscalls[2].args[0].op', 'unknown seccomp operator'],
  ['seccomp notify without listener', (s) => { s.linux.seccomp.syscalls.push({ names: ['mount'], action: 'SCMP_ACT_NOTIFY' }); }, 'linux.seccomp.listenerPath', 'required when a rule uses SCMP_ACT_NOTIFY'],
  ['rootfsPropagation', (s) => { s.linux.rootfsPropagation = 'privatee'; }, 'linux.rootfsPropagation', 'unknown propagation'],
  ['maskedPaths relative', (s) => { s.linux.maskedPaths[0] = 'proc/kcore'; }, 'linux.maskedPaths[0]', 'must be an absolute path'],
  ['readonlyPaths not array', (s) => { s.linux.readonlyPaths = '/proc/sys'; }, 'linux.readonlyPaths', 'expected an array'],
  ['cgroupsPath number', (s) => { s.linux.cgroupsPath = 12; }, 'linux.cgroupsPath', 'expected a string'],
  ['personality domain', (s) => { s.linux.personality = { domain: 'LINUX64' }; }, 'linux.personality.domain', 'unknown personality domain'],
];

describe('malformed configs are rejected with a path-bearing message', () => {
  test(`there are at least 40 cases (${MALFORMED.length})`, () => {
    expect(MALFORMED.length).toBeGreaterThanOrEqual(40);
  });

  test.each(MALFORMED)('%s', (_what, mutate, path, message) => {
    const s = fixture('docker-plain') as Any;
    const replaced = mutate(s);
    const value = replaced === undefined ? s : replaced;
    const r = validateSpec(value);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const hit = r.problems.find((p) => p.path === path);
    expect(hit, `problems: ${r.problems.map(formatProblem).join(' | ')}`).toBeDefined();
    expect(hit!.message).toContain(message);
    // parseSpec reports the same through SpecError
    let err: unknown;
    try {
      parseSpec(JSON.stringify(value));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).problems).toEqual(r.problems);
    expect((err as SpecError).message).toContain(path === '' ? 'config.json' : path);
  });
});

describe('validateSpec reports every problem', () => {
  test('three problems at once, in document order', () => {
    const s = fixture('docker-plain') as Any;
    s.process.cwd = 'x';
    s.linux.namespaces[2].type = 'foo';
    s.linux.seccomp.defaultAction = 'nope';
    const r = validateSpec(s);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map(formatProblem)).toEqual([
      'process.cwd: must be an absolute path, got "x"',
      'linux.namespaces[2].type: unknown namespace "foo"',
      'linux.seccomp.defaultAction: unknown seccomp action "nope"',
    ]);
  });
});

describe('parseSpec', () => {
  test('one problem: the message is that problem', () => {
    const s = fixture('docker-plain') as Any;
    s.linux.namespaces[2].type = 'foo';
    expect(() => parseSpec(JSON.stringify(s))).toThrow(new SpecError([{ path: 'linux.namespaces[2].type', message: 'unknown namespace "foo"' }]));
    try {
      parseSpec(JSON.stringify(s));
    } catch (e) {
      expect((e as Error).message).toBe('linux.namespaces[2].type: unknown namespace "foo"');
      expect((e as Error).name).toBe('SpecError');
    }
  });

  test('several problems: a one-line summary', () => {
    const s = fixture('docker-plain') as Any;
    s.process.cwd = 'x';
    s.hostname = 1;
    s.linux.cgroupsPath = 2;
    s.linux.maskedPaths = 3;
    try {
      parseSpec(JSON.stringify(s));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SpecError);
      const msg = (e as Error).message;
      expect(msg).toMatch(/^config\.json: 4 problems: process\.cwd: must be an absolute path, got "x"; hostname: expected a string, got 1; /);
      expect(msg).toContain('(and 1 more)');
      expect(msg).not.toContain('\n');
    }
  });

  test.each([
    ['', 'config.json: invalid JSON: '],
    ['{', 'config.json: invalid JSON: '],
    ['{"ociVersion": "1.0.2",}', 'config.json: invalid JSON: '],
    ['\u0000', 'config.json: invalid JSON: '],
  ])('malformed JSON %j', (text, prefix) => {
    expect(() => parseSpec(text)).toThrow(SpecError);
    try {
      parseSpec(text);
    } catch (e) {
      expect((e as Error).message.startsWith(prefix)).toBe(true);
      expect((e as SpecError).problems).toHaveLength(1);
    }
  });

  test('non-string input and deep nesting still give SpecError', () => {
    expect(() => parseSpec(undefined as unknown as string)).toThrow(SpecError);
    expect(() => parseSpec('['.repeat(200_000) + ']'.repeat(200_000))).toThrow(SpecError);
  });

  test('exotic in-memory values (throwing getters, revoked proxies) give problems, not exceptions', () => {
    const getter = { get ociVersion() { throw new Error('boom'); } };
    const r1 = validateSpec(getter);
    expect(r1.ok).toBe(false);
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const r2 = validateSpec(proxy);
    expect(r2.ok).toBe(false);
  });
});
