import type { ContainerInfo, MgrHandlers, RegisterRequest, PrepareRootfsRequest, PrepareMountsRequest, PrepareMountsResponse, UnregisterRequest, GetRequest, Init, ListResponse, PrepareRootfsResponse, RegisterResponse, StatusResponse, UnregisterResponse } from '@sysbox/ipc';
import { IdmapError, RangeAllocator, RangeExhaustedError, type AllocatorState, type IdPool, type IdRange, type Store } from '@sysbox/idmap';
import type { Logger } from 'pino';
import { stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { errText, MgrError } from './errors.js';
import type { Stager } from './stager.js';
import { unavailableMountStager, type MountStager } from './mount-stager.js';

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

function sameIdRange(a: IdRange, b: IdRange): boolean {
  return a.uid === b.uid && a.gid === b.gid && a.size === b.size;
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
    const requested = init.requestedIdRange ? { uid: init.requestedIdRange.uid ?? 0, gid: init.requestedIdRange.gid ?? 0, size: init.requestedIdRange.size ?? 0 } : undefined;
    const req = { containerId: init.containerId ?? '', bundle: init.bundle ?? '', rootfs: init.rootfs ?? '', livenessPath: init.livenessPath ?? '', replace: !!init.replace, requested };
    checkContainerId(req.containerId);
    if (req.livenessPath && !isAbsolute(req.livenessPath)) {
      throw new MgrError('INVALID_ARGUMENT', `liveness path of container ${req.containerId} must be an absolute path, got "${req.livenessPath}"`);
    }
    return this.withLock(req.containerId, async () => {
      const log = this.child(req.containerId);
      const known = this.containers.get(req.containerId);
      if (known && req.replace) {
        // A deleted container of the same id whose teardown (left to us by sysbox-runc's delete) hasn't run yet.
        log.info({ idRange: known.idRange }, 'register: replacing a stale registration of the same id');
        await this.teardown(known);
      } else if (known) {
        if (requested && !sameIdRange(known.idRange, requested)) {
          throw new MgrError('ALREADY_EXISTS', `container ${req.containerId} is registered with another ID range (uid ${known.idRange.uid}, gid ${known.idRange.gid}, size ${known.idRange.size})`);
        }
        log.debug({ idRange: known.idRange }, 'register: already registered');
        return { idRange: known.idRange };
      }
      const rec = await this.addRecord(req, log);
      log.info({ idRange: rec.idRange }, 'registered');
      if (rec.livenessPath) this.opts.onRegistered?.(rec.containerId, rec.livenessPath);
      return { idRange: rec.idRange };
    });
  }

  /**
   * Allocates a range (or reserves exactly the requested one) and records the container, persisted (caller holds its
   * lock); undone if the write fails.
   */
  private async addRecord(
    req: { containerId: string; bundle: string; rootfs: string; livenessPath: string; requested?: IdRange | undefined },
    log: Logger,
  ): Promise<ContainerRecord> {
    let idRange: IdRange;
    try {
      idRange = req.requested ? this.allocator.reserve(req.containerId, req.requested) : this.allocator.allocate(req.containerId);
    } catch (err) {
      if (err instanceof RangeExhaustedError) throw new MgrError('RESOURCE_EXHAUSTED', err.message, { cause: err });
      if (err instanceof IdmapError && err.code === 'IN_USE') throw new MgrError('ALREADY_EXISTS', err.message, { cause: err });
      if (err instanceof IdmapError && (err.code === 'INVALID' || err.code === 'OUTSIDE_POOL')) throw new MgrError('INVALID_ARGUMENT', err.message, { cause: err });
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
      if (!rec.livenessPath || (only && !only.has(rec.livenessPath)) || (await exists(rec.livenessPath))) continue;
      // Re-check and tear down under the container's lock: a delete may be unregistering it right now, or a
      // create of the same id re-registering it (it recreates the liveness path first).
      const gone = await this.withLock(rec.containerId, async () => {
        if (this.containers.get(rec.containerId) !== rec || (await exists(rec.livenessPath!))) return false;
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
