import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StartError } from './errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Refuses to start when the pid file names a live instance of `name` (a pid reused by an unrelated process after a
 * crash does not count: its command line must mention `match`); then writes our pid (atomically).
 */
export async function claimPidFile(name: string, match: RegExp, path: string, pid = process.pid): Promise<void> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const other = Number.parseInt(text.trim(), 10);
  if (Number.isSafeInteger(other) && other > 0 && other !== pid && alive(other)) {
    const cmdline = await readFile(`/proc/${other}/cmdline`, 'utf8').catch(() => undefined);
    if (cmdline === undefined || match.test(cmdline)) throw new StartError(`${name} is already running (pid ${other}, from ${path})`);
  }
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    const tmp = `${path}.${pid}.tmp`;
    await writeFile(tmp, `${pid}\n`, { mode: 0o644 });
    await rename(tmp, path);
  } catch (err) {
    throw new StartError(`cannot write pid file ${path}: ${(err as Error).message}`);
  }
}

/**
 * A daemon's start holding its pid file: claimed first (claimPidFile), released when the start fails, and after its
 * stop, which runs once however often it is called.
 */
export async function holdingPidFile<D extends { stop(): Promise<void> }>(name: string, match: RegExp, path: string, start: () => Promise<D>): Promise<D> {
  await claimPidFile(name, match, path);
  let d: D;
  try {
    d = await start();
  } catch (err) {
    await releasePidFile(path);
    throw err;
  }
  let stopping: Promise<void> | undefined;
  const stop = d.stop.bind(d);
  return Object.assign(d, { stop: () => (stopping ??= stop().finally(() => releasePidFile(path))) });
}

/** Removes the pid file if it still names us. */
export async function releasePidFile(path: string, pid = process.pid): Promise<void> {
  const text = await readFile(path, 'utf8').catch(() => '');
  if (Number.parseInt(text.trim(), 10) === pid) await unlink(path).catch(() => {});
}
