import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RestrictedMountError } from '@sysbox/mount-policy';
import { checkDestination, dockerImageOf, loadPolicy, planMounts, resolveCandidates, stageMounts } from '../src/mounts.js';

let tmp: string;
let rootfs: string;
let sock: string;
let server: Server;
let lastPath = '';
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'runc-mounts-'));
  rootfs = join(tmp, 'rootfs');
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  symlinkSync('../../../../etc', join(rootfs, 'evil'));
  symlinkSync('/etc', join(rootfs, 'abs'));
  mkdirSync(join(tmp, 'home'));
  symlinkSync('/etc/docker/daemon.json', join(tmp, 'link'));
  sock = join(tmp, 'docker.sock');
  server = createServer((req, res) => {
    lastPath = req.url ?? '';
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify([{ Id: 'cid', Image: 'docker:cli', ImageID: 'sha256:abc' }]));
  });
  await new Promise<void>((r) => server.listen(sock, r));
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(tmp, { recursive: true, force: true });
});

const spec = (mounts: object[], annotations?: Record<string, string>) => ({ ociVersion: '1.0.2', mounts, ...(annotations ? { annotations } : {}) }) as never;
const bind = (source: string, destination = '/mnt', options = ['rbind', 'rprivate']) => ({ destination, type: 'bind', source, options });
const noPolicy = () => join(tmp, 'no-policy.json');

describe('planMounts', () => {
  test('an ordinary dir passes and is staged (resolved), special dirs listed', async () => {
    const p = await planMounts(spec([{ destination: '/proc', type: 'proc', source: 'proc' }, bind(join(tmp, 'home'), '/mnt', ['rbind', 'ro'])]), 'cid', rootfs, { policyFile: noPolicy() });
    expect(p.toStage).toEqual([{ index: 1, source: join(tmp, 'home'), destination: '/mnt', readonly: true, recursive: true, noIdmap: false }]);
    expect(p.specialDirs).toContain('/var/lib/docker');
  });

  test('a symlink to daemon.json is refused with the exact message naming the target', async () => {
    await expect(planMounts(spec([bind(join(tmp, 'link'))]), 'cid', rootfs, { policyFile: noPolicy() })).rejects.toThrow(
      "error in the container spec: can't mount /etc/docker/daemon.json because it's configured as a restricted host mount",
    );
  });

  test('the Docker socket: refused, allowed for an allow-listed image learned from the container list', async () => {
    const pf = join(tmp, 'policy.json');
    writeFileSync(pf, JSON.stringify({ dockerSocket: { allowImages: ['docker:cli'] } }));
    const s = spec([bind('/var/run/docker.sock', '/var/run/docker.sock')]);
    await expect(planMounts(s, 'cid', rootfs, { policyFile: noPolicy(), dockerSocket: sock })).rejects.toBeInstanceOf(RestrictedMountError);
    const p = await planMounts(s, 'cid', rootfs, { policyFile: pf, dockerSocket: sock });
    expect(p.decisions[0]!.kind).toBe('docker-socket-allowed');
    expect(decodeURIComponent(lastPath)).toBe('/containers/json?all=1&filters={"id":["cid"]}');
    // CRI annotation: no API call needed
    lastPath = '';
    const q = await planMounts(spec([bind('/run/docker.sock', '/s')], { 'io.kubernetes.cri.image-name': 'docker:cli' }), 'cid', rootfs, { policyFile: pf, dockerSocket: join(tmp, 'none.sock') });
    expect(q.decisions[0]!.allowed).toBe(true);
    expect(lastPath).toBe('');
  });

  test('bad input: relative, missing source; destination escaping through a symlink', async () => {
    expect(() => resolveCandidates(spec([bind('rel/dir')]))).toThrow('error in the container spec: mount source "rel/dir" (for /mnt) is not an absolute path');
    expect(() => resolveCandidates(spec([bind('/nonexistent/x')]))).toThrow('error in the container spec: mount source /nonexistent/x (for /mnt) does not exist');
    expect(() => checkDestination(rootfs, '/evil/x')).toThrow(/escapes the container's root file system through the symlink \/evil -> ..\/..\/..\/..\/etc/);
    expect(() => checkDestination(rootfs, '/abs/x')).not.toThrow(); // absolute links stay inside the rootfs
    expect(() => checkDestination(rootfs, '/etc/new/deeper')).not.toThrow();
    expect(() => checkDestination(rootfs, '/../x')).toThrow(/escapes/);
  });

  test('a malformed admin file refuses (fail closed)', () => {
    const pf = join(tmp, 'bad.json');
    writeFileSync(pf, '{"restricted": 1}');
    expect(() => loadPolicy(pf)).toThrow(/restricted/);
  });

  test('dockerImageOf answers {} when Docker is not there', async () => {
    expect(await dockerImageOf('x', join(tmp, 'nope.sock'))).toEqual({});
  });
});

describe('stageMounts', () => {
  test('asks mgr and maps the answer for convertSpec', async () => {
    const calls: unknown[] = [];
    const mgr = {
      prepareMounts: async (r: unknown) => {
        calls.push(r);
        return { mounts: [{ index: 1, source: '/st/m1', method: 'idmap' }], specialDirs: [{ destination: '/var/lib/docker', source: '/st/s', method: 'idmap', created: true }] };
      },
    };
    const plan = { candidates: [], decisions: [], toStage: [{ index: 1, source: '/h', destination: '/mnt', readonly: false, recursive: true, noIdmap: false }], specialDirs: ['/var/lib/docker'] };
    expect(await stageMounts(mgr as never, 'cid', plan, '/rootfs')).toEqual({ stagedMounts: [{ index: 1, source: '/st/m1' }], specialDirs: [{ destination: '/var/lib/docker', source: '/st/s' }] });
    expect(calls).toEqual([{ containerId: 'cid', mounts: plan.toStage, specialDirs: ['/var/lib/docker'], rootfs: '/rootfs' }]);
    expect(await stageMounts(mgr as never, 'cid', { ...plan, toStage: [], specialDirs: [] }, '/r')).toEqual({ stagedMounts: [], specialDirs: [] });
    expect(calls).toHaveLength(1);
  });
});
