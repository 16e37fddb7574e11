import { describe, expect, it } from 'vitest';
import {
  applyAdminPolicy,
  bindMounts,
  bindsToStage,
  checkMounts,
  decideMount,
  defaultPolicy,
  imageAllowed,
  needsImage,
  normalizeImage,
  parseAdminPolicy,
  PolicyFileError,
  RestrictedMountError,
  specialDirsFor,
  wantsIdmap,
  type MountCandidate,
  type OciMount,
} from '../src/index.js';

const ID = 'abc123';
const cand = (source: string, resolved = source, readonly = false, index = 0): MountCandidate => ({ index, destination: '/mnt', source, resolved, readonly });
const decide = (c: MountCandidate, ctx: { image?: string } = {}, policy = defaultPolicy()) => decideMount(c, policy, { containerId: ID, ...ctx });

describe('restricted host paths', () => {
  it('refuses /etc/docker/daemon.json with the exact message', () => {
    expect(() => checkMounts([cand('/etc/docker/daemon.json')], defaultPolicy(), { containerId: ID })).toThrow(RestrictedMountError);
    try {
      checkMounts([cand('/etc/docker/daemon.json')], defaultPolicy(), { containerId: ID });
    } catch (e) {
      expect((e as Error).message).toBe("error in the container spec: can't mount /etc/docker/daemon.json because it's configured as a restricted host mount");
    }
  });

  it('catches a symlink and `..` into a restricted path, naming the resolved path', () => {
    const d = decide(cand('/tmp/link', '/etc/docker/daemon.json'));
    expect(d.allowed).toBe(false);
    expect(() => checkMounts([cand('/tmp/link', '/etc/docker/daemon.json')], defaultPolicy(), { containerId: ID })).toThrow(/can't mount \/etc\/docker\/daemon.json because/);
    expect(decide(cand('/etc/x/../docker', '/etc/docker')).allowed).toBe(false);
    expect(decide(cand('/etc/x/../docker/', '/nonexistent')).allowed).toBe(false); // lexical too
  });

  it('names the source as written when it is itself restricted', () => {
    expect(() => checkMounts([cand('/var/run/docker.sock', '/run/docker.sock')], defaultPolicy(), { containerId: ID })).toThrow(/can't mount \/var\/run\/docker.sock because/);
  });

  it('refuses the sockets and data of Docker, containerd and sysbox', () => {
    for (const p of ['/run/docker.sock', '/var/lib/docker', '/var/lib/docker/overlay2/x', '/run/containerd/containerd.sock', '/var/lib/containerd', '/etc/containerd/config.toml', '/run/sysbox/mgr.sock', '/var/lib/sysbox', '/etc/sysbox/config.json', '/var/lib/sysboxfs/x']) {
      expect(decide(cand(p)).allowed, p).toBe(false);
    }
  });

  it('allows /proc, /sys, /dev, /boot, /lib/modules read-only only', () => {
    for (const p of ['/proc', '/sys/kernel', '/dev/sda', '/boot', '/lib/modules/6.18']) {
      expect(decide(cand(p)).allowed, p).toBe(false);
      expect(decide(cand(p, p, true)).allowed, p).toBe(true);
    }
  });

  it('allows ordinary paths and paths that merely share a prefix', () => {
    for (const p of ['/root', '/home/u', '/var/tmp/x', '/etc/dockerfile', '/var/lib/docker2', '/devices', '/var/lib/docker/volumes/v/_data/x']) {
      expect(decide(cand(p)).allowed, p).toBe(true);
    }
  });

  it('refuses a source that contains a restricted path, even read-only; admin can turn it off', () => {
    for (const p of ['/', '/etc', '/run', '/var', '/var/lib']) {
      expect(decide(cand(p, p, true)).allowed, p).toBe(false);
    }
    expect(() => checkMounts([cand('/etc', '/etc', true)], defaultPolicy(), { containerId: ID })).toThrow(
      "error in the container spec: can't mount /etc because it contains /etc/docker, which is configured as a restricted host mount",
    );
    // /boot, /lib/modules: restricted read-write only, so a parent of them is not refused for them
    expect(decide(cand('/lib')).allowed).toBe(true);
    const p = applyAdminPolicy(defaultPolicy(), parseAdminPolicy('{"refuseParents": false}'));
    expect(decide(cand('/', '/', true), {}, p).allowed).toBe(true);
  });

  it("allows Docker's own files of this container, not another's", () => {
    expect(decide(cand(`/var/lib/docker/containers/${ID}/resolv.conf`)).kind).toBe('own-container-file');
    expect(decide(cand(`/var/lib/docker/containers/${ID}/mounts/shm`)).allowed).toBe(true);
    expect(decide(cand('/var/lib/docker/containers/other/hosts')).allowed).toBe(false);
    expect(decide(cand('/var/lib/docker/containers/other/mounts/shm')).allowed).toBe(true); // --ipc=container:other
    expect(decide(cand('/var/lib/docker/containers/other/mounts/secrets')).allowed).toBe(false);
    expect(decide(cand(`/var/lib/docker/containers/${ID}`)).allowed).toBe(false);
  });

  it("allows named volumes' _data dirs only", () => {
    expect(decide(cand('/var/lib/docker/volumes/v1/_data')).kind).toBe('volume');
    expect(decide(cand('/var/lib/docker/volumes/v1/_data/sub')).allowed).toBe(true);
    expect(decide(cand('/var/lib/docker/volumes/v1')).allowed).toBe(false);
    expect(decide(cand('/var/lib/docker/volumes/metadata.db')).allowed).toBe(false);
    // a symlink named like a volume does not get the allowance for where it points
    expect(decide(cand('/var/lib/docker/volumes/v1/_data', '/etc/docker')).allowed).toBe(false);
  });
});

describe('admin policy', () => {
  it('parses and applies additions, removals, socket allow-list, docker root', () => {
    const admin = parseAdminPolicy(
      JSON.stringify({ restricted: { add: ['/srv/secret', { path: '/opt/ro', access: 'rw' }], remove: ['/boot'] }, dockerSocket: { allowImages: ['docker:cli'] }, dockerRoot: '/data/docker' }),
    );
    const p = applyAdminPolicy(defaultPolicy(), admin);
    expect(decide(cand('/srv/secret/a'), {}, p).allowed).toBe(false);
    expect(decide(cand('/opt/ro'), {}, p).allowed).toBe(false);
    expect(decide(cand('/opt/ro', '/opt/ro', true), {}, p).allowed).toBe(true);
    expect(decide(cand('/boot'), {}, p).allowed).toBe(true);
    expect(decide(cand('/data/docker/volumes/v/_data'), {}, p).allowed).toBe(true);
    expect(decide(cand('/var/run/docker.sock'), { image: 'docker:cli' }, p).kind).toBe('docker-socket-allowed');
    expect(decide(cand('/var/run/docker.sock'), { image: 'busybox' }, p).allowed).toBe(false);
    expect(decide(cand('/var/run/docker.sock'), {}, p).allowed).toBe(false);
  });

  it('rejects malformed files with the field', () => {
    expect(() => parseAdminPolicy('{')).toThrow(PolicyFileError);
    expect(() => parseAdminPolicy('{"restricted":{"add":["rel"]}}')).toThrow(/restricted.add\[0\]/);
    expect(() => parseAdminPolicy('{"dockerSocket":{"allowImages":[1]}}')).toThrow(/allowImages/);
    expect(() => parseAdminPolicy('{"bogus":1}')).toThrow(/unknown field "bogus"/);
  });

  it('needs the image only for a socket mount with an allow-list', () => {
    const p = applyAdminPolicy(defaultPolicy(), { dockerSocket: { allowImages: ['x'] } });
    expect(needsImage([cand('/var/run/docker.sock', '/run/docker.sock')], p)).toBe(true);
    expect(needsImage([cand('/root')], p)).toBe(false);
    expect(needsImage([cand('/var/run/docker.sock')], defaultPolicy())).toBe(false);
  });

  it('normalizes image references', () => {
    expect(normalizeImage('busybox')).toBe('busybox:latest');
    expect(normalizeImage('docker.io/library/busybox:1')).toBe('busybox:1');
    expect(normalizeImage('localhost:5000/a/b')).toBe('localhost:5000/a/b:latest');
    expect(imageAllowed(['sha256:0123456789ab'], 'x', 'sha256:0123456789abcdef')).toBe(true);
    expect(imageAllowed(['docker'], 'docker:latest')).toBe(true);
    expect(imageAllowed(['docker'], undefined)).toBe(false);
  });
});

describe('bind mounts, ID-mapping, special dirs', () => {
  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/a', type: 'bind', source: '/root', options: ['rbind', 'rprivate', 'ro'] },
    { destination: '/b', source: '/x', options: ['bind', 'rw'] },
    { destination: '/etc/hosts', type: 'bind', source: '/h', options: ['rbind', 'ro', 'rw'] },
  ];
  it('finds bind mounts with their flags', () => {
    expect(bindMounts(mounts)).toEqual([
      { index: 1, destination: '/a', source: '/root', readonly: true, recursive: true },
      { index: 2, destination: '/b', source: '/x', readonly: false, recursive: false },
      { index: 3, destination: '/etc/hosts', source: '/h', readonly: false, recursive: true },
    ]);
  });
  it('stages the ID-mappable binds with their resolved sources, in spec order', () => {
    const resolved: Record<string, string> = { '/root': '/root', '/x': '/dev/shm/x', '/h': '/var/lib/h' };
    expect(bindsToStage(bindMounts(mounts), (b) => resolved[b.source]!)).toEqual([
      { index: 1, source: '/root', destination: '/a', readonly: true, recursive: true, noIdmap: false },
      { index: 3, source: '/var/lib/h', destination: '/etc/hosts', readonly: false, recursive: true, noIdmap: false },
    ]);
  });
  it('stages every read-only bind, also those not ID-mapped (so the kernel locks their read-only flag)', () => {
    const ro: OciMount[] = [
      { destination: '/m1', type: 'bind', source: '/dev/shm/d', options: ['rbind', 'ro'] },
      { destination: '/m2', type: 'bind', source: '/sys/fs/cgroup', options: ['rbind', 'ro'] },
      { destination: '/m3', type: 'bind', source: '/proc/cpuinfo', options: ['bind', 'ro'] },
      { destination: '/m4', type: 'bind', source: '/dev/shm/w', options: ['rbind', 'rw'] },
    ];
    expect(bindsToStage(bindMounts(ro), (b) => b.source)).toEqual([
      { index: 0, source: '/dev/shm/d', destination: '/m1', readonly: true, recursive: true, noIdmap: true },
      { index: 1, source: '/sys/fs/cgroup', destination: '/m2', readonly: true, recursive: true, noIdmap: true },
      { index: 2, source: '/proc/cpuinfo', destination: '/m3', readonly: true, recursive: false, noIdmap: true },
    ]);
  });
  it('ID-maps all but host /proc, /sys, /dev', () => {
    expect(wantsIdmap('/root')).toBe(true);
    expect(wantsIdmap('/dev/shm/x')).toBe(false);
    expect(wantsIdmap('/devx')).toBe(true);
  });
  it('skips special dirs the spec already mounts at, above or below', () => {
    expect(specialDirsFor([])).toHaveLength(6);
    const s = specialDirsFor([{ destination: '/var/lib/docker' }, { destination: '/var/lib/rancher' }, { destination: '/var/lib/kubelet/pods' }]);
    expect(s).toEqual(['/var/lib/containerd', '/var/lib/k0s', '/var/lib/buildkit']);
  });
});
