// The sysbox part of `create` and `run`, in this order: validate the spec and apply every rule that can refuse it
// (OCI rules, the sysbox rules, the mount policy) before anything is done; then claim the id, get an ID range, a
// staged rootfs and staged mounts from sysbox-mgr; convert the spec and write it into a private bundle.
// Every step with an effect registers its undo; a failure anywhere undoes what was done, in reverse.
import { readFileSync, writeFileSync, mkdirSync, existsSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { get, type ParsedArgs } from '../cli.js';
import type { Context } from '../context.js';
import { daemonMessage, fsSeccompSocket, reachMgr } from '../daemons.js';
import { boundingSetMask, isHostNamespace } from '../host.js';
import type { Log } from '../log.js';
import { preloadNativeSpawn } from '../engine.js';
import { removeStateDir, writeRecord, type ContainerRecord } from '../state.js';
import { attachHooksFor, EMULATED_PATHS } from '../fs.js'; // [sysbox-fs]
import { conformanceOf, registerError, removeStagedDevices, stageDevices } from '../conformance.js';
import { EXEC_CGROUP_RECORD, SYSTEMD_LEAF, hostCgroupV2 } from '../cgroups.js';
import type { MgrClient } from '@sysbox/ipc';
import { dockerResolvConf } from '@sysbox/dns';

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
  constructor(private readonly log: Log) {}
  push(what: string, fn: () => unknown): void {
    this.steps.push({ what, fn });
  }
  async run(): Promise<void> {
    while (this.steps.length) {
      const s = this.steps.pop()!;
      try {
        await s.fn();
      } catch (e) {
        this.log.warn({ step: s.what, err: (e as Error).message }, `cleanup after failed create: ${s.what} failed`);
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
  /** device nodes made for the engine to bind in: removed once its create is done (see ../conformance.ts) */
  devicesDir?: string;
  /** [dns] Docker's resolv.conf for the container (a system container's embedded DNS is aliased, see ../dns.ts) */
  resolvConf?: string;
}

export async function prepare(ctx: Context, parsed: ParsedArgs, id: string): Promise<Prepared> {
  const undo = new Undo(ctx.log.child({ containerId: id }));
  if (existsSync(join(ctx.engineRoot, id)) || existsSync(ctx.stateDir(id))) throw new CreateError(`container with id exists: ${id}`);
  // The mgr connection is opened now and warmed with a Status call, while the spec is read and checked below.
  // Its failure (a dead or hung mgr: one line, see ../daemons.ts) is reported only where mgr is needed, after
  // the refusals of bad input.
  const mgrP = reachMgr(ctx);
  mgrP.catch(() => undefined);
  preloadNativeSpawn(ctx); // loads while mgr works: the engine is then spawned without fork()
  try {
    return await prepareWith(ctx, parsed, id, undo, mgrP);
  } catch (e) {
    await undo.run();
    throw e;
  } finally {
    void mgrP.then((m) => m.close(), () => undefined);
  }
}

async function prepareWith(ctx: Context, parsed: ParsedArgs, id: string, undo: Undo, mgrP: Promise<MgrClient>): Promise<Prepared> {
  const clog = ctx.log.child({ containerId: id });
  const bundle = resolve(ctx.cwd, get(parsed.flags, 'bundle') ?? '.');
  const stateDir = ctx.stateDir(id);

  // ---- every refusal, before anything is done ----
  let text: string;
  try {
    text = readFileSync(join(bundle, 'config.json'), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CreateError(existsSync(bundle) ? `bundle ${bundle}: no config.json in it` : `bundle ${bundle}: no such directory`);
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
  // the container's switches (honour-caps, regular-container mode) and the ID range its maps ask for (see ../conformance.ts)
  const conf = conformanceOf(ctx, spec, parsedSpec);
  const syscont = conf.options.syscontMode; // a regular container gets no sysbox-fs emulation and no special dirs
  // SysboxSpecError carries the user-facing message
  const ruled = spec.applySysboxRules(parsedSpec, { isHostNamespace, inspectNamespace: conf.inspectNamespace });
  // [mounts, issue 4] restricted host mounts and bad mount input; see ../mounts.ts
  const mounts = await import('../mounts.js');
  const mountPlan = await mounts.planMounts(parsedSpec, id, rootfs, {
    policyFile: ctx.env('SYSBOX_MOUNT_POLICY'),
    specialDirs: syscont && ctx.env('SYSBOX_SPECIAL_DIRS') !== '0',
    log: clog,
  });
  clog.debug({}, 'spec parsed, rules applied, mounts planned');

  // [vetting] the container's mount calls go to sysbox-fs: no listener socket, no system container
  const seccompSocket = fsSeccompSocket(ctx);
  if (seccompSocket && !existsSync(seccompSocket)) throw new CreateError(daemonMessage('sysbox-fs', seccompSocket, `sysbox-fs's seccomp socket ${seccompSocket} is missing (it vets the container's mount calls)`));

  // ---- the id, a range, a staged rootfs and mounts ----
  // Our state dir marks the id as taken (and is the liveness path mgr watches).
  mkdirSync(ctx.stateRoot, { recursive: true, mode: 0o700 });
  try {
    mkdirSync(stateDir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new CreateError(`container with id exists: ${id}`);
    throw e;
  }
  undo.push('remove state dir', () => removeStateDir(stateDir));
  const mgr = await mgrP;
  clog.debug({}, 'mgr connected');
  // Sent back to back: mgr runs one container's calls in arrival order. replace: we just claimed the id (the engine
  // doesn't know it, our state dir is new), so a registration mgr still holds for it is a deleted container's whose
  // teardown hasn't run yet (docker restart). mgr reclaims the range itself if our state dir disappears without an
  // Unregister.
  const regP = mgr.register({ containerId: id, bundle, rootfs, livenessPath: stateDir, replace: true, requestedIdRange: conf.requestedIdRange });
  const stagedP = mgr.prepareRootfs({ containerId: id, rootfs });
  const mountsP = mounts.stageMounts(mgr, id, mountPlan, rootfs, clog);
  const all = Promise.allSettled([regP, stagedP, mountsP]); // no unhandled rejection while one is awaited
  // On this connection while it is open, else on a new one (a failed engine create undoes after prepare returned).
  undo.push('release ID range', async () => {
    try {
      await mgr.unregister({ containerId: id });
    } catch (e) {
      if ((e as { code?: string }).code !== 'CLOSED') throw e;
      const m = await reachMgr(ctx);
      try {
        await m.unregister({ containerId: id });
      } finally {
        m.close();
      }
    }
  });
  await all;
  // register's outcome first: a refused registration reports itself, not the NOT_FOUND of the calls behind it
  const idRange = (
    await regP.catch((e: unknown) => {
      throw registerError(spec, e, conf.requestedIdRange);
    })
  ).idRange;
  if (!idRange) throw new CreateError('sysbox-mgr returned no ID range');
  const staged = await stagedP;
  const stagedMounts = await mountsP;
  clog.debug({ idRange, staged, mounts: stagedMounts }, 'range allocated, rootfs and mounts staged');

  // ---- the converted spec, in a private bundle ----
  const hostCapabilities = spec.capsFromMask(boundingSetMask());
  const attachHooks = syscont ? attachHooksFor(ctx, stateDir) : undefined; // [sysbox-fs]
  // linux.devices the host lacks, made for the engine to bind in (or refused naming the device)
  const devices = stageDevices(ctx, spec, parsedSpec, id, idRange);
  if (devices) undo.push('remove staged devices', () => removeStagedDevices(devices.dir));
  const converted = spec.applyModifiers(ruled, {
    isHostNamespace,
    inspectNamespace: conf.inspectNamespace,
    ...conf.options,
    idRange: { uid: idRange.uid, gid: idRange.gid, size: idRange.size },
    hostCapabilities,
    rootfs: staged.rootfs,
    ...stagedMounts, // [mounts]
    ...(devices ? { stagedDevices: devices.stagedDevices } : {}),
    ...(syscont ? { emulatedPaths: [...EMULATED_PATHS] } : {}), // [sysbox-fs] /proc/sys writable (the kernel guards it), its knobs emulated
    ...(attachHooks ? { attachHooks } : {}), // [sysbox-fs] files placed during the engine's hooks
    ...(seccompSocket ? { seccompNotify: spec.vettingNotify(seccompSocket, id) } : {}), // [vetting]
    ...(ctx.engine.name === 'runc' ? { bindsLocked: true } : {}), // [vetting] its copy of the mount namespace locks staged binds
  });
  const privateBundle = join(stateDir, 'bundle');
  mkdirSync(privateBundle, { mode: 0o711 });
  writeFileSync(join(privateBundle, 'config.json'), JSON.stringify(converted.spec));
  clog.debug({ changes: converted.changes }, 'spec converted and written');

  const record: ContainerRecord = {
    containerId: id,
    bundle,
    privateBundle,
    rootfs,
    stagedRootfs: staged.rootfs,
    idRange: { uid: idRange.uid, gid: idRange.gid, size: idRange.size },
    engine: ctx.engine.name,
    createdAt: new Date().toISOString(),
    ...(conf.options.honorCaps ? { honorCaps: true } : {}),
    ...(syscont ? {} : { syscontMode: false }),
  };
  writeRecord(stateDir, record);
  // The front door (native/csrc/sysbox-runc.c) sends `start`, `kill` and `delete` straight to this engine, and
  // `exec` to it with these capability sets spliced into Docker's process spec.
  writeFileSync(join(stateDir, 'engine'), `${ctx.engine.path}\n`);
  const execCaps = spec.execCapsRecord(parsedSpec.process, hostCapabilities, conf.options.honorCaps);
  if (execCaps) writeFileSync(join(stateDir, 'exec-caps'), execCaps);
  // ... and `kill` with SIGTERM as the init's own stop signal (systemd: SIGRTMIN+3, also when the image declares none)
  if (syscont && spec.isSystemdInit(parsedSpec)) writeFileSync(join(stateDir, 'stop-signal'), `${spec.SYSTEMD_STOP_SIGNAL}\n`);
  // ... and `exec` into systemd's leaf on a cgroup v2 host (see cgroups.ts)
  if (syscont && spec.isSystemdInit(parsedSpec) && hostCgroupV2()) writeFileSync(join(stateDir, EXEC_CGROUP_RECORD), `${SYSTEMD_LEAF}\n`);
  // ... and `delete` of an id nobody knows (Docker's second delete) to the engine last used here.
  const enginePath = join(ctx.root, 'engine-path');
  if (readIfExists(enginePath) !== `${ctx.engine.path}\n`) writeFileSync(enginePath, `${ctx.engine.path}\n`);
  const resolvConf = syscont ? dockerResolvConf(parsedSpec.mounts, id) : undefined; // [dns]
  return {
    record,
    undo,
    ...(attachHooks ? { hookSocket: attachHooks.socket } : {}),
    ...(devices ? { devicesDir: devices.dir } : {}),
    ...(resolvConf ? { resolvConf } : {}),
  };
}
