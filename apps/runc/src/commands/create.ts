// `create` and `run`: the sysbox preparation, then the engine's own create/run with the converted spec.
import { get, isSet, rewriteFlags, type ParsedArgs } from '../cli.js';
import type { Context } from '../context.js';
import { passFds, runEngine, runEngineAsync, runEngineForeground } from '../engine.js';
import { log } from '../log.js';
import { containerIdArg, prepare, type Undo } from './prepare.js';
import { cleanupContainer } from './delete.js';
import { attachFs, preconnectFs } from '../fs.js'; // [sysbox-fs]

/** The engine failed (its error is in --log): remove whatever it left, then undo our part. */
async function abandon(ctx: Context, id: string, undo: Undo): Promise<void> {
  runEngine(ctx.engine, [...ctx.engineGlobals(), 'delete', '--force', id], 'ignore');
  await undo.run(id);
}

export async function create(ctx: Context, parsed: ParsedArgs): Promise<number> {
  const id = containerIdArg(parsed);
  const { record, undo } = await prepare(ctx, parsed, id);
  const fds = passFds(Number(get(parsed.flags, 'preserve-fds') ?? 0));
  const args = [...ctx.engineGlobals(), 'create', ...rewriteFlags(parsed, { bundle: record.privateBundle }), id];
  // [sysbox-fs] its connection is made while the engine works
  const fsClient = preconnectFs(ctx);
  let code: number;
  try {
    code = await runEngineAsync(ctx.engine, args, fds);
  } catch (e) {
    void fsClient?.then((c) => c?.close());
    await undo.run(id);
    throw e;
  }
  if (code !== 0) {
    void fsClient?.then((c) => c?.close());
    await abandon(ctx, id, undo);
    return code;
  }
  log.child({ containerId: id }).debug({}, 'engine create done');
  // [sysbox-fs] emulated /proc and /sys files, placed before the container's process starts (see ../fs.ts;
  // without sysbox-fs it logs a warning and the container runs without emulation).
  await attachFs(ctx, { containerId: id, idRange: record.idRange, pidFile: get(parsed.flags, 'pid-file'), client: fsClient });
  log.child({ containerId: id }).debug({ idRange: record.idRange, engine: ctx.engine.name }, 'created');
  return 0;
}

export async function run(ctx: Context, parsed: ParsedArgs): Promise<number> {
  const id = containerIdArg(parsed);
  const { record, undo } = await prepare(ctx, parsed, id);
  const fds = passFds(Number(get(parsed.flags, 'preserve-fds') ?? 0));
  const args = [...ctx.engineGlobals(), 'run', ...rewriteFlags(parsed, { bundle: record.privateBundle }), id];
  let code: number;
  try {
    code = await runEngineForeground(ctx.engine, args, fds);
  } catch (e) {
    await undo.run(id);
    throw e;
  }
  const detached = isSet(parsed.flags, 'detach');
  if (code !== 0 && detached) {
    await abandon(ctx, id, undo);
    return code;
  }
  if (!detached && !isSet(parsed.flags, 'keep')) await cleanupContainer(ctx, id);
  return code;
}
