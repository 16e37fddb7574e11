// Verbs with no sysbox work: the engine's, run against its state under our --root, stdio untouched.
import { writeSync } from 'node:fs';
import type { ParsedArgs } from '../cli.js';
import type { Context } from '../context.js';
import { runEngine } from '../engine.js';
import { readRecord } from '../state.js';

export async function passthrough(ctx: Context, parsed: ParsedArgs): Promise<number> {
  return (await runEngine(ctx, [...ctx.engineGlobals(), parsed.command!, ...parsed.flagTokens, ...parsed.positionals])).code;
}

/** Verbs that need no container state (features, spec): the engine's, without our --root. */
export async function stateless(ctx: Context, parsed: ParsedArgs): Promise<number> {
  return (await runEngine(ctx, [parsed.command!, ...parsed.flagTokens, ...parsed.positionals])).code;
}

/** `state`: the engine's JSON, with the bundle the caller gave (not our private one). */
export async function state(ctx: Context, parsed: ParsedArgs): Promise<number> {
  const id = parsed.positionals[0];
  const { code, stdout } = await runEngine(ctx, [...ctx.engineGlobals(), 'state', ...parsed.flagTokens, ...parsed.positionals], { capture: true });
  let out = stdout!;
  const rec = id && code === 0 ? readRecord(ctx.stateDir(id)) : undefined;
  if (rec) {
    try {
      const st = JSON.parse(out.toString('utf8')) as Record<string, unknown>;
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
