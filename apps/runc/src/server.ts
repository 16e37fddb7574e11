// `sysbox-runc serve`: the create server. A create costs a Node start (~25-40 ms here: bootstrap, the code cache,
// the builtins and the addon), and Docker waits for it on every `docker run`. This daemon keeps one Node warm and
// runs the creates it is sent, each as the CLI would (main.ts), concurrently:
//
//   shim ─► sysbox-runc (the front door, native/csrc/sysbox-runc.c) ──unix socket──► sysbox-runc serve
//             └─ forks the engine when the server asks ◄───────────────────────┘  (spec conversion, mgr,
//                                                                                  hooks, sysbox-fs attach)
//
// The client, not the server, spawns the engine: the container's init (the engine's child) must stay a
// descendant of Docker's shim, which reaps it as the subreaper, and the engine gets the client's stdio and
// preserved fds, which the server never sees. Everything else a create does happens here, in the request's own
// invocation (./invocation.ts: environment, cwd, --log, error line). What the server can't serve exactly as the
// CLI would (another verb, a relative --log or --pid-file, a server shutting down) it sends back unserved, and
// the client runs the Node CLI instead, as it does when no server listens. A create is never half-served: the
// answer "unserved" comes before anything is done.
//
// Protocol, frames of [type: 1 byte][length: u32 LE][payload], fields NUL-separated:
//   client → server  R  "sysbox-runc-create/1", cwd, argc, argv..., envc, env...
//   server → client  A                         (accepted: from here on, a lost server is an error, not a fallback)
//   server → client  S  nfds, path, argv...    fork and exec the engine with the client's fds 0..nfds-1 (stdio and
//                                              preserved fds), environment and cwd
//   client → server  X  exit status            (of the engine: its code, or 128 + the signal)
//   server → client  D  exit code, stderr text  (the create is over; the client writes the text to fd 2 and exits)
//   server → client  F  reason                 (unserved, before A: the client runs the Node CLI)
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname, isAbsolute } from 'node:path';
import { get, parseArgs } from './cli.js';
import { EngineError, type Engine } from './engine.js';
import { writeAll, type Invocation } from './invocation.js';
import { makeLog, type Log } from './log.js';

export const DEFAULT_SERVER_SOCKET = '/run/sysbox/runc.sock';
export const PROTOCOL = 'sysbox-runc-create/1';
const MAX_FRAME = 1 << 20;

export type FrameType = 'R' | 'A' | 'S' | 'X' | 'D' | 'F';

export function encodeFrame(type: FrameType, fields: string[]): Buffer {
  const payload = Buffer.from(fields.join('\0'), 'utf8');
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32LE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** Splits whole frames off `buf`; returns them and what is left (a partial frame). Throws on an oversized one. */
export function decodeFrames(buf: Buffer): { frames: Array<{ type: string; fields: string[] }>; rest: Buffer } {
  const frames: Array<{ type: string; fields: string[] }> = [];
  let off = 0;
  while (buf.length - off >= 5) {
    const len = buf.readUInt32LE(off + 1);
    if (len > MAX_FRAME) throw new Error(`frame of ${len} bytes (at most ${MAX_FRAME})`);
    if (buf.length - off - 5 < len) break;
    const type = String.fromCharCode(buf[off]!);
    const payload = buf.subarray(off + 5, off + 5 + len).toString('utf8');
    frames.push({ type, fields: payload.length ? payload.split('\0') : [] });
    off += 5 + len;
  }
  return { frames, rest: buf.subarray(off) };
}

export interface CreateRequest {
  cwd: string;
  argv: string[];
  env: NodeJS.ProcessEnv;
}

export function parseRequest(fields: string[]): CreateRequest {
  const [proto, cwd, argcText] = fields;
  if (proto !== PROTOCOL) throw new Error(`unknown protocol ${JSON.stringify(proto)} (this server speaks ${PROTOCOL})`);
  const argc = Number(argcText);
  if (!cwd || !isAbsolute(cwd) || !Number.isSafeInteger(argc) || argc < 0 || fields.length < 4 + argc) throw new Error('malformed request');
  const argv = fields.slice(3, 3 + argc);
  const envc = Number(fields[3 + argc]);
  const envList = fields.slice(4 + argc);
  if (!Number.isSafeInteger(envc) || envList.length !== envc) throw new Error('malformed request');
  const env: NodeJS.ProcessEnv = {};
  for (const e of envList) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return { cwd, argv, env };
}

/**
 * Why the server can't run this invocation exactly as the CLI would (the client then runs the CLI), or
 * undefined. Only `create`; paths the server itself opens (--log, --pid-file) must not depend on the client's
 * cwd. A usage error is not a reason: the CLI would refuse it the same way, with the same words.
 */
export function unservable(argv: string[]): string | undefined {
  let parsed;
  try {
    parsed = parseArgs(argv);
  } catch {
    return undefined;
  }
  if (parsed.command !== 'create') return `${parsed.command ?? 'no command'}: only create is served`;
  for (const name of ['help', 'version']) if (parsed.global.has(name)) return `--${name}`;
  const logFile = get(parsed.global, 'log');
  if (logFile !== undefined && !isAbsolute(logFile)) return '--log: a relative path';
  const pidFile = get(parsed.flags, 'pid-file');
  if (pidFile !== undefined && !isAbsolute(pidFile)) return '--pid-file: a relative path';
  return undefined;
}

type Main = (argv: string[], inv: Invocation) => Promise<number>;

/** One client connection: at most one create. */
class Session {
  private buf: Buffer = Buffer.alloc(0);
  private started = false;
  private closed = false;
  private waitingExit: ((code: number) => void) | undefined;

  constructor(
    private readonly conn: Socket,
    private readonly server: CreateServer,
  ) {
    conn.on('data', (d: Buffer) => this.onData(d));
    conn.on('error', () => undefined);
    conn.on('close', () => {
      this.closed = true;
      // the client went away while the engine ran: its outcome is unknown, so the create treats it as a failed
      // engine (engine delete --force, then undo), as if the engine had been killed
      this.waitingExit?.(128 + 9);
      this.waitingExit = undefined;
    });
  }

  private onData(d: Buffer): void {
    let frames;
    try {
      ({ frames, rest: this.buf } = decodeFrames(Buffer.concat([this.buf, d])));
    } catch (e) {
      this.server.log.warn({ err: (e as Error).message }, 'bad frame from a client: connection dropped');
      this.conn.destroy();
      return;
    }
    for (const f of frames) {
      if (f.type === 'R' && !this.started) {
        this.started = true;
        void this.serve(f.fields);
      } else if (f.type === 'X' && this.waitingExit) {
        const code = Number(f.fields[0]);
        const done = this.waitingExit;
        this.waitingExit = undefined;
        done(Number.isSafeInteger(code) ? code : 1);
      } else {
        this.server.log.warn({ type: f.type }, 'unexpected frame from a client: connection dropped');
        this.conn.destroy();
        return;
      }
    }
  }

  private send(type: FrameType, fields: string[]): void {
    if (!this.closed) this.conn.write(encodeFrame(type, fields));
  }

  /** The engine, run by the client with its fds 0..n-1 (the container's stdio and preserved fds: passFds). */
  private runEngine = (engine: Engine, args: string[], fds: number[]): Promise<number> => {
    if (this.closed) return Promise.reject(new EngineError(`engine ${engine.name}: the sysbox-runc client is gone`));
    return new Promise((resolve) => {
      this.waitingExit = resolve;
      this.send('S', [String(fds.length), engine.path, engine.path, ...args]);
    });
  };

  private async serve(fields: string[]): Promise<void> {
    let req: CreateRequest;
    try {
      req = parseRequest(fields);
    } catch (e) {
      this.send('F', [(e as Error).message]);
      this.conn.end();
      return;
    }
    const why = this.server.draining ? 'the server is shutting down' : unservable(req.argv);
    if (why) {
      this.send('F', [why]);
      this.conn.end();
      return;
    }
    this.send('A', []);
    let stderr = '';
    const inv: Invocation = {
      env: req.env,
      cwd: req.cwd,
      stderr: (t) => void (stderr += t),
      runEngine: this.runEngine,
      served: true,
      t0: performance.now(),
    };
    let code: number;
    try {
      code = await this.server.run(inv, req.argv);
    } catch (e) {
      code = 1;
      stderr += `sysbox-runc: ${(e as Error).message}\n`;
    }
    const id = req.argv[req.argv.length - 1];
    this.server.log.info({ containerId: id, code, ms: Math.round((performance.now() - inv.t0) * 10) / 10 }, 'create served');
    this.send('D', [String(code), stderr]);
    this.conn.end();
  }
}

export interface ServeOptions {
  socket: string;
  pidFile?: string | undefined;
}

export class CreateServer {
  readonly log: Log;
  draining = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private server: Server | undefined;

  constructor(
    private readonly main: Main,
    private readonly opts: ServeOptions,
    log: Log = makeLog({}),
  ) {
    this.log = log.child({ component: 'create-server' });
  }

  /** Runs one invocation; the server keeps count until it is over. */
  run(inv: Invocation, argv: string[]): Promise<number> {
    const p = this.main(argv, inv);
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }

  async listen(): Promise<void> {
    const { socket } = this.opts;
    mkdirSync(dirname(socket), { recursive: true, mode: 0o755 });
    await removeStaleSocket(socket);
    const server = createServer((conn) => new Session(conn, this));
    server.maxConnections = 1024;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(socket, 0o600);
    if (process.getuid?.() === 0) chownSync(socket, 0, 0);
    this.server = server;
    if (this.opts.pidFile) writeFileSync(this.opts.pidFile, `${process.pid}\n`);
    this.log.info({ socket, pid: process.pid }, 'sysbox-runc create server listening');
  }

  /** Stops accepting, lets the creates under way finish (up to graceMs), removes the pid file. */
  async close(graceMs = 30_000): Promise<void> {
    this.draining = true;
    // (its callback would wait for every open connection: the grace period below bounds that)
    this.server?.close();
    const all = Promise.allSettled([...this.inflight]);
    await Promise.race([all, new Promise((r) => setTimeout(r, graceMs).unref())]);
    if (this.opts.pidFile) {
      try {
        if (readFileSync(this.opts.pidFile, 'utf8').trim() === String(process.pid)) rmSync(this.opts.pidFile);
      } catch {
        // gone already
      }
    }
  }
}

/** A socket file nobody answers on is removed; one that answers means another server runs: refused. */
async function removeStaleSocket(socket: string): Promise<void> {
  const answers = await new Promise<boolean>((resolve) => {
    const c = createConnection(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (answers) throw new Error(`${socket}: another sysbox-runc server is listening there`);
  rmSync(socket, { force: true });
}

const SERVE_HELP = `USAGE:
   sysbox-runc serve [--socket PATH] [--pid-file PATH] [--log-file PATH] [--log-level info|debug]

Serves sysbox-runc's creates from one warm process (the front door sends them here when the socket exists).
   --socket     unix socket (default: ${DEFAULT_SERVER_SOCKET}), root-only
   --pid-file   written once listening, removed on exit
   --log-file   the server's own log (JSON); each create logs to its own --log as usual
`;

/** `sysbox-runc serve ...`: runs until SIGTERM or SIGINT. */
export async function serveMain(args: string[], main: Main): Promise<number | undefined> {
  const opts: { socket: string; pidFile?: string; logFile?: string; logLevel: string } = { socket: DEFAULT_SERVER_SOCKET, logLevel: 'info' };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const name = (eq >= 0 ? a.slice(0, eq) : a).replace(/^--?/, '');
    const value = (): string => {
      if (eq >= 0) return a.slice(eq + 1);
      const v = args[++i];
      if (v === undefined) throw new Error(`serve: flag needs an argument: --${name}`);
      return v;
    };
    if (name === 'socket') opts.socket = value();
    else if (name === 'pid-file') opts.pidFile = value();
    else if (name === 'log-file') opts.logFile = value();
    else if (name === 'log-level') opts.logLevel = value();
    else if (name === 'help' || name === 'h') {
      writeAll(1, SERVE_HELP);
      return 0;
    } else throw new Error(`serve: flag provided but not defined: ${a}`);
  }
  if (opts.logLevel !== 'info' && opts.logLevel !== 'debug') throw new Error(`serve: --log-level: info or debug, got ${JSON.stringify(opts.logLevel)}`);
  if (!isAbsolute(opts.socket)) throw new Error(`serve: --socket must be an absolute path, got ${opts.socket}`);
  process.chdir('/');
  const server = new CreateServer(main, { socket: opts.socket, pidFile: opts.pidFile }, makeLog({ file: opts.logFile, format: 'json', debug: opts.logLevel === 'debug' }));
  // A fault in one create must not take the others down with the server.
  process.on('uncaughtException', (e) => server.log.error({ err: e.stack ?? String(e) }, 'uncaught exception (the server goes on)'));
  process.on('unhandledRejection', (e) => server.log.error({ err: (e as Error)?.stack ?? String(e) }, 'unhandled rejection (the server goes on)'));
  await server.listen();
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      server.log.info({ signal: sig }, 'stopping: the creates under way finish first');
      void server.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  server.log.info({}, 'stopped');
  return 0;
}
