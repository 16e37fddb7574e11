// The sysbox-fs service: Register mounts a container's FUSE tree and starts its emulation state;
// Unregister unmounts it; Status reports. Handlers of @sysbox/ipc's FsHandlers.
import { mkdir, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FsHandlers, FsRegisterRequest, FsUnregisterRequest } from '@sysbox/ipc';
import { RpcError } from '@sysbox/ipc';
import { emulatedHandlers, emulatedLinks, newView, ProcfsError, snapshotKnobs, sysCovers, type ContainerView, type Cover, type Handler, type HostEnv } from '@sysbox/procfs';
import type { Logger } from 'pino';
import type { FuseBackend, FuseMount, FuseOps } from '@sysbox/fuse';
import type { FdKeeper, Kept } from './keeper.js';
import { LoadSampler } from './loadavg.js';
import { emptyDirsOf, treeOps } from './tree.js';

const ID_RE = /^[\w+\-.]+$/;

interface Entry {
  view: ContainerView;
  /** [seccomp] the container's masked and read-only paths, as registered */
  paths?: { masked: string[]; readonly: string[] };
  mount: FuseMount & { readonly fd?: number };
  /** emulatedHandlers(env) when the tree was mounted: each call reads every knob on the host */
  handlers: Handler[];
}

/** What the fd store keeps beside a container's /dev/fuse fd: enough to serve it again after a restart. */
export interface KeptRegistration {
  containerId: string;
  initPid: number;
  startedAt: number;
  owner: { uid: number; gid: number };
  mountpoint: string;
  knobs: [string, string][];
  /** the tree's covers as registered (the container's dirs are covered by now: they can't be listed again) */
  covers?: Cover[];
}

/** A backend that can serve an existing FUSE connection (see @sysbox/fuse's devfuse.ts). */
export interface AdoptingBackend extends FuseBackend {
  adopt(mountpoint: string, fd: number, ops: FuseOps): FuseMount & { readonly fd: number };
}

export interface FsServiceOptions {
  env: HostEnv;
  /** lazy-unmounts a path (MNT_DETACH); used for trees a previous sysbox-fs left behind */
  detach?: (path: string) => void;
  fuse: FuseBackend;
  mountRoot: string;
  log: Logger;
  version: string;
  /** keeps each mount's /dev/fuse fd in sysbox-mgr's fd store (backends whose mounts have an fd) */
  keeper?: FdKeeper;
}

export class FsService implements FsHandlers {
  private readonly containers = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();
  /** every container's load average: one timer for all, running only while some container is registered */
  readonly sampler: LoadSampler;
  constructor(private readonly o: FsServiceOptions) {
    this.sampler = new LoadSampler(o.env, {
      onError: (v, err) => o.log.debug({ containerId: v.containerId, err: (err as Error).message }, 'load average sample failed'),
    });
  }

  get size(): number {
    return this.containers.size;
  }

  async register(req: FsRegisterRequest) {
    const id = req.containerId;
    if (!id || !ID_RE.test(id)) throw new RpcError('INVALID_ARGUMENT', `invalid container id ${JSON.stringify(id)}`);
    if (!req.initPid) throw new RpcError('INVALID_ARGUMENT', 'init_pid is required');
    const known = this.containers.get(id);
    if (known && known.view.initPid === req.initPid) return this.answer(known);
    if (known) await this.unregister({ containerId: id });
    let p = this.pending.get(id);
    if (!p) {
      p = this.mountContainer(req).finally(() => this.pending.delete(id));
      this.pending.set(id, p);
    }
    return this.answer(await p);
  }

  /**
   * Register's answer: the tree, its covers, and the paths placed one by one:
   * - the files outside the covers;
   * - the files inside a cover where the container has its own file of that name (e.g.
   *   /sys/devices/system/cpu/online): sysbox-nsenter mounts the container's file back over the cover's, so the
   *   emulated one is placed on top of it;
   * - the emulated empty dirs, always (/sys/kernel/debug...): each is then a mountpoint, as on a host where debugfs,
   *   tracefs, securityfs and configfs are mounted, so systemd's sys-kernel-*.mount units find them mounted and
   *   don't try a mount the kernel refuses in a user namespace.
   */
  private answer(e: Entry) {
    const covers = e.view.covers;
    const files = e.handlers
      .map((h) => h.path)
      .filter((p) => {
        const c = covers.find((c) => p.startsWith(`${c.dir}/`));
        return !c || c.own.some((own) => `${c.dir}/${own.name}` === p);
      })
      .concat(emptyDirsOf(e.view));
    return { mountpoint: e.mount.mountpoint, covers: covers.map((c) => c.dir), files, overlays: covers.filter((c) => c.overlay).map((c) => c.dir) };
  }

  private async mountContainer(req: FsRegisterRequest): Promise<Entry> {
    const { env, log } = this.o;
    const id = req.containerId;
    let view: ContainerView;
    try {
      view = newView(env, {
        containerId: id,
        initPid: req.initPid,
        owner: req.idRange ? { uid: req.idRange.uid, gid: req.idRange.gid } : { uid: 0, gid: 0 },
        // the container's own sysfs dirs, listed now (before sysbox-runc places anything over them); under its
        // rootfs when sysbox-runc registers from the engine's hook, before pivot_root
        covers: req.options?.sysfs === false ? [] : sysCovers(env, req.initPid, req.root || '/'),
      });
    } catch (e) {
      if (e instanceof ProcfsError && e.errno === 'ENOENT') throw new RpcError('NOT_FOUND', e.message);
      throw e;
    }
    // the container starts from the host's values now; a sibling raising a MAX knob later doesn't show through
    snapshotKnobs(env, view);
    const handlers = emulatedHandlers(env);
    const mountpoint = join(this.o.mountRoot, id);
    await mkdir(mountpoint, { recursive: true, mode: 0o700 });
    const clog = log.child({ containerId: id });
    const ops = this.opsFor(view, mountpoint, clog, handlers);
    const mount: Entry['mount'] = await this.o.fuse.mount(mountpoint, ops);
    const entry: Entry = { view, mount, handlers, paths: { masked: req.maskedPaths ?? [], readonly: req.readonlyPaths ?? [] } };
    this.containers.set(id, entry);
    this.sampler.add(view);
    if (mount.fd !== undefined) this.o.keeper?.put(this.kept(entry)!);
    clog.info({ initPid: req.initPid, mountpoint, files: handlers.length, covers: view.covers.map((c) => c.dir) }, 'registered');
    return entry;
  }

  /** The tree's operations; a write (a per-container knob) is also recorded in the fd store. */
  private opsFor(view: ContainerView, mountpoint: string, clog: Logger, handlers: Handler[]): FuseOps {
    const { env } = this.o;
    const ops = treeOps({ env, view, handlers, links: emulatedLinks(env), onError: (path, err) => clog.warn({ path, err: (err as Error).message }, 'emulated file failed') });
    const keeper = this.o.keeper;
    if (!keeper) return ops;
    const write = ops.write.bind(ops);
    ops.write = (path, fh, data, pos) => {
      const n = write(path, fh, data, pos);
      const e = this.containers.get(view.containerId);
      if (e?.mount.fd !== undefined) keeper.update(view.containerId, this.registration(e, mountpoint));
      return n;
    };
    return ops;
  }

  private registration(e: Entry, mountpoint = e.mount.mountpoint): string {
    const r: KeptRegistration = {
      containerId: e.view.containerId,
      initPid: e.view.initPid,
      startedAt: e.view.startedAt,
      owner: e.view.owner,
      mountpoint,
      knobs: [...e.view.knobs],
      covers: e.view.covers.map((c) => ({ dir: c.dir, own: [...c.own], ...(c.overlay ? { overlay: true } : {}) })),
    };
    return JSON.stringify(r);
  }

  private kept(e: Entry): Kept | undefined {
    return e.mount.fd === undefined ? undefined : { name: e.view.containerId, data: this.registration(e), fd: e.mount.fd };
  }

  /** What the fd store should hold now (every mount with an fd). */
  *keptAll(): Iterable<Kept> {
    for (const e of this.containers.values()) {
      const k = this.kept(e);
      if (k) yield k;
    }
  }

  /**
   * Serves again the FUSE connections a previous sysbox-fs kept in the fd store (fds of this process now).
   * A container whose init is gone (or was replaced: another start time) is unmounted and dropped.
   * Returns the ids adopted and dropped.
   */
  adopt(entries: { name: string; data: string; fd: number }[], detachFd: (fd: number) => void): { adopted: string[]; dropped: string[] } {
    const { env, log } = this.o;
    const adopted: string[] = [];
    const dropped: string[] = [];
    const fuse = this.o.fuse as Partial<AdoptingBackend>;
    for (const e of entries) {
      let r: KeptRegistration | undefined;
      try {
        r = JSON.parse(e.data) as KeptRegistration;
      } catch {
        r = undefined;
      }
      let view: ContainerView | undefined;
      if (r && fuse.adopt && ID_RE.test(r.containerId) && r.containerId === e.name && !this.containers.has(r.containerId)) {
        try {
          view = newView(env, { containerId: r.containerId, initPid: r.initPid, owner: r.owner, covers: r.covers ?? [] });
          if (Math.abs(view.startedAt - r.startedAt) > 0.05) view = undefined; // the pid was reused
        } catch {
          view = undefined;
        }
      }
      if (!r || !view || !fuse.adopt) {
        if (r?.mountpoint) {
          try {
            this.o.detach?.(r.mountpoint);
          } catch {
            /* not mounted */
          }
        }
        detachFd(e.fd);
        this.o.keeper?.drop(e.name);
        dropped.push(e.name);
        continue;
      }
      for (const [k, v] of r.knobs ?? []) view.knobs.set(k, v);
      snapshotKnobs(env, view);
      const clog = log.child({ containerId: r.containerId });
      const handlers = emulatedHandlers(env);
      const mount = fuse.adopt(r.mountpoint, e.fd, this.opsFor(view, r.mountpoint, clog, handlers));
      this.containers.set(r.containerId, { view, mount, handlers });
      this.sampler.add(view);
      adopted.push(r.containerId);
    }
    return { adopted, dropped };
  }

  /**
   * Removes the trees a previous sysbox-fs left mounted (after a SIGKILL their FUSE connections are dead:
   * `Transport endpoint is not connected`). Returns the container ids cleaned.
   */
  async cleanStale(): Promise<string[]> {
    const names = await readdir(this.o.mountRoot).catch(() => [] as string[]);
    const out: string[] = [];
    for (const id of names) {
      if (this.containers.has(id) || this.pending.has(id)) continue;
      if (await this.removeTree(join(this.o.mountRoot, id))) out.push(id);
    }
    return out;
  }

  private async removeTree(mountpoint: string): Promise<boolean> {
    try {
      this.o.detach?.(mountpoint);
    } catch {
      /* not mounted */
    }
    return rmdir(mountpoint).then(
      () => true,
      () => false,
    );
  }

  async unregister(req: FsUnregisterRequest) {
    const id = req.containerId;
    await this.pending.get(id)?.catch(() => undefined);
    const e = this.containers.get(id);
    if (!e) {
      // a tree from before a restart of sysbox-fs
      if (id && ID_RE.test(id)) await this.removeTree(join(this.o.mountRoot, id));
      return { found: false };
    }
    this.containers.delete(id);
    this.sampler.delete(e.view);
    if (e.mount.fd !== undefined) this.o.keeper?.drop(id);
    try {
      await e.mount.unmount();
    } catch (err) {
      this.o.log.warn({ containerId: id, err: (err as Error).message }, 'unmount failed');
    }
    await rmdir(e.mount.mountpoint).catch(() => undefined);
    this.o.log.info({ containerId: id }, 'unregistered');
    return { found: true };
  }

  /** [seccomp] what a performed proc/sysfs mount of the container lays over itself: its tree's files and covers. */
  emulation(id: string): { mountpoint: string; files: string[]; covers: string[]; overlays: string[]; masked: string[]; readonly: string[] } | undefined {
    const e = this.containers.get(id);
    return e ? { ...this.answer(e), masked: e.paths?.masked ?? [], readonly: e.paths?.readonly ?? [] } : undefined;
  }

  status() {
    return { version: this.o.version, pid: process.pid, containers: this.containers.size, mountRoot: this.o.mountRoot };
  }

  /**
   * Unmounts every tree, unless keepKept and the fd store holds the mount's fd: that mount stays, for the next
   * sysbox-fs to adopt (a restart then never interrupts the containers' emulated files).
   */
  async close(o: { keepKept?: boolean } = {}): Promise<string[]> {
    const kept: string[] = [];
    const keep = o.keepKept && (this.o.keeper?.sync() ?? false);
    for (const [id, e] of [...this.containers]) {
      if (keep && e.mount.fd !== undefined) {
        kept.push(id);
        continue;
      }
      await this.unregister({ containerId: id });
    }
    this.sampler.close();
    return kept;
  }
}
