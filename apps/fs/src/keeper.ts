// Keeps a copy of every container's /dev/fuse fd (and its registration) in sysbox-mgr's fd store, so the FUSE
// connections outlive this process. Reconnects when the store restarts, and then stores everything again.
import { FdStoreClient, type FdStoreEntry, type FdStoreKernel } from '@sysbox/ipc';
import type { Logger } from 'pino';

export interface Kept {
  name: string;
  data: string;
  fd: number;
}

export class FdKeeper {
  private client: FdStoreClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly k: FdStoreKernel,
    private readonly path: string,
    private readonly log: Logger,
    /** everything that should be in the store now (stored again after a reconnect) */
    private readonly current: () => Iterable<Kept>,
    private readonly retryMs = 500,
  ) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  private connect(): FdStoreClient | undefined {
    if (this.client?.connected) return this.client;
    let c: FdStoreClient;
    try {
      c = FdStoreClient.connect(this.k, this.path);
    } catch {
      return undefined;
    }
    this.client = c;
    void c.done.then(() => {
      if (this.client === c && !this.closed) {
        this.log.warn({ fdStore: this.path }, 'fd store went away: reconnecting');
        this.schedule();
      }
    });
    return c;
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.sync()) this.log.info({ fdStore: this.path }, 'fd store reconnected: FUSE fds stored again');
      else this.schedule();
    }, this.retryMs);
    this.timer.unref();
  }

  /** The entries a previous sysbox-fs left in the store (fds of this process now); [] without a store. */
  async start(): Promise<FdStoreEntry[]> {
    const c = this.connect();
    if (!c) {
      this.log.warn({ fdStore: this.path }, 'no fd store: FUSE mounts will not survive a restart of sysbox-fs until it answers');
      this.schedule();
      return [];
    }
    try {
      return await c.list();
    } catch (err) {
      this.log.warn({ fdStore: this.path, err: (err as Error).message }, 'fd store list failed');
      this.schedule();
      return [];
    }
  }

  /** Connects if needed and stores everything current; whether the store now holds it all. */
  sync(): boolean {
    const fresh = !this.client?.connected;
    const c = this.connect();
    if (!c) return false;
    if (!fresh) return true;
    try {
      for (const e of this.current()) c.put(e.name, e.data, e.fd);
      return true;
    } catch {
      return false;
    }
  }

  private each(f: (c: FdStoreClient) => void): void {
    const c = this.client;
    if (!c?.connected) return this.schedule();
    try {
      f(c);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'fd store write failed');
      this.schedule();
    }
  }

  put(e: Kept): void {
    this.each((c) => c.put(e.name, e.data, e.fd));
  }

  update(name: string, data: string): void {
    this.each((c) => c.update(name, data));
  }

  drop(name: string): void {
    this.each((c) => c.drop(name));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.client?.close();
  }
}
