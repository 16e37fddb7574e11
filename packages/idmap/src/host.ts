/**
 * Host I/O for @sysbox/idmap: atomic files, the sysbox user, /etc/subuid and /etc/subgid.
 * Imported separately (`@sysbox/idmap/host`) so the pure part stays free of I/O.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fchmodSync, fsyncSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { IdmapError } from './errors.js';
import type { IdPool } from './allocator.js';
import type { Store } from './store.js';
import { DEFAULT_SUBID_SIZE, ensureSubidEntry, findSubidEntry } from './subid.js';

const execFileP = promisify(execFile);

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Writes `path` atomically: a temp file in the same directory, fsync, rename over `path`, fsync of the
 * directory. A crash leaves either the old or the new content.
 *
 * Synchronous calls behind a Promise: nine thread-pool round trips through the caller's event loop took ~1.5 ms of
 * wall time on a busy 2-core host, where the calls themselves take ~0.05 ms on a tmpfs (sysbox-mgr's registry, written
 * on every Register and PrepareRootfs) and ~0.2 ms on an idle local disk.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      writeFileSync(fd, data);
      fchmodSync(fd, mode);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* not created, or already renamed */
    }
    throw new IdmapError('IO', `cannot write ${path} atomically: ${errText(err)}`, { cause: err });
  }
}

/** A Store backed by one file, written atomically (writeFileAtomic). */
export class FileStore implements Store {
  constructor(
    readonly path: string,
    readonly mode = 0o600,
  ) {}
  async read(): Promise<string | undefined> {
    try {
      return await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new IdmapError('IO', `cannot read ${this.path}: ${errText(err)}`, { cause: err });
    }
  }
  write(text: string): Promise<void> {
    return writeFileAtomic(this.path, text, this.mode);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs fn holding `<path>.lock` the way shadow-utils (useradd, usermod) lock /etc/subuid: a file holding the pid,
 * linked into place; a lock whose pid is dead is stale and removed. Throws IdmapError('IO') after timeoutMs.
 */
export async function withShadowLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const lock = `${path}.lock`;
  const mine = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(mine, String(process.pid), { mode: 0o600 }).catch((err: unknown) => {
    throw new IdmapError('IO', `cannot lock ${path}: ${errText(err)}`, { cause: err });
  });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await link(mine, lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new IdmapError('IO', `cannot lock ${path}: ${errText(err)}`, { cause: err });
      }
      const holder = Number.parseInt((await readFile(lock, 'utf8').catch(() => '')).replace(/\0/g, '').trim(), 10);
      if (!Number.isSafeInteger(holder) || holder <= 0 || !pidAlive(holder)) {
        await unlink(lock).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) throw new IdmapError('IO', `cannot lock ${path}: ${lock} is held by pid ${holder}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await unlink(mine).catch(() => {});
  }
  try {
    return await fn();
  } finally {
    await unlink(lock).catch(() => {});
  }
}

export interface HostOptions {
  /** user owning the subordinate ranges (default "sysbox") */
  user?: string;
  /** ids in a new subuid/subgid entry (default 268435456) */
  size?: number;
  subuidPath?: string;
  subgidPath?: string;
  /** useradd binary (default /usr/sbin/useradd, else "useradd" from PATH) */
  useradd?: string;
}

async function userExists(user: string): Promise<boolean> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  return passwd.split('\n').some((l) => l.split(':')[0] === user);
}

/**
 * Creates the system user (no home, nologin shell) if absent. Returns true if it was created.
 * Throws IdmapError('IO') naming useradd's complaint.
 */
export async function ensureSysboxUser(opts: HostOptions = {}): Promise<boolean> {
  const user = opts.user ?? 'sysbox';
  if (await userExists(user)) return false;
  try {
    const useradd = opts.useradd ?? (existsSync('/usr/sbin/useradd') ? '/usr/sbin/useradd' : 'useradd');
    await execFileP(useradd, ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user]);
  } catch (err) {
    const e = err as { stderr?: string };
    const why = (e.stderr ?? '').trim().split('\n')[0] || errText(err);
    // A concurrent creator may have won the race.
    if (await userExists(user)) return false;
    throw new IdmapError('IO', `cannot create user "${user}" with useradd: ${why}`, { cause: err });
  }
  return true;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new IdmapError('IO', `cannot read ${path}: ${errText(err)}`, { cause: err });
  }
}

/**
 * Makes sure /etc/subuid and /etc/subgid hold an entry for the user (appending one after the existing
 * entries, written atomically, mode 0644) and returns the pool they define.
 */
export async function ensureSubids(opts: HostOptions = {}): Promise<IdPool> {
  const user = opts.user ?? 'sysbox';
  const size = opts.size ?? DEFAULT_SUBID_SIZE;
  const pool: Partial<IdPool> = {};
  for (const [k, path] of [
    ['uid', opts.subuidPath ?? '/etc/subuid'],
    ['gid', opts.subgidPath ?? '/etc/subgid'],
  ] as const) {
    let e = findSubidEntry(await readText(path), user, undefined, path);
    if (!e) {
      e = await withShadowLock(path, async () => {
        const text = await readText(path);
        const next = ensureSubidEntry(text, user, size, path);
        if (next !== text) await writeFileAtomic(path, next, 0o644);
        return findSubidEntry(next, user, undefined, path)!;
      });
    }
    pool[k] = { start: e.start, count: e.count };
  }
  return pool as IdPool;
}

/** Reads the user's pool from /etc/subuid and /etc/subgid without changing them. Throws if an entry is missing. */
export async function readSubidPool(opts: Pick<HostOptions, 'user' | 'subuidPath' | 'subgidPath'> = {}): Promise<IdPool> {
  const user = opts.user ?? 'sysbox';
  const pool: Partial<IdPool> = {};
  for (const [k, path] of [
    ['uid', opts.subuidPath ?? '/etc/subuid'],
    ['gid', opts.subgidPath ?? '/etc/subgid'],
  ] as const) {
    const e = findSubidEntry(await readText(path), user, undefined, path);
    if (!e) throw new IdmapError('BAD_SUBID', `${path} has no entry for "${user}"`);
    pool[k] = { start: e.start, count: e.count };
  }
  return pool as IdPool;
}

/** ensureSysboxUser then ensureSubids: everything a host needs before ranges are allocated. */
export async function ensureSysboxHost(opts: HostOptions = {}): Promise<{ userCreated: boolean; pool: IdPool }> {
  const userCreated = await ensureSysboxUser(opts);
  const pool = await ensureSubids(opts);
  return { userCreated, pool };
}
