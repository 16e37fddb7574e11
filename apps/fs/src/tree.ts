// A container's FUSE tree: every emulated handler as a file at its container path, directories in between, the
// covers' placeholders and links. Two ways to serve a file:
// - direct I/O (the default): every read asks. A read at offset 0 takes the file's current rendering (procfs's
//   seq_file semantics: a reader that keeps the file open and reads again from 0, as top does, sees fresh content);
//   reads at other offsets continue that snapshot.
// - the kernel's page cache, for read-only opens of files whose content changes only at known moments (handlers
//   with `kernelCache`: knobs, DMI, cpu/online, loadavg, uptime): the kernel is told the exact size (LOOKUP/GETATTR)
//   and reads the content once per change; an open after a change has it drop the old pages and attributes first
//   (openCached → invalidate). Attributes time out after the file's maxAgeMs (at most 1 s), so a reader keeping the
//   file open sees a change within that (FUSE_AUTO_INVAL_DATA). Then an open+read+close is one round trip (OPEN;
//   RELEASE is asynchronous) instead of three (OPEN, READ, READ at EOF).
// Renderings are shared by all reads while fresh (cache.ts: Renderings).
import { EMPTY_DIRS, ProcfsError, coverHidden, directoriesOf, type ContainerView, type Handler, type HostEnv, type Link } from '@sysbox/procfs';
import { Renderings } from './cache.js';
import { FuseError, type FuseOps, type FuseStat } from '@sysbox/fuse';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
/** the answer to reads at or past the end, and the content of a placeholder file */
const EMPTY = Buffer.alloc(0);
/** the mark of a handle opened through the page cache (openCached) */
const CACHED = Buffer.alloc(0);
/** the longest a page-cached file keeps a rendering of another length than the current one (see mayGive) */
export const LENGTH_SWITCH_MS = 1000;

/** a rendering given to the kernel (its size answered): the kernel may keep its pages */
interface Given {
  buf: Buffer;
  mtimeMs: number;
  /** when it was given (the tree's clock) */
  at: number;
}

/**
 * The size getattr reports. Not 0 (as procfs does): the kernel serves sendfile/splice (e.g. busybox cat)
 * from the page cache up to i_size even under direct_io, so a 0 size reads as empty. A short read then
 * lowers i_size to the content's length until attributes are refreshed (a stat, or the attribute timeout):
 * a splice reader may see a file cut at its previous length if it grew in between. read(2) is unaffected.
 */
export function sizeHint(path: string): number {
  return /^\/proc\/(cpuinfo|stat|diskstats|meminfo)$/.test(path) ? 65536 : 4096;
}

export interface TreeOptions {
  env: HostEnv;
  view: ContainerView;
  handlers: readonly Handler[];
  /** symbolic links of the tree (emulatedLinks(env)), e.g. /sys/class/dmi/id inside the /sys/class cover */
  links?: readonly Link[];
  /** called on handler failures other than the expected EINVAL/EACCES/ENOENT */
  onError?: (path: string, err: unknown) => void;
  /** ms clock for the renderings' ages (default performance.now) */
  now?: () => number;
}

function fail(err: unknown, path: string, onError?: (path: string, err: unknown) => void): never {
  if (err instanceof ProcfsError) {
    if (err.errno === 'EIO') onError?.(path, err);
    throw new FuseError(err.errno, err.message);
  }
  if (err instanceof FuseError) throw err;
  onError?.(path, err);
  throw new FuseError('EIO', (err as Error)?.message);
}

/** The emulated empty directories (EMPTY_DIRS) inside the view's covers. */
export function emptyDirsOf(view: Pick<ContainerView, 'covers'>): string[] {
  return EMPTY_DIRS.filter((p) => view.covers.some((c) => p.startsWith(`${c.dir}/`)));
}

/**
 * The placeholders of the view's covers (container path → kind): one per entry the container's own directory
 * had, except where an emulated file, link or directory takes the name.
 */
export function placeholdersOf(view: Pick<ContainerView, 'covers'>, handlers: readonly Handler[], links: readonly Link[] = []): Map<string, 'dir' | 'file'> {
  const out = new Map<string, 'dir' | 'file'>();
  const taken = directoriesOf([...handlers.map((h) => h.path), ...links.map((l) => l.path), ...emptyDirsOf(view)]);
  for (const c of view.covers) {
    const emulated = taken.get(c.dir) ?? new Set<string>();
    for (const e of c.own) {
      if (emulated.has(e.name) || (e.type !== 'dir' && e.type !== 'file') || e.name.includes('/')) continue;
      out.set(`${c.dir}/${e.name}`, e.type);
    }
  }
  return out;
}

export function treeOps(o: TreeOptions): FuseOps & { readonly openFiles: number } {
  const files = new Map(o.handlers.map((h) => [h.path, h]));
  const links = new Map((o.links ?? []).map((l) => [l.path, l.target]));
  const holders = placeholdersOf(o.view, o.handlers, o.links);
  const empty = emptyDirsOf(o.view);
  const dirs = directoriesOf([...files.keys(), ...links.keys(), ...holders.keys(), ...empty]);
  for (const [p, kind] of holders) if (kind === 'dir') dirs.set(p, new Set());
  for (const p of empty) dirs.set(p, new Set());
  const covers = new Set(o.view.covers.map((c) => c.dir));
  const now = o.now ?? (() => performance.now());
  const renderings = new Renderings(o.env, o.view, now);
  // page-cached files: the rendering whose size and content the kernel was given last, its mtime and when
  const given = new Map<string, Given>();
  // page-cached handles open per file (opened with openCached, not yet released)
  const cachedOpen = new Map<string, number>();
  let lastMtime = 0;
  const give = (path: string, buf: Buffer): Given => {
    const g = given.get(path);
    if (g?.buf === buf) return g;
    // a new rendering gets a later mtime (a changed mtime or size makes the kernel drop its pages)
    lastMtime = Math.max(Date.now(), lastMtime + 0.001);
    const n = { buf, mtimeMs: lastMtime, at: now() };
    given.set(path, n);
    return n;
  };
  /**
   * May the kernel be given `current` in place of `g`? A reader reads a file in two read(2) calls at least (the
   * content, then 0 at EOF) over the same cached size: a change of the same length can't show in between (the second
   * call finds EOF where the first stopped), a change of length could (its second call would read the new
   * rendering's tail). So a change of length waits until no page-cached handle of the file is open, or at most
   * LENGTH_SWITCH_MS; meanwhile new opens get direct I/O (the fresh content, their own snapshot).
   */
  const mayGive = (path: string, g: Given | undefined, current: Buffer): boolean =>
    g === undefined || g.buf.length === current.length || !cachedOpen.get(path) || now() - g.at >= LENGTH_SWITCH_MS;
  // per open handle: the snapshot being read (null: nothing read yet, or opened to write)
  const open = new Map<number, Buffer | null>();
  let next = 1;
  const handle = (content: Buffer | null): number => {
    const fh = next++;
    if (next > 0x7fffffff) next = 1;
    open.set(fh, content);
    return fh;
  };
  const render = (path: string): Buffer => {
    const h = files.get(path);
    if (!h) throw new FuseError('ENOENT');
    try {
      return renderings.get(h);
    } catch (e) {
      fail(e, path, o.onError);
    }
  };
  const { uid, gid } = o.view.owner;
  return {
    get openFiles() {
      return open.size;
    },
    getattr(path, pageCache): FuseStat {
      if (dirs.has(path)) return { mode: S_IFDIR | 0o555, uid, gid, size: 0 };
      const h = files.get(path);
      if (h?.kernelCache && pageCache) {
        // the kernel keeps this size: the reads that follow get this very rendering
        let g = given.get(path);
        try {
          const current = render(path);
          if (g?.buf !== current && mayGive(path, g, current)) g = give(path, current);
        } catch {
          /* answered at read */
        }
        if (g) return { mode: S_IFREG | h.mode, uid, gid, size: g.buf.length, mtimeMs: g.mtimeMs, ttlMs: Math.min(h.maxAgeMs, 1000) };
      }
      if (!h) {
        const target = links.get(path);
        if (target !== undefined) return { mode: S_IFLNK | 0o777, uid, gid, size: Buffer.byteLength(target) };
        // a placeholder file: the container's own file is mounted over it
        if (holders.get(path) === 'file') return { mode: S_IFREG | 0o444, uid, gid, size: 0 };
        throw new FuseError('ENOENT');
      }
      return { mode: S_IFREG | h.mode, uid, gid, size: sizeHint(path) };
    },
    readlink(path) {
      const target = links.get(path);
      if (target === undefined) throw new FuseError(dirs.has(path) || files.has(path) || holders.has(path) ? 'EINVAL' : 'ENOENT');
      return target;
    },
    readdir(path) {
      const d = dirs.get(path);
      if (!d) throw new FuseError(files.has(path) ? 'ENOTDIR' : 'ENOENT');
      if (!covers.has(path)) return [...d];
      // a cover lists what the container sees now (e.g. only its CPUs' cpuN dirs)
      let hidden: Set<string>;
      try {
        hidden = coverHidden(o.env, o.view, path);
      } catch (e) {
        o.onError?.(path, e);
        hidden = new Set();
      }
      return hidden.size ? [...d].filter((n) => !hidden.has(n)) : [...d];
    },
    nodes() {
      return [...dirs.keys(), ...files.keys(), ...links.keys(), ...[...holders].filter(([, k]) => k === 'file').map(([p]) => p)];
    },
    openCached(path, flags) {
      const h = files.get(path);
      if (!h?.kernelCache || (flags & 3) !== 0) return undefined;
      let current: Buffer;
      try {
        current = render(path);
      } catch {
        return undefined; // direct I/O: the read answers the error
      }
      // unknown (e.g. after a restart) or changed since the kernel got it: its pages and attributes go first
      const g = given.get(path);
      const invalidate = g?.buf !== current;
      if (invalidate && !mayGive(path, g, current)) return undefined; // another length, page-cached readers open
      if (invalidate) given.delete(path);
      cachedOpen.set(path, (cachedOpen.get(path) ?? 0) + 1);
      return { fh: handle(CACHED), invalidate };
    },
    open(path, flags) {
      const h = files.get(path);
      const acc = flags & 3;
      // a placeholder not (yet) covered: empty
      if (!h && holders.get(path) === 'file' && acc === 0) return handle(EMPTY);
      if (!h) throw new FuseError(dirs.has(path) ? 'EISDIR' : holders.has(path) || links.has(path) ? 'EACCES' : 'ENOENT');
      if (acc !== 0 && !h.write) throw new FuseError('EACCES');
      return handle(null);
    },
    read(path, fh, len, pos) {
      let content = open.get(fh);
      if (content === EMPTY) return EMPTY;
      // page-cached: the rendering the kernel was told the size of (or, none yet, the current one from now on)
      if (content === CACHED) content = given.get(path)?.buf ?? give(path, render(path)).buf;
      // from 0 (or on a handle of an earlier process): the current rendering, kept for reads further on
      else if (pos === 0 || content === undefined || content === null) {
        content = render(path);
        if (open.has(fh)) open.set(fh, content);
      }
      if (pos >= content.length) return EMPTY;
      if (pos === 0 && len >= content.length) return content;
      return content.subarray(pos, pos + len);
    },
    write(path, _fh, data) {
      const h = files.get(path);
      if (!h?.write) throw new FuseError('EACCES');
      try {
        h.write(o.env, o.view, data.toString('utf8'));
      } catch (e) {
        fail(e, path, o.onError);
      } finally {
        renderings.drop(h);
      }
      return data.length;
    },
    truncate(path) {
      const h = files.get(path);
      if (!h) throw new FuseError('ENOENT');
      if (!h.write) throw new FuseError('EACCES');
    },
    release(path, fh) {
      if (open.get(fh) === CACHED) {
        const n = (cachedOpen.get(path) ?? 1) - 1;
        if (n > 0) cachedOpen.set(path, n);
        else cachedOpen.delete(path);
      }
      open.delete(fh);
    },
  };
}
