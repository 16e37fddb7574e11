// sysbox-fs's seccomp-notify supervisor: the engine (runc) connects to the spec's listenerPath for a container's
// init and for every exec and sends the seccomp listener fd with a JSON state; each container's listeners are
// watched by a vetting thread of its own (@sysbox/native's SeccompNotify.vetter), which answers what the fast rules
// of @sysbox/syscall-vetting match (a new tmpfs, the umount of the container's own mounts) and hands the rest to this
// loop with the arguments copied; each is vetted (@sysbox/syscall-vetting), serialised per caller thread (not per container),
// checked with SECCOMP_IOCTL_NOTIF_ID_VALID before any side effect and before the answer, logged as an audit
// event and counted. Listener fds (and the listening socket) are kept in sysbox-mgr's fd store so a restarted
// sysbox-fs serves them again; notifications in flight are journaled there so the successor answers them.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Kernel, SeccompNotification, Vetter, Watcher } from '@sysbox/native';
import { isKernelError, O_CLOEXEC } from '@sysbox/native';
import {
  EPERM,
  NamespaceTables,
  parseMountinfo,
  performed,
  recordInitialMounts,
  vet,
  vetTable,
  type AuditEvent,
  type Decision,
} from '@sysbox/syscall-vetting';
import type { Logger } from 'pino';
import { SysboxVetHost, performAction, type Emulation } from './seccomp-host.js';

export const DEFAULT_SECCOMP_SOCKET = '/run/sysbox/fs-seccomp.sock';

/** What the fd store keeps for sysbox-fs's seccomp side (names are prefixed so they don't meet the FUSE entries). */
export const STORE_LISTEN = 'seccomp-listen';

/**
 * A listener goes to the fd store once it has lived this long. Most exec'd processes are gone by then (`docker exec
 * <c> true`): their listener is neither stored nor dropped, two messages to sysbox-mgr fewer per exec (~1 ms of a
 * 60 ms `docker exec` on 2 cores). A sysbox-fs killed in that window leaves the listener unstored: the processes under
 * it then get ENOSYS for their vetted calls (the kernel's answer when a filter's listener is gone), never an unvetted
 * call. A sysbox-fs that stops (SIGTERM) stores its pending listeners first.
 */
export const STORE_AFTER_MS = 100;
/** Where a journal file's JSON starts: its first page holds the vetting thread's newest notification id. */
const JOURNAL_JSON = 4096;

/** Whether notification id a comes after b (ids count up from a random start, modulo 2^64). */
/** How far below and above the newest id a successor looks for notifications the previous process left unanswered. */
const LOST_BELOW = 1024;
const LOST_ABOVE = 64;
function newer(a: bigint, b: bigint): boolean {
  const d = (a - b) & 0xffffffffffffffffn;
  return d !== 0n && d < 0x8000000000000000n;
}
export const STORE_LISTENER_PREFIX = 'seccomp:';

/** Where the fd store is, as the server uses it (sysbox-fs's FdKeeper gives these). */
export interface SeccompStore {
  put(e: { name: string; data: string; fd: number }): void;
  update(name: string, data: string): void;
  drop(name: string): void;
}

export interface SeccompServerOptions {
  kernel: Kernel;
  log: Logger;
  /** the listening socket's path (the spec's listenerPath) */
  socketPath: string;
  /** a listening socket kept by the fd store from a previous sysbox-fs (used instead of binding anew) */
  listenFd?: number;
  /** the container's emulation (its sysbox-fs tree, masked and read-only paths), by id; undefined if unknown */
  emulation(containerId: string): Emulation | undefined;
  store?: SeccompStore;
  /** how long a new listener lives before it goes to the store (default STORE_AFTER_MS) */
  storeAfterMs?: number;
  /** the vetting threads sum the time of their stages (logged with the counters when the server stops) */
  timing?: boolean;
  /** where the journal of notifications in flight lives (default <socketPath>.journal, on /run) */
  journalDir?: string;
  nsenter?: string;
}

export interface SeccompCounters {
  listeners: number;
  notifications: number;
  continue: number;
  perform: number;
  errno: number;
  fake: number;
  /** performed calls that failed (the caller got the errno) */
  performFailed: number;
  /** notifications whose caller was gone (or answered) before our answer */
  stale: number;
  /** path lookups answered from the dentry cache on the loop, and those sent to the libuv pool */
  lookupsCached: number;
  lookupsPool: number;
  /** notifications answered by the vetting threads themselves (a fast rule), by rule; included in `continue` */
  native: Record<string, number>;
  /** with `timing`: ns the vetting threads spent per stage, summed, and how many they answered */
  nativeNs?: Record<string, number>;
}

interface Container {
  id: string;
  /** the init's pid as the engine reported it (the first listener's) */
  initPid: number;
  tables: NamespaceTables | undefined;
  listeners: number;
  /** its vetting thread */
  vetter: Vetter;
  /** the version of tables.protectedDevs the vetting thread has (-1: none: it answers nothing yet) */
  armed: number;
  log: Logger;
}

interface Listener {
  fd: number;
  name: string;
  container: Container;
  pid: number;
  watcher: Watcher | undefined;
  /** notifications received and not yet answered (journaled in the store) */
  inflight: Map<bigint, SeccompNotification>;
  data: { containerId: string; pid: number; initPid: number };
  /** the journal file of its notifications in flight */
  journalFd: number | undefined;
  /** the newest notification id received */
  lastId: bigint;
  /** the journal file's length (records are padded to it) */
  journalLen: number;
  /** pending until it goes to the store (STORE_AFTER_MS); undefined once stored */
  storeTimer?: NodeJS.Timeout | undefined;
}

export interface SeccompServer {
  readonly counters: Readonly<SeccompCounters>;
  /** the listener fds served now, by container */
  listeners(): Array<{ containerId: string; pid: number; fd: number }>;
  /** serves a listener fd kept by the fd store (after a restart); answers its journaled notifications */
  adopt(name: string, data: string, fd: number): void;
  /** after adopting: removes journal files of listeners nobody keeps */
  sweep(): void;
  /** notifications in flight (being decided), for tests */
  readonly busy: number;
  /** what the fd store should hold for the seccomp side now (stored again after the store reconnects) */
  kept(): Array<{ name: string; data: string; fd: number }>;
  close(): void;
}

/** The JSON state runc sends with the listener fd (specs-go ContainerProcessState). */
interface ProcessState {
  ociVersion?: string;
  fds?: string[];
  pid?: number;
  metadata?: string;
  state?: { id?: string; pid?: number; status?: string };
}

export function startSeccompServer(o: SeccompServerOptions): SeccompServer {
  const k = o.kernel;
  const host = new SysboxVetHost(k);
  const counters: SeccompCounters = { listeners: 0, notifications: 0, continue: 0, perform: 0, errno: 0, fake: 0, performFailed: 0, stale: 0, lookupsCached: 0, lookupsPool: 0, native: {} };
  // the fast rules, for the vetting threads; with debug logging every call reaches the loop and is logged
  const fast = vetTable();
  const answerNatively = !o.log.isLevelEnabled('debug');
  /** what the vetting threads of containers gone had counted */
  const gone = { received: 0, handed: 0, stale: 0, continued: fast.names.map(() => 0), ns: {} as Record<string, number> };
  const containers = new Map<string, Container>();
  const listeners = new Map<number, Listener>();
  /** per caller thread: the chain its notifications run on (a thread has one call pending at a time; this keeps a stale one ordered) */
  const perTid = new Map<number, Promise<void>>();
  let busy = 0;
  let closed = false;
  let listenFd: number;
  if (o.listenFd !== undefined) listenFd = o.listenFd;
  else {
    try {
      unlinkSync(o.socketPath);
    } catch {
      /* none */
    }
    listenFd = k.listenUnix(o.socketPath, 256);
    o.store?.put({ name: STORE_LISTEN, data: o.socketPath, fd: listenFd });
  }

  /** Journal files whose listener the store no longer holds (a previous sysbox-fs's, its listener gone). */
  const sweepJournals = (keep: ReadonlySet<string>) => {
    let names: string[] = [];
    try {
      names = readdirSync(journalDir);
    } catch {
      return;
    }
    for (const n of names) if (!keep.has(n) && !listenersByName().has(n)) rmSync(join(journalDir, n), { force: true });
  };
  const listenersByName = () => new Set([...listeners.values()].map((l) => l.name));

  const containerOf = (id: string, initPid: number): Container => {
    let c = containers.get(id);
    if (!c) {
      c = { id, initPid, tables: undefined, listeners: 0, vetter: k.seccompNotify.vetter(fast.table, { answer: answerNatively, timing: o.timing === true }), armed: -1, log: o.log.child({ containerId: id }) };
      containers.set(id, c);
    }
    return c;
  };

  /** Gives the vetting thread the container's protected file systems when they grew (it answers nothing before). */
  const arm = (c: Container) => {
    if (!c.tables || c.tables.version === c.armed) return;
    c.vetter.setDevs(c.tables.protectedDevs);
    c.armed = c.tables.version;
  };

  /** Adds up a vetting thread's counts (for a container that is gone). */
  const keepStats = (v: Vetter) => {
    const st = v.stats();
    gone.received += st.received;
    gone.handed += st.handed;
    gone.stale += st.stale;
    st.continued.forEach((n, i) => (gone.continued[i] = (gone.continued[i] ?? 0) + n));
    for (const [key, n] of Object.entries(st.ns ?? {})) gone.ns[key] = (gone.ns[key] ?? 0) + n;
  };

  /** The container's record of initial mounts: its init's mount table, read before its first vetted call. */
  const tablesOf = (c: Container): NamespaceTables => {
    if (!c.tables) {
      const em = o.emulation(c.id);
      let table;
      try {
        // a sync /proc read: it never crosses a FUSE mount
        table = parseMountinfo(readFileSync(`/proc/${c.initPid}/mountinfo`, 'utf8'));
      } catch (e) {
        throw new Error(`cannot read the mount table of ${c.id}'s init (pid ${c.initPid}): ${(e as Error).message}`);
      }
      c.tables = new NamespaceTables(recordInitialMounts(table, { masked: em?.masked ?? [], readonly: em?.readonly ?? [] }));
      arm(c);
    }
    return c.tables;
  };

  /**
   * What a performed proc/sysfs mount lays over itself; a new sysfs is read-only when the container's is at the
   * superblock (the kernel refuses a more permissive one: mount_too_revealing).
   */
  const emulationOf = (c: Container): Emulation | undefined => {
    const em = o.emulation(c.id);
    if (!em) return undefined;
    const sys = [...(c.tables?.initial.byId.values() ?? [])].find((m) => m.fstype === 'sysfs' && m.mountpoint === '/sys');
    return { ...em, sysReadOnly: sys ? sys.superOptions.split(',').includes('ro') : true };
  };

  /**
   * The journal of notifications in flight: one small file per listener on /run (tmpfs), rewritten in place when a
   * notification arrives and when it is answered (a pwrite, no round trip to another daemon). A successor reads it
   * and answers what the kernel won't deliver again. (The window between the kernel's RECV and this write, a few
   * µs, is not covered: a sysbox-fs killed there leaves that caller blocked.)
   */
  const journalDir = o.journalDir ?? `${o.socketPath}.journal`;
  const journal = (l: Listener) => {
    if (l.journalFd === undefined) return;
    try {
      const inflight = [...l.inflight.values()].map((n) => ({ id: String(n.id), pid: n.pid, syscall: n.syscall, arch: n.arch, args: n.args.map(String) }));
      // lastId: notification ids are sequential per filter: a successor looks just past it for any the kernel had
      // handed out (RECV) that never made it here
      // one pwrite at 0, padded with spaces over what a longer record left (no ftruncate per notification)
      const json = JSON.stringify({ lastId: String(l.lastId), inflight });
      const len = Math.max(json.length, l.journalLen);
      const text = Buffer.from(json.padEnd(len, ' '));
      writeSync(l.journalFd, text, 0, text.length, JOURNAL_JSON);
      l.journalLen = len;
    } catch {
      /* a full /run: the journal is best effort */
    }
  };
  const openJournal = (name: string): number | undefined => {
    try {
      mkdirSync(journalDir, { recursive: true, mode: 0o700 });
      return openSync(join(journalDir, name), 'w+', 0o600);
    } catch (e) {
      o.log.warn({ err: (e as Error).message, journalDir }, 'no journal for seccomp notifications in flight');
      return undefined;
    }
  };
  type Journaled = { lastId?: string; inflight: Array<{ id: string; pid: number; syscall: number; arch: number; args: string[] }> };
  const readJournal = (name: string): Journaled => {
    try {
      const raw = readFileSync(join(journalDir, name));
      // the vetting thread's newest id (first 8 bytes; 0: none), then the JSON at JOURNAL_JSON (an older sysbox-fs
      // wrote the JSON at 0)
      const old = raw.length < JOURNAL_JSON || (raw.length > JOURNAL_JSON && raw[JOURNAL_JSON] !== 0x7b);
      const text = raw.subarray(old ? 0 : JOURNAL_JSON).toString('utf8').replace(/\0+/g, '').trim();
      const j: Journaled = text ? (JSON.parse(text) as Journaled) : { inflight: [] };
      const native = !old && raw.length >= 8 ? raw.readBigUInt64LE(0) : 0n;
      if (native !== 0n && (j.lastId === undefined || newer(native, BigInt(j.lastId)))) j.lastId = String(native);
      return j;
    } catch {
      return { inflight: [] };
    }
  };

  const audit = (clog: Logger, ev: AuditEvent) => {
    const line = { audit: true, callerPid: ev.pid, syscall: ev.syscall, arch: ev.arch, args: ev.args, decision: ev.decision, rule: ev.rule, reason: ev.reason, ...(ev.errno ? { errno: ev.errno } : {}) };
    // refusals at warn, performed calls at info, the kernel's own decisions (continue: the hot path) at debug
    if (ev.decision === 'errno') clog.warn(line, `${ev.syscall} refused: ${ev.reason}`);
    else if (ev.decision === 'continue') clog.debug(line, `${ev.syscall} continue: ${ev.rule}`);
    else clog.info(line, `${ev.syscall} ${ev.decision}: ${ev.rule}`);
  };

  const answer = (l: Listener, n: SeccompNotification, d: Decision | { kind: 'value'; value: number }) => {
    try {
      if (d.kind === 'continue') k.seccompNotify.respond(l.fd, { id: n.id, continue: true });
      else if (d.kind === 'errno') k.seccompNotify.respond(l.fd, { id: n.id, error: d.errno });
      else if (d.kind === 'fake' || d.kind === 'value') k.seccompNotify.respond(l.fd, { id: n.id, val: BigInt(d.value) });
    } catch (e) {
      if (isKernelError(e, 'ENOENT')) counters.stale++;
      else throw e;
    }
  };

  const decide = async (l: Listener, n: SeccompNotification): Promise<void> => {
    const c = l.container;
    const clog = c.log;
    let verdict;
    try {
      verdict = await vet(n, { containerId: c.id, tables: () => tablesOf(c) }, host);
      arm(c);
    } catch (e) {
      // vet never rejects; a thrown error here is ours: refuse
      clog.error({ err: (e as Error).message }, 'vetting failed: refused');
      answer(l, n, { kind: 'errno', rule: 'internal', reason: 'internal', errno: EPERM });
      return;
    }
    const d = verdict.decision;
    counters[d.kind]++;
    // the caller may be gone: nothing is done for a stale notification
    if (!k.seccompNotify.idValid(l.fd, n.id)) {
      counters.stale++;
      clog.info({ audit: true, callerPid: n.pid, syscall: verdict.event.syscall, decision: d.kind, rule: d.rule }, 'caller gone before the answer: dropped');
      return;
    }
    if (d.kind !== 'perform') {
      audit(clog, verdict.event);
      answer(l, n, d);
      return;
    }
    let result;
    try {
      result = await performAction(k, host, n.pid, () => host.tgid(n.pid), d.action, () => emulationOf(c), o.nsenter);
    } catch (e) {
      counters.performFailed++;
      const errno = isKernelError(e) ? e.errno : EPERM;
      audit(clog, performed(verdict.event, { errno }));
      if (!isKernelError(e)) clog.warn({ err: (e as Error).message }, 'performed call failed');
      if (k.seccompNotify.idValid(l.fd, n.id)) answer(l, n, { kind: 'errno', rule: d.rule, reason: d.reason, errno });
      else counters.stale++;
      return;
    } finally {
      // sysbox-fs changed this namespace's mounts itself (a new proc's protected files): read its table again, now
      // (its protected file systems join the ones a lookup must check the table for)
      if (d.action.op !== 'openat2') {
        try {
          c.tables?.get(host.mountNamespace(n.pid), true);
        } catch {
          c.tables?.invalidate();
        }
        arm(c);
      }
    }
    if (result.notFuse) {
      audit(clog, { ...verdict.event, decision: 'continue', reason: `${verdict.event.reason}; the file opened is not sysbox-fs's: the kernel decides` });
      answer(l, n, { kind: 'continue', rule: d.rule, reason: '' });
      return;
    }
    audit(clog, verdict.event);
    if (result.fd !== undefined) {
      try {
        if (!k.seccompNotify.idValid(l.fd, n.id)) {
          counters.stale++;
          return;
        }
        const act = d.action as Extract<typeof d.action, { op: 'openat2' }>;
        k.seccompNotify.addFd(l.fd, { id: n.id, srcFd: result.fd, send: true, newFdFlags: act.cloexec ? O_CLOEXEC : 0 });
      } catch (e) {
        if (isKernelError(e, 'ENOENT')) counters.stale++;
        else throw e;
      } finally {
        k.close(result.fd);
      }
      return;
    }
    if (k.seccompNotify.idValid(l.fd, n.id)) answer(l, n, { kind: 'value', value: 0 });
    else counters.stale++;
  };

  const onNotification = (l: Listener, n: SeccompNotification) => {
    counters.notifications++;
    if (l.lastId === 0n || newer(n.id, l.lastId)) l.lastId = n.id;
    l.inflight.set(n.id, n);
    journal(l);
    busy++;
    const prev = perTid.get(n.pid) ?? Promise.resolve();
    const run = prev
      .then(() => decide(l, n))
      .catch((e: unknown) => {
        o.log.error({ containerId: l.container.id, pid: n.pid, err: (e as Error).message }, 'notification not answered');
        try {
          answer(l, n, { kind: 'errno', rule: 'internal', reason: 'internal', errno: EPERM });
        } catch {
          /* gone */
        }
      })
      .finally(() => {
        busy--;
        l.inflight.delete(n.id);
        journal(l);
        if (perTid.get(n.pid) === run) perTid.delete(n.pid);
      });
    perTid.set(n.pid, run);
  };

  const drop = (l: Listener, why: string) => {
    if (!listeners.delete(l.fd)) return;
    l.watcher?.close();
    try {
      k.close(l.fd);
    } catch {
      /* closed */
    }
    if (l.storeTimer) clearTimeout(l.storeTimer);
    else o.store?.drop(l.name);
    if (l.journalFd !== undefined) closeSync(l.journalFd);
    rmSync(join(journalDir, l.name), { force: true });
    counters.listeners = listeners.size;
    const c = l.container;
    if (--c.listeners <= 0) {
      containers.delete(c.id);
      keepStats(c.vetter);
      c.vetter.close();
    }
    o.log.debug({ containerId: c.id, pid: l.pid, why }, 'seccomp listener closed');
  };

  const store = (l: Listener) => {
    clearTimeout(l.storeTimer);
    l.storeTimer = undefined;
    o.store?.put({ name: l.name, data: JSON.stringify(l.data), fd: l.fd });
  };

  const serve = (fd: number, data: Listener['data'], stored: string | undefined): Listener => {
    const c = containerOf(data.containerId, data.initPid);
    c.listeners++;
    const name = stored ?? `${STORE_LISTENER_PREFIX}${data.containerId}:${data.pid}:${fd}:${Date.now().toString(36)}`;
    const l: Listener = { fd, name, container: c, pid: data.pid, watcher: undefined, inflight: new Map(), data, journalFd: openJournal(name), lastId: 0n, journalLen: 0 };
    listeners.set(fd, l);
    counters.listeners = listeners.size;
    if (!stored && o.store) {
      l.storeTimer = setTimeout(() => store(l), o.storeAfterMs ?? STORE_AFTER_MS);
      l.storeTimer.unref();
    }
    // POLLHUP: every process under this filter exited. The journal file's first page is where the vetting thread
    // keeps the newest id it received.
    l.watcher = c.vetter.watch(fd, (n) => onNotification(l, n), () => drop(l, 'all its processes exited'), l.journalFd !== undefined ? { lastIdFd: l.journalFd } : {});
    return l;
  };

  const onConnection = async (conn: number) => {
    try {
      const { fds, data } = await k.recvFds(conn, 4, 65536);
      const [fd, ...extra] = fds;
      for (const x of extra) k.close(x);
      if (fd === undefined) return;
      let st: ProcessState;
      try {
        st = JSON.parse(data.toString('utf8')) as ProcessState;
      } catch {
        st = {};
      }
      const id = st.state?.id ?? st.metadata;
      const pid = st.pid ?? 0;
      if (!id) {
        o.log.warn({ pid }, 'seccomp listener without a container id: closed (its calls fail with ENOSYS)');
        k.close(fd);
        return;
      }
      const initPid = containers.get(id)?.initPid ?? st.state?.pid ?? pid;
      serve(fd, { containerId: id, pid, initPid }, undefined);
      o.log.debug({ containerId: id, pid, fd }, 'seccomp listener received');
    } catch (e) {
      o.log.warn({ err: (e as Error).message }, 'seccomp listener connection failed');
    } finally {
      k.close(conn);
    }
  };

  void (async () => {
    while (!closed) {
      let conn: number;
      try {
        conn = await k.accept(listenFd);
      } catch (e) {
        if (closed) return;
        o.log.warn({ err: (e as Error).message }, 'seccomp socket accept failed');
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (closed) {
        k.close(conn);
        return;
      }
      void onConnection(conn);
    }
  })();

  /** The counters, the vetting threads' included. */
  const current = (): SeccompCounters => {
    const all = { received: gone.received, handed: gone.handed, stale: gone.stale, continued: [...gone.continued], ns: { ...gone.ns } };
    for (const c of containers.values()) {
      const st = c.vetter.stats();
      all.received += st.received;
      all.handed += st.handed;
      all.stale += st.stale;
      st.continued.forEach((n, i) => (all.continued[i] = (all.continued[i] ?? 0) + n));
      for (const [key, n] of Object.entries(st.ns ?? {})) all.ns[key] = (all.ns[key] ?? 0) + n;
    }
    const answered = all.continued.reduce((a, b) => a + b, 0);
    return {
      ...counters,
      notifications: counters.notifications + answered + all.stale,
      continue: counters.continue + answered,
      stale: counters.stale + all.stale,
      lookupsCached: host.lookups.cached,
      lookupsPool: host.lookups.pool,
      native: Object.fromEntries(fast.names.map((name, i) => [name, all.continued[i] ?? 0])),
      ...(o.timing ? { nativeNs: all.ns } : {}),
    };
  };

  return {
    get counters() {
      return current();
    },
    get busy() {
      return busy;
    },
    listeners: () => [...listeners.values()].map((l) => ({ containerId: l.container.id, pid: l.pid, fd: l.fd })),
    kept: () => [
      { name: STORE_LISTEN, data: o.socketPath, fd: listenFd },
      // (a listener not stored yet goes on its own timer: listed here, it could be stored and never dropped)
      ...[...listeners.values()].filter((l) => !l.storeTimer).map((l) => ({ name: l.name, data: JSON.stringify(l.data), fd: l.fd })),
    ],
    adopt(name, data, fd) {
      let d: Listener['data'];
      try {
        d = JSON.parse(data) as typeof d;
      } catch {
        k.close(fd);
        o.store?.drop(name);
        return;
      }
      const pending = readJournal(name);
      const known = new Set(pending.inflight.map((j) => BigInt(j.id)));
      // Notifications the previous sysbox-fs received (the kernel won't deliver them again) and that the journal
      // can't give back: the vetting thread's newest id itself (received, then killed while deciding), ids it
      // handed to the loop that the loop never journaled (below it), and any received after the last store (just
      // past it). Found before this process serves the fd: every id still pending (SENT) then is the previous
      // one's, none this process's own vetting thread has received. Their arguments are unknown here, so the
      // caller is told EINTR (as a signal would) rather than left blocked.
      const lost: bigint[] = [];
      if (pending.lastId !== undefined) {
        const last = BigInt(pending.lastId);
        for (let d = -LOST_BELOW; d <= LOST_ABOVE; d++) {
          const id = BigInt.asUintN(64, last + BigInt(d));
          if (!known.has(id) && k.seccompNotify.idValid(fd, id)) lost.push(id);
        }
      }
      // the store keeps its copy under the same name; the journal file goes on
      const l = serve(fd, { containerId: d.containerId, pid: d.pid, initPid: d.initPid }, name);
      // notifications the previous sysbox-fs journaled and never answered: decided again
      for (const j of pending.inflight) {
        const n: SeccompNotification = { id: BigInt(j.id), pid: j.pid, syscall: j.syscall, arch: j.arch, instructionPointer: 0n, args: j.args.map((a) => BigInt(a)) };
        if (!k.seccompNotify.idValid(fd, n.id)) continue;
        o.log.info({ containerId: d.containerId, callerPid: n.pid, id: j.id }, 'answering a notification the previous sysbox-fs left in flight');
        onNotification(l, n);
      }
      for (const id of lost) {
        o.log.warn({ containerId: d.containerId, id: String(id), audit: true, decision: 'errno', rule: 'lost-in-restart', errno: 'EINTR' }, 'a notification the previous sysbox-fs received but never journaled: answered EINTR (the caller may retry)');
        try {
          k.seccompNotify.respond(fd, { id, error: 4 });
        } catch {
          /* answered or gone */
        }
      }
    },
    sweep() {
      sweepJournals(new Set());
    },
    close() {
      if (closed) return;
      closed = true;
      if (!o.store) {
        // nobody else holds the socket: end the pending accept and remove it (shutdown would end the fd store's copy too)
        try {
          k.shutdown(listenFd);
        } catch {
          /* ignore */
        }
        try {
          unlinkSync(o.socketPath);
        } catch {
          /* gone */
        }
      }
      // the listening socket and the listeners stay in the fd store for the next sysbox-fs (those not stored yet go
      // now): only our copies go
      for (const l of [...listeners.values()]) {
        if (l.storeTimer) store(l);
        l.watcher?.close();
        if (l.journalFd !== undefined) closeSync(l.journalFd);
        listeners.delete(l.fd);
        try {
          k.close(l.fd);
        } catch {
          /* closed */
        }
      }
      const final = current();
      for (const c of containers.values()) c.vetter.close();
      o.log.info({ counters: final }, 'seccomp server stopped');
    },
  };
}

/** Whether an fd store entry is the seccomp side's (the FUSE side's adopt must leave it alone). */
export function isSeccompEntry(name: string): boolean {
  return name === STORE_LISTEN || name.startsWith(STORE_LISTENER_PREFIX);
}
