import { describe, expect, test } from 'vitest';
import { SysboxSpecError } from '../src/errors.js';
import { convertSpec } from '../src/modifiers/index.js';
import { validateSpec } from '../src/validate.js';
import { CTX, FIXTURES, fixture } from './helpers.js';

const REFUSED: Record<string, string> = {
  'docker-pid-host': '[pid]',
  'docker-ipc-host': '[ipc]',
  'docker-uts-host': '[uts]',
  'docker-pid-container': '[pid]', // joined pid namespace of unknown owner: refused without a stat check
  'docker-network-host': 'a network namespace',
};

const CONVERTED = Object.keys(FIXTURES).filter((n) => !(n in REFUSED));

describe('convertSpec on every captured config', () => {
  test.each(Object.keys(REFUSED))('%s is refused', (name) => {
    expect(() => convertSpec(fixture(name), CTX)).toThrow(SysboxSpecError);
    expect(() => convertSpec(fixture(name), CTX)).toThrow(REFUSED[name]);
  });

  test.each(CONVERTED)('%s converts into a spec that still validates', (name) => {
    const input = fixture(name);
    const before = structuredClone(input);
    const ctx = { ...CTX, rootfs: '/var/lib/sysbox/rootfs/x/merged', emulatedPaths: ['/proc/sys', '/proc/uptime'] };
    const { spec, changes } = convertSpec(input, ctx);
    const r = validateSpec(spec);
    expect(r.ok ? [] : r.problems).toEqual([]);
    expect(input).toEqual(before);

    const linux = spec.linux!;
    const types = linux.namespaces!.map((n) => n.type).sort();
    expect(types).toEqual(['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']);
    expect(linux.uidMappings).toEqual([{ containerID: 0, hostID: 165536, size: 65536 }]);
    expect(linux.gidMappings).toEqual([{ containerID: 0, hostID: 165536, size: 65536 }]);
    expect(spec.root!.path).toBe('/var/lib/sysbox/rootfs/x/merged');
    const caps = spec.process!.capabilities!;
    for (const set of Object.values(caps)) expect(set).not.toContain('CAP_SYS_RESOURCE');
    expect((linux.devices ?? []).length).toBeLessThanOrEqual(6 + 1);
    expect(linux.resources!.devices![0]).toEqual({ allow: false, access: 'rwm' });
    expect(linux.readonlyPaths).not.toContain('/proc/sys');
    expect(linux.maskedPaths).toContain('/proc/kcore');
    expect(linux.seccomp).toBeDefined();
    expect(changes.some((c) => c.startsWith('idmap: '))).toBe(true);
    expect(changes.some((c) => c.startsWith('capabilities: '))).toBe(true);
  });

  test('the network of another container is kept as is', () => {
    const { spec } = convertSpec(fixture('docker-network-container'), CTX);
    expect(spec.linux!.namespaces).toContainEqual({ type: 'network', path: '/proc/8219/ns/net' });
  });

  test('the ctx stat check can allow a joined pid namespace (pods)', () => {
    expect(() => convertSpec(fixture('docker-pid-container'), { ...CTX, isHostNamespace: () => false })).not.toThrow();
  });

  test('--privileged: still contained', () => {
    const { spec, changes } = convertSpec(fixture('docker-privileged'), CTX);
    expect(spec.linux!.devices!.map((d) => d.path).sort()).toEqual(['/dev/full', '/dev/null', '/dev/random', '/dev/tty', '/dev/urandom', '/dev/zero']);
    expect(spec.linux!.seccomp!.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(changes.join('\n')).toContain('privileged');
  });
});

describe('per-container switches in convertSpec', () => {
  const env = (name: string, ...vars: string[]) => {
    const s = fixture(name);
    s.process!.env = [...(s.process!.env ?? []), ...vars];
    return s;
  };

  test('SYSBOX_HONOR_CAPS=TRUE: the capabilities of config.json, the rest still a system container', () => {
    const input = env('docker-plain', 'SYSBOX_HONOR_CAPS=TRUE');
    const { spec, changes } = convertSpec(input, { ...CTX, emulatedPaths: ['/proc/sys'] });
    expect(spec.process!.capabilities).toEqual(input.process!.capabilities);
    expect(spec.linux!.readonlyPaths).not.toContain('/proc/sys');
    expect(changes).toContain('capabilities: uid 0: capabilities as config.json gives them (honour-caps)');
  });

  test('the config default (ctx.honorCaps) and its override by the container', () => {
    const plain = fixture('docker-plain');
    expect(convertSpec(plain, { ...CTX, honorCaps: true }).spec.process!.capabilities).toEqual(plain.process!.capabilities);
    const off = env('docker-plain', 'SYSBOX_HONOR_CAPS=FALSE');
    expect(convertSpec(off, { ...CTX, honorCaps: true }).spec.process!.capabilities!.effective).toEqual(CTX.hostCapabilities);
  });

  test.each(['docker-plain', 'docker-privileged', 'docker-seccomp-unconfined'])(
    '%s with SYSBOX_SYSCONT_MODE=FALSE: as runc runs it, plus user and cgroup namespaces and the range',
    (name) => {
      const input = env(name, 'SYSBOX_SYSCONT_MODE=FALSE');
      const ctx = { ...CTX, rootfs: '/var/lib/sysbox/rootfs/x/merged', emulatedPaths: ['/proc/sys'], attachHooks: { path: '/h', socket: '/s' } };
      const { spec, changes } = convertSpec(input, ctx);
      const types = spec.linux!.namespaces!.map((n) => n.type).sort();
      expect(types).toEqual(['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']);
      expect(spec.linux!.uidMappings).toEqual([{ containerID: 0, hostID: 165536, size: 65536 }]);
      expect(spec.root!.path).toBe('/var/lib/sysbox/rootfs/x/merged');
      // untouched: capabilities, devices, masked and read-only paths, the cgroup mount, seccomp, hooks
      expect(spec.process!.capabilities).toEqual(input.process!.capabilities);
      expect(spec.mounts!.filter((m) => m.type === 'cgroup')).toEqual(input.mounts!.filter((m) => m.type === 'cgroup'));
      expect(spec.linux!.devices).toEqual(input.linux!.devices);
      expect(spec.linux!.resources!.devices).toEqual(input.linux!.resources!.devices);
      expect(spec.linux!.maskedPaths).toEqual(input.linux!.maskedPaths);
      expect(spec.linux!.readonlyPaths).toEqual(input.linux!.readonlyPaths);
      expect(spec.linux!.seccomp).toEqual(input.linux!.seccomp);
      expect(spec.hooks).toEqual(input.hooks);
      expect(changes).toContain('mode: regular container (no devices, paths, cgroups, systemd, seccomp, hooks changes)');
    },
  );

  test('regular mode still refuses the host namespaces', () => {
    expect(() => convertSpec(env('docker-pid-host', 'SYSBOX_SYSCONT_MODE=FALSE'), CTX)).toThrow('[pid]');
  });

  test('an invalid switch is refused', () => {
    expect(() => convertSpec(env('docker-plain', 'SYSBOX_SYSCONT_MODE=no'), CTX)).toThrow(SysboxSpecError);
  });
});
