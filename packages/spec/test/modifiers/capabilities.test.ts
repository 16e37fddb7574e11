import { describe, expect, test } from 'vitest';
import { ALL_CAPS, DOCKER_DEFAULT_CAPS } from '../../src/caps.js';
import { capabilitiesModifier, convertCapabilities, convertProcess } from '../../src/modifiers/capabilities.js';
import type { Process } from '../../src/types.js';
import { CTX, HOST_CAPS, fixture } from '../helpers.js';

const without = (...drop: string[]) => HOST_CAPS.filter((c) => !drop.includes(c));

describe('capabilitiesModifier on captured configs', () => {
  test.each([
    ['docker-plain', 0, HOST_CAPS],
    ['docker-privileged', 0, HOST_CAPS],
    ['docker-cap-add-sys-admin', 0, HOST_CAPS],
    ['docker-cap-drop-chown', 0, without('CAP_CHOWN')],
    ['docker-cap-drop-all-add-net-admin', 0, ['CAP_NET_ADMIN']],
    ['containerd-plain', 0, HOST_CAPS],
    ['containerd-privileged', 0, HOST_CAPS],
    ['docker-user-1000', 1000, HOST_CAPS],
  ])('%s', (name, uid, bounding) => {
    const input = fixture(name);
    const before = structuredClone(input);
    const caps = capabilitiesModifier(input, CTX).process!.capabilities!;
    expect(caps.bounding).toEqual(bounding);
    expect(caps.effective).toEqual(uid === 0 ? bounding : []);
    expect(caps.permitted).toEqual(uid === 0 ? bounding : []);
    expect(caps.inheritable).toEqual([]);
    expect(caps.ambient).toEqual([]);
    expect(caps.bounding).not.toContain('CAP_SYS_RESOURCE');
    expect(input).toEqual(before);
  });
});

describe('convertCapabilities table', () => {
  test.each([
    ['no capabilities section: all host caps', undefined, 0, HOST_CAPS],
    ['never more than the host has', { bounding: [...ALL_CAPS] }, 0, HOST_CAPS],
    ['two drops', { bounding: DOCKER_DEFAULT_CAPS.filter((c) => c !== 'CAP_NET_RAW' && c !== 'CAP_MKNOD') }, 0, without('CAP_NET_RAW', 'CAP_MKNOD')],
    ['drop ALL, nothing added', { bounding: [] }, 0, []],
    ['drop ALL, add a cap the host lacks', { bounding: ['CAP_SYS_RESOURCE', 'CAP_NET_ADMIN'] }, 0, ['CAP_NET_ADMIN']],
    ['only permitted given', { permitted: DOCKER_DEFAULT_CAPS.filter((c) => c !== 'CAP_KILL') }, 0, without('CAP_KILL')],
    ['non-root with a drop', { bounding: DOCKER_DEFAULT_CAPS.filter((c) => c !== 'CAP_SETUID') }, 33, without('CAP_SETUID')],
  ] as const)('%s', (_what, caps, uid, bounding) => {
    const { capabilities } = convertCapabilities(caps as never, uid, HOST_CAPS);
    expect(capabilities.bounding).toEqual(bounding);
    expect(capabilities.effective).toEqual(uid === 0 ? bounding : []);
  });

  test('a host without CAP_SYS_ADMIN never gets it', () => {
    const host = HOST_CAPS.filter((c) => c !== 'CAP_SYS_ADMIN');
    expect(convertCapabilities({ bounding: [...ALL_CAPS] }, 0, host).capabilities.bounding).not.toContain('CAP_SYS_ADMIN');
  });
});

describe('convertProcess (exec)', () => {
  test('docker exec process.json as root and as a user', () => {
    const proc: Process = { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/', capabilities: { bounding: [...DOCKER_DEFAULT_CAPS], effective: [...DOCKER_DEFAULT_CAPS], permitted: [...DOCKER_DEFAULT_CAPS] } };
    const changes: string[] = [];
    const out = convertProcess(proc, CTX, (c) => changes.push(c));
    expect(out.capabilities!.effective).toEqual(HOST_CAPS);
    expect(out.args).toEqual(['sh']);
    expect(changes).toHaveLength(1);
    const user = convertProcess({ ...proc, user: { uid: 1000, gid: 1000 } }, CTX);
    expect(user.capabilities!.effective).toEqual([]);
    expect(user.capabilities!.bounding).toEqual(HOST_CAPS);
    expect(proc.capabilities!.effective).toEqual([...DOCKER_DEFAULT_CAPS]);
  });
});
