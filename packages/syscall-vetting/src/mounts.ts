// Mount tables (/proc/<tid>/mountinfo) and the container's record of initial mounts: which mounts are
// protected, recognised in any mount namespace of the container (unshare -m, chroot, pivot_root, inner
// containers) by identity rather than by mount ID alone.
import { DOCKER_DEFAULT_MASKED_PATHS, DOCKER_DEFAULT_READONLY_PATHS, isUnder } from '@sysbox/spec';

export interface MountEntry {
  id: number;
  parent: number;
  /** "major:minor" of the file system */
  dev: string;
  /** the mount's root within its file system */
  root: string;
  /** where it is mounted, relative to the reader's root */
  mountpoint: string;
  /** per-mount options (rw|ro, nosuid, ...) */
  options: string[];
  fstype: string;
  source: string;
  superOptions: string;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses /proc/<pid>/mountinfo; malformed lines are skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep < 0 || sep + 3 > f.length) continue;
    const id = Number(f[0]);
    const parent = Number(f[1]);
    if (!Number.isInteger(id) || !Number.isInteger(parent)) continue;
    out.push({
      id,
      parent,
      dev: f[2]!,
      root: unescape(f[3]!),
      mountpoint: unescape(f[4]!),
      options: f[5]!.split(','),
      fstype: f[sep + 1]!,
      source: unescape(f[sep + 2]!),
      superOptions: f[sep + 3] ?? '',
    });
  }
  return out;
}

/** What protects a mount, and so what may be done to it. */
export type ProtectionKind =
  /** an emulated file of sysbox-fs, a view (a directory of sysbox-fs placed whole) or an entry moved back into one */
  | 'emulated'
  /** a masked path (a /dev/null bind or an empty read-only tmpfs over a /proc or /sys entry) */
  | 'masked'
  /** a read-only path (a read-only bind of a /proc or /sys entry over itself) */
  | 'readonly'
  /** the container's own /proc or /sys (as the caller's root sees them) */
  | 'base'
  /** a mount that was read-only when the container started (or a bind copy of one) */
  | 'initial-ro';

export interface Protection {
  kind: ProtectionKind;
  /** the path the protection comes from, as the record knows it (e.g. /proc/keys) */
  what: string;
}

/** The container's record of its initial mounts (taken from its init's mount table at start). */
export interface InitialMounts {
  /** devs of the container's sysbox-fs tree (fuse.sysboxfs) and of the views laid with it (isView) */
  emulatedDevs: ReadonlySet<string>;
  /** devs of the initial /proc and /sys */
  baseDevs: ReadonlyMap<string, 'proc' | 'sysfs'>;
  /** masked and read-only paths relative to their /proc or /sys, by base type */
  masked: { proc: ReadonlySet<string>; sysfs: ReadonlySet<string> };
  readonly: { proc: ReadonlySet<string>; sysfs: ReadonlySet<string> };
  /** initial read-only mounts by (dev, root): a mount of the same file system at or below that root is one */
  initialRo: ReadonlyArray<{ dev: string; root: string; mountpoint: string }>;
  /** the init's table as recorded, by mount ID */
  byId: ReadonlyMap<number, MountEntry>;
}

function relSets(paths: readonly string[]): { proc: Set<string>; sysfs: Set<string> } {
  const out = { proc: new Set<string>(), sysfs: new Set<string>() };
  for (const p of paths) {
    const n = p.replace(/\/+$/, '');
    if (n.startsWith('/proc/')) out.proc.add(n.slice(6));
    else if (n.startsWith('/sys/')) out.sysfs.add(n.slice(5));
  }
  return out;
}

/**
 * A view: a read-only overlay sysbox-nsenter lays with a directory of sysbox-fs's tree over the container's own
 * (source "sysboxfs"; a container naming an overlay of its own so only keeps itself from unmounting it).
 */
function isView(m: MountEntry): boolean {
  return m.fstype === 'overlay' && m.source === 'sysboxfs';
}

/** Builds the record from the init's mount table (read once, before the container's first vetted call). */
export function recordInitialMounts(initTable: readonly MountEntry[], paths: { masked?: readonly string[]; readonly?: readonly string[] } = {}): InitialMounts {
  const emulatedDevs = new Set<string>();
  const baseDevs = new Map<string, 'proc' | 'sysfs'>();
  const initialRo: Array<{ dev: string; root: string; mountpoint: string }> = [];
  for (const m of initTable) {
    if (m.fstype.startsWith('fuse.sysboxfs') || isView(m)) emulatedDevs.add(m.dev);
    if ((m.fstype === 'proc' || m.fstype === 'sysfs') && m.root === '/' && (m.mountpoint === '/proc' || m.mountpoint === '/sys')) baseDevs.set(m.dev, m.fstype);
  }
  for (const m of initTable) {
    if (m.options.includes('ro') && !emulatedDevs.has(m.dev)) initialRo.push({ dev: m.dev, root: m.root, mountpoint: m.mountpoint });
  }
  // Docker's defaults (@sysbox/spec's) when the container's spec lists none
  const masked = paths.masked && paths.masked.length > 0 ? paths.masked : DOCKER_DEFAULT_MASKED_PATHS;
  const ro = paths.readonly && paths.readonly.length > 0 ? paths.readonly : DOCKER_DEFAULT_READONLY_PATHS;
  return { emulatedDevs, baseDevs, masked: relSets(masked), readonly: relSets(ro), initialRo, byId: new Map(initTable.map((m) => [m.id, m])) };
}

function relative(base: string, p: string): string | undefined {
  if (base === '/') return p.slice(1);
  if (p.startsWith(`${base}/`)) return p.slice(base.length + 1);
  return undefined;
}

/** The protection of each protected mount of a table (any mount namespace of the container). */
export function classify(table: readonly MountEntry[], rec: InitialMounts): Map<number, Protection> {
  const byId = new Map(table.map((m) => [m.id, m]));
  const out = new Map<number, Protection>();
  const isEmulated = (m: MountEntry) => rec.emulatedDevs.has(m.dev) || m.fstype.startsWith('fuse.sysboxfs') || isView(m);
  for (const m of table) {
    const parent = byId.get(m.parent);
    if (isEmulated(m)) {
      out.set(m.id, { kind: 'emulated', what: isView(m) ? m.mountpoint : m.root });
      continue;
    }
    if (parent && parent.id !== m.id && isEmulated(parent)) {
      // the container's own entry moved back over a view's placeholder: part of the view
      out.set(m.id, { kind: 'emulated', what: m.mountpoint });
      continue;
    }
    if ((m.fstype === 'proc' || m.fstype === 'sysfs') && m.root === '/' && rec.baseDevs.has(m.dev) && (m.mountpoint === '/proc' || m.mountpoint === '/sys')) {
      out.set(m.id, { kind: 'base', what: m.mountpoint });
      continue;
    }
    // nearest proc/sysfs ancestor mounted at its root: masked and read-only paths are relative to it
    let a = parent;
    for (let hops = 0; a && hops < 64; hops++) {
      if ((a.fstype === 'proc' || a.fstype === 'sysfs') && a.root === '/') break;
      const next = byId.get(a.parent);
      a = next && next.id !== a.id ? next : undefined;
    }
    if (a) {
      const rel = relative(a.mountpoint, m.mountpoint);
      const kind = a.fstype === 'proc' ? 'proc' : 'sysfs';
      if (rel !== undefined && rec.masked[kind].has(rel)) {
        out.set(m.id, { kind: 'masked', what: `/${kind === 'proc' ? 'proc' : 'sys'}/${rel}` });
        continue;
      }
      if (rel !== undefined && rec.readonly[kind].has(rel)) {
        out.set(m.id, { kind: 'readonly', what: `/${kind === 'proc' ? 'proc' : 'sys'}/${rel}` });
        continue;
      }
    }
    if (m.options.includes('ro')) {
      const r = rec.initialRo.find((x) => x.dev === m.dev && isUnder(m.root, x.root));
      if (r) out.set(m.id, { kind: 'initial-ro', what: r.mountpoint });
    }
  }
  return out;
}

/** Whether `id` has a protected mount below it (its subtree in the table). */
export function hasProtectedBelow(table: readonly MountEntry[], prot: ReadonlyMap<number, Protection>, id: number): Protection | undefined {
  const children = new Map<number, number[]>();
  for (const m of table) {
    if (m.id === m.parent) continue;
    const l = children.get(m.parent);
    if (l) l.push(m.id);
    else children.set(m.parent, [m.id]);
  }
  const stack = [...(children.get(id) ?? [])];
  const seen = new Set<number>();
  while (stack.length) {
    const c = stack.pop()!;
    if (seen.has(c)) continue;
    seen.add(c);
    const p = prot.get(c);
    if (p && p.kind !== 'initial-ro') return p;
    stack.push(...(children.get(c) ?? []));
  }
  return undefined;
}

/** ID-mapping of mount options that carry IDs: tmpfs shows uid=/gid= as host IDs (init_user_ns). */
export interface IdMap {
  /** lines of /proc/<tid>/uid_map, gid_map: inside, outside, count */
  uid: ReadonlyArray<readonly [number, number, number]>;
  gid: ReadonlyArray<readonly [number, number, number]>;
}

export function parseIdMap(text: string): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length === 3 && f.every((n) => Number.isInteger(n) && n >= 0)) out.push([f[0]!, f[1]!, f[2]!]);
  }
  return out;
}

function toInside(map: ReadonlyArray<readonly [number, number, number]>, host: number): number | undefined {
  for (const [inside, outside, count] of map) if (host >= outside && host < outside + count) return inside + (host - outside);
  return undefined;
}

/**
 * Rewrites `uid=N` / `gid=N` options holding host IDs (as the kernel shows tmpfs's owner in /proc/mounts) into
 * the caller's IDs, so that a remount with the options read back from /proc/mounts (busybox's one-argument
 * `mount -o remount,ro /t`) passes the kernel's check. IDs already inside the caller's range stay.
 */
export function rewriteIdOptions(data: string, ids: IdMap): { data: string; changed: string[] } {
  const changed: string[] = [];
  const parts = data.split(',').map((o) => {
    const m = /^(uid|gid)=(\d+)$/.exec(o);
    if (!m) return o;
    const n = Number(m[2]);
    const map = m[1] === 'uid' ? ids.uid : ids.gid;
    // an ID the caller's namespace has stays; a host ID that maps into it is translated
    if (map.some(([inside, , count]) => n >= inside && n < inside + count)) return o;
    const inside = toInside(map, n);
    if (inside === undefined) return o;
    changed.push(`${m[1]}=${n}->${inside}`);
    return `${m[1]}=${inside}`;
  });
  return { data: parts.join(','), changed };
}
