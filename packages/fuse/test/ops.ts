// A small tree for the tests: /proc/{uptime, sys/x} from `files` (writable), owned by `owner`. Handles: open returns
// `fh`; a read on another handle (one an earlier process gave out) answers "fresh:" + the content.
import { FuseError, type FuseOps } from '../src/fuse.js';

export function fakeOps(files: Record<string, string>, o: { owner?: number; fh?: number } = {}): FuseOps & { released: number[] } {
  const owner = o.owner ?? 0;
  const fh = o.fh ?? 7;
  const dirs: Record<string, string[]> = { '/': ['proc'], '/proc': ['sys', 'uptime'], '/proc/sys': ['x'] };
  const released: number[] = [];
  return {
    released,
    getattr(p) {
      if (dirs[p]) return { mode: 0o40555, uid: owner, gid: owner, size: 0 };
      if (files[p] !== undefined) return { mode: 0o100644, uid: owner, gid: owner, size: 4096 };
      throw new FuseError('ENOENT');
    },
    readdir(p) {
      const d = dirs[p];
      if (!d) throw new FuseError('ENOENT');
      return d;
    },
    open(p) {
      if (files[p] === undefined) throw new FuseError('ENOENT');
      return fh;
    },
    read(p, h, len, pos) {
      return Buffer.from(h === fh ? (files[p] ?? '') : `fresh:${files[p]}`).subarray(pos, pos + len);
    },
    write(p, _fh, d) {
      if (d.toString() === 'bad\n') throw new FuseError('EINVAL');
      files[p] = d.toString();
      return d.length;
    },
    truncate() {},
    release(_p, h) {
      released.push(h);
    },
  };
}
