// What belongs to one sysbox-runc invocation rather than to the process: its environment, its working directory,
// where its one-line error goes, when it started, and who runs the engine with the caller's fds. Every command gets
// it through its Context (./context.ts), explicitly: no ambient state.
//
// Run as a CLI (the usual case), the process *is* the invocation: process.env, process.cwd(), fd 2, and the engine
// spawned by this process. Run by the create server (`sysbox-runc serve`, ./server.ts), one process serves many at
// once: each gets the client's environment and cwd, its error line is sent back to the client, and the engine that
// needs the caller's fds is run by the client (so that the container's init stays a descendant of Docker's shim).
import { writeSync } from 'node:fs';
import type { Engine } from './engine.js';

export interface Invocation {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** the one line a failure leaves on the caller's stderr */
  stderr(text: string): void;
  /** when it started (performance.now()): `--debug` lines carry `t`, ms since then (0 for the CLI: its process start) */
  t0: number;
  /** runs the engine with the caller's fds 0..n-1 (undefined: this process spawns it with its own fds) */
  runEngine?: (engine: Engine, args: string[], fds: number[]) => Promise<number>;
  /** served by `sysbox-runc serve`: the code cache is not written from it (other V8 flags) */
  served?: boolean;
}

export function writeAll(fd: number, text: string): void {
  const b = Buffer.from(text);
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off);
}

/** The CLI's invocation: this process's. */
export function processInvocation(): Invocation {
  return { env: process.env, cwd: process.cwd(), stderr: (text) => writeAll(2, text), t0: 0 };
}
