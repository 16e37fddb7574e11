// `create` and `run`: the sysbox preparation, the engine's own create (or run) with the converted spec, and the
// placement of sysbox-fs's files before the container's process starts. Fail closed: a container that can't get
// every piece of a system container (sysbox-mgr, sysbox-fs, all its emulated files) is not created, and whatever
// was made is undone.
import { get, isSet, rewriteFlags, type ParsedArgs } from '../cli.js';
import type { Context } from '../context.js';
import { reachFs } from '../daemons.js';
import { passFds, runEngine, runEngineAsync, runEngineForeground } from '../engine.js';
import { invocation } from '../invocation.js';
import { log } from '../log.js';
import { loadNative } from '../native.js';
import { containerIdArg, prepare, type Prepared, type Undo } from './prepare.js';
import { cleanupContainer, removeContainer } from './delete.js';
import { attachFs, hooksAvailable, initPidOf, listenForHooks, type Attached, type AttachOptions, type HookAttach, type Placement } from '../fs.js'; // [sysbox-fs]
import type { FsClient } from '@sysbox/ipc';

/** The engine failed (its error is in --log): remove whatever it left, then undo our part. */
async function abandon(ctx: Context, id: string, undo: Undo): Promise<void> {
  runEngine(ctx.engine, [...ctx.engineGlobals(), 'delete', '--force', id], 'ignore');
  await undo.run(id);
}

/** A prepared container with its sysbox-fs connection, or nothing of it left (the error is thrown). */
async function prepareWithFs(ctx: Context, parsed: ParsedArgs, id: string): Promise<Prepared & { fs: Promise<FsClient> }> {
  // [sysbox-fs] reached while mgr prepares; without it the create fails before the engine runs
  const fs = reachFs(ctx);
  fs.catch(() => undefined);
  let prepared: Prepared;
  try {
    prepared = await prepare(ctx, parsed, id);
  } catch (e) {
    void fs.then((c) => c.close(), () => undefined);
    throw e;
  }
  try {
    await fs;
  } catch (e) {
    await prepared.undo.run(id);
    throw e;
  }
  return { ...prepared, fs };
}

/**
 * [sysbox-fs] The spec's hooks bring the init pid before pivot_root: the files are placed under the rootfs while
 * the engine runs the container's other hooks (see ../fs.ts), and a placement that fails fails the hook, and with
 * it the engine. Undefined without hooks in the spec, or when the socket can't be listened on (then create places
 * the files after the engine's create; `run` fails).
 */
async function hookListener(p: Prepared & { fs: Promise<FsClient> }, attach: (o: AttachOptions) => Promise<Attached>, needNotify = false): Promise<HookAttach | undefined> {
  if (!p.hookSocket) return undefined;
  try {
    return await listenForHooks(p.hookSocket, (initPid) => attach({ containerId: p.record.containerId, idRange: p.record.idRange, client: p.fs, initPid, root: p.record.stagedRootfs }), needNotify);
  } catch (e) {
    log.child({ containerId: p.record.containerId }).warn({ err: (e as Error).message, socket: p.hookSocket }, "cannot listen for the attach hooks: sysbox-fs files are placed after the engine's create");
    return undefined;
  }
}

/** The hooks' placement, once the engine is done: undefined if no notify came. */
async function placed(hooks: HookAttach | undefined): Promise<Placement | undefined> {
  const p = hooks?.attached;
  hooks?.close();
  return p;
}

export async function create(ctx: Context, parsed: ParsedArgs): Promise<number> {
  const id = containerIdArg(parsed);
  const p = await prepareWithFs(ctx, parsed, id);
  const { undo } = p;
  const fds = passFds(Number(get(parsed.flags, 'preserve-fds') ?? 0));
  const args = [...ctx.engineGlobals(), 'create', ...rewriteFlags(parsed, { bundle: p.record.privateBundle }), id];
  const hooks = await hookListener(p, (o) => attachFs(ctx, o));
  let code: number;
  try {
    code = await (invocation().runEngine ?? runEngineAsync)(ctx.engine, args, fds);
  } catch (e) {
    await placed(hooks);
    void p.fs.then((c) => c.close(), () => undefined);
    await undo.run(id);
    throw e;
  }
  const early = await placed(hooks);
  if (code !== 0 || (early && !early.ok)) {
    if (!early) void p.fs.then((c) => c.close(), () => undefined);
    await abandon(ctx, id, undo);
    // a placement that failed in the hooks failed the engine: its reason is the create's error (the last in --log)
    if (early && !early.ok) throw early.error;
    return code;
  }
  log.child({ containerId: id }).debug({ during: early ? 'hooks' : 'after-create' }, 'engine create done');
  // [sysbox-fs] emulated /proc and /sys files, placed before the container's process starts (see ../fs.ts)
  if (!early) {
    try {
      await attachFs(ctx, { containerId: id, idRange: p.record.idRange, client: p.fs, pidFile: get(parsed.flags, 'pid-file') });
    } catch (e) {
      await abandon(ctx, id, undo);
      throw e;
    }
  }
  log.child({ containerId: id }).debug({ idRange: p.record.idRange, engine: ctx.engine.name }, 'created');
  return 0;
}

/**
 * `run`: with the attach hooks (engine runc), the engine's own run, the files placed from its hooks (a placement
 * that fails, or hooks that never came, fail the run before the process starts). Without them (crun, or fsAttach
 * "after-create"), create's whole sequence, then the engine's start and, in the foreground, a wait for the
 * container's init (reaped as this process's child: sysbox-runc becomes a subreaper before the engine's create).
 */
export async function run(ctx: Context, parsed: ParsedArgs): Promise<number> {
  const id = containerIdArg(parsed);
  const detached = isSet(parsed.flags, 'detach');
  if (!hooksAvailable(ctx)) return runInSteps(ctx, parsed, id, detached);
  const p = await prepareWithFs(ctx, parsed, id);
  const fds = passFds(Number(get(parsed.flags, 'preserve-fds') ?? 0));
  const args = [...ctx.engineGlobals(), 'run', ...rewriteFlags(parsed, { bundle: p.record.privateBundle }), id];
  // `run` starts the process right after the engine's create: the files can only be placed from the hooks, and a
  // wait hook that comes without notify fails the run
  const hooks = await hookListener(p, (o) => attachFs(ctx, o), true);
  if (!hooks) {
    void p.fs.then((c) => c.close(), () => undefined);
    await p.undo.run(id);
    throw new Error(`run: cannot listen on ${p.hookSocket} for the engine's hooks, which place the /proc and /sys emulation of container ${id}`);
  }
  let code: number;
  try {
    code = await runEngineForeground(ctx.engine, args, fds);
  } catch (e) {
    await placed(hooks);
    await p.undo.run(id);
    throw e;
  }
  const early = await placed(hooks);
  if (!early) void p.fs.then((c) => c.close(), () => undefined);
  if (early && !early.ok) {
    await abandon(ctx, id, p.undo);
    throw early.error;
  }
  if (code !== 0 && detached) {
    await abandon(ctx, id, p.undo);
    return code;
  }
  if (!detached && !isSet(parsed.flags, 'keep')) await cleanupContainer(ctx, id);
  return code;
}

/**
 * `run` without the attach hooks: create (files placed after the engine's create), start, and wait. (A terminal
 * then needs --console-socket, as the engine's create requires; it says so itself.)
 */
async function runInSteps(ctx: Context, parsed: ParsedArgs, id: string, detached: boolean): Promise<number> {
  const kernel = loadNative().realKernel();
  if (!detached) kernel.setChildSubreaper(); // the init becomes our child once the engine's create exits
  const createArgs: ParsedArgs = { ...parsed, command: 'create', flags: withoutRunFlags(parsed.flags), flagTokens: rewriteFlags(parsed, { detach: null, keep: null, 'no-subreaper': null }) };
  const code = await create(ctx, createArgs);
  if (code !== 0) return code;
  const initPid = initPidOf(ctx, id, get(parsed.flags, 'pid-file'));
  // a pidfd before start: the pid can't be reused until we reap it
  const pidfd = detached ? -1 : kernel.pidfdOpen(initPid);
  const started = runEngine(ctx.engine, [...ctx.engineGlobals(), 'start', id], 'ignore');
  if (started !== 0) {
    if (pidfd >= 0) kernel.close(pidfd);
    await removeContainer(ctx, id);
    throw new Error(`run: the engine's start of container ${id} failed (exit ${started}; see the log)`);
  }
  if (detached) return 0;
  const sigs: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
  const fwd = (s: NodeJS.Signals) => {
    try {
      process.kill(initPid, s);
    } catch {
      // exited meanwhile
    }
  };
  for (const s of sigs) process.on(s, fwd);
  let status: number;
  try {
    status = await kernel.pidfdWait(pidfd);
  } finally {
    for (const s of sigs) process.off(s, fwd);
  }
  if (!isSet(parsed.flags, 'keep')) await removeContainer(ctx, id);
  return status;
}

function withoutRunFlags(flags: ParsedArgs['flags']): ParsedArgs['flags'] {
  const out = new Map(flags);
  for (const k of ['detach', 'keep', 'no-subreaper']) out.delete(k);
  return out;
}
