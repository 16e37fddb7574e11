// The sysbox-fs service: Register mounts a container's FUSE tree and starts its emulation state;
// Unregister unmounts it; Status reports. Handlers of @sysbox/ipc's FsHandlers.
import { mkdir, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FsHandlers, FsRegisterRequest, FsUnregisterRequest } from '@sysbox/ipc';
import { RpcError } from '@sysbox/ipc';
import { emulatedHandlers, newView, ProcfsError, snapshotKnobs, type ContainerView, type HostEnv } from '@sysbox/procfs';
import type { Logger } from 'pino';
import type { FuseBackend, FuseMount } from './fuse.js';
import { treeOps } from './tree.js';

const ID_RE = /^[\w+\-.]+$/;

interface Entry {
  view: ContainerView;
  mount: FuseMount;
}

export interface FsServiceOptions {
  env: HostEnv;
  /** lazy-unmounts a path (MNT_DETACH); used for trees a previous sysbox-fs left behind */
  detach?: (path: string) => void;
  fuse: FuseBackend;
  mountRoot: string;
  log: Logger;
  version: string;
}

export class FsService implements FsHandlers {
  private readonly containers = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();
  constructor(private readonly o: FsServiceOptions) {}

  get size(): number {
    return this.containers.size;
  }

  async register(req: FsRegisterRequest) {
    const id = req.containerId;
    if (!id || !ID_RE.test(id)) throw new RpcError('INVALID_ARGUMENT', `invalid container id ${JSON.stringify(id)}`);
    if (!req.initPid) throw new RpcError('INVALID_ARGUMENT', 'init_pid is required');
    const known = this.containers.get(id);
    if (known && known.view.initPid === req.initPid) return { mountpoint: known.mount.mountpoint };
    if (known) await this.unregister({ containerId: id });
    let p = this.pending.get(id);
    if (!p) {
      p = this.mountContainer(req).finally(() => this.pending.delete(id));
      this.pending.set(id, p);
    }
    const e = await p;
    return { mountpoint: e.mount.mountpoint };
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
    const ops = treeOps({ env, view, handlers, onError: (path, err) => clog.warn({ path, err: (err as Error).message }, 'emulated file failed') });
    const mount = await this.o.fuse.mount(mountpoint, ops);
    const entry = { view, mount };
    this.containers.set(id, entry);
    clog.info({ initPid: req.initPid, mountpoint, files: handlers.length }, 'registered');
    return entry;
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
    try {
      await e.mount.unmount();
    } catch (err) {
      this.o.log.warn({ containerId: id, err: (err as Error).message }, 'unmount failed');
    }
    await rmdir(e.mount.mountpoint).catch(() => undefined);
    this.o.log.info({ containerId: id }, 'unregistered');
    return { found: true };
  }

  status() {
    return { version: this.o.version, pid: process.pid, containers: this.containers.size, mountRoot: this.o.mountRoot };
  }

  async close(): Promise<void> {
    for (const id of [...this.containers.keys()]) await this.unregister({ containerId: id });
  }
}
