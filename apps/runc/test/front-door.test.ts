import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capsFromMask, convertProcess, execCapsRecord, DOCKER_DEFAULT_CAPS, type Process } from '@sysbox/spec';
import { afterAll, describe, expect, test } from 'vitest';
import { BUILT_FRONT_DOOR, echoScript, haveFrontDoor, installFrontDoor } from './front-door-fixture.js';

// The front door (native/csrc/sysbox-runc.c): start/kill/delete of a sysbox container go straight to its engine,
// exec to the engine with the recorded capability sets spliced in, create to the create server; all else to Node.
const dir = mkdtempSync(join(tmpdir(), 'front-door-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const node = echoScript(dir, 'node');
// the fake engine also prints the process spec it was given (--process X / --process=X)
const engine = join(dir, 'engine');
writeFileSync(
  engine,
  `#!/bin/sh\nprintf '%s\\n' engine "$@"\np=\nfor a in "$@"; do\n  [ "$p" = --process ] && echo "SPEC $(cat "$a")"\n  case $a in --process=*) echo "SPEC $(cat "\${a#--process=}")" ;; esac\n  p=$a\ndone\n`,
);
chmodSync(engine, 0o755);
// the V8 flags the front door starts the Node CLI with
const NODE_FLAGS = ['--no-rehash-snapshot', '--min-semi-space-size=16'];
const launcher = installFrontDoor(dir, { node, main: '/main.js', cache: '/cache' });
// a fake node that prints the compile cache it was given
const envShow = join(dir, 'envshow-node');
writeFileSync(envShow, '#!/bin/sh\n[ -n "$NODE_EXTRA_CA_CERTS$NODE_OPTIONS" ] && echo leaked\necho "cache=$NODE_COMPILE_CACHE"\n');
chmodSync(envShow, 0o755);
const root = join(dir, 'root');
mkdirSync(join(root, 'sysbox', 'c1'), { recursive: true });
writeFileSync(join(root, 'sysbox', 'c1', 'engine'), `${engine}\n`);

// (no create server unless a test says so: this host's own may listen at the default socket)
const noServer = join(dir, 'no-server.sock');
const run = (...args: string[]) =>
  execFileSync(launcher, args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', SYSBOX_RUNC_SOCKET: noServer } }).trim().split('\n');

describe.skipIf(!haveFrontDoor)('sysbox-runc front door (needs the built native/bin/sysbox-runc)', () => {
  test('start of a sysbox container goes to its engine with --root rewritten', () => {
    expect(run('--root', root, '--log', '/l.json', '--log-format', 'json', 'start', 'c1')).toEqual([
      'engine', '--root', `${root}/engine`, '--log', '/l.json', '--log-format', 'json', 'start', 'c1',
    ]);
    expect(run(`--root=${root}`, 'kill', '--all', 'c1', 'KILL')).toEqual(['engine', `--root=${root}/engine`, 'kill', '--all', 'c1', 'KILL']);
  });

  test('delete of an id nobody knows goes to the last engine; a known one to Node', () => {
    writeFileSync(join(root, 'engine-path'), `${engine}\n`);
    expect(run('--root', root, 'delete', '--force', 'gone')).toEqual(['engine', '--root', `${root}/engine`, 'delete', '--force', 'gone']);
    mkdirSync(join(root, 'engine', 'e1'), { recursive: true });
    expect(run('--root', root, 'delete', 'e1')[0]).toBe('node');
  });

  test("delete of a sysbox container: its engine's delete, then its state dir goes (sysbox-mgr tears down the rest)", () => {
    mkdirSync(join(root, 'sysbox', 'd1', 'bundle'), { recursive: true });
    writeFileSync(join(root, 'sysbox', 'd1', 'engine'), `${engine}\n`);
    expect(run('--root', root, 'delete', 'd1')).toEqual(['engine', '--root', `${root}/engine`, 'delete', 'd1']);
    expect(existsSync(join(root, 'sysbox', 'd1'))).toBe(false);
    // the engine still has it (a refused delete of a running container): our state stays, and its exit code passes
    mkdirSync(join(root, 'sysbox', 'd2'), { recursive: true });
    mkdirSync(join(root, 'engine', 'd2'), { recursive: true });
    const refusing = join(dir, 'refusing');
    writeFileSync(refusing, '#!/bin/sh\necho cannot delete running container >&2\nexit 3\n');
    chmodSync(refusing, 0o755);
    writeFileSync(join(root, 'sysbox', 'd2', 'engine'), `${refusing}\n`);
    const r = spawnSync(launcher, ['--root', root, 'delete', 'd2'], { encoding: 'utf8' });
    expect(r.status).toBe(3);
    expect(r.stderr).toBe('cannot delete running container\n');
    expect(existsSync(join(root, 'sysbox', 'd2'))).toBe(true);
  });

  test("kill: a container whose init stops on another signal (systemd) gets it for TERM, named, numbered or the default", () => {
    mkdirSync(join(root, 'sysbox', 's1'), { recursive: true });
    writeFileSync(join(root, 'sysbox', 's1', 'engine'), `${engine}\n`);
    writeFileSync(join(root, 'sysbox', 's1', 'stop-signal'), '37\n');
    const e = ['engine', '--root', `${root}/engine`];
    expect(run('--root', root, 'kill', 's1')).toEqual([...e, 'kill', 's1', '37']);
    expect(run('--root', root, 'kill', 's1', 'TERM')).toEqual([...e, 'kill', 's1', '37']);
    expect(run('--root', root, 'kill', '--all', 's1', 'SIGTERM')).toEqual([...e, 'kill', '--all', 's1', '37']);
    expect(run('--root', root, 'kill', 's1', '15')).toEqual([...e, 'kill', 's1', '37']);
    expect(run('--root', root, 'kill', 's1', 'KILL')).toEqual([...e, 'kill', 's1', 'KILL']);
    // without the record: as given
    expect(run('--root', root, 'kill', 'c1')).toEqual([...e, 'kill', 'c1']);
  });

  test("sysbox-runc's own --engine (Docker's runtimeArgs) stays out of the engine's arguments", () => {
    expect(run('--root', root, '--engine', 'crun', 'start', 'c1')).toEqual(['engine', '--root', `${root}/engine`, 'start', 'c1']);
    expect(run('--engine=crun', '--root', root, '--log', '--engine', 'kill', 'c1', '--engine')).toEqual([
      'engine', '--root', `${root}/engine`, '--log', '--engine', 'kill', 'c1', '--engine',
    ]);
  });

  test('everything else goes to Node, arguments untouched', () => {
    expect(run('--root', root, 'create', '--bundle', '/b', 'c1')).toEqual(['node', ...NODE_FLAGS, '/main.js', '--root', root, 'create', '--bundle', '/b', 'c1']);
    expect(run('--root', root, 'start', 'unknown')).toEqual(['node', ...NODE_FLAGS, '/main.js', '--root', root, 'start', 'unknown']);
    expect(run('--root', root, 'kill', '--bogus', 'c1')[0]).toBe('node');
    expect(run('--version')[0]).toBe('node');
    expect(run('--root', root, 'start', '../x')[0]).toBe('node');
  });
});

describe.skipIf(!haveFrontDoor)('front door: create, serve, the fast paths off (needs the built native/bin/sysbox-runc)', () => {
  test('create without a create server (nothing listens at $SYSBOX_RUNC_SOCKET): Node, arguments untouched', () => {
    const args = ['--root', root, '--log', '/l.json', 'create', '--bundle', '/b/c1', 'c1'];
    expect(run(...args)).toEqual(['node', ...NODE_FLAGS, '/main.js', ...args]);
  });

  test('SYSBOX_RUNC_NO_FASTPATH=1: everything to Node, with the arguments untouched', () => {
    for (const args of [['--root', root, 'create', '--bundle', '/b', 'c1'], ['--root', root, 'start', 'c1']]) {
      const out = execFileSync(launcher, args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', SYSBOX_RUNC_NO_FASTPATH: '1' } }).trim().split('\n');
      expect(out).toEqual(['node', ...NODE_FLAGS, '/main.js', ...args]);
    }
  });

  test('serve: Node without the CLI flags and without the compile cache', () => {
    const env = { PATH: '/usr/bin:/bin', NODE_COMPILE_CACHE: '/c' };
    const show = installFrontDoor(join(dir, 'envshow'), { node: envShow, main: '/main.js', cache: '/cache' });
    expect(execFileSync(launcher, ['serve', '--socket', '/s'], { encoding: 'utf8', env }).trim().split('\n')).toEqual(['node', '/main.js', 'serve', '--socket', '/s']);
    expect(execFileSync(show, ['serve'], { encoding: 'utf8', env }).trim()).toBe('cache=');
    // a CLI start gets the compile cache of the conf, and never NODE_EXTRA_CA_CERTS or NODE_OPTIONS
    expect(execFileSync(show, ['state', 'c1'], { encoding: 'utf8', env: { ...env, NODE_EXTRA_CA_CERTS: '/x', NODE_OPTIONS: '--y' } }).trim()).toBe('cache=/cache');
  });

  test('a missing conf: one line saying so', () => {
    const bare = join(dir, 'bare');
    mkdirSync(bare);
    copyFileSync(BUILT_FRONT_DOOR, join(bare, 'sysbox-runc'));
    chmodSync(join(bare, 'sysbox-runc'), 0o755);
    const r = spawnSync(join(bare, 'sysbox-runc'), ['state', 'c1'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^sysbox-runc: can't read .*bare\/sysbox-runc\.conf: No such file or directory \(reinstall sysbox-ts: scripts\/install\.sh\)\n$/);
  });
});

describe.skipIf(!haveFrontDoor)('exec fast path (needs the built native/bin/sysbox-runc)', () => {
  const host = capsFromMask((1n << 41n) - 1n).filter((c) => c !== 'CAP_SYS_RESOURCE'); // like this machine's
  const dockerCaps = DOCKER_DEFAULT_CAPS.filter((c) => c !== 'CAP_NET_RAW'); // --cap-drop NET_RAW
  const init: Process = { args: ['sleep'], cwd: '/', user: { uid: 0, gid: 0 }, capabilities: { bounding: dockerCaps, effective: dockerCaps, permitted: dockerCaps } };
  mkdirSync(join(root, 'sysbox', 'x1'), { recursive: true });
  writeFileSync(join(root, 'sysbox', 'x1', 'engine'), `${engine}\n`);
  writeFileSync(join(root, 'sysbox', 'x1', 'exec-caps'), execCapsRecord(init, host)!);
  const spec = (p: object) => {
    const f = join(dir, `p-${Math.random()}.json`);
    writeFileSync(f, JSON.stringify(p));
    return f;
  };
  // what Docker 20.10 writes for `docker exec` (order of its bounding set differs from the container's)
  const docker = (uid: number, caps = [...dockerCaps].reverse()) => ({
    user: { uid, gid: 0, additionalGids: [0] }, args: ['true'], env: ['PATH=/bin', 'X="capabilities":{}'], cwd: '/',
    capabilities: { bounding: caps, effective: caps, permitted: caps }, oomScoreAdj: 0,
  });
  const shim = (f: string, ...more: string[]) => ['--root', root, '--log', '/l.json', '--log-format', 'json', 'exec', '--process', f, '--detach', '--pid-file', '/p.pid', ...more, 'x1'];
  const specOut = (out: string[]) => JSON.parse(out.find((l) => l.startsWith('SPEC '))!.slice(5)) as Process;

  test.each([0, 1000])('uid %i: the engine gets the spec convertProcess makes, from a memfd, with --root rewritten', (uid) => {
    const p = docker(uid);
    const out = run(...shim(spec(p)));
    const args = out.slice(0, out.findIndex((l) => l.startsWith('SPEC ')));
    expect(args.slice(0, 9)).toEqual(['engine', '--root', `${root}/engine`, '--log', '/l.json', '--log-format', 'json', 'exec', '--process']);
    expect(args[9]).toMatch(/^\/proc\/self\/fd\/\d+$/);
    expect(args.slice(10)).toEqual(['--detach', '--pid-file', '/p.pid', 'x1']);
    expect(specOut(out)).toEqual(convertProcess(p as Process, { hostCapabilities: host } as never));
  });

  test('--process=X, -p X and --console-socket keep their places', () => {
    const f = spec(docker(0));
    const out = run(`--root=${root}`, 'exec', `--process=${f}`, '--console-socket', '/s.sock', '-t', 'x1');
    expect(out.slice(0, 3)).toEqual(['engine', `--root=${root}/engine`, 'exec']);
    expect(out[3]).toMatch(/^--process=\/proc\/self\/fd\/\d+$/);
    expect(out.slice(4, 8)).toEqual(['--console-socket', '/s.sock', '-t', 'x1']);
    const short = run('--root', root, 'exec', '-p', f, 'x1');
    expect([short[4], short[6]]).toEqual(['-p', 'x1']);
    expect(short[5]).toMatch(/^\/proc\/self\/fd\/\d+$/);
  });

  test("sysbox-runc's own --engine stays out of the engine's arguments", () => {
    const out = run('--engine', 'crun', '--root', root, 'exec', '--process', spec(docker(0)), 'x1');
    expect(out.slice(0, 5)).toEqual(['engine', '--root', `${root}/engine`, 'exec', '--process']);
    expect(run('--engine=crun', '--root', root, 'exec', 'x1', 'true')).toEqual(['engine', '--root', `${root}/engine`, 'exec', 'x1', 'true']);
  });

  test('an as-is record (honour-caps, a regular container): the --process spec goes to the engine as it is', () => {
    mkdirSync(join(root, 'sysbox', 'x3'), { recursive: true });
    writeFileSync(join(root, 'sysbox', 'x3', 'engine'), `${engine}\n`);
    writeFileSync(join(root, 'sysbox', 'x3', 'exec-caps'), execCapsRecord(init, host, true)!);
    const f = spec(docker(0));
    const out = run('--root', root, 'exec', '--process', f, '--detach', 'x3');
    expect(out.slice(0, out.findIndex((l) => l.startsWith('SPEC ')))).toEqual(['engine', '--root', `${root}/engine`, 'exec', '--process', f, '--detach', 'x3']);
    expect(specOut(out)).toEqual(docker(0));
  });

  test('no --process: the argv form goes to the engine as it is', () => {
    expect(run('--root', root, 'exec', '--tty', 'x1', 'sh', '-c', 'true')).toEqual(['engine', '--root', `${root}/engine`, 'exec', '--tty', 'x1', 'sh', '-c', 'true']);
  });

  test('a container whose record names a leaf cgroup (systemd on cgroup v2): --cgroup <leaf> after the verb, unless given', () => {
    mkdirSync(join(root, 'sysbox', 'x2'), { recursive: true });
    writeFileSync(join(root, 'sysbox', 'x2', 'engine'), `${engine}\n`);
    writeFileSync(join(root, 'sysbox', 'x2', 'exec-caps'), execCapsRecord(init, host)!);
    writeFileSync(join(root, 'sysbox', 'x2', 'exec-cgroup'), 'init.scope\n');
    const e = ['engine', '--root', `${root}/engine`];
    expect(run('--root', root, 'exec', '--tty', 'x2', 'true')).toEqual([...e, 'exec', '--cgroup', 'init.scope', '--tty', 'x2', 'true']);
    const out = run('--root', root, '--log', '/l.json', 'exec', '--process', spec(docker(0)), '--detach', 'x2');
    expect(out.slice(0, 8)).toEqual([...e, '--log', '/l.json', 'exec', '--cgroup', 'init.scope']);
    expect(out[8]).toBe('--process');
    expect(out.slice(10, 12)).toEqual(['--detach', 'x2']);
    expect(run('--root', root, 'exec', '--cgroup', 'other', 'x2', 'true')).toEqual([...e, 'exec', '--cgroup', 'other', 'x2', 'true']);
    // without the record (x1): as given
    expect(run('--root', root, 'exec', 'x1', 'true')).toEqual([...e, 'exec', 'x1', 'true']);
  });

  test.each([
    ['a different bounding set (docker exec --privileged)', () => shim(spec(docker(0, host)))],
    ['no capabilities in the spec', () => shim(spec({ ...docker(0), capabilities: undefined }))],
    ['malformed JSON', () => { const f = join(dir, 'bad.json'); writeFileSync(f, '{"user":{"uid":0},"capabilities":{"bounding":["CAP_KILL"'); return shim(f); }],
    ['a duplicate key', () => { const f = join(dir, 'dup.json'); writeFileSync(f, '{"capabilities":{"bounding":[]},"capabilities":{}}'); return shim(f); }],
    ['an unknown exec flag', () => ['--root', root, 'exec', '--frobnicate', 'x1']],
    ['an unknown global flag', () => ['--root', root, '--frob', 'crun', 'exec', 'x1']],
    ['a container without a record', () => ['--root', root, 'exec', '--process', spec(docker(0)), 'nobody']],
    ['a missing process file', () => shim('/nonexistent.json')],
  ])('%s: back to Node with the arguments untouched', (_what, args) => {
    const a = args();
    expect(run(...a)).toEqual(['node', ...NODE_FLAGS, '/main.js', ...a]);
  });
});
