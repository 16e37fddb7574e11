import type { ContainerInfo, MgrHandlers, RegisterRequest, PrepareRootfsRequest, PrepareMountsRequest, PrepareMountsResponse, UnregisterRequest, GetRequest, Init, ListResponse, PrepareRootfsResponse, RegisterResponse, StatusResponse, UnregisterResponse } from '@sysbox/ipc';
import { IdmapError, RangeAllocator, RangeExhaustedError, type AllocatorState, type IdPool, type IdRange, type Store } from '@sysbox/idmap';
import type { Logger } from 'pino';
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { errText, MgrError } from './errors.js';
import type { Stager } from './stager.js';
import { unavailableMountStager, type MountStageRequest, type MountStageResult, type MountStager } from './mount-stager.js';

/** One registered container, as persisted in state.json. */
export interface ContainerRecord {
  containerId: string;
  idRange: IdRange;
  rootfs: string;
  bundle: string;
  /** the staged rootfs the engine uses as root.path ('' until PrepareRootfs) */
  stagedRootfs: string;
  stagingMethod: string;
  registeredAt: number;
  /** a path that exists as long as the container does ('' if the caller gave none); see reap() */
  livenessPath?: string;
}

/** The whole of state.json: written atomically after every change. */
export interface MgrState {
  version: 1;
  allocator: AllocatorState;
  containers: Record<string, ContainerRecord>;
}

export interface MgrServiceOptions {
  pool: IdPool;
  rangeSize?: number;
  store: Store;
  stager: Stager;
  /** bind-mount and special-dir staging (default: unavailable; PrepareMounts with mounts then fails) */
  mountStager?: MountStager;
  dataDir: string;
  log: Logger;
  version: string;
  pid?: number;
  now?: () => number;
  /** does a liveness path still exist? (default: stat; only ENOENT/ENOTDIR count as gone) */
  pathExists?: (path: string) => Promise<boolean>;
  /** called first when a container is torn down (e.g. drops its sysbox-fs views); errors are logged */
  onUnregister?: (containerId: string) => Promise<void>;
  /** called after a container with a liveness path is registered (e.g. to watch that path's directory) */
  onRegistered?: (containerId: string, livenessPath: string) => void;
  /** how long a prestaged registration waits for its create's Register before it is torn down (ms, default 30 s) */
  prestageTtlMs?: number;
  /**
   * What prestage() stages besides the rootfs: the PrepareMounts request create is expected to send, from the
   * parsed config.json (see ./prestage-mounts.ts); undefined (or no option) stages no mounts ahead.
   */
  guessMounts?: (spec: unknown) => { mounts: MountStageRequest[]; specialDirs: string[] } | undefined;
}

/** A prestage hint: what sysbox-runc's launcher knows of a create before the create runs (see prestage()). */
export interface PrestageRequest {
  containerId: string;
  bundle: string;
  livenessPath: string;
}

interface Prestaged {
  bundle: string;
  rootfs: string;
  livenessPath: string;
  timer: ReturnType<typeof setTimeout>;
}

async function statExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ENOTDIR';
  }
}

/** One PrepareMounts request as a comparable string (prestaged mounts answer only the same request). */
function mountsKey(mounts: readonly MountStageRequest[], specialDirs: readonly string[], rootfs: string): string {
  return JSON.stringify([mounts.map((m) => [m.index, m.source, m.destination, m.readonly, m.recursive, m.noIdmap]), specialDirs, rootfs]);
}

const ID_RE = /^[\w+.-]{1,1024}$/;

function checkContainerId(id: string): void {
  if (!id) throw new MgrError('INVALID_ARGUMENT', 'container id is empty');
  if (!ID_RE.test(id) || id === '.' || id === '..') {
    throw new MgrError('INVALID_ARGUMENT', `invalid container id "${id.slice(0, 80)}": only letters, digits and _ + . - are allowed`);
  }
}

/**
 * The sysbox-mgr service: container registry and ID ranges, persisted in one atomic state file; rootfs staging
 * through an injected Stager. Implements the gRPC handlers of @sysbox/ipc; usable in-process too.
 */
export class MgrService implements MgrHandlers {
  readonly allocator: RangeAllocator;
  private readonly containers = new Map<string, ContainerRecord>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** registrations made by prestage() that no Register has taken over yet */
  private readonly prestaged = new Map<string, Prestaged>();
  /** mounts prestage() staged ahead, by the request they answer; taken (or replaced) by the next PrepareMounts */
  private readonly prestagedMounts = new Map<string, { key: string; result: MountStageResult }>();
  /**
   * Ids whose create got to mgr before its launcher's hint was handled: a Register that found nothing prestaged,
   * or an Unregister with prestagedOnly that found nothing. The hint may still be on its way (with sysbox-runc's
   * warm create server a create reaches mgr within milliseconds, and may even have been refused and undone
   * already); it is stale and skipped when it comes. Each is forgotten when its hint comes, or after the
   * prestage TTL.
   */
  private readonly staleHints = new Map<string, NodeJS.Timeout>();
  private persistChain: Promise<void> = Promise.resolve();
  private persistNext: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly now: () => number;

  private constructor(private readonly opts: MgrServiceOptions) {
    this.allocator = new RangeAllocator({ pool: opts.pool, size: opts.rangeSize });
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
  }

  /** Creates the service and loads the persisted state (an absent store starts empty). */
  static async open(opts: MgrServiceOptions): Promise<MgrService> {
    const s = new MgrService(opts);
    await s.load();
    return s;
  }

  private async load(): Promise<void> {
    const text = await this.opts.store.read();
    if (text === undefined) return;
    let state: MgrState;
    try {
      state = JSON.parse(text) as MgrState;
    } catch (err) {
      throw new MgrError('INTERNAL', `state file is not valid JSON: ${errText(err)}`, { cause: err });
    }
    if (state?.version !== 1 || typeof state.containers !== 'object' || state.containers === null) {
      throw new MgrError('INTERNAL', 'state file is malformed: expected { version: 1, allocator, containers }');
    }
    // Every container's range is held, whatever the allocator section says; ranges held without a record stay held.
    const allocations: Record<string, IdRange> = { ...(state.allocator?.allocations ?? {}) };
    for (const [id, rec] of Object.entries(state.containers)) allocations[id] = rec.idRange;
    try {
      this.allocator.load({ version: 1, size: state.allocator?.size ?? this.allocator.size, allocations });
    } catch (err) {
      throw new MgrError('INTERNAL', `state file is inconsistent: ${errText(err)}`, { cause: err });
    }
    for (const [id, rec] of Object.entries(state.containers)) this.containers.set(id, { ...rec, containerId: id });
    const orphans = Object.keys(allocations).filter((id) => !this.containers.has(id));
    if (orphans.length) this.log.warn({ orphans }, 'ranges held without a container record stay held until unregistered');
    this.log.info({ containers: this.containers.size, ...this.allocator.stats() }, 'state loaded');
  }

  snapshot(): MgrState {
    const containers: Record<string, ContainerRecord> = {};
    for (const [id, rec] of this.containers) containers[id] = { ...rec };
    return { version: 1, allocator: this.allocator.snapshot(), containers };
  }

  /** Resolves once a write that began after this call has finished (concurrent callers share one write). */
  private persist(): Promise<void> {
    if (!this.persistNext) {
      const next = this.persistChain.then(() => {
        this.persistNext = undefined;
        return this.opts.store.write(`${JSON.stringify(this.snapshot(), null, 1)}\n`);
      });
      this.persistNext = next;
      this.persistChain = next.catch(() => {});
    }
    return this.persistNext.catch((err: unknown) => {
      throw new MgrError('INTERNAL', `cannot persist sysbox-mgr state: ${errText(err)}`, { cause: err });
    });
  }

  /** Waits for pending state writes (shutdown). */
  async flush(): Promise<void> {
    await this.persistChain;
  }

  /** Runs fn after every earlier call for the same container. */
  private withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return run;
  }

  private child(containerId: string): Logger {
    return this.log.child({ containerId });
  }

  async register(init: Init<RegisterRequest>): Promise<Init<RegisterResponse>> {
    const req = { containerId: init.containerId ?? '', bundle: init.bundle ?? '', rootfs: init.rootfs ?? '', livenessPath: init.livenessPath ?? '', replace: !!init.replace };
    checkContainerId(req.containerId);
    if (req.livenessPath && !isAbsolute(req.livenessPath)) {
      throw new MgrError('INVALID_ARGUMENT', `liveness path of container ${req.containerId} must be an absolute path, got "${req.livenessPath}"`);
    }
    return this.withLock(req.containerId, async () => {
      const log = this.child(req.containerId);
      const known = this.containers.get(req.containerId);
      const pre = this.prestaged.get(req.containerId);
      if (known && pre) {
        this.dropPrestaged(req.containerId);
        if (pre.bundle === req.bundle && pre.rootfs === req.rootfs && pre.livenessPath === req.livenessPath) {
          log.info({ idRange: known.idRange }, 'registered (prestaged)');
          if (known.livenessPath) this.opts.onRegistered?.(known.containerId, known.livenessPath);
          return { idRange: known.idRange };
        }
        log.info({ prestaged: { bundle: pre.bundle, rootfs: pre.rootfs }, bundle: req.bundle, rootfs: req.rootfs }, 'register: the prestaged registration is for another bundle; replacing it');
        await this.teardown(known);
      } else if (known && req.replace) {
        // A deleted container of the same id whose teardown (left to us by sysbox-runc's delete) hasn't run yet.
        log.info({ idRange: known.idRange }, 'register: replacing a stale registration of the same id');
        await this.teardown(known);
      } else if (known) {
        log.debug({ idRange: known.idRange }, 'register: already registered');
        return { idRange: known.idRange };
      }
      const rec = await this.addRecord(req, log);
      // Nothing prestaged: a hint of this create's launcher still to come is stale (it would otherwise stage the
      // container again, possibly after this create was refused and undone).
      if (!pre) this.markHintStale(req.containerId);
      log.info({ idRange: rec.idRange }, 'registered');
      if (rec.livenessPath) this.opts.onRegistered?.(rec.containerId, rec.livenessPath);
      return { idRange: rec.idRange };
    });
  }

  /** Allocates a range and records the container, persisted (caller holds its lock); undone if the write fails. */
  private async addRecord(req: { containerId: string; bundle: string; rootfs: string; livenessPath: string }, log: Logger): Promise<ContainerRecord> {
    let idRange: IdRange;
    try {
      idRange = this.allocator.allocate(req.containerId);
    } catch (err) {
      if (err instanceof RangeExhaustedError) throw new MgrError('RESOURCE_EXHAUSTED', err.message, { cause: err });
      if (err instanceof IdmapError && err.code === 'INVALID') throw new MgrError('INVALID_ARGUMENT', err.message, { cause: err });
      throw err;
    }
    const rec: ContainerRecord = {
      containerId: req.containerId,
      idRange,
      rootfs: req.rootfs,
      bundle: req.bundle,
      stagedRootfs: '',
      stagingMethod: '',
      registeredAt: this.now(),
      ...(req.livenessPath ? { livenessPath: req.livenessPath } : {}),
    };
    this.containers.set(req.containerId, rec);
    try {
      await this.persist();
    } catch (err) {
      this.containers.delete(req.containerId);
      this.allocator.release(req.containerId);
      log.error({ err: errText(err) }, 'register failed');
      throw err;
    }
    return rec;
  }

  /**
   * A create's head start: sysbox-runc's launcher sends the container id, bundle and liveness path before the
   * create runs (native/csrc/sysbox-runc-prestage.c, ./prestage-socket.ts), and the container is registered and
   * its rootfs staged now, while the create gets going (a Node start without sysbox-runc's create server); its Register (same bundle, rootfs and liveness path) then
   * takes the registration over instead of making one. Its mounts are staged too when the PrepareMounts request
   * can be guessed from config.json (prestageMounts). Only a hint: anything unclear (an id mgr knows, a liveness
   * path that exists, i.e. an id in use, an unreadable config.json or rootfs) skips it, and create does the work
   * itself. A registration no Register takes over within prestageTtlMs is torn down (create failed before it
   * reached mgr), as is one its create drops (Unregister with prestagedOnly). Resolves to what was done, for the
   * log: 'prestaged', or why it was skipped.
   */
  async prestage(req: PrestageRequest): Promise<string> {
    const { containerId: id, bundle, livenessPath } = req;
    try {
      checkContainerId(id);
    } catch (err) {
      return errText(err);
    }
    if (!isAbsolute(bundle) || !isAbsolute(livenessPath)) return 'bundle and liveness path must be absolute';
    if (this.containers.has(id)) {
      this.forgetStaleHint(id);
      return 'container id is registered';
    }
    const exists = this.opts.pathExists ?? statExists;
    if (await exists(livenessPath)) return 'liveness path exists';
    let rootfs: string;
    let spec: { root?: { path?: unknown } };
    try {
      spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { root?: { path?: unknown } };
      const p = spec?.root?.path;
      if (typeof p !== 'string' || !p) return 'config.json has no root.path';
      rootfs = isAbsolute(p) ? p : join(bundle, p);
      if (!(await stat(rootfs)).isDirectory()) return 'rootfs is not a directory';
    } catch (err) {
      return `cannot read the bundle: ${errText(err)}`;
    }
    return this.withLock(id, async () => {
      if (this.forgetStaleHint(id)) return 'its create got to sysbox-mgr first';
      if (this.containers.has(id)) return 'container id is registered';
      const log = this.child(id);
      let rec: ContainerRecord;
      try {
        rec = await this.addRecord({ containerId: id, bundle, rootfs, livenessPath }, log);
      } catch (err) {
        return `prestage failed: ${errText(err)}`;
      }
      // (reap() skips it from here on; until now it held our lock)
      const entry = { bundle, rootfs, livenessPath } as Prestaged;
      entry.timer = setTimeout(() => void this.expirePrestaged(id, entry), this.opts.prestageTtlMs ?? 30_000);
      entry.timer.unref();
      this.prestaged.set(id, entry);
      log.info({ idRange: rec.idRange }, 'prestaged: registered');
      try {
        await this.stageRootfs(rec, rootfs, log);
      } catch (err) {
        // create's Register finds nothing to take over and does it all itself (and reports the error)
        this.dropPrestaged(id);
        await this.teardown(rec).catch(() => {});
        return `prestage failed: ${errText(err)}`;
      }
      await this.prestageMounts(rec, spec, log);
      return 'prestaged';
    });
  }

  /** prestage()'s mounts: staged now if create's PrepareMounts can be guessed; a failure is left for create to meet. */
  private async prestageMounts(rec: ContainerRecord, spec: unknown, log: Logger): Promise<void> {
    const guess = this.opts.guessMounts?.(spec);
    const stager = this.opts.mountStager;
    if (!guess || !stager || (guess.mounts.length === 0 && guess.specialDirs.length === 0)) return;
    const t0 = performance.now();
    try {
      const result = await stager.stage({ containerId: rec.containerId, idRange: rec.idRange, dataDir: this.opts.dataDir, ...guess, rootfs: rec.rootfs, log });
      this.prestagedMounts.set(rec.containerId, { key: mountsKey(guess.mounts, guess.specialDirs, rec.rootfs), result });
      log.info({ mounts: result.mounts.length, specialDirs: result.specialDirs.length, ms: Math.round(performance.now() - t0) }, 'prestaged: mounts staged');
    } catch (err) {
      log.info({ err: errText(err) }, 'prestaged: mounts not staged ahead (create stages them)');
    }
  }

  private dropPrestaged(id: string): void {
    const pre = this.prestaged.get(id);
    if (!pre) return;
    clearTimeout(pre.timer);
    this.prestaged.delete(id);
  }

  /** Marks id's launcher hint, if one is still to come, as stale (see staleHints). */
  private markHintStale(id: string): void {
    clearTimeout(this.staleHints.get(id));
    const timer = setTimeout(() => this.staleHints.delete(id), this.opts.prestageTtlMs ?? 30_000);
    timer.unref();
    this.staleHints.set(id, timer);
  }

  /** Forgets id's stale-hint mark; true if there was one. */
  private forgetStaleHint(id: string): boolean {
    const timer = this.staleHints.get(id);
    if (!timer) return false;
    clearTimeout(timer);
    this.staleHints.delete(id);
    return true;
  }

  private expirePrestaged(id: string, entry: Prestaged): Promise<void> {
    return this.withLock(id, async () => {
      if (this.prestaged.get(id) !== entry) return;
      this.dropPrestaged(id);
      const rec = this.containers.get(id);
      if (!rec) return;
      this.child(id).info('prestaged registration not taken over by a create: unregistering it');
      await this.teardown(rec);
    }).catch((err: unknown) => this.child(id).error({ err: errText(err) }, 'tearing down an expired prestaged registration failed'));
  }

  async prepareRootfs(init: Init<PrepareRootfsRequest>): Promise<Init<PrepareRootfsResponse>> {
    const req = { containerId: init.containerId ?? '', rootfs: init.rootfs ?? '' };
    checkContainerId(req.containerId);
    if (!req.rootfs || !isAbsolute(req.rootfs)) {
      throw new MgrError('INVALID_ARGUMENT', `rootfs of container ${req.containerId} must be an absolute path, got "${req.rootfs}"`);
    }
    return this.withLock(req.containerId, async () => {
      const log = this.child(req.containerId);
      const rec = this.containers.get(req.containerId);
      if (!rec) throw new MgrError('NOT_FOUND', `container ${req.containerId} is not registered with sysbox-mgr`);
      if (rec.stagedRootfs && rec.rootfs === req.rootfs) return { rootfs: rec.stagedRootfs, method: rec.stagingMethod };
      return this.stageRootfs(rec, req.rootfs, log);
    });
  }

  /** Stages rec's rootfs (caller holds its lock), replacing an earlier staging of another rootfs. */
  private async stageRootfs(rec: ContainerRecord, rootfs: string, log: Logger): Promise<{ rootfs: string; method: string }> {
    const { dataDir, stager } = this.opts;
    if (rec.stagedRootfs) {
      await stager.unstage({ containerId: rec.containerId, dataDir, log });
      rec.stagedRootfs = '';
      rec.stagingMethod = '';
    }
    let staged: { rootfs: string; method: string };
    const t0 = performance.now();
    try {
      staged = await stager.stage({ containerId: rec.containerId, rootfs, idRange: rec.idRange, dataDir, log });
    } catch (err) {
      log.error({ err: errText(err), rootfs }, 'staging failed');
      if (err instanceof MgrError) throw err;
      throw new MgrError('INTERNAL', `cannot stage rootfs ${rootfs} of container ${rec.containerId}: ${errText(err)}`, { cause: err });
    }
    Object.assign(rec, { rootfs, stagedRootfs: staged.rootfs, stagingMethod: staged.method });
    try {
      await this.persist();
    } catch (err) {
      await stager.unstage({ containerId: rec.containerId, dataDir, log }).catch(() => {});
      Object.assign(rec, { stagedRootfs: '', stagingMethod: '' });
      throw err;
    }
    const level = staged.method === 'chown' ? 'warn' : 'info';
    log[level]({ rootfs, staged: staged.rootfs, method: staged.method, ms: Math.round(performance.now() - t0) }, 'rootfs staged');
    return staged;
  }

  async prepareMounts(init: Init<PrepareMountsRequest>): Promise<Init<PrepareMountsResponse>> {
    const containerId = init.containerId ?? '';
    checkContainerId(containerId);
    const mounts = (init.mounts ?? []).map((m) => ({
      index: m?.index ?? 0,
      source: m?.source ?? '',
      destination: m?.destination ?? '',
      readonly: !!m?.readonly,
      recursive: !!m?.recursive,
      noIdmap: !!m?.noIdmap,
    }));
    const bad = mounts.find((m) => !isAbsolute(m.source));
    if (bad) throw new MgrError('INVALID_ARGUMENT', `mount source of container ${containerId} must be an absolute path, got "${bad.source}" (for ${bad.destination || `mount ${bad.index}`})`);
    const specialDirs = (init.specialDirs ?? []).filter((d): d is string => typeof d === 'string');
    const badDir = specialDirs.find((d) => !isAbsolute(d) || d.split('/').includes('..'));
    if (badDir !== undefined) throw new MgrError('INVALID_ARGUMENT', `special dir of container ${containerId} must be an absolute path without "..", got "${badDir}"`);
    return this.withLock(containerId, async () => {
      const log = this.child(containerId);
      const rec = this.containers.get(containerId);
      if (!rec) throw new MgrError('NOT_FOUND', `container ${containerId} is not registered with sysbox-mgr`);
      const rootfs = init.rootfs || rec.rootfs;
      const pre = this.prestagedMounts.get(containerId);
      this.prestagedMounts.delete(containerId);
      if (pre && pre.key === mountsKey(mounts, specialDirs, rootfs)) {
        log.info({ mounts: pre.result.mounts.length, specialDirs: pre.result.specialDirs.length }, 'mounts staged (prestaged)');
        return pre.result;
      }
      if (pre) log.info('prepare mounts: the request differs from what prestage staged; staging it again');
      const stager = this.opts.mountStager ?? unavailableMountStager('not configured');
      const t0 = performance.now();
      try {
        const r = await stager.stage({ containerId, idRange: rec.idRange, dataDir: this.opts.dataDir, mounts, specialDirs, rootfs, log });
        // a fallback: a mount that was to be ID-mapped and isn't (its file system refused it)
        const wanted = new Set(mounts.filter((m) => !m.noIdmap).map((m) => m.index));
        const fallbacks = [...r.mounts.filter((m) => wanted.has(m.index)), ...r.specialDirs].filter((m) => m.method !== 'idmap').length;
        log[fallbacks ? 'warn' : 'info']({ mounts: r.mounts.length, specialDirs: r.specialDirs.length, fallbacks, ms: Math.round(performance.now() - t0) }, 'mounts staged');
        return r;
      } catch (err) {
        log.error({ err: errText(err) }, 'mount staging failed');
        if (err instanceof MgrError) throw err;
        const code = (err as Error)?.name === 'StagingError' ? 'INVALID_ARGUMENT' : 'INTERNAL';
        throw new MgrError(code, `cannot stage mounts of container ${containerId}: ${errText(err)}`, { cause: err });
      }
    });
  }

  async unregister(req: Init<UnregisterRequest>): Promise<Init<UnregisterResponse>> {
    const id = req.containerId ?? '';
    if (!id) return { found: false };
    return this.withLock(id, async () => {
      // prestagedOnly: a create that failed before its Register drops what its launcher's hint made, nothing else
      if (req.prestagedOnly && !this.prestaged.has(id)) {
        // nothing prestaged, nothing registered: the hint may not have been handled yet
        if (!this.containers.has(id)) this.markHintStale(id);
        return { found: false };
      }
      this.dropPrestaged(id);
      const rec = this.containers.get(id);
      if (!rec) {
        // A range held without a record (e.g. an older state) is released too.
        if (this.allocator.release(id)) await this.persist();
        this.child(id).debug('unregister: not registered');
        return { found: false };
      }
      return { found: true, unstageError: await this.teardown(rec) };
    });
  }

  /**
   * Tears a registered container down (caller holds its lock): its sysbox-fs views (onUnregister), staged rootfs
   * and mounts, then its range. Returns the first unstage error ('' if none); the range is released regardless.
   */
  private async teardown(rec: ContainerRecord): Promise<string> {
    const id = rec.containerId;
    const log = this.child(id);
    this.prestagedMounts.delete(id);
    if (this.opts.onUnregister) {
      try {
        await this.opts.onUnregister(id);
      } catch (err) {
        log.warn({ err: errText(err) }, 'unregister hook failed');
      }
    }
    let unstageError = '';
    // Always: a PrepareRootfs cut short may have left a partial staging behind.
    try {
      await this.opts.stager.unstage({ containerId: id, dataDir: this.opts.dataDir, log });
    } catch (err) {
      unstageError = `cannot unstage rootfs of container ${id}: ${errText(err)}`;
      log.error({ err: errText(err) }, 'unstage failed; releasing the range anyway, leftovers are collected at the next start');
    }
    try {
      await this.opts.mountStager?.unstage({ containerId: id, dataDir: this.opts.dataDir, log });
    } catch (err) {
      unstageError ||= `cannot unstage mounts of container ${id}: ${errText(err)}`;
      log.error({ err: errText(err) }, 'mount unstage failed; releasing the range anyway, leftovers are collected at the next start');
    }
    this.containers.delete(id);
    this.allocator.release(id);
    await this.persist();
    log.info({ idRange: rec.idRange }, 'unregistered');
    return unstageError;
  }

  private info(rec: ContainerRecord): Init<ContainerInfo> {
    return {
      containerId: rec.containerId,
      idRange: rec.idRange,
      rootfs: rec.rootfs,
      stagedRootfs: rec.stagedRootfs,
      stagingMethod: rec.stagingMethod,
      bundle: rec.bundle,
      registeredAtMs: rec.registeredAt,
      livenessPath: rec.livenessPath ?? '',
    };
  }

  async get(req: Init<GetRequest>): Promise<Init<ContainerInfo>> {
    const rec = this.containers.get(req.containerId ?? '');
    if (!rec) throw new MgrError('NOT_FOUND', `container ${req.containerId || '""'} is not registered with sysbox-mgr`);
    return this.info(rec);
  }

  async list(): Promise<Init<ListResponse>> {
    const all = [...this.containers.values()].sort((a, b) => a.registeredAt - b.registeredAt); // stable: ties keep registration order
    return { containers: all.map((r) => this.info(r)) };
  }

  async status(): Promise<Init<StatusResponse>> {
    const s = this.allocator.stats();
    return { version: this.opts.version, pid: this.opts.pid ?? process.pid, containers: this.containers.size, rangesTotal: s.total, rangesFree: s.free };
  }

  /**
   * Unregisters every container whose liveness path is gone (its Unregister never arrived, e.g. mgr was down
   * during delete, or sysbox-runc's delete left the teardown to us). Containers registered without a liveness path
   * are never reaped. `only`: check just these liveness paths. Returns the reaped ids.
   */
  async reap(only?: ReadonlySet<string>): Promise<string[]> {
    const exists = this.opts.pathExists ?? statExists;
    const reaped: string[] = [];
    for (const rec of [...this.containers.values()]) {
      // a prestaged container's liveness path appears only when its create claims the id
      if (!rec.livenessPath || this.prestaged.has(rec.containerId) || (only && !only.has(rec.livenessPath)) || (await exists(rec.livenessPath))) continue;
      // Re-check and tear down under the container's lock: a delete may be unregistering it right now, or a
      // create of the same id re-registering it (it recreates the liveness path first).
      const gone = await this.withLock(rec.containerId, async () => {
        if (this.containers.get(rec.containerId) !== rec || this.prestaged.has(rec.containerId) || (await exists(rec.livenessPath!))) return false;
        this.child(rec.containerId).info({ livenessPath: rec.livenessPath }, 'container is gone (liveness path missing): unregistering it');
        await this.teardown(rec);
        return true;
      });
      if (gone) reaped.push(rec.containerId);
    }
    return reaped;
  }

  /** Removes staged rootfs views of containers that are not registered (after a crash). */
  async gcStaging(): Promise<string[] | void> {
    const keep = new Set(this.containers.keys());
    const removed = (await this.opts.stager.gc({ dataDir: this.opts.dataDir, keep })) ?? [];
    const mounts = (await this.gcMounts()) ?? [];
    return [...new Set([...removed, ...mounts])];
  }

  /** Removes staged mounts of unregistered containers and special dirs of containers Docker no longer has. */
  async gcMounts(): Promise<string[] | void> {
    return this.opts.mountStager?.gc({ dataDir: this.opts.dataDir, keep: new Set(this.containers.keys()) });
  }

  /** liveness paths of the registered containers */
  livenessPaths(): string[] {
    return [...this.containers.values()].flatMap((r) => (r.livenessPath ? [r.livenessPath] : []));
  }

  get size(): number {
    return this.containers.size;
  }
}
