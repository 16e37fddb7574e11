// `create` and `run`: the sysbox preparation, then the engine's own create/run with the converted spec.
import { get, isSet, rewriteFlags, type ParsedArgs } from '../cli.js';
import type { Context } from '../context.js';
import { passFds, runEngine, runEngineAsync, runEngineForeground } from '../engine.js';
import { invocation } from '../invocation.js';
import { log } from '../log.js';
import { containerIdArg, prepare, type Undo } from './prepare.js';
import { cleanupContainer } from './delete.js';
import { attachFs, listenForHooks, preconnectFs, type AttachOptions, type HookAttach } from '../fs.js'; // [sysbox-fs]
import type { ContainerRecord } from '../state.js';

/** The engine failed (its error is in --log): remove whatever it left, then undo our part. */
async function abandon(ctx: Context, id: string, undo: Undo): Promise<void> {
  runEngine(ctx.engine, [...ctx.engineGlobals(), 'delete', '--force', id], 'ignore');
  await undo.run(id);
}

/**
 * [sysbox-fs] The spec's hooks bring the init pid before pivot_root: the files are placed under the rootfs
 * while the engine runs the container's other hooks (see ../fs.ts). Undefined without hooks in the spec, or
 * when the socket can't be listened on (then logged; create places the files after the engine).
 */
async function hookListener(
  ctx: Context,
  record: ContainerRecord,
  hookSocket: string | undefined,
  attachOpts: Omit<AttachOptions, 'initPid' | 'root'>,
): Promise<HookAttach | undefined> {
  if (!hookSocket) return undefined;
  try {
    return await listenForHooks(hookSocket, (initPid) => attachFs(ctx, { ...attachOpts, initPid, root: record.stagedRootfs }));
  } catch (e) {
    log.child({ containerId: record.containerId }).warn({ err: (e as Error).message, socket: hookSocket }, "cannot listen for the attach hooks: sysbox-fs files are placed after the engine's create");
    return undefined;
  }
}

export async function create(ctx: Context, parsed: ParsedArgs): Promise<number> {
  const id = containerIdArg(parsed);
  const { record, undo, hookSocket } = await prepare(ctx, parsed, id);
  const fds = passFds(Number(get(parsed.flags, 'preserve-fds') ?? 0));
  const args = [...ctx.engineGlobals(), 'create', ...rewriteFlags(parsed, { bundle: record.privateBundle }), id];
  // [sysbox-fs] its connection is made while the engine works
  const fsClient = preconnectFs(ctx);
  const attachOpts = { containerId: id, idRange: record.idRange, client: fsClient };
  const hooks = await hookListener(ctx, record, hookSocket, attachOpts);
  let code: number;
  try {
    code = await (invocation().runEngine ?? runEngineAsync)(ctx.engine, args, fds);
  } catch (e) {
    await hooks?.attached;
    hooks?.close();
    void fsClient?.then((c) => c?.close());
    await undo.run(id);
    throw e;
  }
  const early = hooks?.attached;
  hooks?.close();
  if (code !== 0) {
    await early; // mgr's Unregister (undo) drops the sysbox-fs registration made meanwhile
    void fsClient?.then((c) => c?.close());
    await abandon(ctx, id, undo);
    return code;
  }
  log.child({ containerId: id }).debug({ during: early ? 'hooks' : 'after-create' }, 'engine create done');
  // [sysbox-fs] emulated /proc and /sys files, placed before the container's process starts (see ../fs.ts;
  // without sysbox-fs it logs a warning and the container runs without emulation).
  if (!early) await attachFs(ctx, { ...attachOpts, pidFile: get(parsed.flags, 'pid-file') });
  log.child({ containerId: id }).debug({ idRange: record.idRange, engine: ctx.engine.name }, 'created');
  return 0;
}

export async function run(ctx: Context, parsed: ParsedArgs): Promise<number> {
  const id = containerIdArg(parsed);
  const { record, undo, hookSocket } = await prepare(ctx, parsed, id);
  const fds = passFds(Number(get(parsed.flags, 'preserve-fds') ?? 0));
  const args = [...ctx.engineGlobals(), 'run', ...rewriteFlags(parsed, { bundle: record.privateBundle }), id];
  // [sysbox-fs] only from the hooks: `run` starts the process right after the engine's create
  const fsClient = hookSocket ? preconnectFs(ctx) : undefined;
  const hooks = await hookListener(ctx, record, hookSocket, { containerId: id, idRange: record.idRange, client: fsClient });
  if (!hooks) {
    log.child({ containerId: id }).warn({}, `run: container ${id} runs without /proc and /sys emulation: \`run\` places sysbox-fs's files only from the engine's hooks (engine runc, sysbox-fs running, fsAttach "hooks")`);
  }
  const done = () => {
    hooks?.close();
    void fsClient?.then((c) => c?.close()); // unused if no hook came
  };
  let code: number;
  try {
    code = await runEngineForeground(ctx.engine, args, fds);
  } catch (e) {
    await hooks?.attached;
    done();
    await undo.run(id);
    throw e;
  }
  await hooks?.attached;
  done();
  const detached = isSet(parsed.flags, 'detach');
  if (code !== 0 && detached) {
    await abandon(ctx, id, undo);
    return code;
  }
  if (!detached && !isSet(parsed.flags, 'keep')) await cleanupContainer(ctx, id);
  return code;
}
