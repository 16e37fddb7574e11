// What belongs to one sysbox-runc invocation rather than to the process: its environment, its working
// directory, its --log settings (and the logger made from them), where its one-line error goes, and how the
// engine is spawned.
//
// Run as a CLI (the usual case), the process *is* the invocation: process.env, process.cwd(), fd 2, and the
// engine spawned by this process. Run as the create server (`sysbox-runc serve`, see server.ts), one process
// serves many invocations at once: each runs inside an AsyncLocalStorage store holding the client's
// environment and cwd, a logger for its own --log, its error line sent back to the client, and an engine
// spawned by the client (so that the container's init stays a descendant of Docker's shim). node:async_hooks is
// loaded only by the server: the CLI never pays for it.
import { writeSync } from 'node:fs';
import type { StdioOptions } from 'node:child_process';
import type { Engine } from './engine.js';

export interface LogSettings {
  file?: string | undefined;
  format?: 'text' | 'json';
  debug?: boolean;
}

export interface Invocation {
  env: NodeJS.ProcessEnv;
  cwd(): string;
  log: LogSettings;
  /** the pino logger made from `log` on first use (log.ts) */
  logger?: unknown;
  /** closes the logger's file (the server calls it when the invocation is over) */
  closeLog?: () => void;
  /** the one line a failure leaves on the caller's stderr */
  stderr(text: string): void;
  /** runs the engine with the caller's stdio (fds 0..2 and preserved ones); undefined: this process spawns it */
  runEngine?: (engine: Engine, args: string[], fds: StdioOptions) => Promise<number>;
  /** when it started (performance.now()): `--debug` lines carry `t`, ms since then (0 for the CLI: its process start) */
  t0: number;
  /** served by `sysbox-runc serve`: the code cache is not written from it (other V8 flags) */
  served?: boolean;
}

function writeAll(fd: number, text: string): void {
  const b = Buffer.from(text);
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off);
}

const processInvocation: Invocation = {
  env: process.env,
  cwd: () => process.cwd(),
  log: {},
  stderr: (text) => writeAll(2, text),
  t0: 0,
};

let provider: () => Invocation | undefined = () => undefined;
let runner: <T>(inv: Invocation, fn: () => T) => T = (_inv, fn) => fn();

/** The current invocation: the server's request in progress, else the process's own. */
export function invocation(): Invocation {
  return provider() ?? processInvocation;
}

/** An environment variable of the current invocation. */
export function env(name: string): string | undefined {
  return invocation().env[name];
}

/**
 * `fn`, bound to the current invocation: for callbacks that don't come from a promise of this invocation (a
 * net.Server's connections, e.g. the attach hooks'), which would otherwise run outside it in the server.
 */
export function bindInvocation<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  const inv = provider();
  if (!inv) return fn;
  return (...args: A) => runner(inv, () => fn(...args));
}

/** For the server: where the current invocation comes from, and how to run code inside one (AsyncLocalStorage). */
export function setInvocationProvider(p: () => Invocation | undefined, run: <T>(inv: Invocation, fn: () => T) => T): void {
  provider = p;
  runner = run;
}

export { writeAll };
