// What staging reaches outside itself, injected: the kernel (@sysbox/native's Kernel: mounts, user namespaces) and
// the file system (StagingFs). `nodeFs` is node:fs (all but copyTree, which the caller chooses: sysbox-mgr copies
// with `cp -a`, which keeps owners, modes, links and xattrs).
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import type { Kernel } from '@sysbox/native';

export type FileStat = Pick<Stats, 'mode' | 'uid' | 'gid' | 'dev' | 'isDirectory' | 'isSymbolicLink'>;

/** The file-system calls staging makes. Each throws like node:fs (an Error with `code`). */
export interface StagingFs {
  exists(path: string): boolean;
  stat(path: string): FileStat;
  lstat(path: string): FileStat;
  readdir(path: string): string[];
  readFile(path: string): string;
  /** exclusive: fail if it exists */
  writeFile(path: string, data: string, o: { mode: number; exclusive?: boolean }): void;
  mkdir(path: string, o: { mode: number; recursive?: boolean }): void;
  chmod(path: string, mode: number): void;
  chown(path: string, uid: number, gid: number): void;
  /** chown of a symlink itself */
  lchown(path: string, uid: number, gid: number): void;
  rename(from: string, to: string): void;
  realpath(path: string): string;
  unlink(path: string): void;
  rmdir(path: string): void;
  /** rm -rf */
  removeTree(path: string): void;
  /** copies src's contents into the existing dir dst, keeping owners, modes, links and xattrs (cp -a src/. dst/) */
  copyTree(src: string, dst: string): void;
  /** the text of /proc/self/mountinfo */
  mountinfo(): string;
}

export interface StagingEnv {
  kernel: Kernel;
  fs: StagingFs;
}

/** node:fs, without copyTree (the caller supplies it). */
export const nodeFs: Omit<StagingFs, 'copyTree'> = {
  exists: (p) => existsSync(p),
  stat: (p) => statSync(p),
  lstat: (p) => lstatSync(p),
  readdir: (p) => readdirSync(p),
  readFile: (p) => readFileSync(p, 'utf8'),
  writeFile: (p, data, o) => writeFileSync(p, data, { mode: o.mode, ...(o.exclusive ? { flag: 'wx' } : {}) }),
  mkdir: (p, o) => void mkdirSync(p, { mode: o.mode, recursive: !!o.recursive }),
  chmod: (p, mode) => chmodSync(p, mode),
  chown: (p, uid, gid) => chownSync(p, uid, gid),
  lchown: (p, uid, gid) => lchownSync(p, uid, gid),
  rename: (a, b) => renameSync(a, b),
  realpath: (p) => realpathSync(p),
  unlink: (p) => unlinkSync(p),
  rmdir: (p) => rmdirSync(p),
  removeTree: (p) => rmSync(p, { recursive: true, force: true }),
  mountinfo: () => readFileSync('/proc/self/mountinfo', 'utf8'),
};
