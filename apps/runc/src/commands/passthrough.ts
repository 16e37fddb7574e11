// Verbs with no sysbox work: the engine's, run against its state under our --root, stdio untouched.
import { writeSync } from 'node:fs';
import type { ParsedArgs } from '../cli.js';
import type { Context } from '../context.js';
import { runEngine, runEngineCapture } from '../engine.js';
import { readRecord } from '../state.js';

export function passthrough(ctx: Context, parsed: ParsedArgs): number {
  return runEngine(ctx.engine, [...ctx.engineGlobals(), parsed.command!, ...parsed.flagTokens, ...parsed.positionals]);
}

/** Verbs that need no container state (features, spec): the engine's, without our --root. */
export function stateless(ctx: Context, parsed: ParsedArgs): number {
  return runEngine(ctx.engine, [parsed.command!, ...parsed.flagTokens, ...parsed.positionals]);
}

/** `state`: the engine's JSON, with the bundle the caller gave (not our private one). */
export function state(ctx: Context, parsed: ParsedArgs): number {
  const id = parsed.positionals[0];
  const { code, stdout } = runEngineCapture(ctx.engine, [...ctx.engineGlobals(), 'state', ...parsed.flagTokens, ...parsed.positionals]);
  let out = stdout;
  const rec = id && code === 0 ? readRecord(ctx.stateDir(id)) : undefined;
  if (rec) {
    try {
      const st = JSON.parse(stdout.toString('utf8')) as Record<string, unknown>;
      st['bundle'] = rec.bundle;
      out = Buffer.from(JSON.stringify(st, null, '  ') + '\n');
    } catch {
      /* pass the engine's output as is */
    }
  }
  let off = 0;
  while (off < out.length) off += writeSync(1, out, off);
  return code;
}
