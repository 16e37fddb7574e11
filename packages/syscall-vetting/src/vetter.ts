// The interceptor: one entry point (vet), a handler per syscall in a table, each a list of named rules.
// Every decision carries its rule and reason and becomes an audit event. No I/O here: the caller's memory, its
// paths and its mount namespace are reached through VetHost.
import { identify, type VettedSyscall } from './arch.js';
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  EFAULT,
  AT_RECURSIVE,
  AT_SYMLINK_NOFOLLOW,
  CAP_SYS_ADMIN,
  EBUSY,
  EINVAL,
  ENOSYS,
  EPERM,
  EXDEV,
  MNT_DETACH,
  MOUNT_ATTR_IDMAP,
  MOUNT_ATTR_RDONLY,
  MS_BIND,
  MS_MOVE,
  MS_NOUSER,
  MS_PROPAGATION,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  O_CLOEXEC,
  O_NOFOLLOW,
  RESOLVE_NO_XDEV,
  UMOUNT_NOFOLLOW,
  errnoName,
} from './constants.js';
import type { Action, AuditEvent, Decision } from './decision.js';
import { decode, describeArgs, type DecodedArgs, type MountArgs, type MountSetattrArgs, type Openat2Args, type UmountArgs } from './decode.js';
import { fastAnswers, fastCandidate, fastRuleOf } from './fast.js';
import { type MemoryReader, VetError } from './memory.js';
import { classify, hasProtectedBelow, rewriteIdOptions, type IdMap, type InitialMounts, type MountEntry, type Protection } from './mounts.js';
import { describeTarget, nsLinkDir, targetOf, type CallerIds, type TargetRef } from './paths.js';

/** Where a resolved path landed, as the caller sees it. */
export interface Lookup {
  /** mount ID (as in the caller's mountinfo) */
  mountId: number;
  /** "major:minor" of the file system */
  dev: string;
  /** the path is the root of its mount (a mount point) */
  mountRoot: boolean;
  /** statfs f_type of its file system, when the host knows it without asking a file system's daemon */
  fsType?: number;
}

/** What the interceptor needs of the host; every call may throw VetError(errno). */
export interface VetHost {
  read: MemoryReader;
  /** the caller's thread group id (for /proc/self and dirfds) */
  tgid(tid: number): number;
  /** resolves `t` as the caller would (its root, cwd, fds); follow: the last component's symlink */
  lookup(who: CallerIds, t: TargetRef, o: { follow: boolean }): Lookup | Promise<Lookup>;
  /** the caller's mount namespace: a key that stays the same for it, and its table (read when asked) */
  mountNamespace(tid: number): { key: string; read(): MountEntry[] };
  /** the caller's effective capabilities (CapEff) */
  capEff(tid: number): bigint;
  /** the caller's uid_map and gid_map */
  idMap(tid: number): IdMap;
}

/** Classified mount tables per mount namespace of one container (mount IDs only grow stale by unmounts). */
export class NamespaceTables {
  private readonly cache = new Map<string, { table: MountEntry[]; byId: Map<number, MountEntry>; prot: Map<number, Protection> }>();
  /**
   * The file systems (devs) of every protected mount seen in any table of the container, the initial one first: a
   * lookup landing on another file system is not on a protected mount, and needs no table (the hot path: a
   * tmpfs the container mounted and unmounts).
   */
  readonly protectedDevs = new Set<string>();
  /** Grows with protectedDevs (whoever keeps a copy of it knows when to take it again). */
  version = 0;
  constructor(
    readonly initial: InitialMounts,
    private readonly max = 64,
  ) {
    for (const d of initial.emulatedDevs) this.protectedDevs.add(d);
    for (const d of initial.baseDevs.keys()) this.protectedDevs.add(d);
    const table = [...initial.byId.values()];
    this.learn(table, classify(table, initial));
  }

  /** Adds the file systems of a classified table's protected mounts. */
  private learn(table: readonly MountEntry[], prot: ReadonlyMap<number, Protection>): void {
    const before = this.protectedDevs.size;
    const byId = new Map(table.map((m) => [m.id, m]));
    for (const [id] of prot) {
      const m = byId.get(id);
      if (m) this.protectedDevs.add(m.dev);
    }
    if (this.protectedDevs.size !== before) this.version++;
  }

  get(ns: { key: string; read(): MountEntry[] }, fresh = false) {
    let e = this.cache.get(ns.key);
    if (!e || fresh) {
      const table = ns.read();
      e = { table, byId: new Map(table.map((m) => [m.id, m])), prot: classify(table, this.initial) };
      this.learn(table, e.prot);
      this.cache.delete(ns.key);
      if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(ns.key, e);
    }
    return e;
  }

  /** Whether the namespace's table is cached (else the next get reads it). */
  cached(key: string): boolean {
    return this.cache.has(key);
  }

  /** After sysbox-fs changed a namespace's mounts itself (a performed proc mount adds protected mounts). */
  invalidate(key?: string): void {
    if (key === undefined) this.cache.clear();
    else this.cache.delete(key);
  }

  get size(): number {
    return this.cache.size;
  }
}

export interface ContainerVetting {
  containerId: string;
  /** the container's classified tables (built from its record of initial mounts on first use) */
  tables(): NamespaceTables;
}

export interface Notification {
  id: bigint;
  /** host tid of the caller */
  pid: number;
  syscall: number;
  arch: number;
  args: readonly bigint[];
  /**
   * The caller's memory at the pointer arguments, copied once when the notification arrived (a vetting thread does:
   * [address, address + 4096) or up to the first unreadable page). The decoders read only these copies.
   */
  memory?: ReadonlyArray<{ address: bigint; bytes: Buffer }>;
  /** Where the target already resolved (a vetting thread looked it up): used instead of a lookup of the same path. */
  lookup?: { path: string; follow: boolean; errno?: number; mntId?: bigint; devMajor?: number; devMinor?: number; mountRoot?: boolean; fsType?: number };
}

export interface Verdict {
  decision: Decision;
  event: AuditEvent;
  /** the decoded arguments (absent when decoding failed) */
  args?: DecodedArgs;
  /** a fast rule (src/fast.ts) decided, without a mount table */
  fast?: true;
}

interface Ctx {
  who: CallerIds;
  host: VetHost;
  c: ContainerVetting;
  /** lookups made for this call (the fast rules' and a vetting thread's), by target and follow */
  looked: Map<string, Lookup | VetError>;
  /** the caller's table was read again for this call (a protection confirmed) */
  fresh?: boolean;
}

const lookupKey = (t: TargetRef, follow: boolean) => `${follow ? 'f' : 'n'}:${JSON.stringify(t)}`;

const cont = (rule: string, reason: string): Decision => ({ kind: 'continue', rule, reason });
const fail = (rule: string, errno: number, reason: string): Decision => ({ kind: 'errno', rule, reason, errno });
const perform = (rule: string, reason: string, action: Action): Decision => ({ kind: 'perform', rule, reason, action });

/** The protection of the mount a lookup landed on, if it is the mount the table knows by that ID. */
function protectionOf(ctx: Ctx, l: Lookup): Protection | undefined {
  const tables = ctx.c.tables();
  if (!tables.protectedDevs.has(l.dev)) return undefined;
  const ns = ctx.host.mountNamespace(ctx.who.tid);
  const inTable = (fresh: boolean): Protection | undefined => {
    const t = tables.get(ns, fresh);
    const m = t.byId.get(l.mountId);
    // a mount ID the table doesn't know is newer than the table: the container's own (sysbox-fs re-reads after it
    // mounts anything); one reused by another file system is not the protected mount either
    if (!m || m.dev !== l.dev) return undefined;
    return t.prot.get(l.mountId);
  };
  const wasCached = tables.cached(ns.key);
  const p = inTable(false);
  // Mount IDs and anonymous devs are both reused as soon as they are freed: a protected mount unmounted since the
  // table was read (an inner proc's masks, while sysbox-fs still performs its umount) comes back as the
  // container's next tmpfs with the same ID and dev. A protection is confirmed on the table as it is now (a
  // successor's record of initial mounts, taken at its start, holds such transient mounts too).
  if (p === undefined || ctx.fresh || !wasCached) return p;
  ctx.fresh = true;
  return inTable(true);
}

function isReadOnlyKind(p: Protection | undefined): boolean {
  return p !== undefined && (p.kind === 'readonly' || p.kind === 'masked' || p.kind === 'initial-ro' || p.kind === 'emulated');
}

function tableEntry(ctx: Ctx, l: Lookup): MountEntry | undefined {
  const m = ctx.c.tables().get(ctx.host.mountNamespace(ctx.who.tid)).byId.get(l.mountId);
  return m && m.dev === l.dev ? m : undefined;
}

function hasCap(ctx: Ctx, cap: number): boolean {
  return ((ctx.host.capEff(ctx.who.tid) >> BigInt(cap)) & 1n) === 1n;
}

async function lookupOr(ctx: Ctx, t: TargetRef, follow: boolean): Promise<Lookup | VetError> {
  const key = lookupKey(t, follow);
  const known = ctx.looked.get(key);
  if (known) return known;
  let r: Lookup | VetError;
  try {
    r = await ctx.host.lookup(ctx.who, t, { follow });
  } catch (e) {
    r = e instanceof VetError ? e : new VetError(EPERM, `cannot resolve ${describeTarget(t)}: ${(e as Error).message}`);
  }
  ctx.looked.set(key, r);
  return r;
}

/** A fast rule's decision (src/fast.ts), or undefined when the handlers decide. */
async function vetFast(ctx: Ctx, n: Notification, a: DecodedArgs): Promise<Decision | undefined> {
  const r = fastRuleOf(a.syscall);
  if (!r) return undefined;
  const c = fastCandidate(r, n.args, a);
  if (!c) return undefined;
  const target = targetOf(c.target, AT_FDCWD, ctx.who);
  if (target.kind !== 'root') return undefined;
  const l = await lookupOr(ctx, target, c.follow);
  if (l instanceof VetError || !fastAnswers(r, c.flags, l, ctx.c.tables().protectedDevs)) return undefined;
  return cont(r.rule, r.reason(a));
}

/** A reader of the copies a vetting thread made; reads outside them go to the host (the decoders make none). */
function copiesReader(copies: NonNullable<Notification['memory']>, live: MemoryReader): MemoryReader {
  return (pid, address, length) => {
    for (const c of copies) {
      const off = address - c.address;
      if (off < 0n || off >= 4096n) continue;
      if (off >= BigInt(c.bytes.length)) throw new VetError(EFAULT, `unreadable address 0x${address.toString(16)}`);
      return c.bytes.subarray(Number(off), Number(off) + length);
    }
    return live(pid, address, length);
  };
}

/**
 * Whether `t` is a namespace file `/proc/<pid>/ns/<type>` of the caller's own procfs: its directory resolves (an
 * ordinary path) onto a proc mount of the caller's table, so the magic link at its end leads into nsfs.
 */
async function isProcNsLink(ctx: Ctx, t: TargetRef): Promise<boolean> {
  const dir = nsLinkDir(t);
  if (!dir) return false;
  const dl = await lookupOr(ctx, dir, true);
  return !(dl instanceof VetError) && tableEntry(ctx, dl)?.fstype === 'proc';
}

const PROTECTED_WHY: Record<Protection['kind'], string> = {
  emulated: 'an emulated file or view of sysbox-fs (the host file is under it)',
  masked: 'a masked path (the host file is under it)',
  readonly: 'a read-only path',
  base: "the container's /proc or /sys",
  'initial-ro': 'a read-only mount of the container',
};

/** Protected mounts an inner runc binds onto themselves (read-only paths) or masks again: answered without a mount. */
const COVERED_KINDS: ReadonlySet<Protection['kind']> = new Set(['emulated', 'masked', 'readonly']);

/** A mount that covers (or sits inside) a protected mount. */
function coverRule(ctx: Ctx, target: TargetRef, l: Lookup, p = protectionOf(ctx, l)): Decision | undefined {
  if (!p || p.kind === 'base' || p.kind === 'initial-ro') return undefined;
  if (!l.mountRoot && p.kind !== 'emulated') return undefined;
  return fail('cover-protected', EINVAL, `mount over ${describeTarget(target)} refused: it is ${PROTECTED_WHY[p.kind]} (${p.what}), which stays visible`);
}

// ---------------------------------------------------------------------------------------------- mount(2)

async function vetMount(ctx: Ctx, a: MountArgs): Promise<Decision> {
  const { flags } = a;
  if (flags & MS_NOUSER) return fail('mount-flags', EINVAL, 'MS_NOUSER is not a valid mount flag');
  const target = targetOf(a.target, -100, ctx.who);
  const tl = await lookupOr(ctx, target, true);

  // MS_REMOUNT (with or without MS_BIND): the kernel's order
  if (flags & MS_REMOUNT) {
    if (tl instanceof VetError) return fail('unresolved', tl.errno, `remount of ${a.target}: ${tl.message}`);
    if (!tl.mountRoot) return fail('remount-not-mountpoint', EINVAL, `remount of ${a.target}: not a mount point`);
    const p = protectionOf(ctx, tl);
    const m = tableEntry(ctx, tl);
    const makesRw = (flags & MS_RDONLY) === 0;
    if (makesRw && (isReadOnlyKind(p) || (p?.kind === 'base' && m?.options.includes('ro')))) {
      return fail('remount-keeps-ro', EPERM, `remount of ${a.target} read-write refused: it is ${PROTECTED_WHY[p!.kind]} (${p!.what}), which stays read-only`);
    }
    if (!hasCap(ctx, CAP_SYS_ADMIN)) return fail('needs-cap-sys-admin', EPERM, `remount of ${a.target}: the caller lacks CAP_SYS_ADMIN`);
    let data = a.data;
    let note = '';
    if (data && !(flags & MS_BIND)) {
      const r = rewriteIdOptions(data, ctx.host.idMap(ctx.who.tid));
      if (r.changed.length) {
        data = r.data;
        note = ` (host IDs in the options rewritten: ${r.changed.join(' ')})`;
      }
    }
    return perform('remount', `remount of ${a.target}, performed with the arguments as read${note}`, { op: 'mount', source: a.source, target, fstype: a.fstype, flags, data });
  }

  if (flags & MS_BIND) {
    if (tl instanceof VetError) return fail('unresolved', tl.errno, `bind onto ${a.target}: ${tl.message}`);
    if (a.source === null) return fail('bind-no-source', 14, 'bind mount without a source');
    const source = targetOf(a.source, -100, ctx.who);
    const sl = await lookupOr(ctx, source, true);
    if (sl instanceof VetError && sl.errno === EXDEV && (await isProcNsLink(ctx, source))) {
      // a namespace file (the link leads into nsfs, where nothing is protected): only the target's rules apply
      const cover = coverRule(ctx, target, tl);
      if (cover) return cover;
      if (!hasCap(ctx, CAP_SYS_ADMIN)) return fail('needs-cap-sys-admin', EPERM, `bind of ${a.source}: the caller lacks CAP_SYS_ADMIN`);
      return perform('bind-ns-file', `bind of the namespace file ${a.source} onto ${a.target}, performed with the arguments as read`, { op: 'mount', source, target, fstype: a.fstype, flags, data: a.data });
    }
    if (sl instanceof VetError) return fail('unresolved', sl.errno, `bind of ${a.source}: ${sl.message}`);
    const sp = protectionOf(ctx, sl);
    if (sp && COVERED_KINDS.has(sp.kind) && sl.mountRoot && tl.mountRoot && sl.mountId === tl.mountId) {
      // an inner runc's read-only paths (bind onto itself, then a read-only bind remount): it already is one
      return { kind: 'fake', rule: 'bind-self-protected', reason: `bind of ${sp.what} onto itself: it is ${PROTECTED_WHY[sp.kind]} already, nothing to do`, value: 0 };
    }
    const tp = protectionOf(ctx, tl);
    if (tp && tl.mountRoot && (tp.kind === 'masked' || tp.kind === 'emulated') && a.source === '/dev/null') {
      // an inner runc's masked paths: what it would hide is hidden already (a masked path, or sysbox-fs's view)
      return { kind: 'fake', rule: 'mask-protected', reason: `mask of ${tp.what} with /dev/null: it is ${PROTECTED_WHY[tp.kind]} already, nothing to do`, value: 0 };
    }
    const cover = coverRule(ctx, target, tl, tp);
    if (cover) return cover;
    if (!hasCap(ctx, CAP_SYS_ADMIN)) return fail('needs-cap-sys-admin', EPERM, `bind of ${a.source}: the caller lacks CAP_SYS_ADMIN`);
    if (!(flags & MS_REC)) {
      const t = ctx.c.tables().get(ctx.host.mountNamespace(ctx.who.tid));
      const below = tableEntry(ctx, sl) ? hasProtectedBelow(t.table, t.prot, sl.mountId) : undefined;
      if (below) {
        return perform('bind-keeps-submounts', `bind of ${a.source} performed recursively: without its submounts it would show what ${below.what} (${below.kind}) covers`, {
          op: 'mount', source, target, fstype: a.fstype, flags: flags | MS_REC, data: a.data,
        });
      }
    }
    // the kernel's locks guard what a rewritten source or target could reach: the mounts below /proc and /sys are
    // MNT_LOCKED (a non-recursive bind of a tree holding them is refused), read-only ones stay so in every copy
    return cont('bind', `bind of ${a.source} onto ${a.target}: the kernel binds it (its locks keep /proc's and /sys's covers and read-only mounts in every copy)`);
  }

  if (flags & MS_PROPAGATION) return cont('propagation', 'a propagation change: hides and reveals nothing');

  if (flags & MS_MOVE) {
    if (tl instanceof VetError) return fail('unresolved', tl.errno, `move onto ${a.target}: ${tl.message}`);
    const cover = coverRule(ctx, target, tl);
    if (cover) return cover;
    if (a.source === null) return fail('move-no-source', 14, 'move without a source');
    const source = targetOf(a.source, -100, ctx.who);
    const sl = await lookupOr(ctx, source, true);
    if (sl instanceof VetError) return fail('unresolved', sl.errno, `move of ${a.source}: ${sl.message}`);
    const sp = sl.mountRoot ? protectionOf(ctx, sl) : undefined;
    if (sp && sp.kind !== 'initial-ro') {
      return fail('move-protected', EINVAL, `move of ${a.source} refused: it is ${PROTECTED_WHY[sp.kind]} (${sp.what}), which stays where it is`);
    }
    if (!hasCap(ctx, CAP_SYS_ADMIN)) return fail('needs-cap-sys-admin', EPERM, `move of ${a.source}: the caller lacks CAP_SYS_ADMIN`);
    // a rewritten source can't move a cover of /proc or /sys: the kernel refuses to move a locked mount
    return cont('move', `move of ${a.source} onto ${a.target}: the kernel moves it (it refuses to move a locked cover of /proc or /sys)`);
  }

  // a new superblock
  if (a.fstype === 'proc' || a.fstype === 'sysfs') {
    if (tl instanceof VetError) return fail('unresolved', tl.errno, `mount of ${a.fstype} on ${a.target}: ${tl.message}`);
    const cover = coverRule(ctx, target, tl);
    if (cover) return cover;
    if (!hasCap(ctx, CAP_SYS_ADMIN)) return fail('needs-cap-sys-admin', EPERM, `mount of ${a.fstype}: the caller lacks CAP_SYS_ADMIN`);
    const op = a.fstype === 'proc' ? 'mount-proc' : 'mount-sysfs';
    return perform(`${a.fstype}-mount`, `a new ${a.fstype} on ${a.target}, performed with the container's emulated files and masked and read-only paths laid over it`, {
      op, source: a.source, target, flags, data: a.data,
    });
  }
  if (tl instanceof VetError) return cont('new-mount', `a new ${a.fstype ?? '(no type)'} mount; the target doesn't resolve here (${tl.message}): the kernel answers`);
  // only a target on or in one of sysbox-fs's mounts needs the table
  const cover = tl.mountRoot || ctx.c.tables().initial.emulatedDevs.has(tl.dev) ? coverRule(ctx, target, tl) : undefined;
  if (cover) return cover;
  return cont('new-mount', `a new ${a.fstype ?? '(no type)'} mount on ${a.target}: the kernel decides (the file system's own user-namespace rules)`);
}

// ---------------------------------------------------------------------------------------------- umount

async function vetUmount(ctx: Ctx, a: UmountArgs): Promise<Decision> {
  const target = targetOf(a.target, -100, ctx.who);
  const l = await lookupOr(ctx, target, (a.flags & UMOUNT_NOFOLLOW) === 0);
  if (l instanceof VetError) return cont('umount-unresolved', `${a.target} doesn't resolve here (${l.message}): the kernel answers`);
  if (!l.mountRoot) return cont('umount-not-mountpoint', `${a.target} is not a mount point: the kernel answers`);
  const p = protectionOf(ctx, l);
  if (p?.kind === 'base') return fail('base-busy', EBUSY, `umount of ${a.target} refused: ${PROTECTED_WHY.base} stays mounted (busy)`);
  if (p && p.kind !== 'initial-ro') return fail('protected-umount', EINVAL, `umount of ${a.target} refused: it is ${PROTECTED_WHY[p.kind]} (${p.what}), which stays mounted`);
  // a proc or sysfs mounted inside carries the emulation sysbox-fs laid over it: it goes with it (the kernel alone
  // would answer EBUSY, as the submounts are ours; with MNT_DETACH it takes them along itself)
  if (!p && !(a.flags & MNT_DETACH)) {
    const t = ctx.c.tables().get(ctx.host.mountNamespace(ctx.who.tid));
    const m = t.byId.get(l.mountId);
    if (m && m.dev === l.dev && (m.fstype === 'proc' || m.fstype === 'sysfs') && hasProtectedBelow(t.table, t.prot, m.id)) {
      if (!hasCap(ctx, CAP_SYS_ADMIN)) return fail('needs-cap-sys-admin', EPERM, `umount of ${a.target}: the caller lacks CAP_SYS_ADMIN`);
      return perform('umount-emulated', `umount of the ${m.fstype} on ${a.target}, performed with the emulation sysbox-fs laid over it (detached together)`, {
        op: 'umount', target, flags: a.flags | MNT_DETACH,
      });
    }
  }
  return cont('umount', `${a.target} is not protected: the kernel unmounts it`);
}

// ---------------------------------------------------------------------------------------------- mount_setattr

async function vetSetattr(ctx: Ctx, a: MountSetattrArgs): Promise<Decision> {
  const { attrSet, attrClr, propagation, usernsFd } = a.attr;
  if (attrSet === 0n && attrClr === 0n && propagation === 0n && usernsFd === 0n) return cont('setattr-noop', 'no attribute to change: the kernel answers 0');
  if (attrClr === 0n && usernsFd === 0n && !(attrSet & BigInt(MOUNT_ATTR_IDMAP))) {
    // attributes only added (read-only, nosuid, nodev, noexec, atime, nosymfollow) and propagation: whatever the path
    // becomes, a mount gets more restricted, never less (the kernel's own checks apply)
    return cont('setattr-restrict', 'mount_setattr only adding restrictions (or changing propagation): hides and reveals nothing');
  }
  if (attrSet & BigInt(MOUNT_ATTR_IDMAP)) {
    return fail('setattr-idmap', EINVAL, "mount_setattr MOUNT_ATTR_IDMAP refused: it needs a detached mount, and the calls that make one (open_tree OPEN_TREE_CLONE, fsmount) are refused");
  }
  const target = a.path === '' && a.atFlags & AT_EMPTY_PATH ? ({ kind: 'fd', pid: ctx.host.tgid(ctx.who.tid), fd: a.dirfd, rest: '' } as TargetRef) : targetOf(a.path, a.dirfd, { ...ctx.who, tgid: ctx.host.tgid(ctx.who.tid) });
  const l = await lookupOr(ctx, target, (a.atFlags & AT_SYMLINK_NOFOLLOW) === 0);
  if (l instanceof VetError) return fail('unresolved', l.errno, `mount_setattr of ${describeTarget(target)}: ${l.message}`);
  if (attrClr & BigInt(MOUNT_ATTR_RDONLY)) {
    const p = protectionOf(ctx, l);
    const m = tableEntry(ctx, l);
    if (isReadOnlyKind(p) || (p?.kind === 'base' && m?.options.includes('ro'))) {
      return fail('setattr-keeps-ro', EPERM, `mount_setattr clearing read-only on ${describeTarget(target)} refused: it is ${PROTECTED_WHY[p!.kind]} (${p!.what}), which stays read-only`);
    }
    if (a.atFlags & AT_RECURSIVE) {
      const t = ctx.c.tables().get(ctx.host.mountNamespace(ctx.who.tid));
      for (const [id, q] of t.prot) {
        if (!isReadOnlyKind(q) || !isBelow(t.byId, id, l.mountId)) continue;
        return fail('setattr-keeps-ro', EPERM, `recursive mount_setattr clearing read-only on ${describeTarget(target)} refused: ${q.what} below it is ${PROTECTED_WHY[q.kind]}, which stays read-only`);
      }
    }
  }
  if (!hasCap(ctx, CAP_SYS_ADMIN)) return fail('needs-cap-sys-admin', EPERM, 'mount_setattr: the caller lacks CAP_SYS_ADMIN');
  return perform('setattr', `mount_setattr of ${describeTarget(target)}, performed with the attributes as read`, { op: 'mount-setattr', target, atFlags: a.atFlags, attr: a.attr });
}

function isBelow(byId: Map<number, MountEntry>, id: number, ancestor: number): boolean {
  let m = byId.get(id);
  for (let hops = 0; m && hops < 256; hops++) {
    if (m.parent === ancestor) return true;
    if (m.parent === m.id) return false;
    m = byId.get(m.parent);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------- openat2

async function vetOpenat2(ctx: Ctx, a: Openat2Args): Promise<Decision> {
  // only RESOLVE_NO_XDEV stops at sysbox-fs's mounts: without it the kernel reaches the emulated file itself
  if ((a.how.resolve & BigInt(RESOLVE_NO_XDEV)) === 0n) return cont('openat2', 'no RESOLVE_NO_XDEV: the kernel resolves (and reaches emulated files) itself');
  const who = { ...ctx.who, tgid: ctx.host.tgid(ctx.who.tid) };
  const target = targetOf(a.path, a.dirfd, who);
  const l = await lookupOr(ctx, target, (a.how.flags & BigInt(O_NOFOLLOW)) === 0n);
  if (l instanceof VetError) return cont('openat2', `${a.path} doesn't resolve here (${l.message}): the kernel answers`);
  const emulated = ctx.c.tables().initial.emulatedDevs.has(l.dev) || protectionOf(ctx, l)?.kind === 'emulated';
  if (!emulated) return cont('openat2', `${a.path} is not an emulated file: the kernel answers`);
  return perform('openat2-emulated', `openat2 of the emulated ${a.path} with RESOLVE_NO_XDEV: opened in the caller's context without it (sysbox-fs's files are mounts) and the fd installed`, {
    op: 'openat2', target, flags: a.how.flags, mode: a.how.mode, resolve: a.how.resolve & ~BigInt(RESOLVE_NO_XDEV), cloexec: (a.how.flags & BigInt(O_CLOEXEC)) !== 0n,
  });
}

// ---------------------------------------------------------------------------------------------- the interceptor

const HANDLERS: Record<VettedSyscall, (ctx: Ctx, a: DecodedArgs) => Promise<Decision>> = {
  mount: (ctx, a) => vetMount(ctx, a as MountArgs),
  umount: (ctx, a) => vetUmount(ctx, a as UmountArgs),
  umount2: (ctx, a) => vetUmount(ctx, a as UmountArgs),
  mount_setattr: (ctx, a) => vetSetattr(ctx, a as MountSetattrArgs),
  openat2: (ctx, a) => vetOpenat2(ctx, a as Openat2Args),
};

/** The handlers' syscalls (what the spec must trap). */
export const VETTED: readonly VettedSyscall[] = Object.freeze(Object.keys(HANDLERS) as VettedSyscall[]);

/**
 * Decides one notification (lookups may wait on the host). Never rejects: a failure of the host or of a rule is an
 * errno decision that says so. `fast: false` skips the fast rules (tests compare them with the handlers).
 */
export async function vet(n: Notification, c: ContainerVetting, host: VetHost, o: { fast?: boolean } = {}): Promise<Verdict> {
  const id = identify(n.arch, n.syscall);
  const base = { containerId: c.containerId, pid: n.pid, arch: id?.arch ?? `0x${n.arch.toString(16)}` };
  const done = (decision: Decision, syscall: string, args: Record<string, string | number | null>, decoded?: DecodedArgs): Verdict => ({
    decision,
    event: { ...base, syscall, args, decision: decision.kind, rule: decision.rule, reason: decision.reason, ...(decision.kind === 'errno' ? { errno: errnoName(decision.errno) } : {}) },
    ...(decoded ? { args: decoded } : {}),
  });
  if (!id || !id.name) {
    return done(fail('not-vetted', ENOSYS, `syscall ${n.syscall} on ${base.arch} is not one sysbox-fs vets: refused rather than run unvetted`), `nr ${n.syscall}`, {});
  }
  const name = id.name;
  let args: DecodedArgs;
  try {
    args = decode({ pid: n.pid, id: { ...id, name }, args: n.args }, n.memory ? copiesReader(n.memory, host.read) : host.read);
  } catch (e) {
    if (e instanceof VetError) return done(fail('decode', e.errno, `${name}: ${e.message}`), name, {});
    return done(fail('decode', EPERM, `${name}: arguments unreadable: ${(e as Error).message}`), name, {});
  }
  const described = describeArgs(args);
  const ctx: Ctx = { who: { tid: n.pid, tgid: n.pid }, host, c, looked: new Map() };
  if (n.lookup) {
    const x = n.lookup;
    const t: TargetRef = { kind: 'root', path: x.path };
    ctx.looked.set(
      lookupKey(t, x.follow),
      x.errno !== undefined
        ? new VetError(x.errno, `resolve: ${errnoName(x.errno)}`)
        : { mountId: Number(x.mntId ?? 0n), dev: `${x.devMajor}:${x.devMinor}`, mountRoot: x.mountRoot === true, ...(x.fsType !== undefined ? { fsType: x.fsType } : {}) },
    );
  }
  try {
    // /proc/self is the caller's process: its tgid (resolved only when a path needs it)
    let tgid: number | undefined;
    ctx.who = {
      tid: n.pid,
      get tgid() {
        tgid ??= host.tgid(n.pid);
        return tgid;
      },
    };
    const fast = o.fast === false ? undefined : await vetFast(ctx, n, args);
    if (fast) return { ...done(fast, name, described, args), fast: true };
    return done(await HANDLERS[name](ctx, args), name, described, args);
  } catch (e) {
    const errno = e instanceof VetError ? e.errno : EPERM;
    return done(fail('host-failure', errno, `${name}: cannot vet (${(e as Error).message}): refused`), name, described, args);
  }
}

/** The audit event of a performed call once its result is known. */
export function performed(event: AuditEvent, result: { errno?: number; value?: number }): AuditEvent {
  if (result.errno) return { ...event, errno: errnoName(result.errno), reason: `${event.reason}; the call failed: ${errnoName(result.errno)}` };
  return event;
}

