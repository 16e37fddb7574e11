import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Invocation } from '../src/invocation.js';
import { CreateServer, decodeFrames, encodeFrame, parseRequest, PROTOCOL, unservable } from '../src/server.js';
import { haveFrontDoor, installFrontDoor } from './front-door-fixture.js';

// The create server (src/server.ts) with the real client, the front door (native/csrc/sysbox-runc.c): a fake `main`
// stands for the CLI, a fake node (what the front door falls back to) and a fake engine record what reaches them.
const dir = mkdtempSync(join(tmpdir(), 'create-server-'));
const sock = join(dir, 'runc.sock');
const script = (name: string, body: string) => {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
};
const frontDoor = haveFrontDoor ? installFrontDoor(dir, { node: script('node', 'shift 3; echo "NODE $*"'), main: '/main.js' }) : '';
/** The front door with the create server at `socket` (the fake node drops the V8 flags and main it is given). */
const client = (socket: string, args: string[], stdio: import('node:child_process').StdioOptions, env: Record<string, string> = {}) =>
  spawn(frontDoor, args, { cwd: dir, env: { PATH: '/usr/bin:/bin', SYSBOX_RUNC_SOCKET: socket, ...env }, stdio });
const engine = script('engine', 'echo "ENGINE $* cwd=$PWD FOO=$FOO fds=$(ls /proc/self/fd | tr "\\n" " ")"\n[ "$3" = slow ] && { echo $$ > "$4"; exec sleep 30; }\nexit 3');
const CREATE = ['--root', '/run/x', 'create', '--bundle', '/b', 'c1'];

let served: Array<{ argv: string[]; engineCode?: number }> = [];
let lastDone: ((code: number) => void) | undefined;
const main = async (argv: string[], inv: Invocation): Promise<number> => {
  const rec: { argv: string[]; engineCode?: number } = { argv };
  served.push(rec);
  if (argv.includes('refuse')) {
    inv.stderr('error in the container spec: refused for the test\n');
    return 1;
  }
  const fds = argv.includes('keep-fd3') ? [0, 1, 2, 3] : [0, 1, 2];
  const args = argv.includes('slow') ? ['create', 'x', 'slow', join(dir, 'engine.pid')] : ['create', '--bundle', '/b', 'c1'];
  const code = await inv.runEngine!({ name: 'runc', path: engine, version: 'test' }, args, fds);
  rec.engineCode = code;
  lastDone?.(code);
  inv.stderr(`engine exited ${code}; FOO=${inv.env['FOO']} cwd=${inv.cwd}\n`);
  return code === 3 ? 0 : 9;
};

let server: CreateServer;

function runClient(args: string[], opts: { env?: Record<string, string>; extraFd?: boolean } = {}): Promise<{ code: number | null; out: string; err: string; pid: number }> {
  return new Promise((resolve) => {
    const child = client(sock, args, opts.extraFd ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'], opts.env);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code, out, err, pid: child.pid! }));
  });
}

beforeAll(async () => {
  server = new CreateServer(main, { socket: sock });
  await server.listen();
});
afterAll(async () => {
  await server?.close(1000);
  rmSync(dir, { recursive: true, force: true });
});

describe('create server protocol', () => {
  test('frames round-trip, also split across reads; an oversized one is refused', () => {
    const a = encodeFrame('S', ['3', '/usr/sbin/runc', '', 'x y']);
    const b = encodeFrame('D', ['0', '']);
    const all = Buffer.concat([a, b]);
    const first = decodeFrames(all.subarray(0, a.length + 2));
    expect(first.frames).toEqual([{ type: 'S', fields: ['3', '/usr/sbin/runc', '', 'x y'] }]);
    const second = decodeFrames(Buffer.concat([first.rest, all.subarray(a.length + 2)]));
    expect(second.frames).toEqual([{ type: 'D', fields: ['0', ''] }]);
    expect(second.rest.length).toBe(0);
    const huge = Buffer.alloc(5);
    huge.write('R');
    huge.writeUInt32LE(64 << 20, 1);
    expect(() => decodeFrames(huge)).toThrow(/frame of/);
  });

  test('requests: protocol, cwd, argv and environment; malformed ones refused', () => {
    expect(parseRequest([PROTOCOL, '/w', '2', 'create', 'c1', '2', 'A=1', 'B=x=y'])).toEqual({ cwd: '/w', argv: ['create', 'c1'], env: { A: '1', B: 'x=y' } });
    expect(() => parseRequest(['other/1', '/w', '0', '0'])).toThrow(/unknown protocol/);
    expect(() => parseRequest([PROTOCOL, 'rel', '0', '0'])).toThrow(/malformed/);
    expect(() => parseRequest([PROTOCOL, '/w', '3', 'create', '0'])).toThrow(/malformed/);
    expect(() => parseRequest([PROTOCOL, '/w', '0', '2', 'A=1'])).toThrow(/malformed/);
  });

  test('only create is served, and only with absolute --log and --pid-file', () => {
    expect(unservable(CREATE)).toBeUndefined();
    expect(unservable(['--log', '/l', 'create', '--pid-file', '/p', 'c1'])).toBeUndefined();
    expect(unservable(['state', 'c1'])).toMatch(/only create/);
    expect(unservable(['run', 'c1'])).toMatch(/only create/);
    expect(unservable(['--log', 'rel.log', 'create', 'c1'])).toMatch(/--log/);
    expect(unservable(['create', '--pid-file', 'p', 'c1'])).toMatch(/--pid-file/);
    // a usage error is the CLI's to report, with the same words: served
    expect(unservable(['create', '--bogus', 'c1'])).toBeUndefined();
  });
});

describe.skipIf(!haveFrontDoor)('create server with the front door as its client (needs the built native/bin/sysbox-runc)', () => {
  test('a create is served: the client runs the engine with its own stdio, cwd and environment; the exit code and error text come back', async () => {
    served = [];
    const r = await runClient(CREATE, { env: { FOO: 'bar' } });
    expect(r.out).toMatch(new RegExp(`^ENGINE create --bundle /b c1 cwd=${dir} FOO=bar fds=0 1 2 3 \\n$`)); // 3: ls's own dir fd
    expect(r.err).toBe(`engine exited 3; FOO=bar cwd=${dir}\n`);
    expect(r.code).toBe(0);
    expect(served.map((s) => s.argv)).toEqual([CREATE]);
  });

  test('the engine gets fds 0..n-1 only: a preserved fd reaches it when asked for, else not', async () => {
    const kept = await runClient([...CREATE.slice(0, -1), 'keep-fd3'], { extraFd: true });
    expect(kept.out).toMatch(/fds=0 1 2 3 4 \n/);
    const closed = await runClient(CREATE, { extraFd: true });
    expect(closed.out).toMatch(/fds=0 1 2 3 \n/);
  });

  test("a refusal: the server's one line on stderr and its exit code, no engine", async () => {
    served = [];
    const r = await runClient([...CREATE.slice(0, -1), 'refuse']);
    expect(r).toMatchObject({ code: 1, out: '', err: 'error in the container spec: refused for the test\n' });
    expect(served[0]!.engineCode).toBeUndefined();
  });

  test('a create the server does not serve (a relative --log): the Node CLI, with the same arguments', async () => {
    served = [];
    const args = ['--root', '/run/x', '--log', 'rel.log', 'create', '--bundle', '/b', 'c1'];
    const r = await runClient(args);
    expect(r.out).toBe(`NODE ${args.join(' ')}\n`);
    expect(r.code).toBe(0);
    expect(served).toEqual([]);
  });

  test('no server listening: the Node CLI', async () => {
    const child = client(join(dir, 'none.sock'), CREATE, ['ignore', 'pipe', 'inherit']);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((r) => child.on('close', r));
    expect(out).toBe(`NODE ${CREATE.join(' ')}\n`);
    expect(code).toBe(0);
  });

  test('a server lost before it accepted the create: the Node CLI does it; lost after: an error, never a second create', async () => {
    const raw = (acceptFirst: boolean) => {
      const path = join(dir, `raw-${acceptFirst}.sock`);
      const srv = createServer((c) => {
        c.once('data', () => {
          if (acceptFirst) c.write(encodeFrame('A', []));
          c.end();
        });
      });
      return new Promise<{ path: string; srv: Server }>((r) => srv.listen(path, () => r({ path, srv })));
    };
    for (const acceptFirst of [false, true]) {
      const { path, srv } = await raw(acceptFirst);
      const child = client(path, CREATE, ['ignore', 'pipe', 'pipe']);
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise((r) => child.on('close', r));
      srv.close();
      if (acceptFirst) {
        expect({ code, out }).toEqual({ code: 1, out: '' });
        expect(err).toMatch(/closed the connection during the create/);
      } else {
        expect({ code, out }).toEqual({ code: 0, out: `NODE ${CREATE.join(' ')}\n` });
      }
    }
  });

  test('the client killed while the engine runs: the create sees a killed engine (and undoes), the server goes on', async () => {
    const pidFile = join(dir, 'engine.pid');
    const done = new Promise<number>((r) => (lastDone = r));
    const child = client(sock, [...CREATE.slice(0, -1), 'slow'], 'ignore');
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    expect(await done).toBe(137);
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    const r = await runClient(CREATE);
    expect(r.code).toBe(0);
  });
});

describe.skipIf(!haveFrontDoor)('create server shutdown (needs the built native/bin/sysbox-runc)', () => {
  test('close(): the create under way finishes (its client gets its answer); the socket is gone, so new creates go to Node', async () => {
    const sock2 = join(dir, 'runc2.sock');
    const second = new CreateServer(main, { socket: sock2 });
    await second.listen();
    const pidFile = join(dir, 'engine.pid');
    rmSync(pidFile, { force: true });
    const child = client(sock2, [...CREATE.slice(0, -1), 'slow'], ['ignore', 'ignore', 'pipe']);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 20));
    const closing = second.close(10_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(sock2), 'no longer listening').toBe(false);
    const later = client(sock2, CREATE, ['ignore', 'pipe', 'inherit']);
    let out = '';
    later.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => later.on('close', r));
    expect(out).toMatch(/^NODE /);
    // the engine ends (killed here: exit 137 reaches the create, which answers 9)
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    expect(await exited).toBe(9);
    expect(err).toMatch(/engine exited 137/);
    await closing;
  });
});
