// `create` and `run`: one sequence. The sysbox preparation (./prepare.ts), the engine's own create (or, for `run`
// with the attach hooks, its run), and the placement of sysbox-fs's files before the container's process starts.
// Fail closed: a container that can't get every piece of a system container (sysbox-mgr, sysbox-fs, all its
// emulated files) is not created, and whatever was made is undone.
import { get, isSet, rewriteFlags, type ParsedArgs } from '../cli.js';
import type { Context } from '../context.js';
import { reachFs } from '../daemons.js';
import { passFds, runEngine } from '../engine.js';
import { loadNative } from '../native.js';
import { containerIdArg, prepare, type Prepared, type Undo } from './prepare.js';
import { cleanupContainer, removeContainer } from './delete.js';
import { attachFs, hooksAvailable, initPidOf, listenForHooks, type Attached, type HookAttach, type Placement } from '../fs.js'; // [sysbox-fs]
import { delegateCgroups, readExecCgroup } from '../cgroups.js';
import type { FsClient } from '@sysbox/ipc';
import { engineBundleFlags, removeStagedDevices } from '../conformance.js';
import { aliasDockerDns } from '../dns.js';

/** The engine failed (its error is in --log): remove whatever it left, then undo our part. */
async function abandon(ctx: Context, id: string, undo: Undo): Promise<void> {
  await runEngine(ctx, [...ctx.engineGlobals(), 'delete', '--force', id], { fds: 'ignore' });
  await undo.run();
}

export function create(ctx: Context, parsed: ParsedArgs): Promise<number> {
  return createSequence(ctx, parsed, containerIdArg(parsed), 'create');
}

/**
 * `run`: with the attach hooks (engine runc), the sequence with the engine's own run: the files are placed from its
 * hooks, and a placement that fails, or hooks that never came, fail the run before the process starts. Without
 * them (crun, or fsAttach "after-create"), create's sequence, then the engine's start and, in the foreground, a wait
 * for the container's init.
 */
export function run(ctx: Context, parsed: ParsedArgs): Promise<number> {
  const id = containerIdArg(parsed);
  return hooksAvailable(ctx) ? createSequence(ctx, parsed, id, 'run') : runInSteps(ctx, parsed, id);
}

async function createSequence(ctx: Context, parsed: ParsedArgs, id: string, verb: 'create' | 'run'): Promise<number> {
  const clog = ctx.log.child({ containerId: id });
  // [sysbox-fs] reached while mgr prepares; without it the create fails before the engine runs
  const fs = reachFs(ctx);
  fs.catch(() => undefined);
  const closeFs = () => void fs.then((c) => c.close(), () => undefined);
  let p: Prepared;
  try {
    p = await prepare(ctx, parsed, id);
  } catch (e) {
    closeFs();
    throw e;
  }
  const regular = p.record.syscontMode === false; // SYSBOX_SYSCONT_MODE=FALSE: no sysbox-fs files to place
  try {
    await fs;
  } catch (e) {
    if (!regular) {
      await p.undo.run();
      throw e;
    }
  }
  const detached = verb === 'run' && isSet(parsed.flags, 'detach');
  const fds = passFds(Number(get(parsed.flags, 'preserve-fds') ?? 0));
  const args = [...ctx.engineGlobals(), verb, ...rewriteFlags(parsed, engineBundleFlags(ctx, p.record)), id];
  // [sysbox-fs] the files placed while the engine runs its hooks (see ../fs.ts); `run` can't place them later
  const hooks = await listenIfHooks(ctx, p, fs, verb === 'run');
  if (verb === 'run' && !hooks && !regular) {
    closeFs();
    await p.undo.run();
    throw new Error(`run: cannot listen on ${p.hookSocket} for the engine's hooks, which place the /proc and /sys emulation of container ${id}`);
  }
  let code: number;
  try {
    ({ code } = await runEngine(ctx, args, { fds, foreground: verb === 'run' }));
  } catch (e) {
    await placed(hooks);
    closeFs();
    await p.undo.run();
    throw e;
  }
  const early = await placed(hooks);
  removeStagedDevices(p.devicesDir); // bound in by the engine (the binds keep the nodes), or not needed any more
  // (a placement closes the sysbox-fs client; without one, the placement after the engine's create does)
  if ((early && !early.ok) || (code !== 0 && (verb === 'create' || detached))) {
    if (!early) closeFs();
    await abandon(ctx, id, p.undo);
    // a placement that failed in the hooks failed the engine: its reason is the create's error (the last in --log)
    if (early && !early.ok) throw early.error;
    return code;
  }
  if (verb === 'run') {
    // the engine's run has ended (or, detached, started the container)
    if (!early) closeFs();
    if (!detached && !isSet(parsed.flags, 'keep')) await cleanupContainer(ctx, id);
    return code;
  }
  clog.debug({ during: early ? 'hooks' : 'after-create' }, 'engine create done');
  // the rest of the system container inside it, before its process starts (from the hooks, or now); a regular
  // container (SYSBOX_SYSCONT_MODE=FALSE) has none
  if (!early && regular) closeFs();
  else if (!early) {
    try {
      const initPid = await initPidOf(ctx, id, get(parsed.flags, 'pid-file'));
      await finishInside(ctx, p, fs, initPid);
      await networked(ctx, p, initPid);
    } catch (e) {
      await abandon(ctx, id, p.undo);
      throw e;
    }
  }
  clog.debug({ idRange: p.record.idRange, engine: ctx.engine.name }, 'created');
  return 0;
}

/**
 * What a system container gets inside, once the engine has made it and before its process starts: its cgroups
 * delegated to its root (../cgroups.ts) and [sysbox-fs] its emulated /proc and /sys files (../fs.ts). `root`: its
 * root as the init sees it, when done from the engine's hooks (before pivot_root).
 */
async function finishInside(ctx: Context, p: Prepared, fs: Promise<FsClient>, initPid: number, root?: string): Promise<Attached> {
  const { containerId, idRange } = p.record;
  try {
    const leaf = readExecCgroup(ctx.stateDir(containerId));
    const dirs = delegateCgroups(initPid, idRange, leaf ? { leaf } : {});
    ctx.log.child({ containerId }).debug({ dirs }, 'cgroups delegated');
  } catch (e) {
    void fs.then((c) => c.close(), () => undefined);
    throw new Error(`cannot delegate the cgroups of container ${containerId} to its root: ${(e as Error).message}`);
  }
  return attachFs(ctx, { containerId, idRange, client: fs, initPid, ...(root ? { root } : {}) });
}

/**
 * What a system container gets once its network is set up (Docker's libnetwork-setkey hook has run), before its
 * process starts: [dns] its embedded DNS aliased to its gateway (../dns.ts).
 */
async function networked(ctx: Context, p: Prepared, initPid: number): Promise<void> {
  const { containerId } = p.record;
  await aliasDockerDns(ctx, { containerId, initPid, resolvConf: p.resolvConf, workDir: ctx.stateDir(containerId) });
}

/** Listens for the spec's attach hooks, if it has them; undefined when it can't (then create places the files later). */
async function listenIfHooks(ctx: Context, p: Prepared, fs: Promise<FsClient>, needNotify: boolean): Promise<HookAttach | undefined> {
  if (!p.hookSocket) return undefined;
  const { stagedRootfs } = p.record;
  try {
    return await listenForHooks(p.hookSocket, (initPid) => finishInside(ctx, p, fs, initPid, stagedRootfs), needNotify, (initPid) => networked(ctx, p, initPid));
  } catch (e) {
    ctx.log.child({ containerId: p.record.containerId }).warn({ err: (e as Error).message, socket: p.hookSocket }, "cannot listen for the attach hooks: sysbox-fs files are placed after the engine's create");
    return undefined;
  }
}

/** The hooks' placement, once the engine is done: undefined if no notify came. */
async function placed(hooks: HookAttach | undefined): Promise<Placement | undefined> {
  const p = hooks?.attached;
  hooks?.close();
  return p;
}

/**
 * `run` without the attach hooks: create (files placed after the engine's create), start, and in the foreground a
 * wait for the init, reaped as this process's child (sysbox-runc is a subreaper from before the engine's create).
 * (A terminal then needs --console-socket, as the engine's create requires; it says so itself.)
 */
async function runInSteps(ctx: Context, parsed: ParsedArgs, id: string): Promise<number> {
  const detached = isSet(parsed.flags, 'detach');
  const kernel = loadNative().realKernel();
  if (!detached) kernel.setChildSubreaper(); // the init becomes our child once the engine's create exits
  const asCreate: ParsedArgs = {
    ...parsed,
    command: 'create',
    flags: new Map([...parsed.flags].filter(([k]) => k !== 'detach' && k !== 'keep' && k !== 'no-subreaper')),
    flagTokens: rewriteFlags(parsed, { detach: null, keep: null, 'no-subreaper': null }),
  };
  const code = await createSequence(ctx, asCreate, id, 'create');
  if (code !== 0) return code;
  const initPid = await initPidOf(ctx, id, get(parsed.flags, 'pid-file'));
  // a pidfd before start: the pid can't be reused until we reap it
  const pidfd = detached ? -1 : kernel.pidfdOpen(initPid);
  const started = (await runEngine(ctx, [...ctx.engineGlobals(), 'start', id], { fds: 'ignore' })).code;
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
