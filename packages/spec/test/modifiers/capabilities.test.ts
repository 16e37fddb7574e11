import { describe, expect, test } from 'vitest';
import { ALL_CAPS, DOCKER_DEFAULT_CAPS } from '../../src/caps.js';
import { DROP_READING_MIN_DEFAULTS, capabilitiesModifier, convertCapabilities, convertProcess, execCapsRecord, readDockerCaps } from '../../src/modifiers/capabilities.js';
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

/**
 * The list Docker 20.10 resolves from its flags (daemon/caps TweakCapabilities): `--cap-drop ALL` starts from nothing,
 * otherwise from the 14 defaults; then the added ones, minus the dropped ones. This is all the runtime ever sees.
 */
function dockerList(flags: { add?: string[]; drop?: string[] }): string[] {
  const add = (flags.add ?? []).map((c) => `CAP_${c}`);
  const drop = (flags.drop ?? []).map((c) => `CAP_${c}`);
  const base = drop.includes('CAP_ALL') ? [] : [...DOCKER_DEFAULT_CAPS];
  return [...new Set([...base, ...add])].filter((c) => !drop.includes(c));
}

/** CapEff (and CapBnd) of root under the system-container rule, for Docker's flags. */
const rootCaps = (flags: { add?: string[]; drop?: string[] }) => {
  const l = dockerList(flags);
  return convertCapabilities({ bounding: l, effective: l, permitted: l }, 0, HOST_CAPS).capabilities;
};
const short = (c: string) => c.replace(/^CAP_/, '');
const NON_DEFAULTS = HOST_CAPS.filter((c) => !DOCKER_DEFAULT_CAPS.includes(c));

describe("one capability rule, as users read Docker's flags", () => {
  test('no flags: every capability of the host (the system-container rule)', () => {
    expect(rootCaps({}).effective).toEqual(HOST_CAPS);
  });

  test('--cap-drop ALL as Docker writes it (null sets): none', () => {
    const nulls = { bounding: null, effective: null, permitted: null, inheritable: null } as never;
    expect(convertCapabilities(nulls, 0, HOST_CAPS).capabilities.effective).toEqual([]);
    expect(convertCapabilities({}, 0, HOST_CAPS).capabilities.bounding).toEqual([]);
  });

  test('--cap-drop ALL: none', () => {
    const c = rootCaps({ drop: ['ALL'] });
    expect(c.effective).toEqual([]);
    expect(c.bounding).toEqual([]);
  });

  test.each(HOST_CAPS.map(short))('--cap-drop ALL --cap-add %s: exactly that one', (x) => {
    const c = rootCaps({ drop: ['ALL'], add: [x] });
    expect(c.effective).toEqual([`CAP_${x}`]);
    expect(c.bounding).toEqual([`CAP_${x}`]);
  });

  test.each(DOCKER_DEFAULT_CAPS.map(short))('--cap-drop %s: all but that one', (x) => {
    expect(rootCaps({ drop: [x] }).effective).toEqual(without(`CAP_${x}`));
  });

  test.each(NON_DEFAULTS.map(short))('--cap-add %s: every capability of the host', (x) => {
    expect(rootCaps({ add: [x] }).effective).toEqual(HOST_CAPS);
  });

  test('--cap-drop ALL --cap-add NET_BIND_SERVICE: CapEff 0000000000000400', () => {
    const mask = rootCaps({ drop: ['ALL'], add: ['NET_BIND_SERVICE'] }).effective!.reduce((m, c) => m | (1n << BigInt(ALL_CAPS.indexOf(c))), 0n);
    expect(mask.toString(16).padStart(16, '0')).toBe('0000000000000400');
  });

  test('--cap-drop CHOWN --cap-add NET_ADMIN: all but CHOWN', () => {
    expect(rootCaps({ drop: ['CHOWN'], add: ['NET_ADMIN'] }).effective).toEqual(without('CAP_CHOWN'));
  });

  test('--cap-drop ALL --cap-add of up to 6 defaults and others: exactly those', () => {
    const add = ['CHOWN', 'KILL', 'SETUID', 'SETGID', 'NET_RAW', 'MKNOD', 'SYS_ADMIN'];
    expect(rootCaps({ drop: ['ALL'], add }).effective).toEqual(HOST_CAPS.filter((c) => add.includes(short(c))));
  });

  test('--cap-drop of up to 7 defaults: all but those', () => {
    const drop = DOCKER_DEFAULT_CAPS.slice(0, DOCKER_DEFAULT_CAPS.length - DROP_READING_MIN_DEFAULTS).map(short);
    expect(drop).toHaveLength(7);
    expect(rootCaps({ drop }).effective).toEqual(without(...drop.map((c) => `CAP_${c}`)));
  });

  // The ambiguous lists (README, "Capabilities"): Docker's list is the same for both readings.
  test('ambiguous: --cap-drop ALL --cap-add of 7 defaults reads as --cap-drop of the other 7', () => {
    const add = DOCKER_DEFAULT_CAPS.slice(0, 7).map(short);
    const dropped = DOCKER_DEFAULT_CAPS.slice(7);
    expect(dockerList({ drop: ['ALL'], add })).toEqual(dockerList({ drop: dropped.map(short) }));
    expect(rootCaps({ drop: ['ALL'], add }).effective).toEqual(without(...dropped));
  });

  test('ambiguous: --cap-drop of 8 defaults reads as --cap-drop ALL --cap-add of the 6 left', () => {
    const drop = DOCKER_DEFAULT_CAPS.slice(0, 8).map(short);
    const left = DOCKER_DEFAULT_CAPS.slice(8);
    expect(rootCaps({ drop }).effective).toEqual(HOST_CAPS.filter((c) => left.includes(c)));
  });

  test('readDockerCaps says which reading it took', () => {
    expect(readDockerCaps(undefined, HOST_CAPS)).toMatchObject({ exact: false, dropped: [] });
    expect(readDockerCaps({ bounding: dockerList({ drop: ['KILL'] }) }, HOST_CAPS)).toMatchObject({ exact: false, dropped: ['CAP_KILL'] });
    expect(readDockerCaps({ bounding: ['CAP_KILL'] }, HOST_CAPS)).toMatchObject({ exact: true, granted: ['CAP_KILL'] });
  });
});

describe('honour-caps: the five sets exactly as config.json gives them', () => {
  const odd: Process = {
    user: { uid: 1000, gid: 1000 },
    cwd: '/',
    capabilities: { bounding: ['CAP_CHOWN', 'CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'] },
  };

  test.each([
    ['root, Docker defaults', fixture('docker-plain').process!],
    ['uid 1000, Docker defaults', fixture('docker-user-1000').process!],
    ['uid 1000, every set given', odd],
    ['no capabilities section', { user: { uid: 0, gid: 0 }, cwd: '/' } satisfies Process],
  ])('%s', (_what, proc) => {
    const changes: string[] = [];
    const out = convertProcess(proc, { ...CTX, honorCaps: true }, (c) => changes.push(c));
    expect(out.capabilities).toEqual(proc.capabilities);
    expect(changes[0]).toContain('honour-caps');
  });

  test('capabilitiesModifier keeps Docker defaults for root (CapEff 00000000a80425fb)', () => {
    const caps = capabilitiesModifier(fixture('docker-plain'), { ...CTX, honorCaps: true }).process!.capabilities!;
    const mask = caps.effective!.reduce((m, c) => m | (1n << BigInt(ALL_CAPS.indexOf(c))), 0n);
    expect(mask.toString(16).padStart(16, '0')).toBe('00000000a80425fb');
  });

  test('honour-caps: an as-is exec-caps record (every exec keeps its own spec); none without a bounding set', () => {
    const init = fixture('docker-plain').process;
    expect(execCapsRecord(init, HOST_CAPS, true)).toBe('sysbox-exec-caps 1\nas-is\n');
    expect(execCapsRecord({ args: ['x'], cwd: '/', user: { uid: 0, gid: 0 } }, HOST_CAPS)).toBeUndefined();
    expect(execCapsRecord(init, HOST_CAPS)).toMatch(/^sysbox-exec-caps 1\n/);
  });
});
