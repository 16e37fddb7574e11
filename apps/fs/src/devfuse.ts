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
const FUSE_BIG_WRITES = 1 << 5;
const FUSE_PARALLEL_DIROPS = 1 << 18;
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
/** one buffer for every answer: answers are written synchronously, so no answer allocates its own */
const ANSWER = Buffer.allocUnsafe(OUT_HEADER + MAX_READ + 4096);
/** a zero-filled buffer from Node's pool (Buffer.alloc never pools: one malloc per call) */
const zeroed = (n: number): Buffer => Buffer.allocUnsafe(n).fill(0);
/** seconds the kernel may cache entries and attributes (libfuse's default) */
const TTL = 1;

export interface FuseRequest {
  len: number;
  opcode: number;
  /** the request's unique, as the kernel sent it (8 bytes), echoed in the answer */
  unique: Buffer;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
  body: Buffer;
}

/** Reads a little-endian u64 as a Number (node ids and handles here stay below 2^53). */
export function u64(b: Buffer, off: number): number {
  return b.readUInt32LE(off + 4) * 0x1_0000_0000 + b.readUInt32LE(off);
}

function w64(b: Buffer, off: number, n: number): void {
  b.writeUInt32LE(n >>> 0, off);
  b.writeUInt32LE(Math.floor(n / 0x1_0000_0000) >>> 0, off + 4);
}

export function parseRequest(buf: Buffer): FuseRequest {
  if (buf.length < IN_HEADER) throw new RangeError(`short FUSE request (${buf.length} bytes)`);
  const len = buf.readUInt32LE(0);
  if (len > buf.length || len < IN_HEADER) throw new RangeError(`bad FUSE request length ${len} (read ${buf.length})`);
  return {
    len,
    opcode: buf.readUInt32LE(4),
    unique: buf.subarray(8, 16),
    nodeid: u64(buf, 16),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
    body: buf.subarray(IN_HEADER, len),
  };
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
 * returns (write it, or copy it).
 */
export class FuseSession {
  readonly paths = new Map<number, string>([[1, '/']]);
  readonly generation: number;
  initialized = false;
  kernelMinor = 0;
  private readonly now = Math.floor(Date.now() / 1000);

  constructor(
    private readonly ops: FuseOps,
    private readonly send: (answer: Buffer) => void,
    private readonly o: SessionOptions = {},
  ) {
    this.generation = o.generation ?? 1 + Math.floor(Math.random() * 0xffffe);
    this.walk('/');
  }

  /** Knows every node of the tree up front: after an adoption the kernel asks about ids it got from an earlier process. */
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

  private reply(req: FuseRequest, error: number, payload?: Buffer): void {
    const plen = payload ? payload.length : 0;
    const out = OUT_HEADER + plen <= ANSWER.length ? ANSWER.subarray(0, OUT_HEADER + plen) : Buffer.allocUnsafe(OUT_HEADER + plen);
    out.writeUInt32LE(OUT_HEADER + plen, 0);
    out.writeInt32LE(error ? -Math.abs(error) : 0, 4);
    req.unique.copy(out, 8);
    if (payload) payload.copy(out, OUT_HEADER);
    try {
      this.send(out);
    } catch (e) {
      // ENOENT: the request was interrupted (the caller gave up) before the answer
      if ((e as { code?: string }).code !== 'ENOENT') this.o.onError?.('answer', e);
    }
  }

  private attr(b: Buffer, off: number, path: string, st: FuseStat): void {
    const dir = (st.mode & 0o170000) === 0o040000;
    w64(b, off, nodeIdOf(path));
    w64(b, off + 8, st.size);
    w64(b, off + 16, Math.ceil(st.size / 512));
    w64(b, off + 24, this.now);
    w64(b, off + 32, this.now);
    w64(b, off + 40, this.now);
    b.writeUInt32LE(0, off + 48);
    b.writeUInt32LE(0, off + 52);
    b.writeUInt32LE(0, off + 56);
    b.writeUInt32LE(st.mode >>> 0, off + 60);
    b.writeUInt32LE(dir ? 2 : 1, off + 64);
    b.writeUInt32LE(st.uid >>> 0, off + 68);
    b.writeUInt32LE(st.gid >>> 0, off + 72);
    b.writeUInt32LE(0, off + 76); // rdev
    b.writeUInt32LE(4096, off + 80); // blksize
    b.writeUInt32LE(0, off + 84); // flags
  }

  private attrOut(path: string, st: FuseStat): Buffer {
    const b = zeroed(16 + ATTR_SIZE);
    w64(b, 0, TTL);
    this.attr(b, 16, path, st);
    return b;
  }

  private entryOut(path: string, st: FuseStat): Buffer {
    const b = zeroed(40 + ATTR_SIZE);
    w64(b, 0, nodeIdOf(path));
    w64(b, 8, 0); // generation
    w64(b, 16, TTL);
    w64(b, 24, TTL);
    this.attr(b, 40, path, st);
    return b;
  }

  private fhOut(inner: number): number {
    return this.generation * 0x1_0000_0000 + (inner >>> 0);
  }

  /** The handle ops gave out, or 0 for a handle of an earlier process (ops then read fresh). */
  private fhIn(b: Buffer, off: number): number {
    return b.readUInt32LE(off + 4) === this.generation ? b.readUInt32LE(off) : 0;
  }

  handle(buf: Buffer): void {
    let req: FuseRequest;
    try {
      req = parseRequest(buf);
    } catch (e) {
      this.o.onError?.('request', e);
      return;
    }
    const { opcode, body } = req;
    if (opcode === OP.FORGET || opcode === OP.BATCH_FORGET || opcode === OP.INTERRUPT) return; // no answer
    if (opcode === OP.INIT) return this.init(req);
    let path = this.paths.get(req.nodeid);
    try {
      if (path === undefined) throw new FuseError('ESTALE');
      switch (opcode) {
        case OP.LOOKUP: {
          const nul = body.indexOf(0);
          const name = body.toString('utf8', 0, nul < 0 ? body.length : nul);
          const p = childPath(path, name);
          const st = this.ops.getattr(p);
          this.paths.set(nodeIdOf(p), p);
          return this.reply(req, 0, this.entryOut(p, st));
        }
        case OP.GETATTR:
          return this.reply(req, 0, this.attrOut(path, this.ops.getattr(path)));
        case OP.SETATTR: {
          const valid = body.readUInt32LE(0);
          if (valid & (FATTR_MODE | FATTR_UID | FATTR_GID)) throw new FuseError('EPERM');
          if (valid & FATTR_SIZE) this.ops.truncate(path, u64(body, 16));
          return this.reply(req, 0, this.attrOut(path, this.ops.getattr(path)));
        }
        case OP.OPEN: {
          const fh = this.ops.open(path, body.readUInt32LE(0));
          const b = zeroed(16);
          w64(b, 0, this.fhOut(fh));
          b.writeUInt32LE(FOPEN_DIRECT_IO, 8);
          return this.reply(req, 0, b);
        }
        case OP.READ: {
          const data = this.ops.read(path, this.fhIn(body, 0), body.readUInt32LE(16), u64(body, 8));
          return this.reply(req, 0, data);
        }
        case OP.WRITE: {
          const size = body.readUInt32LE(16);
          const data = Buffer.from(body.subarray(40, 40 + size));
          const n = this.ops.write(path, this.fhIn(body, 0), data, u64(body, 8));
          const b = zeroed(8);
          b.writeUInt32LE(n >>> 0, 0);
          return this.reply(req, 0, b);
        }
        case OP.RELEASE: {
          const fh = this.fhIn(body, 0);
          if (fh) {
            try {
              this.ops.release(path, fh);
            } catch {
              /* nothing to answer */
            }
          }
          return this.reply(req, 0);
        }
        case OP.STATFS: {
          const b = zeroed(80);
          b.writeUInt32LE(4096, 40); // bsize
          b.writeUInt32LE(255, 44); // namelen
          b.writeUInt32LE(4096, 48); // frsize
          return this.reply(req, 0, b);
        }
        case OP.OPENDIR: {
          const st = this.ops.getattr(path);
          if ((st.mode & 0o170000) !== 0o040000) throw new FuseError('ENOTDIR');
          return this.reply(req, 0, zeroed(16));
        }
        case OP.READDIR:
          return this.reply(req, 0, this.readdir(path, u64(body, 8), body.readUInt32LE(16)));
        case OP.RELEASEDIR:
        case OP.FSYNC:
        case OP.FSYNCDIR:
        case OP.ACCESS:
        case OP.DESTROY:
          return this.reply(req, 0);
        // FLUSH: ENOSYS once and the kernel stops sending it (one round trip less per close)
        default:
          return this.reply(req, errnos['ENOSYS']!);
      }
    } catch (e) {
      if (!(e instanceof FuseError)) this.o.onError?.(`op ${opcode} ${path ?? `node ${req.nodeid}`}`, e);
      return this.reply(req, errnoOf(e));
    }
  }

  private readdir(path: string, offset: number, size: number): Buffer {
    const names = ['.', '..', ...this.ops.readdir(path)];
    const parts: Buffer[] = [];
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
      if (used + recLen > size) break;
      const d = zeroed(recLen);
      w64(d, 0, nodeIdOf(p));
      w64(d, 8, i + 1);
      d.writeUInt32LE(nameLen, 16);
      d.writeUInt32LE(type, 20);
      d.write(name, 24, 'utf8');
      parts.push(d);
      used += recLen;
    }
    return Buffer.concat(parts, used);
  }

  private init(req: FuseRequest): void {
    const { body } = req;
    const major = body.readUInt32LE(0);
    const minor = body.readUInt32LE(4);
    const maxReadahead = body.readUInt32LE(8);
    const flags = body.readUInt32LE(12);
    if (major !== 7 || minor < 12) {
      this.o.onError?.('init', new Error(`unsupported FUSE protocol ${major}.${minor}`));
      return this.reply(req, errnos['EPROTO']!);
    }
    this.kernelMinor = minor;
    const b = Buffer.alloc(64);
    b.writeUInt32LE(7, 0);
    b.writeUInt32LE(Math.min(minor, 31), 4);
    b.writeUInt32LE(maxReadahead, 8);
    b.writeUInt32LE((flags & (FUSE_BIG_WRITES | FUSE_PARALLEL_DIROPS)) >>> 0, 12);
    b.writeUInt16LE(16, 16); // max_background
    b.writeUInt16LE(12, 18); // congestion_threshold
    b.writeUInt32LE(MAX_WRITE, 20);
    b.writeUInt32LE(1, 24); // time_gran
    this.initialized = true;
    return this.reply(req, 0, b);
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
