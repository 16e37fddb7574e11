// The sysbox part of `create` and `run`: validate the spec, refuse what a system container can't do,
// get an ID range and a staged rootfs from sysbox-mgr, convert the spec and write it into a private bundle.
// Every step registers its undo; a failure anywhere undoes what was done, in reverse.
import { readFileSync, writeFileSync, mkdirSync, existsSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { get, type ParsedArgs } from '../cli.js';
import type { Context } from '../context.js';
import { boundingSetMask, isHostNamespace } from '../host.js';
import { log } from '../log.js';
import { preloadNativeSpawn } from '../engine.js';
import { invocation } from '../invocation.js';
import { removeStateDir, writeRecord, type ContainerRecord } from '../state.js';
import { attachHooksFor, EMULATED_PATHS } from '../fs.js'; // [sysbox-fs]
import { daemonMessage, fsSeccompSocket } from '../daemons.js'; // [vetting]
import { reachMgr } from '../daemons.js';
import type { MgrClient } from '@sysbox/ipc';

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export class CreateError extends Error {
  override name = 'CreateError';
}

export class Undo {
  private steps: Array<{ what: string; fn: () => unknown }> = [];
  push(what: string, fn: () => unknown): void {
    this.steps.push({ what, fn });
  }
  async run(containerId: string): Promise<void> {
    while (this.steps.length) {
      const s = this.steps.pop()!;
      try {
        await s.fn();
      } catch (e) {
        log.warn({ containerId, step: s.what, err: (e as Error).message }, `cleanup after failed create: ${s.what} failed`);
      }
    }
  }
}

const ID_RE = /^[\w+\-.]+$/;

export function containerIdArg(parsed: ParsedArgs): string {
  const id = parsed.positionals[0];
  if (!id) throw new CreateError(`${parsed.command}: missing container id`);
  if (!ID_RE.test(id)) throw new CreateError(`invalid container id format: ${id}`);
  return id;
}

export interface Prepared {
  record: ContainerRecord;
  undo: Undo;
  /** [sysbox-fs] the socket the spec's attach hooks connect to; create listens on it (see ../fs.ts) */
  hookSocket?: string;
}

export async function prepare(ctx: Context, parsed: ParsedArgs, id: string): Promise<Prepared> {
  const undo = new Undo();
  const stateDir = ctx.stateDir(id);

  if (existsSync(join(ctx.engineRoot, id)) || existsSync(stateDir)) throw new CreateError(`container with id exists: ${id}`);

  // The mgr connection is opened now and warmed with a Status call, while the spec is read and checked below.
  // Its failure (a dead or hung mgr: one line, see ../daemons.ts) is reported only where mgr is needed, after
  // the refusals of bad input.
  const mgrP = reachMgr(ctx);
  mgrP.catch(() => undefined);
  preloadNativeSpawn(); // loads while mgr works: the engine is then spawned without fork()
  const sent = { register: false };
  try {
    return await prepareWith(ctx, parsed, id, undo, mgrP, sent);
  } catch (e) {
    // Before our Register, a refusal leaves nothing of ours in mgr, but the launcher's prestage hint (see
    // bin/sysbox-runc.sh) may have registered the id: drop that (and only that) registration.
    if (!sent.register) await dropPrestaged(mgrP, id);
    else void mgrP.then((m) => m.close(), () => undefined);
    throw e;
  }
}

async function dropPrestaged(mgrP: Promise<MgrClient>, id: string): Promise<void> {
  let mgr: MgrClient;
  try {
    mgr = await mgrP;
  } catch {
    return;
  }
  try {
    await mgr.unregister({ containerId: id, prestagedOnly: true });
  } catch (e) {
    log.child({ containerId: id }).warn({ err: (e as Error).message }, 'cannot drop the prestaged registration: sysbox-mgr drops it by itself within 30 s');
  } finally {
    mgr.close();
  }
}

async function prepareWith(
  ctx: Context,
  parsed: ParsedArgs,
  id: string,
  undo: Undo,
  mgrP: Promise<MgrClient>,
  sent: { register: boolean },
): Promise<Prepared> {
  const clog = log.child({ containerId: id });
  const bundle = resolve(invocation().cwd(), get(parsed.flags, 'bundle') ?? '.');
  const stateDir = ctx.stateDir(id);

  let text: string;
  try {
    text = readFileSync(join(bundle, 'config.json'), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CreateError(
        existsSync(bundle) ? `bundle ${bundle}: no config.json in it` : `bundle ${bundle}: no such directory`,
      );
    }
    throw new CreateError(`bundle ${bundle}: can't read config.json: ${(e as Error).message}`);
  }

  const spec = await import('@sysbox/spec');
  clog.debug({}, 'spec library loaded');
  const parsedSpec = spec.parseSpec(text); // throws SpecError with a path-bearing message
  const rootPath = parsedSpec.root?.path;
  if (!rootPath) throw new CreateError(`${join(bundle, 'config.json')}: root.path: missing`);
  const rootfs = isAbsolute(rootPath) ? rootPath : join(bundle, rootPath);
  try {
    if (!statSync(rootfs).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new CreateError(`rootfs ${rootfs}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (e as Error).message}`);
  }
  // Claim our state dir: it is what marks the id as taken (and the liveness path mgr watches).
  mkdirSync(ctx.stateRoot, { recursive: true, mode: 0o700 });
  try {
    mkdirSync(stateDir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new CreateError(`container with id exists: ${id}`);
    throw e;
  }
  undo.push('remove state dir', () => removeStateDir(stateDir));

  const { connectMgr } = await import('@sysbox/ipc');
  let mgr: MgrClient | undefined;
  try {
    mgr = await mgrP;
    clog.debug({}, 'mgr connected');
    // Register and PrepareRootfs go out now, so that mgr allocates and stages while the sysbox rules and the
    // mount plan are checked here; a refusal below undoes them (mgr runs one container's calls in arrival
    // order). replace: we just claimed the id (the engine doesn't know it, our state dir is new), so a
    // registration mgr still holds for it is a deleted container's whose teardown hasn't run yet (docker
    // restart). mgr reclaims the range by itself if our state dir disappears without an Unregister.
    // (a registration made ahead by the launcher's prestage hint for this bundle is taken over: see bin/sysbox-runc.sh)
    const regP = mgr.register({ containerId: id, bundle, rootfs, livenessPath: stateDir, replace: true });
    sent.register = true;
    const stagedP = mgr.prepareRootfs({ containerId: id, rootfs });
    const early = Promise.allSettled([regP, stagedP]); // no unhandled rejection while we check
    // On this connection while it is open (mgr takes it after the calls above), else on a new one (a failed
    // engine create undoes after prepare returned).
    const client = mgr;
    undo.push('release ID range', async () => {
      try {
        await client.unregister({ containerId: id });
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== 'CLOSED') throw e;
      }
      const m = await connectMgr({ socketPath: ctx.mgrSocket });
      try {
        await m.unregister({ containerId: id });
      } finally {
        m.close();
      }
    });

    // Refusals (SysboxSpecError carries the user-facing message).
    spec.applySysboxRules(parsedSpec, { isHostNamespace });
    clog.debug({}, 'spec parsed, rules applied');
    // [mounts, issue 4] restricted host mounts and bad mount input refused here too; see ../mounts.ts.
    const mounts = await import('../mounts.js');
    clog.debug({}, 'mount library loaded');
    const mountPlan = await mounts.planMounts(parsedSpec, id, rootfs);
    // [mounts] ID-mapped bind sources and special dirs, staged by mgr (Unregister unstages them).
    const mountsP = mounts.stageMounts(mgr, id, mountPlan, rootfs);
    const settled = Promise.allSettled([early, mountsP]);

    // register's outcome first: a refused registration reports itself, not the NOT_FOUND of the calls behind it
    const reg = await regP;
    const idRange = reg.idRange;
    if (!idRange) throw new CreateError('sysbox-mgr returned no ID range');
    clog.debug({ idRange }, 'ID range allocated');
    await settled;
    const staged = await stagedP;
    clog.debug({ staged }, 'rootfs staged');
    const stagedMounts = await mountsP;

    const hostCapabilities = spec.capsFromMask(boundingSetMask());
    const attachHooks = attachHooksFor(ctx, stateDir); // [sysbox-fs]
    // [vetting] the container's mount calls go to sysbox-fs (fail closed: no listener socket, no system container)
    const seccompSocket = fsSeccompSocket(ctx);
    if (seccompSocket && !existsSync(seccompSocket)) throw new CreateError(daemonMessage('sysbox-fs', seccompSocket, `sysbox-fs's seccomp socket ${seccompSocket} is missing (it vets the container's mount calls)`));
    const converted = spec.convertSpec(parsedSpec, {
      isHostNamespace,
      idRange: { uid: idRange.uid, gid: idRange.gid, size: idRange.size },
      hostCapabilities,
      rootfs: staged.rootfs,
      ...stagedMounts, // [mounts]
      emulatedPaths: [...EMULATED_PATHS], // [sysbox-fs] /proc/sys writable (the kernel guards it), its knobs emulated
      ...(attachHooks ? { attachHooks } : {}), // [sysbox-fs] files placed during the engine's hooks
      ...(seccompSocket ? { seccompNotify: spec.vettingNotify(seccompSocket, id) } : {}), // [vetting]
    });
    const privateBundle = join(stateDir, 'bundle');
    mkdirSync(privateBundle, { mode: 0o711 });
    writeFileSync(join(privateBundle, 'config.json'), JSON.stringify(converted.spec));
    clog.debug({ mounts: stagedMounts }, 'mounts staged, spec written');
    clog.debug({ changes: converted.changes }, 'spec converted');

    const record: ContainerRecord = {
      containerId: id,
      bundle,
      privateBundle,
      rootfs,
      stagedRootfs: staged.rootfs,
      idRange: { uid: idRange.uid, gid: idRange.gid, size: idRange.size },
      engine: ctx.engine.name,
      createdAt: new Date().toISOString(),
    };
    writeRecord(stateDir, record);
    // The launcher's fast path (bin/sysbox-runc.sh) sends `start`, `kill` and `delete` straight to this engine,
    // and `exec` through sysbox-runc-exec, which splices these capability sets into Docker's process spec.
    writeFileSync(join(stateDir, 'engine'), `${ctx.engine.path}\n`);
    const execCaps = spec.execCapsRecord(parsedSpec.process, hostCapabilities);
    if (execCaps) writeFileSync(join(stateDir, 'exec-caps'), execCaps);
    // ... and `delete` of an id nobody knows (Docker's second delete) to the engine last used here.
    const enginePath = join(ctx.root, 'engine-path');
    if (readIfExists(enginePath) !== `${ctx.engine.path}\n`) writeFileSync(enginePath, `${ctx.engine.path}\n`);
    return { record, undo, ...(attachHooks ? { hookSocket: attachHooks.socket } : {}) };
  } catch (e) {
    await undo.run(id);
    throw e;
  } finally {
    mgr?.close();
  }
}
