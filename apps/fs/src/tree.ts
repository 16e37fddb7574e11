// A container's FUSE tree: every emulated handler as a file at its container path, directories
// in between. Reads snapshot the content at open (like procfs's seq files), writes go to the handler.
import { ProcfsError, directoriesOf, type ContainerView, type Handler, type HostEnv } from '@sysbox/procfs';
import { FuseError, type FuseOps, type FuseStat } from './fuse.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

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
  /** called on handler failures other than the expected EINVAL/EACCES/ENOENT */
  onError?: (path: string, err: unknown) => void;
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

/**
 * The placeholders of the view's covers (container path → kind): one per entry the container's own directory
 * had, except where an emulated file or directory takes the name.
 */
export function placeholdersOf(view: Pick<ContainerView, 'covers'>, handlers: readonly Handler[]): Map<string, 'dir' | 'file'> {
  const out = new Map<string, 'dir' | 'file'>();
  const taken = directoriesOf(handlers.map((h) => h.path));
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
  const holders = placeholdersOf(o.view, o.handlers);
  const dirs = directoriesOf([...files.keys(), ...holders.keys()]);
  for (const [p, kind] of holders) if (kind === 'dir') dirs.set(p, new Set());
  const open = new Map<number, Buffer | null>();
  let next = 1;
  const { uid, gid } = o.view.owner;
  return {
    get openFiles() {
      return open.size;
    },
    getattr(path): FuseStat {
      if (dirs.has(path)) return { mode: S_IFDIR | 0o555, uid, gid, size: 0 };
      const h = files.get(path);
      if (!h) {
        // a placeholder file: the container's own file is mounted over it
        if (holders.get(path) === 'file') return { mode: S_IFREG | 0o444, uid, gid, size: 0 };
        throw new FuseError('ENOENT');
      }
      return { mode: S_IFREG | h.mode, uid, gid, size: sizeHint(path) };
    },
    readdir(path) {
      const d = dirs.get(path);
      if (!d) throw new FuseError(files.has(path) ? 'ENOTDIR' : 'ENOENT');
      return [...d];
    },
    open(path, flags) {
      const h = files.get(path);
      if (!h && holders.get(path) === 'file' && (flags & 3) === 0) {
        // a placeholder not (yet) covered: empty
        const fh = next++;
        if (next > 0x7fffffff) next = 1;
        open.set(fh, Buffer.alloc(0));
        return fh;
      }
      if (!h) throw new FuseError(dirs.has(path) ? 'EISDIR' : holders.has(path) ? 'EACCES' : 'ENOENT');
      const acc = flags & 3;
      if (acc !== 0 && !h.write) throw new FuseError('EACCES');
      let content: Buffer | null = null;
      if (acc !== 1) {
        try {
          content = Buffer.from(h.read(o.env, o.view));
        } catch (e) {
          fail(e, path, o.onError);
        }
      }
      const fh = next++;
      if (next > 0x7fffffff) next = 1;
      open.set(fh, content);
      return fh;
    },
    read(path, fh, len, pos) {
      let content = open.get(fh);
      if (content === undefined || content === null) {
        // a handle opened write-only, or unknown: read fresh
        const h = files.get(path);
        if (!h) throw new FuseError('ENOENT');
        try {
          content = Buffer.from(h.read(o.env, o.view));
        } catch (e) {
          fail(e, path, o.onError);
        }
      }
      if (pos >= content.length) return Buffer.alloc(0);
      return content.subarray(pos, pos + len);
    },
    write(path, _fh, data) {
      const h = files.get(path);
      if (!h?.write) throw new FuseError('EACCES');
      try {
        h.write(o.env, o.view, data.toString('utf8'));
      } catch (e) {
        fail(e, path, o.onError);
      }
      return data.length;
    },
    truncate(path) {
      const h = files.get(path);
      if (!h) throw new FuseError('ENOENT');
      if (!h.write) throw new FuseError('EACCES');
    },
    release(_path, fh) {
      open.delete(fh);
    },
  };
}
