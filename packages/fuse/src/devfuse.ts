// A FUSE backend that speaks the kernel's FUSE protocol over /dev/fuse itself (no libfuse): sysbox-fs
// opens /dev/fuse, mounts with `fd=N`, and reads requests on the event loop (@sysbox/native's fuseWatch,
// a uv_poll on the fd). Because the fd is ours from the start, a copy of it can be kept elsewhere (sysbox-mgr's
// fd store) and a restarted sysbox-fs can adopt the same FUSE connection: the mount never dies, requests made
// while no daemon runs wait in the kernel's queue. Node ids are stable hashes of the paths and file handles
// carry a per-process generation, so a new process answers requests about nodes and handles it never saw.
import { constants as osConstants } from 'node:os';
import type { Kernel } from '@sysbox/native';
import { FuseError, type FuseBackend, type FuseMount, type FuseOps, type FuseStat } from './fuse.js';

// opcodes (linux/fuse.h)
export const OP = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  ACCESS: 34,
  INTERRUPT: 36,
  DESTROY: 38,
  BATCH_FORGET: 42,
} as const;

export const IN_HEADER = 40;
export const OUT_HEADER = 16;
const ATTR_SIZE = 88;
const FATTR_MODE = 1 << 0;
const FATTR_UID = 1 << 1;
const FATTR_GID = 1 << 2;
const FATTR_SIZE = 1 << 3;
const FOPEN_DIRECT_IO = 1 << 0;
const FOPEN_KEEP_CACHE = 1 << 1;
const FUSE_BIG_WRITES = 1 << 5;
/** on every read of a cached file, attributes past their timeout are asked again, and a changed size or mtime drops the pages */
const FUSE_AUTO_INVAL_DATA = 1 << 12;
const FUSE_PARALLEL_DIROPS = 1 << 18;
/** FUSE_NOTIFY_INVAL_INODE: drop an inode's cached attributes and pages */
export const FUSE_NOTIFY_INVAL_INODE = 2;
/** FUSE_NOTIFY_RESEND (kernel ≥ 6.9): requests read by a dead daemon but never answered go back to the queue. */
export const FUSE_NOTIFY_RESEND = 7;
/**
 * Largest WRITE the kernel sends (the FUSE minimum, one page): the only writable files are sysctl knobs, whose
 * values are a few bytes; a longer write arrives in pieces, each refused as a bad value. It sizes the request
 * buffer every mount keeps (REQ_BUF), so it is what 20 idle containers cost: 20 × 8 KiB instead of 20 × 132 KiB.
 */
export const MAX_WRITE = 4096;
/** READ size limit (mount option max_read): an emulated file (e.g. a big host's /proc/cpuinfo) in one request */
export const MAX_READ = 128 * 1024;
/** read buffer for requests: a WRITE of MAX_WRITE plus its headers fits; the kernel's minimum is 8 KiB */
export const REQ_BUF = Math.max(8192, MAX_WRITE + 4096);
/**
 * Request buffer for an adopted connection: the kernel refuses reads shorter than the max_write negotiated at
 * INIT, which an earlier sysbox-fs (before MAX_WRITE was one page: 128 KiB) may have negotiated.
 */
export const ADOPTED_REQ_BUF = 128 * 1024 + 4096;
/**
 * One buffer for every answer: answers are written synchronously, so none allocates its own. Payloads are built
 * in place after the header; a READ's data is copied into it once (the one copy between a rendering and the kernel).
 */
const ANSWER = Buffer.allocUnsafe(OUT_HEADER + MAX_READ + 4096);
/** views of ANSWER by length, made once each: an answer of a length seen before allocates nothing */
const answerViews = new Map<number, Buffer>();
function answerOf(length: number): Buffer {
  let v = answerViews.get(length);
  if (v === undefined) {
    v = ANSWER.subarray(0, length);
    if (answerViews.size < 1024) answerViews.set(length, v);
  }
  return v;
}
/** ms the kernel may cache entries, and attributes unless the tree says otherwise (libfuse's default: 1 s) */
const TTL_MS = 1000;
/** the FUSE_NOTIFY_INVAL_INODE message: header + { ino, off = 0, len = 0 (every page) } */
const INVAL = Buffer.alloc(OUT_HEADER + 24);
INVAL.writeUInt32LE(INVAL.length, 0);
INVAL.writeInt32LE(FUSE_NOTIFY_INVAL_INODE, 4);

/** Reads a little-endian u64 as a Number (node ids and handles here stay below 2^53). */
export function u64(b: Buffer, off: number): number {
  return b.readUInt32LE(off + 4) * 0x1_0000_0000 + b.readUInt32LE(off);
}

function w64(b: Buffer, off: number, n: number): void {
  b.writeUInt32LE(n >>> 0, off);
  b.writeUInt32LE(Math.floor(n / 0x1_0000_0000) >>> 0, off + 4);
}

/** a timeout of `ms` as FUSE's u64 seconds (at `secAt`) and u32 nanoseconds (at `nsecAt`) */
function wTimeout(b: Buffer, secAt: number, nsecAt: number, ms: number): void {
  const sec = Math.floor(ms / 1000);
  w64(b, secAt, sec);
  b.writeUInt32LE(Math.round((ms - sec * 1000) * 1e6) >>> 0, nsecAt);
}

/** A stable node id for a path: 1 for the root, else a 52-bit FNV-1a hash (never 0 or 1). */
export function nodeIdOf(path: string): number {
  if (path === '/') return 1;
  // two 32-bit FNV-1a passes with different offsets → 52 bits
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  const id = (a >>> 0) * 0x100000 + ((b >>> 0) & 0xfffff);
  return id < 2 ? id + 2 : id;
}

const errnos = osConstants.errno as Record<string, number>;
function errnoOf(e: unknown): number {
  const name = e instanceof FuseError ? e.errno : ((e as { code?: unknown })?.code ?? (e as { errno?: unknown })?.errno);
  if (typeof name === 'number') return Math.abs(name);
  const n = typeof name === 'string' ? errnos[name] : undefined;
  return n ?? errnos['EIO']!;
}

function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export interface SessionOptions {
  /** a per-process number (1..2^20-1) carried in the high bits of file handles; default random */
  generation?: number;
  /** a handler failure that isn't an errno answer, or a failed write of an answer */
  onError?: (what: string, err: unknown) => void;
}

/**
 * The FUSE protocol for one connection: handle() takes each request read from /dev/fuse and answers through
 * send(). Pure (no fd of its own): unit-tested with buffers. send() gets a buffer that is reused once it
 * returns (write it, or copy it). The hot path (OPEN, READ, RELEASE) allocates nothing per request.
 */
export class FuseSession {
  readonly paths = new Map<number, string>([[1, '/']]);
  readonly generation: number;
  initialized = false;
  kernelMinor = 0;
  /**
   * Whether files may be served through the kernel's page cache (ops.openCached): only on a connection this session
   * set up itself with FUSE_AUTO_INVAL_DATA (an adopted one was negotiated by an earlier process).
   */
  pageCache = false;
  private readonly nowMs = Date.now();
  /** the request being answered (valid during handle()) */
  private req: Buffer = ANSWER;

  constructor(
    private readonly ops: FuseOps,
    private readonly send: (answer: Buffer) => void,
    private readonly o: SessionOptions = {},
  ) {
    this.generation = o.generation ?? 1 + Math.floor(Math.random() * 0xffffe);
    // every node up front: after an adoption the kernel asks about ids it got from an earlier process
    if (ops.nodes) for (const p of ops.nodes()) this.paths.set(nodeIdOf(p), p);
    else this.walk('/');
  }

  private walk(dir: string): void {
    let names: string[];
    try {
      names = this.ops.readdir(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = childPath(dir, n);
      this.paths.set(nodeIdOf(p), p);
      let st: FuseStat | undefined;
      try {
        st = this.ops.getattr(p);
      } catch {
        st = undefined;
      }
      if (st && (st.mode & 0o170000) === 0o040000) this.walk(p);
    }
  }

  /** Answers the current request: the header, and `plen` payload bytes already written at ANSWER[OUT_HEADER]. */
  private reply(error: number, plen = 0, out: Buffer = ANSWER): void {
    const n = OUT_HEADER + plen;
    out.writeUInt32LE(n, 0);
    out.writeInt32LE(error ? -Math.abs(error) : 0, 4);
    out.writeUInt32LE(this.req.readUInt32LE(8), 8);
    out.writeUInt32LE(this.req.readUInt32LE(12), 12);
    try {
      this.send(out === ANSWER ? answerOf(n) : out);
    } catch (e) {
      // ENOENT: the request was interrupted (the caller gave up) before the answer
      if ((e as { code?: string }).code !== 'ENOENT') this.o.onError?.('answer', e);
    }
  }

  /** Zeroes `size` payload bytes of ANSWER and returns the payload's offset. */
  private payload(size: number): number {
    ANSWER.fill(0, OUT_HEADER, OUT_HEADER + size);
    return OUT_HEADER;
  }

  private attr(b: Buffer, off: number, path: string, st: FuseStat): void {
    const dir = (st.mode & 0o170000) === 0o040000;
    const ms = st.mtimeMs ?? this.nowMs;
    const sec = Math.floor(ms / 1000);
    const nsec = Math.floor((ms - sec * 1000) * 1e6) >>> 0;
    w64(b, off, nodeIdOf(path));
    w64(b, off + 8, st.size);
    w64(b, off + 16, Math.ceil(st.size / 512));
    for (const at of [24, 32, 40]) w64(b, off + at, sec);
    for (const at of [48, 52, 56]) b.writeUInt32LE(nsec, off + at);
    b.writeUInt32LE(st.mode >>> 0, off + 60);
    b.writeUInt32LE(dir ? 2 : 1, off + 64);
    b.writeUInt32LE(st.uid >>> 0, off + 68);
    b.writeUInt32LE(st.gid >>> 0, off + 72);
    b.writeUInt32LE(4096, off + 80); // blksize
  }

  /** fuse_attr_out at ANSWER's payload; returns its size */
  private attrOut(path: string, st: FuseStat): number {
    const at = this.payload(16 + ATTR_SIZE);
    wTimeout(ANSWER, at, at + 8, st.ttlMs ?? TTL_MS);
    this.attr(ANSWER, at + 16, path, st);
    return 16 + ATTR_SIZE;
  }

  /** fuse_entry_out at ANSWER's payload; returns its size */
  private entryOut(path: string, st: FuseStat): number {
    const at = this.payload(40 + ATTR_SIZE);
    w64(ANSWER, at, nodeIdOf(path));
    wTimeout(ANSWER, at + 16, at + 32, TTL_MS);
    wTimeout(ANSWER, at + 24, at + 36, st.ttlMs ?? TTL_MS);
    this.attr(ANSWER, at + 40, path, st);
    return 40 + ATTR_SIZE;
  }

  /** Tells the kernel to drop a node's cached attributes and pages (ENOENT: it has none, nothing to do). */
  private invalidate(nodeid: number): void {
    w64(INVAL, OUT_HEADER, nodeid);
    try {
      this.send(INVAL);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') this.o.onError?.('invalidate', e);
    }
  }

  /** The handle ops gave out, or 0 for a handle of an earlier process (ops then read fresh). */
  private fhIn(b: Buffer, off: number): number {
    return b.readUInt32LE(off + 4) === this.generation ? b.readUInt32LE(off) : 0;
  }

  handle(buf: Buffer): void {
    const len = buf.length >= IN_HEADER ? buf.readUInt32LE(0) : 0;
    if (len > buf.length || len < IN_HEADER) {
      this.o.onError?.('request', new RangeError(buf.length < IN_HEADER ? `short FUSE request (${buf.length} bytes)` : `bad FUSE request length ${len} (read ${buf.length})`));
      return;
    }
    this.req = buf;
    const opcode = buf.readUInt32LE(4);
    if (opcode === OP.FORGET || opcode === OP.BATCH_FORGET || opcode === OP.INTERRUPT) return; // no answer
    if (opcode === OP.INIT) return this.init(buf.subarray(IN_HEADER, len));
    const nodeid = u64(buf, 16);
    const path = this.paths.get(nodeid);
    const B = IN_HEADER; // the request's body starts here
    try {
      if (path === undefined) throw new FuseError('ESTALE');
      switch (opcode) {
        case OP.OPEN: {
          const flags = buf.readUInt32LE(B);
          // through the page cache where the tree allows it (dropped first if the content changed), else direct I/O
          const cached = this.pageCache ? this.ops.openCached?.(path, flags) : undefined;
          if (cached?.invalidate) this.invalidate(nodeid);
          const fh = cached ? cached.fh : this.ops.open(path, flags);
          const at = this.payload(16);
          ANSWER.writeUInt32LE(fh >>> 0, at);
          ANSWER.writeUInt32LE(this.generation, at + 4);
          ANSWER.writeUInt32LE(cached ? FOPEN_KEEP_CACHE : FOPEN_DIRECT_IO, at + 8);
          return this.reply(0, 16);
        }
        case OP.READ: {
          const data = this.ops.read(path, this.fhIn(buf, B), buf.readUInt32LE(B + 16), u64(buf, B + 8));
          if (OUT_HEADER + data.length > ANSWER.length) {
            const big = Buffer.allocUnsafe(OUT_HEADER + data.length);
            data.copy(big, OUT_HEADER);
            return this.reply(0, data.length, big);
          }
          data.copy(ANSWER, OUT_HEADER);
          return this.reply(0, data.length);
        }
        case OP.RELEASE: {
          const fh = this.fhIn(buf, B);
          if (fh) {
            try {
              this.ops.release(path, fh);
            } catch {
              /* nothing to answer */
            }
          }
          return this.reply(0);
        }
        case OP.LOOKUP: {
          const nul = buf.indexOf(0, B);
          const name = buf.toString('utf8', B, nul < 0 || nul > len ? len : nul);
          const p = childPath(path, name);
          const st = this.ops.getattr(p, this.pageCache);
          this.paths.set(nodeIdOf(p), p);
          return this.reply(0, this.entryOut(p, st));
        }
        case OP.GETATTR:
          return this.reply(0, this.attrOut(path, this.ops.getattr(path, this.pageCache)));
        case OP.SETATTR: {
          const valid = buf.readUInt32LE(B);
          if (valid & (FATTR_MODE | FATTR_UID | FATTR_GID)) throw new FuseError('EPERM');
          if (valid & FATTR_SIZE) this.ops.truncate(path, u64(buf, B + 16));
          return this.reply(0, this.attrOut(path, this.ops.getattr(path, this.pageCache)));
        }
        case OP.READLINK: {
          if (!this.ops.readlink) throw new FuseError('EINVAL');
          const n = ANSWER.write(this.ops.readlink(path), OUT_HEADER, 'utf8');
          return this.reply(0, n);
        }
        case OP.WRITE: {
          const size = buf.readUInt32LE(B + 16);
          const data = Buffer.from(buf.subarray(B + 40, B + 40 + size));
          const n = this.ops.write(path, this.fhIn(buf, B), data, u64(buf, B + 8));
          const at = this.payload(8);
          ANSWER.writeUInt32LE(n >>> 0, at);
          return this.reply(0, 8);
        }
        case OP.STATFS: {
          const at = this.payload(80);
          ANSWER.writeUInt32LE(4096, at + 40); // bsize
          ANSWER.writeUInt32LE(255, at + 44); // namelen
          ANSWER.writeUInt32LE(4096, at + 48); // frsize
          return this.reply(0, 80);
        }
        case OP.OPENDIR: {
          const st = this.ops.getattr(path);
          if ((st.mode & 0o170000) !== 0o040000) throw new FuseError('ENOTDIR');
          this.payload(16);
          return this.reply(0, 16);
        }
        case OP.READDIR:
          return this.reply(0, this.readdir(path, u64(buf, B + 8), buf.readUInt32LE(B + 16)));
        case OP.RELEASEDIR:
        case OP.FSYNC:
        case OP.FSYNCDIR:
        case OP.ACCESS:
        case OP.DESTROY:
          return this.reply(0);
        // FLUSH: ENOSYS once and the kernel stops sending it (one round trip less per close)
        default:
          return this.reply(errnos['ENOSYS']!);
      }
    } catch (e) {
      if (!(e instanceof FuseError)) this.o.onError?.(`op ${opcode} ${path ?? `node ${nodeid}`}`, e);
      return this.reply(errnoOf(e));
    }
  }

  /** fuse_dirent records from `offset`, within `size`, at ANSWER's payload; returns their size */
  private readdir(path: string, offset: number, size: number): number {
    const names = ['.', '..', ...this.ops.readdir(path)];
    const limit = Math.min(size, ANSWER.length - OUT_HEADER);
    let used = 0;
    for (let i = offset; i < names.length; i++) {
      const name = names[i]!;
      const p = name === '.' ? path : name === '..' ? parentOf(path) : childPath(path, name);
      let type = 8; // DT_REG
      if (name === '.' || name === '..') type = 4;
      else {
        try {
          type = (this.ops.getattr(p).mode & 0o170000) >> 12;
        } catch {
          continue;
        }
        this.paths.set(nodeIdOf(p), p);
      }
      const nameLen = Buffer.byteLength(name);
      const recLen = (24 + nameLen + 7) & ~7;
      if (used + recLen > limit) break;
      const at = OUT_HEADER + used;
      ANSWER.fill(0, at, at + recLen);
      w64(ANSWER, at, nodeIdOf(p));
      w64(ANSWER, at + 8, i + 1);
      ANSWER.writeUInt32LE(nameLen, at + 16);
      ANSWER.writeUInt32LE(type, at + 20);
      ANSWER.write(name, at + 24, 'utf8');
      used += recLen;
    }
    return used;
  }

  private init(body: Buffer): void {
    const major = body.readUInt32LE(0);
    const minor = body.readUInt32LE(4);
    const maxReadahead = body.readUInt32LE(8);
    const flags = body.readUInt32LE(12);
    if (major !== 7 || minor < 12) {
      this.o.onError?.('init', new Error(`unsupported FUSE protocol ${major}.${minor}`));
      return this.reply(errnos['EPROTO']!);
    }
    this.kernelMinor = minor;
    const at = this.payload(64);
    ANSWER.writeUInt32LE(7, at);
    ANSWER.writeUInt32LE(Math.min(minor, 31), at + 4);
    ANSWER.writeUInt32LE(maxReadahead, at + 8);
    ANSWER.writeUInt32LE((flags & (FUSE_BIG_WRITES | FUSE_PARALLEL_DIROPS | FUSE_AUTO_INVAL_DATA)) >>> 0, at + 12);
    ANSWER.writeUInt16LE(16, at + 16); // max_background
    ANSWER.writeUInt16LE(12, at + 18); // congestion_threshold
    ANSWER.writeUInt32LE(MAX_WRITE, at + 20);
    ANSWER.writeUInt32LE(1, at + 24); // time_gran
    this.initialized = true;
    this.pageCache = (flags & FUSE_AUTO_INVAL_DATA) !== 0;
    return this.reply(0, 64);
  }
}

/** What the backend needs of @sysbox/native's Kernel. */
export type DevFuseKernel = Pick<Kernel, 'open' | 'close' | 'mount' | 'umount' | 'fuseWatch' | 'write'> & Partial<Pick<Kernel, 'mallocTrim'>>;

export interface DevFuseMount extends FuseMount {
  /** the /dev/fuse fd of this mount (owned by the mount; a copy may be kept elsewhere to survive a restart) */
  readonly fd: number;
  readonly session: FuseSession;
}

export interface DevFuseBackend extends FuseBackend {
  mount(mountpoint: string, ops: FuseOps): Promise<DevFuseMount>;
  /**
   * Serves an existing FUSE connection (a /dev/fuse fd mounted at mountpoint by an earlier process): answers
   * what the kernel queued meanwhile, and asks it to resend what the earlier process read but never answered.
   */
  adopt(mountpoint: string, fd: number, ops: FuseOps): DevFuseMount;
}

const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MNT_DETACH = 2;

export interface DevFuseOptions {
  onError?: (what: string, err: unknown) => void;
  onClose?: (mountpoint: string, errno: number) => void;
  /** µs to keep reading /dev/fuse after a request before sleeping (see Kernel.fuseWatch); default 0 */
  spinUs?: number;
  /**
   * ms without a request after which a burst's garbage is given back: a full GC (when `gc` is given) then
   * malloc_trim (Kernel.mallocTrim). Default 1000; 0 turns it off.
   */
  idleTrimMs?: number;
  /** a full garbage collection (e.g. from v8 --expose-gc), run before the trim */
  gc?: () => void;
}

/**
 * After a burst of requests: once idle for ms, one full GC and malloc_trim. A read burst leaves V8's old space
 * and the C heap (ArrayBuffer backing stores) holding freed pages that nothing returns on its own.
 */
export function idleTrimmer(ms: number, trim: () => void): () => void {
  let count = 0;
  let seen = 0;
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    if (count !== seen) {
      seen = count;
      timer = setTimeout(check, ms);
      timer.unref();
      return;
    }
    timer = undefined;
    trim();
  };
  return () => {
    count++;
    if (!timer) {
      seen = count;
      timer = setTimeout(check, ms);
      timer.unref();
    }
  };
}

export function devFuseBackend(k: DevFuseKernel, o: DevFuseOptions = {}): DevFuseBackend {
  const trimMs = o.idleTrimMs ?? 1000;
  const mallocTrim = k.mallocTrim?.bind(k);
  const activity =
    trimMs > 0 && mallocTrim
      ? idleTrimmer(trimMs, () => {
          o.gc?.();
          mallocTrim();
        })
      : undefined;
  const serve = (mountpoint: string, fd: number, ops: FuseOps, adopted: boolean): DevFuseMount => {
    const session = new FuseSession(ops, (b) => void k.write(fd, b), { ...(o.onError ? { onError: o.onError } : {}) });
    if (adopted) session.initialized = true;
    let closed = false;
    const watcher = k.fuseWatch(fd, adopted ? ADOPTED_REQ_BUF : REQ_BUF, activity ? (req) => (activity(), session.handle(req)) : (req) => session.handle(req), (errno) => {
      if (!closed) o.onClose?.(mountpoint, errno);
    }, o.spinUs ?? 0);
    if (adopted) {
      const n = Buffer.alloc(OUT_HEADER);
      n.writeUInt32LE(OUT_HEADER, 0);
      n.writeInt32LE(FUSE_NOTIFY_RESEND, 4);
      try {
        k.write(fd, n);
      } catch {
        /* kernel < 6.9: no resend; requests the dead process had read stay unanswered */
      }
    }
    return {
      mountpoint,
      fd,
      session,
      async unmount() {
        if (closed) return;
        closed = true;
        try {
          k.umount(mountpoint, MNT_DETACH);
        } finally {
          watcher.close();
          k.close(fd);
        }
      },
    };
  };
  return {
    async mount(mountpoint, ops) {
      const fd = k.open('/dev/fuse', O_RDWR | O_NONBLOCK);
      try {
        k.mount(
          'sysboxfs',
          mountpoint,
          'fuse.sysboxfs',
          MS_NOSUID | MS_NODEV,
          `fd=${fd},rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions,max_read=${MAX_READ}`,
        );
      } catch (e) {
        k.close(fd);
        throw e;
      }
      return serve(mountpoint, fd, ops, false);
    },
    adopt(mountpoint, fd, ops) {
      return serve(mountpoint, fd, ops, true);
    },
  };
}
