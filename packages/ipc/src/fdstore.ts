// An fd store (the pattern of systemd's FDSTORE): a daemon keeps duplicates of another daemon's fds, each with
// a name and a data string, and hands them back when that daemon restarts. sysbox-mgr serves it; sysbox-fs
// keeps each container's /dev/fuse fd (and its registration) there, so a killed sysbox-fs doesn't abort the
// containers' FUSE connections.
//
// Wire: JSON lines over an AF_UNIX stream socket; a line that carries fds says how many (`fds`), and they travel
// with it as SCM_RIGHTS (they arrive no later than the line's last byte, in order).
//   client → server  {op:"put", name, data, fds:1} | {op:"data", name, data} | {op:"drop", name} | {op:"list"}
//   server → client  {op:"entry", name, data, fds:1}... then {op:"end"}   (answers "list")
// The kernel calls come from the caller (@sysbox/native's Kernel): this module does no I/O of its own.

export interface FdStoreKernel {
  listenUnix(path: string, backlog?: number): number;
  accept(listenFd: number): Promise<number>;
  connectUnix(path: string): number;
  sendFds(sockFd: number, fds: number[], data: Buffer): void;
  recvFds(sockFd: number, maxFds: number, maxData: number): Promise<{ fds: number[]; data: Buffer }>;
  close(fd: number): void;
  /** shutdown(2): wakes a pending recvFds/accept, so the fd is closed only once nothing waits on it */
  shutdown(fd: number, how?: number): void;
  /** SO_PEERCRED of a connection: where given, only root (uid 0) is served (the store hands out every fd it holds) */
  peerCred?(sockFd: number): { pid: number; uid: number };
}

export const DEFAULT_FD_STORE_SOCKET = '/run/sysbox/mgr-fds.sock';

export interface FdStoreEntry {
  name: string;
  data: string;
  /** an fd of the process holding the entry */
  fd: number;
}

interface Msg {
  op: string;
  name?: string;
  data?: string;
  fds?: number;
}

/** Reads JSON lines with their fds from a socket until EOF; onMsg gets each line with the fds it carried. */
async function readLoop(k: FdStoreKernel, sock: number, onMsg: (m: Msg, fds: number[]) => void): Promise<void> {
  let text = '';
  const queue: number[] = [];
  for (;;) {
    const { fds, data } = await k.recvFds(sock, 16, 65536);
    queue.push(...fds);
    if (data.length === 0 && fds.length === 0) break; // EOF
    text += data.toString('utf8');
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      let m: Msg;
      try {
        m = JSON.parse(line) as Msg;
      } catch {
        continue;
      }
      const n = Math.max(0, Math.min(m.fds ?? 0, queue.length));
      onMsg(m, queue.splice(0, n));
    }
  }
  for (const fd of queue) k.close(fd);
}

function line(m: Msg): Buffer {
  return Buffer.from(`${JSON.stringify(m)}\n`);
}

export interface FdStoreServer {
  readonly entries: ReadonlyMap<string, { data: string; fd: number }>;
  /** stops listening, closes connections and every stored fd */
  close(): void;
}

/** Serves an fd store at path (a stale socket file must be removed by the caller). */
export function serveFdStore(
  k: FdStoreKernel,
  path: string,
  o: { onEvent?: (what: string, name?: string) => void; onError?: (err: unknown) => void } = {},
): FdStoreServer {
  const entries = new Map<string, { data: string; fd: number }>();
  const listen = k.listenUnix(path, 16);
  const conns = new Set<number>();
  let closed = false;
  const serveConn = (conn: number) => {
    if (k.peerCred) {
      let uid = -1;
      let pid = 0;
      try {
        ({ uid, pid } = k.peerCred(conn));
      } catch {
        /* refused below */
      }
      if (uid !== 0) {
        o.onEvent?.('refused', `pid ${pid} uid ${uid}: only root may use the fd store`);
        k.close(conn);
        return;
      }
    }
    conns.add(conn);
    readLoop(k, conn, (m, fds) => {
      const name = typeof m.name === 'string' ? m.name : undefined;
      if (m.op === 'put' && name !== undefined && fds.length === 1) {
        const old = entries.get(name);
        if (old) k.close(old.fd);
        entries.set(name, { data: m.data ?? '', fd: fds[0]! });
        o.onEvent?.('put', name);
        return;
      }
      for (const fd of fds) k.close(fd);
      if (m.op === 'data' && name !== undefined) {
        const e = entries.get(name);
        if (e) e.data = m.data ?? '';
      } else if (m.op === 'drop' && name !== undefined) {
        const e = entries.get(name);
        if (e) {
          entries.delete(name);
          k.close(e.fd);
          o.onEvent?.('drop', name);
        }
      } else if (m.op === 'list') {
        for (const [n, e] of entries) k.sendFds(conn, [e.fd], line({ op: 'entry', name: n, data: e.data, fds: 1 }));
        k.sendFds(conn, [], line({ op: 'end' }));
        o.onEvent?.('list');
      }
    })
      .catch((err: unknown) => {
        if (!closed) o.onError?.(err);
      })
      .finally(() => {
        if (conns.delete(conn)) k.close(conn);
      });
  };
  (async () => {
    while (!closed) {
      let conn: number;
      try {
        conn = await k.accept(listen);
      } catch (err) {
        if (closed) {
          k.close(listen);
          return;
        }
        o.onError?.(err);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (closed) {
        k.close(conn);
        k.close(listen);
        return;
      }
      serveConn(conn);
    }
  })().catch((err: unknown) => o.onError?.(err));
  return {
    entries,
    close() {
      if (closed) return;
      closed = true;
      try {
        k.shutdown(listen);
      } catch {
        /* ignore */
      }
      // each connection's loop ends on the EOF and closes its fd
      for (const c of conns) {
        try {
          k.shutdown(c);
        } catch {
          /* ignore */
        }
      }
      for (const e of entries.values()) k.close(e.fd);
      entries.clear();
    },
  };
}

/** A connection to an fd store. */
export class FdStoreClient {
  private waiting: { entries: FdStoreEntry[]; resolve: (e: FdStoreEntry[]) => void; reject: (e: Error) => void } | undefined;
  private open = true;
  /** settles when the server closes the connection */
  readonly done: Promise<void>;

  private constructor(
    private readonly k: FdStoreKernel,
    private readonly sock: number,
  ) {
    this.done = readLoop(k, sock, (m, fds) => {
      if (m.op === 'entry' && this.waiting && fds.length === 1 && typeof m.name === 'string') {
        this.waiting.entries.push({ name: m.name, data: m.data ?? '', fd: fds[0]! });
        return;
      }
      for (const fd of fds) k.close(fd);
      if (m.op === 'end' && this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w.resolve(w.entries);
      }
    })
      .catch(() => undefined)
      .finally(() => {
        this.open = false;
        k.close(sock);
        if (this.waiting) {
          for (const e of this.waiting.entries) k.close(e.fd);
          this.waiting.reject(new Error('fd store closed the connection'));
          this.waiting = undefined;
        }
      });
  }

  /** Connects (throws the connect error, e.g. ENOENT/ECONNREFUSED when no store runs). */
  static connect(k: FdStoreKernel, path: string): FdStoreClient {
    return new FdStoreClient(k, k.connectUnix(path));
  }

  get connected(): boolean {
    return this.open;
  }

  private send(m: Msg, fds: number[] = []): void {
    if (!this.open) throw new Error('fd store connection closed');
    this.k.sendFds(this.sock, fds, line(m));
  }

  /** Every stored entry, with fresh fds of this process (the store keeps its own). */
  list(): Promise<FdStoreEntry[]> {
    if (this.waiting) return Promise.reject(new Error('one list at a time'));
    return new Promise((resolve, reject) => {
      this.waiting = { entries: [], resolve, reject };
      try {
        this.send({ op: 'list' });
      } catch (e) {
        this.waiting = undefined;
        reject(e as Error);
      }
    });
  }

  /** Stores a duplicate of fd under name (replacing an entry of that name). */
  put(name: string, data: string, fd: number): void {
    this.send({ op: 'put', name, data, fds: 1 }, [fd]);
  }

  update(name: string, data: string): void {
    this.send({ op: 'data', name, data });
  }

  drop(name: string): void {
    this.send({ op: 'drop', name });
  }

  /** Ends the connection (the socket is closed once the reader has seen the end). */
  close(): void {
    if (!this.open) return;
    this.open = false;
    try {
      this.k.shutdown(this.sock);
    } catch {
      /* ignore */
    }
  }
}
