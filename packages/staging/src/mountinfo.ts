import { dirname, isAbsolute, resolve } from 'node:path';
import { MNT_DETACH, isKernelError } from '@sysbox/native';
import type { StagingEnv, StagingFs } from './env.js';

/** One line of /proc/<pid>/mountinfo, unescaped. */
export interface MountinfoEntry {
  id: number;
  parentId: number;
  /** "major:minor" */
  dev: string;
  root: string;
  mountPoint: string;
  options: string;
  fstype: string;
  source: string;
  superOptions: string;
}

/** Undoes the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash, \054 comma...). */
export function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountinfoEntry[] {
  const out: MountinfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 4) continue;
    out.push({
      id: Number(f[0]),
      parentId: Number(f[1]),
      dev: f[2]!,
      root: unescapeOctal(f[3]!),
      mountPoint: unescapeOctal(f[4]!),
      options: f[5]!,
      fstype: f[sep + 1]!,
      source: unescapeOctal(f[sep + 2]!),
      superOptions: f.slice(sep + 3).join(' '),
    });
  }
  return out;
}

export function readMountinfo(fs: Pick<StagingFs, 'mountinfo'>): MountinfoEntry[] {
  return parseMountinfo(fs.mountinfo());
}

/** The topmost mount whose mount point is exactly `path`. */
export function mountAt(entries: MountinfoEntry[], path: string): MountinfoEntry | undefined {
  let found: MountinfoEntry | undefined;
  for (const e of entries) if (e.mountPoint === path) found = e;
  return found;
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(entries: MountinfoEntry[], dir: string): string[] {
  const d = dir.replace(/\/+$/, '');
  return [...new Set(entries.map((e) => e.mountPoint).filter((m) => m === d || m.startsWith(d + '/')))].sort(
    (a, b) => b.length - a.length,
  );
}

/** Super options "a=b,c" → map; values unescaped (the kernel escapes ',', '=', space, tab, newline, backslash). */
export function parseSuperOptions(s: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of s.split(',')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq < 0) m.set(unescapeOctal(part), '');
    else m.set(unescapeOctal(part.slice(0, eq)), unescapeOctal(part.slice(eq + 1)));
  }
  return m;
}

/** Splits overlayfs's lowerdir list on ':' (a literal ':' or '\' in a path is backslash-escaped). */
export function splitLowerdir(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) cur += s[++i];
    else if (c === ':') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export interface OverlayLayers {
  /** Absolute paths, top layer first (as in lowerdir). */
  lowerdirs: string[];
  upperdir?: string;
  workdir?: string;
}

export class StagingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StagingError';
  }
}

/**
 * The layers of an overlay mount. Relative lowerdirs (Docker's `l/XXXX` short links, used when the
 * option string would be too long) are resolved against the overlay2 root, the grandparent of upperdir.
 */
export function overlayLayers(entry: MountinfoEntry): OverlayLayers {
  const o = parseSuperOptions(entry.superOptions);
  const lower = o.get('lowerdir');
  if (!lower) throw new StagingError(`overlay at ${entry.mountPoint} has no lowerdir option`);
  const upperdir = o.get('upperdir');
  const workdir = o.get('workdir');
  const parts = splitLowerdir(lower);
  if (parts.some((p) => p === '')) throw new StagingError(`overlay at ${entry.mountPoint}: data-only lower layers are not supported`);
  if (o.has('lowerdir+') || o.has('datadir+')) throw new StagingError(`overlay at ${entry.mountPoint}: lowerdir+ options are not supported`);
  const base = upperdir ? dirname(dirname(upperdir)) : undefined;
  const lowerdirs = parts.map((p) => {
    if (isAbsolute(p)) return p;
    if (!base) throw new StagingError(`overlay at ${entry.mountPoint}: relative lowerdir ${p} and no upperdir to resolve it`);
    return resolve(base, p);
  });
  return { lowerdirs, ...(upperdir ? { upperdir } : {}), ...(workdir ? { workdir } : {}) };
}

/**
 * Detaches every mount at or below dir (repeats for stacked mounts). Throws StagingError if any stays.
 * `what` names the caller in the log line of a failed umount.
 */
export function unmountAll({ kernel, fs }: StagingEnv, dir: string, log?: (obj: object, msg: string) => void, what = 'staging'): void {
  for (let round = 0; round < 16; round++) {
    const under = mountsUnder(readMountinfo(fs), dir);
    if (under.length === 0) return;
    for (const m of under) {
      try {
        kernel.umount(m, MNT_DETACH);
      } catch (e) {
        if (!isKernelError(e, 'EINVAL') && !isKernelError(e, 'ENOENT')) throw e;
        log?.({ mount: m, err: String(e) }, `${what}: umount failed`);
      }
    }
  }
  const left = mountsUnder(readMountinfo(fs), dir);
  if (left.length > 0) throw new StagingError(`mounts remain under ${dir}: ${left.join(', ')}`);
}
