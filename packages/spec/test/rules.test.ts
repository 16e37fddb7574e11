import { describe, expect, test } from 'vitest';
import { SysboxSpecError } from '../src/errors.js';
import { applySysboxRules, isKnownHostNamespacePath, type NamespaceFacts } from '../src/rules.js';
import type { LinuxNamespaceType, Spec } from '../src/types.js';
import { fixture } from './helpers.js';

const PREFIX = 'error in the container spec: invalid or unsupported container spec: ';
const NS_MSG = (list: string) =>
  `${PREFIX}sysbox containers can't share namespaces [${list}] with the host (because they use the linux user-namespace for isolation)`;
const NET_MSG = `${PREFIX}sysbox containers can't share a network namespace with the host (because they use the linux user-namespace for isolation)`;

function withNs(ns: Array<{ type: LinuxNamespaceType; path?: string }>): Spec {
  return { ociVersion: '1.0.2', linux: { namespaces: ns } };
}
const ALL5 = (): Array<{ type: LinuxNamespaceType; path?: string }> => [
  { type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' },
];

describe('refusals of host namespaces (captured Docker configs)', () => {
  test.each([
    ['docker-pid-host', NS_MSG('pid')],
    ['docker-ipc-host', NS_MSG('ipc')],
    ['docker-uts-host', NS_MSG('uts')],
    ['docker-network-host', NET_MSG],
  ])('%s', (name, message) => {
    const spec = fixture(name);
    expect(() => applySysboxRules(spec)).toThrow(SysboxSpecError);
    expect(() => applySysboxRules(spec)).toThrow(message);
    try {
      applySysboxRules(spec);
    } catch (e) {
      expect((e as Error).message).toBe(message);
      expect((e as SysboxSpecError).code).toBe(name === 'docker-network-host' ? 'host-network' : 'host-namespace');
    }
  });
});

describe('namespace table', () => {
  const cases: Array<[string, Array<{ type: LinuxNamespaceType; path?: string }>, string | null]> = [
    ['all private', ALL5(), null],
    ['mount absent', ALL5().filter((n) => n.type !== 'mount'), NS_MSG('mount')],
    ['pid and ipc absent: one message, canonical order', ALL5().filter((n) => n.type !== 'pid' && n.type !== 'ipc'), NS_MSG('pid ipc')],
    ['pid, ipc, uts, mount absent', [{ type: 'network' }], NS_MSG('pid ipc uts mount')],
    ['no namespaces at all: the [..] message first', [], NS_MSG('pid ipc uts mount')],
    ['pid with a path (joined, unknown owner)', ALL5().map((n) => (n.type === 'pid' ? { ...n, path: '/proc/42/ns/pid' } : n)), NS_MSG('pid')],
    ['uts joined from host init', ALL5().map((n) => (n.type === 'uts' ? { ...n, path: '/proc/1/ns/uts' } : n)), NS_MSG('uts')],
    ['network absent', ALL5().filter((n) => n.type !== 'network'), NET_MSG],
    ['network at Docker host sandbox', ALL5().map((n) => (n.type === 'network' ? { ...n, path: '/var/run/docker/netns/default' } : n)), NET_MSG],
    ['network at /proc/1/ns/net', ALL5().map((n) => (n.type === 'network' ? { ...n, path: '/proc/1/ns/net' } : n)), NET_MSG],
    ['network at /proc/self/ns/net', ALL5().map((n) => (n.type === 'network' ? { ...n, path: '/proc/self/ns/net' } : n)), NET_MSG],
    ['network of another container', ALL5().map((n) => (n.type === 'network' ? { ...n, path: '/proc/8219/ns/net' } : n)), null],
    ['network with empty path = new', ALL5().map((n) => (n.type === 'network' ? { ...n, path: '' } : n)), null],
    ['pid host and network host: the [..] message', [{ type: 'ipc' }, { type: 'uts' }, { type: 'mount' }], NS_MSG('pid')],
  ];
  test.each(cases)('%s', (_what, ns, message) => {
    if (message === null) expect(() => applySysboxRules(withNs(ns))).not.toThrow();
    else expect(() => applySysboxRules(withNs(ns))).toThrow(message);
  });

  test('the caller-supplied stat check decides joined namespaces', () => {
    const joined = ALL5().map((n) => (n.type === 'network' || n.type === 'ipc' ? { ...n, path: `/proc/77/ns/${n.type === 'network' ? 'net' : 'ipc'}` } : n));
    expect(() => applySysboxRules(withNs(joined))).toThrow(NS_MSG('ipc'));
    expect(() => applySysboxRules(withNs(joined), { isHostNamespace: () => false })).not.toThrow();
    expect(() => applySysboxRules(withNs(joined), { isHostNamespace: (t) => (t === 'network' ? true : false) })).toThrow(NET_MSG);
    // undefined from the caller falls back to the built-in list
    const host = ALL5().map((n) => (n.type === 'network' ? { ...n, path: '/run/docker/netns/default' } : n));
    expect(() => applySysboxRules(withNs(host), { isHostNamespace: () => undefined })).toThrow(NET_MSG);
  });

  test.each([
    ['network', '/proc/1/ns/net', true],
    ['network', '/var/run/docker/netns/default', true],
    ['network', '/var/run/docker/netns/6b0587c4be3d', false],
    ['mount', '/proc/1/ns/mnt', true],
    ['mount', '/proc/1/ns/mount', false],
    ['pid', '/proc/thread-self/ns/pid', true],
    ['pid', '/proc/12/ns/pid', false],
  ] as const)('isKnownHostNamespacePath(%s, %s) = %s', (type, path, expected) => {
    expect(isKnownHostNamespacePath(type, path)).toBe(expected);
  });
});

describe('namespaces added', () => {
  test.each([
    ['docker-plain'],
    ['docker-userns-host'],
    ['docker-network-none'],
    ['docker-network-container'],
    ['docker-privileged'],
    ['containerd-plain'],
  ])('%s gets user and cgroup namespaces', (name) => {
    const input = fixture(name);
    const before = structuredClone(input);
    const { spec, changes } = applySysboxRules(input);
    const types = spec.linux!.namespaces!.map((n) => n.type);
    expect(types).toContain('user');
    expect(types).toContain('cgroup');
    expect(new Set(types).size).toBe(types.length);
    expect(changes).toEqual(['added a user namespace', 'added a cgroup namespace']);
    expect(input).toEqual(before); // pure
  });

  test('existing cgroup namespace kept', () => {
    const s = withNs([...ALL5(), { type: 'cgroup', path: '/proc/9/ns/cgroup' }]);
    const { spec, changes } = applySysboxRules(s);
    expect(spec.linux!.namespaces).toContainEqual({ type: 'cgroup', path: '/proc/9/ns/cgroup' });
    expect(spec.linux!.namespaces).toContainEqual({ type: 'user' });
    expect(changes).toEqual(['added a user namespace']);
  });

  test('nothing to add: no changes', () => {
    const { changes } = applySysboxRules(withNs([...ALL5(), { type: 'user' }, { type: 'cgroup' }]));
    expect(changes).toEqual([]);
  });
});

const OTHER_MSG = (list: string) => `${PREFIX}sysbox containers can't join namespaces [${list}] of another container yet (they belong to another user namespace)`;

describe('namespace paths: honoured or refused, never replaced', () => {
  const at = (type: LinuxNamespaceType, path: string) => withNs([...ALL5().filter((n) => n.type !== type), { type, path }]);
  // what sysbox-runc's inspector (NS_GET_NSTYPE, NS_GET_USERNS) would say about these made-up paths
  const FACTS: Record<string, NamespaceFacts> = {
    '/proc/1/ns/net': { type: 'network', isHost: true, ownedByHost: true },
    '/proc/1/ns/user': { type: 'user', isHost: true, ownedByHost: false },
    '/proc/50/ns/net': { type: 'network', isHost: false, ownedByHost: true }, // unshare --net on the host, or a runc container
    '/proc/50/ns/ipc': { type: 'ipc', isHost: false, ownedByHost: true },
    '/proc/50/ns/cgroup': { type: 'cgroup', isHost: false, ownedByHost: true },
    '/proc/50/ns/user': { type: 'user', isHost: false, ownedByHost: true }, // unshare --user on the host
    '/proc/60/ns/net': { type: 'network', isHost: false, ownedByHost: false }, // another system container
    '/proc/60/ns/pid': { type: 'pid', isHost: false, ownedByHost: false },
    '/proc/60/ns/user': { type: 'user', isHost: false, ownedByHost: true },
    '/proc/self/ns/uts': { type: 'uts', isHost: true, ownedByHost: true },
    '/proc/self/ns/ipc': { type: 'ipc', isHost: true, ownedByHost: true },
  };
  const inspectNamespace = (p: string) => FACTS[p];

  test.each([
    ['user at the host user namespace', at('user', '/proc/1/ns/user'), NS_MSG('user')],
    ['user at a user namespace made on the host', at('user', '/proc/50/ns/user'), OTHER_MSG('user')],
    ["user at another container's", at('user', '/proc/60/ns/user'), OTHER_MSG('user')],
    ['network made on the host (unshare, a runc container)', at('network', '/proc/50/ns/net'), NET_MSG],
    ['network of the host', at('network', '/proc/1/ns/net'), NET_MSG],
    ['network of another system container', at('network', '/proc/60/ns/net'), OTHER_MSG('network')],
    ['ipc made on the host', at('ipc', '/proc/50/ns/ipc'), NS_MSG('ipc')],
    ['pid of another system container', at('pid', '/proc/60/ns/pid'), OTHER_MSG('pid')],
    ['cgroup made on the host', at('cgroup', '/proc/50/ns/cgroup'), NS_MSG('cgroup')],
    ['host ones before other containers', withNs([{ type: 'pid', path: '/proc/60/ns/pid' }, { type: 'ipc', path: '/proc/50/ns/ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }]), NS_MSG('ipc')],
  ])('%s: refused', (_what, spec, message) => {
    expect(() => applySysboxRules(spec, { inspectNamespace })).toThrow(message);
    try {
      applySysboxRules(spec, { inspectNamespace });
    } catch (e) {
      expect((e as Error).message).toBe(message);
    }
  });

  test.each([
    ['user', '/proc/self/ns/uts', 'uts'],
    ['cgroup', '/proc/self/ns/ipc', 'ipc'],
  ] as const)('a %s namespace at %s (a %s namespace): refused as the wrong type, before anything runs', (type, path, actual) => {
    const spec = at(type, path);
    const i = spec.linux!.namespaces!.findIndex((n) => n.path === path);
    let err: unknown;
    try {
      applySysboxRules(spec, { inspectNamespace });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SysboxSpecError);
    expect((err as SysboxSpecError).code).toBe('namespace-path');
    expect((err as Error).message).toBe(`${PREFIX}linux.namespaces[${i}].path: ${path} is a ${actual} namespace, not a ${type} namespace`);
  });

  test('a user namespace path is never replaced by a fresh one (without an inspector too)', () => {
    expect(() => applySysboxRules(at('user', '/proc/9/ns/user'))).toThrow(OTHER_MSG('user'));
    expect(() => applySysboxRules(at('user', '/proc/1/ns/user'))).toThrow(NS_MSG('user'));
  });

  test('paths the inspector cannot open fall back to the stat check and the known host paths', () => {
    expect(() => applySysboxRules(at('network', '/var/run/docker/netns/default'), { inspectNamespace })).toThrow(NET_MSG);
    expect(() => applySysboxRules(at('network', '/var/run/netns/x'), { inspectNamespace })).not.toThrow();
    expect(() => applySysboxRules(at('pid', '/proc/77/ns/pid'), { inspectNamespace })).toThrow(NS_MSG('pid'));
  });

  test('with an inspector, the stat check is not asked', () => {
    let asked = 0;
    const isHostNamespace = () => {
      asked++;
      return false;
    };
    expect(() => applySysboxRules(at('ipc', '/proc/50/ns/ipc'), { inspectNamespace, isHostNamespace })).toThrow(NS_MSG('ipc'));
    expect(asked).toBe(0);
  });
});
