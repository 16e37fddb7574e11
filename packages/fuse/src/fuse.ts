// The FUSE backend behind a small interface: path-based operations in, one mount per call.
// Implementation: fuse-native (N-API, its bundled libfuse 2.9; each mount runs its own FUSE thread
// and calls back into the event loop).
import { existsSync, mkdirSync, symlinkSync, readlinkSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface FuseStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** modification time (ms since the epoch); default: the backend's start */
  mtimeMs?: number;
  /** how long the kernel may keep these attributes (ms); default 1 s */
  ttlMs?: number;
}

/** errno names (ENOENT, EACCES, ...) are answered as errors; any handler may also throw one. */
export interface FuseOps {
  /**
   * `pageCache`: the answer goes to a kernel that may keep the content of files opened with openCached: their exact
   * size is answered (and the reads that follow get that very content). Otherwise (a listing's types, a backend
   * without page-cached files) sizes are only hints.
   */
  getattr(path: string, pageCache?: boolean): FuseStat;
  readdir(path: string): string[];
  /** returns a handle for read/write/release */
  open(path: string, flags: number): number;
  read(path: string, fh: number, len: number, pos: number): Buffer;
  write(path: string, fh: number, data: Buffer, pos: number): number;
  truncate(path: string, size: number): void;
  release(path: string, fh: number): void;
  /** a symbolic link's target (getattr reports links with S_IFLNK); EINVAL for anything else */
  readlink?(path: string): string;
  /** every path of the tree, also those a readdir doesn't list now (a backend that must know all nodes up front) */
  nodes?(): string[];
  /**
   * Opens a file the kernel may keep in its page cache (read-only opens of files whose content changes only at
   * known moments), or returns undefined: then open() serves it with direct I/O. `invalidate`: its content changed
   * since the kernel last got it, which must drop its cached pages and attributes before the open is answered.
   */
  openCached?(path: string, flags: number): { fh: number; invalidate: boolean } | undefined;
}

export interface FuseMount {
  readonly mountpoint: string;
  unmount(): Promise<void>;
}

export interface FuseBackend {
  mount(mountpoint: string, ops: FuseOps): Promise<FuseMount>;
}

/** An error carrying an errno name, e.g. new FuseError('ENOENT'). */
export class FuseError extends Error {
  constructor(readonly errno: string, message?: string) {
    super(message ?? errno);
  }
}

const require = createRequire(import.meta.url);

/** Directory holding fuse-native's bundled libfuse (named libfuse.so there; the addon needs libfuse.so.2). */
export function fuseNativeLibDir(): string {
  const pkg = require.resolve('fuse-native/package.json');
  return join(dirname(pkg), 'prebuilds', `${process.platform}-${process.arch}`);
}

/**
 * Makes `libfuse.so.2` resolvable for fuse-native's prebuilt addon: a symlink in `dir` to its bundled
 * libfuse. Returns the directory to put on LD_LIBRARY_PATH (the dynamic loader reads it only at exec).
 */
export function prepareLibfuse(dir: string): string {
  const target = join(fuseNativeLibDir(), 'libfuse.so');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const link = join(dir, 'libfuse.so.2');
  let current: string | undefined;
  try {
    current = readlinkSync(link);
  } catch {
    current = undefined;
  }
  if (current !== target) {
    if (current !== undefined || existsSync(link)) unlinkSync(link);
    symlinkSync(target, link);
  }
  return dir;
}

interface FuseNativeCtor {
  new (mnt: string, ops: object, opts: object): { mount(cb: (err?: Error | null) => void): void; unmount(cb: (err?: Error | null) => void): void };
  unmount(mnt: string, cb: (err?: Error | null) => void): void;
  [errno: string]: unknown;
}

export function fuseNativeBackend(): FuseBackend {
  const Fuse = require('fuse-native') as FuseNativeCtor;
  // direct_io: no page cache, so every read reaches the handler (content changes between reads, and
  // procfs-like files report size 0). fuse-native has no option for it: add it to the mount options.
  class DirectFuse extends (Fuse as unknown as new (...a: unknown[]) => { _fuseOptions(): string }) {
    override _fuseOptions(): string {
      const o = super._fuseOptions();
      return o ? `${o},direct_io` : '-odirect_io';
    }
  }
  const code = (e: unknown): number => {
    const name = e instanceof FuseError ? e.errno : ((e as { errno?: unknown })?.errno ?? (e as { code?: unknown })?.code);
    const n = typeof name === 'string' ? Fuse[name] : undefined;
    return typeof n === 'number' ? n : (Fuse['EIO'] as number);
  };
  return {
    mount(mountpoint, ops) {
      const now = new Date();
      const fops = {
        getattr(p: string, cb: (e: number, st?: object) => void) {
          try {
            const s = ops.getattr(p);
            cb(0, { ...s, mtime: now, atime: now, ctime: now, nlink: s.mode & 0o040000 ? 2 : 1 });
          } catch (e) {
            cb(code(e));
          }
        },
        readlink(p: string, cb: (e: number, target?: string) => void) {
          try {
            if (!ops.readlink) throw new FuseError('EINVAL');
            cb(0, ops.readlink(p));
          } catch (e) {
            cb(code(e));
          }
        },
        readdir(p: string, cb: (e: number, names?: string[]) => void) {
          try {
            cb(0, ops.readdir(p));
          } catch (e) {
            cb(code(e));
          }
        },
        open(p: string, flags: number, cb: (e: number, fh?: number) => void) {
          try {
            cb(0, ops.open(p, flags));
          } catch (e) {
            cb(code(e));
          }
        },
        read(p: string, fh: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) {
          try {
            const data = ops.read(p, fh, len, pos);
            cb(data.copy(buf, 0, 0, Math.min(len, data.length)));
          } catch (e) {
            cb(code(e));
          }
        },
        write(p: string, fh: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) {
          try {
            cb(ops.write(p, fh, Buffer.from(buf.subarray(0, len)), pos));
          } catch (e) {
            cb(code(e));
          }
        },
        truncate(p: string, size: number, cb: (e: number) => void) {
          try {
            ops.truncate(p, size);
            cb(0);
          } catch (e) {
            cb(code(e));
          }
        },
        ftruncate(p: string, _fh: number, size: number, cb: (e: number) => void) {
          try {
            ops.truncate(p, size);
            cb(0);
          } catch (e) {
            cb(code(e));
          }
        },
        release(p: string, fh: number, cb: (e: number) => void) {
          try {
            ops.release(p, fh);
          } catch {
            /* nothing to answer */
          }
          cb(0);
        },
      };
      const f = new (DirectFuse as unknown as FuseNativeCtor)(mountpoint, fops, {
        allowOther: true,
        defaultPermissions: true,
        force: true,
        mkdir: true,
        fsname: 'sysboxfs',
        subtype: 'sysboxfs',
      });
      return new Promise((resolve, reject) => {
        f.mount((err) => {
          if (err) return reject(err);
          resolve({
            mountpoint,
            unmount: () =>
              new Promise<void>((res, rej) => {
                f.unmount((e) => (e ? rej(e) : res()));
              }),
          });
        });
      });
    },
  };
}
