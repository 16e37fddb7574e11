// ../../../../../tmp/vet-rec/dev/serve.ts
import pino from "pino";
import { realKernel } from "@sysbox/native";

// src/seccomp-server.ts
import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync as readFileSync2, rmSync, unlinkSync, writeSync } from "node:fs";
import { join as join2 } from "node:path";
import { isKernelError as isKernelError2, O_CLOEXEC as O_CLOEXEC2 } from "@sysbox/native";

// ../../packages/syscall-vetting/dist/index.js
var AUDIT_ARCH_X86_64 = 3221225534;
var AUDIT_ARCH_I386 = 1073741827;
var X32_SYSCALL_BIT = 1073741824;
var REFUSED_ENOSYS = Object.freeze({
  fsopen: "a new superblock through the new mount API; util-linux falls back to mount(2), which is vetted",
  fsconfig: "configures an fsopen/fspick context, which are refused",
  fsmount: "attaches an fsopen context, which is refused",
  fspick: "reconfigures a superblock outside mount(2) MS_REMOUNT, which is vetted",
  move_mount: "moves or attaches mounts outside mount(2) MS_MOVE, which is vetted",
  open_tree: "with OPEN_TREE_CLONE, a detached copy of a mount tree (a bind outside mount(2) MS_BIND, which is vetted); without it, an O_PATH open: allowed"
});
var TABLE = Object.freeze({
  x86_64: { 165: "mount", 166: "umount2", 437: "openat2", 442: "mount_setattr" },
  x32: { 165: "mount", 166: "umount2", 437: "openat2", 442: "mount_setattr" },
  i386: { 21: "mount", 22: "umount", 52: "umount2", 437: "openat2", 442: "mount_setattr" }
});
var NUMBERS = Object.freeze({
  mount: { x86_64: 165, i386: 21 },
  umount: { i386: 22 },
  umount2: { x86_64: 166, i386: 52 },
  open_tree: { x86_64: 428, i386: 428 },
  move_mount: { x86_64: 429, i386: 429 },
  fsopen: { x86_64: 430, i386: 430 },
  fsconfig: { x86_64: 431, i386: 431 },
  fsmount: { x86_64: 432, i386: 432 },
  fspick: { x86_64: 433, i386: 433 },
  openat2: { x86_64: 437, i386: 437 },
  mount_setattr: { x86_64: 442, i386: 442 },
  seccomp: { x86_64: 317, i386: 354 }
});
function identify(auditArch, nr) {
  if (auditArch === AUDIT_ARCH_X86_64) {
    if (nr & X32_SYSCALL_BIT) {
      const n = nr & ~X32_SYSCALL_BIT;
      return { arch: "x32", nr: n, name: TABLE.x32[n], ptr32: true, long32: false };
    }
    return { arch: "x86_64", nr, name: TABLE.x86_64[nr], ptr32: false, long32: false };
  }
  if (auditArch === AUDIT_ARCH_I386) return { arch: "i386", nr, name: TABLE.i386[nr], ptr32: true, long32: true };
  return void 0;
}
var PATH_MAX = 4096;
var PAGE_SIZE = 4096;
var EPERM = 1;
var ENOENT = 2;
var EFAULT = 14;
var EBUSY = 16;
var EINVAL = 22;
var ENAMETOOLONG = 36;
var ENOSYS = 38;
var E2BIG = 7;
var ERRNO_NAMES = Object.freeze({
  1: "EPERM",
  2: "ENOENT",
  7: "E2BIG",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  18: "EXDEV",
  20: "ENOTDIR",
  22: "EINVAL",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  40: "ELOOP"
});
function errnoName(n) {
  return ERRNO_NAMES[n] ?? `E${n}`;
}
var MS_RDONLY = 1;
var MS_REMOUNT = 32;
var MS_BIND = 4096;
var MS_MOVE = 8192;
var MS_REC = 16384;
var MS_UNBINDABLE = 131072;
var MS_PRIVATE = 262144;
var MS_SLAVE = 524288;
var MS_SHARED = 1048576;
var MS_NOUSER = 2147483648;
var MS_MGC_VAL = 3236757504;
var MS_MGC_MSK = 4294901760;
var MS_PROPAGATION = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
var MNT_FORCE = 1;
var MNT_DETACH = 2;
var MNT_EXPIRE = 4;
var UMOUNT_NOFOLLOW = 8;
var UMOUNT_VALID = MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW;
var AT_FDCWD = -100;
var AT_SYMLINK_NOFOLLOW = 256;
var AT_NO_AUTOMOUNT = 2048;
var AT_EMPTY_PATH = 4096;
var AT_RECURSIVE = 32768;
var MOUNT_ATTR_RDONLY = 1;
var MOUNT_ATTR_IDMAP = 1048576;
var MOUNT_ATTR_SIZE_VER0 = 32;
var MOUNT_SETATTR_VALID_FLAGS = AT_EMPTY_PATH | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT;
var OPEN_HOW_SIZE_VER0 = 24;
var RESOLVE_NO_XDEV = 1;
var O_NOFOLLOW = 131072;
var O_CLOEXEC = 524288;
var CAP_SYS_ADMIN = 21;
var VetError = class extends Error {
  constructor(errno, message) {
    super(message);
    this.errno = errno;
  }
  errno;
  name = "VetError";
};
function readBytes(read, pid, address, length, what) {
  if (address === 0n) throw new VetError(EFAULT, `${what}: NULL pointer`);
  const parts = [];
  let got = 0;
  let at = address;
  while (got < length) {
    const toPage = PAGE_SIZE - Number(at % BigInt(PAGE_SIZE));
    const want = Math.min(length - got, toPage);
    let b;
    try {
      b = read(pid, at, want);
    } catch {
      b = Buffer.alloc(0);
    }
    if (b.length > want) b = b.subarray(0, want);
    if (b.length > 0) {
      parts.push(Buffer.from(b));
      got += b.length;
      at += BigInt(b.length);
    }
    if (b.length < want) break;
    if (at > 0xffffffffffffffffn) break;
  }
  if (got === 0) throw new VetError(EFAULT, `${what}: unreadable address 0x${address.toString(16)}`);
  return Buffer.concat(parts, got);
}
function readString(read, pid, address, o) {
  const limit = o.limit ?? PATH_MAX;
  if (address === 0n) throw new VetError(EFAULT, `${o.what}: NULL pointer`);
  const parts = [];
  let got = 0;
  let at = address;
  let chunk = 256;
  for (; ; ) {
    const toPage = PAGE_SIZE - Number(at % BigInt(PAGE_SIZE));
    const want = Math.min(limit - got, toPage, chunk);
    chunk = PAGE_SIZE;
    let b;
    try {
      b = read(pid, at, want);
    } catch {
      b = Buffer.alloc(0);
    }
    if (b.length > want) b = b.subarray(0, want);
    const nul = b.indexOf(0);
    if (nul >= 0) {
      parts.push(b.subarray(0, nul));
      got += nul;
      if (got === 0 && o.kind === "path" && !o.allowEmpty) throw new VetError(ENOENT, `${o.what}: empty path`);
      return Buffer.concat(parts, got).toString("latin1");
    }
    if (b.length < want) throw new VetError(EFAULT, `${o.what}: unreadable memory at 0x${(at + BigInt(b.length)).toString(16)}`);
    parts.push(Buffer.from(b));
    got += b.length;
    at += BigInt(b.length);
    if (got >= limit) {
      if (o.kind === "path") throw new VetError(ENAMETOOLONG, `${o.what}: longer than ${limit - 1} bytes`);
      throw new VetError(EINVAL, `${o.what}: longer than ${limit - 1} bytes`);
    }
  }
}
function readMountData(read, pid, address) {
  if (address === 0n) return null;
  return readBytes(read, pid, address, PAGE_SIZE, "data");
}
function readStruct(read, pid, address, size, known, what) {
  const b = readBytes(read, pid, address, size, what);
  if (b.length < size) throw new VetError(EFAULT, `${what}: unreadable past byte ${b.length}`);
  for (let i = known; i < size; i++) {
    if (b[i] !== 0) throw new VetError(7, `${what}: non-zero bytes past the known struct (${known} bytes)`);
  }
  const out = Buffer.alloc(known);
  b.copy(out, 0, 0, Math.min(size, known));
  return out;
}
var M32 = 0xffffffffn;
function arg(c, i) {
  const v = c.args[i] ?? 0n;
  return c.id.long32 ? v & M32 : v;
}
function ptr(c, i) {
  return arg(c, i);
}
function int(c, i) {
  const v = Number((c.args[i] ?? 0n) & M32);
  return v > 2147483647 ? v - 4294967296 : v;
}
function u32(c, i) {
  return Number((c.args[i] ?? 0n) & M32);
}
function decode(c, read) {
  switch (c.id.name) {
    case "mount": {
      const fstype = ptr(c, 2) === 0n ? null : readString(read, c.pid, ptr(c, 2), { what: "filesystemtype", kind: "mount-string" });
      const source = ptr(c, 0) === 0n ? null : readString(read, c.pid, ptr(c, 0), { what: "source", kind: "mount-string" });
      const raw = readMountData(read, c.pid, ptr(c, 4));
      const target = readString(read, c.pid, ptr(c, 1), { what: "target", kind: "path" });
      let flags = u32(c, 3) >>> 0;
      if ((flags & MS_MGC_MSK) >>> 0 === MS_MGC_VAL) flags = (flags & ~MS_MGC_MSK) >>> 0;
      let data = null;
      if (raw) {
        const nul = raw.indexOf(0);
        data = (nul < 0 ? raw.subarray(0, Math.min(raw.length, PAGE_SIZE - 1)) : raw.subarray(0, nul)).toString("latin1");
      }
      return { syscall: "mount", source, target, fstype, flags, data };
    }
    case "umount2":
    case "umount": {
      const flags = c.id.name === "umount" ? 0 : u32(c, 1);
      if (flags & ~UMOUNT_VALID) throw new VetError(EINVAL, `umount2: unknown flags 0x${(flags & ~UMOUNT_VALID).toString(16)}`);
      const target = readString(read, c.pid, ptr(c, 0), { what: "target", kind: "path" });
      return { syscall: c.id.name, target, flags };
    }
    case "mount_setattr": {
      const dirfd = int(c, 0);
      const atFlags = u32(c, 2);
      const size = Number(arg(c, 4));
      if (atFlags & ~MOUNT_SETATTR_VALID_FLAGS) throw new VetError(EINVAL, `mount_setattr: unknown flags 0x${(atFlags & ~MOUNT_SETATTR_VALID_FLAGS).toString(16)}`);
      if (size > PAGE_SIZE) throw new VetError(E2BIG, `mount_setattr: size ${size} larger than a page`);
      if (size < MOUNT_ATTR_SIZE_VER0) throw new VetError(EINVAL, `mount_setattr: size ${size} smaller than struct mount_attr (${MOUNT_ATTR_SIZE_VER0})`);
      const b = readStruct(read, c.pid, ptr(c, 3), size, MOUNT_ATTR_SIZE_VER0, "struct mount_attr");
      const attr = { attrSet: b.readBigUInt64LE(0), attrClr: b.readBigUInt64LE(8), propagation: b.readBigUInt64LE(16), usernsFd: b.readBigUInt64LE(24) };
      const path = readString(read, c.pid, ptr(c, 1), { what: "path", kind: "path", allowEmpty: (atFlags & AT_EMPTY_PATH) !== 0 });
      return { syscall: "mount_setattr", dirfd, path, atFlags, attr, size };
    }
    case "openat2": {
      const dirfd = int(c, 0);
      const size = Number(arg(c, 3));
      if (size < OPEN_HOW_SIZE_VER0) throw new VetError(EINVAL, `openat2: size ${size} smaller than struct open_how (${OPEN_HOW_SIZE_VER0})`);
      if (size > PAGE_SIZE) throw new VetError(E2BIG, `openat2: size ${size} larger than a page`);
      const b = readStruct(read, c.pid, ptr(c, 2), size, OPEN_HOW_SIZE_VER0, "struct open_how");
      const how = { flags: b.readBigUInt64LE(0), mode: b.readBigUInt64LE(8), resolve: b.readBigUInt64LE(16) };
      const path = readString(read, c.pid, ptr(c, 1), { what: "path", kind: "path" });
      return { syscall: "openat2", dirfd, path, how, size };
    }
  }
}
function describeArgs(a) {
  const cut = (s2) => s2 === null ? null : s2.length > 256 ? `${s2.slice(0, 256)}\u2026` : s2;
  switch (a.syscall) {
    case "mount":
      return { source: cut(a.source), target: cut(a.target), fstype: cut(a.fstype), flags: `0x${a.flags.toString(16)}`, data: cut(a.data) };
    case "umount":
    case "umount2":
      return { target: cut(a.target), flags: `0x${a.flags.toString(16)}` };
    case "mount_setattr":
      return {
        dirfd: a.dirfd,
        path: cut(a.path),
        flags: `0x${a.atFlags.toString(16)}`,
        attrSet: `0x${a.attr.attrSet.toString(16)}`,
        attrClr: `0x${a.attr.attrClr.toString(16)}`,
        propagation: `0x${a.attr.propagation.toString(16)}`
      };
    case "openat2":
      return { dirfd: a.dirfd, path: cut(a.path), flags: `0x${a.how.flags.toString(16)}`, resolve: `0x${a.how.resolve.toString(16)}` };
  }
}
function unescape(s2) {
  return s2.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}
function parseMountinfo(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const f = line.split(" ");
    const sep = f.indexOf("-", 6);
    if (f.length < 10 || sep < 0 || sep + 3 > f.length) continue;
    const id = Number(f[0]);
    const parent = Number(f[1]);
    if (!Number.isInteger(id) || !Number.isInteger(parent)) continue;
    out.push({
      id,
      parent,
      dev: f[2],
      root: unescape(f[3]),
      mountpoint: unescape(f[4]),
      options: f[5].split(","),
      fstype: f[sep + 1],
      source: unescape(f[sep + 2]),
      superOptions: f[sep + 3] ?? ""
    });
  }
  return out;
}
var DEFAULT_MASKED_PATHS = Object.freeze([
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware"
]);
var DEFAULT_READONLY_PATHS = Object.freeze(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
function relSets(paths) {
  const out = { proc: /* @__PURE__ */ new Set(), sysfs: /* @__PURE__ */ new Set() };
  for (const p of paths) {
    const n = p.replace(/\/+$/, "");
    if (n.startsWith("/proc/")) out.proc.add(n.slice(6));
    else if (n.startsWith("/sys/")) out.sysfs.add(n.slice(5));
  }
  return out;
}
function recordInitialMounts(initTable, paths = {}) {
  const fuseDevs = /* @__PURE__ */ new Set();
  const baseDevs = /* @__PURE__ */ new Map();
  const initialRo = [];
  for (const m of initTable) {
    if (m.fstype.startsWith("fuse.sysboxfs")) fuseDevs.add(m.dev);
    if ((m.fstype === "proc" || m.fstype === "sysfs") && m.root === "/" && (m.mountpoint === "/proc" || m.mountpoint === "/sys")) baseDevs.set(m.dev, m.fstype);
  }
  for (const m of initTable) {
    if (m.options.includes("ro") && !fuseDevs.has(m.dev)) initialRo.push({ dev: m.dev, root: m.root, mountpoint: m.mountpoint });
  }
  const masked = paths.masked && paths.masked.length > 0 ? paths.masked : DEFAULT_MASKED_PATHS;
  const ro = paths.readonly && paths.readonly.length > 0 ? paths.readonly : DEFAULT_READONLY_PATHS;
  return { fuseDevs, baseDevs, masked: relSets(masked), readonly: relSets(ro), initialRo, byId: new Map(initTable.map((m) => [m.id, m])) };
}
function under(root, p) {
  return root === "/" || p === root || p.startsWith(`${root}/`);
}
function relative(base, p) {
  if (base === "/") return p.slice(1);
  if (p.startsWith(`${base}/`)) return p.slice(base.length + 1);
  return void 0;
}
function classify(table, rec) {
  const byId = new Map(table.map((m) => [m.id, m]));
  const out = /* @__PURE__ */ new Map();
  const isEmulated = (m) => rec.fuseDevs.has(m.dev) || m.fstype.startsWith("fuse.sysboxfs");
  for (const m of table) {
    const parent = byId.get(m.parent);
    if (isEmulated(m)) {
      out.set(m.id, { kind: "emulated", what: m.root });
      continue;
    }
    if (parent && parent.id !== m.id && isEmulated(parent)) {
      out.set(m.id, { kind: "emulated", what: m.mountpoint });
      continue;
    }
    if ((m.fstype === "proc" || m.fstype === "sysfs") && m.root === "/" && rec.baseDevs.has(m.dev) && (m.mountpoint === "/proc" || m.mountpoint === "/sys")) {
      out.set(m.id, { kind: "base", what: m.mountpoint });
      continue;
    }
    let a = parent;
    for (let hops = 0; a && hops < 64; hops++) {
      if ((a.fstype === "proc" || a.fstype === "sysfs") && a.root === "/") break;
      const next = byId.get(a.parent);
      a = next && next.id !== a.id ? next : void 0;
    }
    if (a) {
      const rel = relative(a.mountpoint, m.mountpoint);
      const kind = a.fstype === "proc" ? "proc" : "sysfs";
      if (rel !== void 0 && rec.masked[kind].has(rel)) {
        out.set(m.id, { kind: "masked", what: `/${kind === "proc" ? "proc" : "sys"}/${rel}` });
        continue;
      }
      if (rel !== void 0 && rec.readonly[kind].has(rel)) {
        out.set(m.id, { kind: "readonly", what: `/${kind === "proc" ? "proc" : "sys"}/${rel}` });
        continue;
      }
    }
    if (m.options.includes("ro")) {
      const r = rec.initialRo.find((x) => x.dev === m.dev && under(x.root, m.root));
      if (r) out.set(m.id, { kind: "initial-ro", what: r.mountpoint });
    }
  }
  return out;
}
function hasProtectedBelow(table, prot, id) {
  const children = /* @__PURE__ */ new Map();
  for (const m of table) {
    if (m.id === m.parent) continue;
    const l = children.get(m.parent);
    if (l) l.push(m.id);
    else children.set(m.parent, [m.id]);
  }
  const stack = [...children.get(id) ?? []];
  const seen = /* @__PURE__ */ new Set();
  while (stack.length) {
    const c = stack.pop();
    if (seen.has(c)) continue;
    seen.add(c);
    const p = prot.get(c);
    if (p && p.kind !== "initial-ro") return p;
    stack.push(...children.get(c) ?? []);
  }
  return void 0;
}
function parseIdMap(text) {
  const out = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length === 3 && f.every((n) => Number.isInteger(n) && n >= 0)) out.push([f[0], f[1], f[2]]);
  }
  return out;
}
function toInside(map, host) {
  for (const [inside, outside, count] of map) if (host >= outside && host < outside + count) return inside + (host - outside);
  return void 0;
}
function rewriteIdOptions(data, ids) {
  const changed = [];
  const parts = data.split(",").map((o) => {
    const m = /^(uid|gid)=(\d+)$/.exec(o);
    if (!m) return o;
    const n = Number(m[2]);
    const map = m[1] === "uid" ? ids.uid : ids.gid;
    if (map.some(([inside2, , count]) => n >= inside2 && n < inside2 + count)) return o;
    const inside = toInside(map, n);
    if (inside === void 0) return o;
    changed.push(`${m[1]}=${n}->${inside}`);
    return `${m[1]}=${inside}`;
  });
  return { data: parts.join(","), changed };
}
var MAGIC = /^\/+proc\/+(self|thread-self)(?:\/+task\/+\d+)?\/+fd\/+(\d+)((?:\/.*)?)$/;
function targetOf(path, dirfd, who) {
  if (path.startsWith("/")) {
    const m = MAGIC.exec(path);
    if (m) {
      const pid = m[1] === "thread-self" ? who.tid : who.tgid;
      return { kind: "fd", pid, fd: Number(m[2]), rest: (m[3] ?? "").replace(/^\/+/, "") };
    }
    return { kind: "root", path };
  }
  if (dirfd === AT_FDCWD) return { kind: "cwd", path };
  return { kind: "fd", pid: who.tgid, fd: dirfd, rest: path };
}
function describeTarget(t) {
  switch (t.kind) {
    case "root":
      return t.path;
    case "cwd":
      return `./${t.path}`;
    case "fd":
      return `fd ${t.fd} of pid ${t.pid}${t.rest ? `/${t.rest}` : ""}`;
  }
}
var NamespaceTables = class {
  constructor(initial, max = 64) {
    this.initial = initial;
    this.max = max;
  }
  initial;
  max;
  cache = /* @__PURE__ */ new Map();
  get(ns, fresh = false) {
    let e = this.cache.get(ns.key);
    if (!e || fresh) {
      const table = ns.read();
      e = { table, byId: new Map(table.map((m) => [m.id, m])), prot: classify(table, this.initial) };
      this.cache.delete(ns.key);
      if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value);
      this.cache.set(ns.key, e);
    }
    return e;
  }
  /** After sysbox-fs changed a namespace's mounts itself (a performed proc mount adds protected mounts). */
  invalidate(key) {
    if (key === void 0) this.cache.clear();
    else this.cache.delete(key);
  }
  get size() {
    return this.cache.size;
  }
};
var cont = (rule, reason) => ({ kind: "continue", rule, reason });
var fail = (rule, errno, reason) => ({ kind: "errno", rule, reason, errno });
var perform = (rule, reason, action) => ({ kind: "perform", rule, reason, action });
function protectionOf(ctx, l) {
  const t = ctx.c.tables().get(ctx.host.mountNamespace(ctx.who.tid));
  const m = t.byId.get(l.mountId);
  if (!m || m.dev !== l.dev) return void 0;
  return t.prot.get(l.mountId);
}
function isReadOnlyKind(p) {
  return p !== void 0 && (p.kind === "readonly" || p.kind === "masked" || p.kind === "initial-ro" || p.kind === "emulated");
}
function tableEntry(ctx, l) {
  const m = ctx.c.tables().get(ctx.host.mountNamespace(ctx.who.tid)).byId.get(l.mountId);
  return m && m.dev === l.dev ? m : void 0;
}
function hasCap(ctx, cap) {
  return (ctx.host.capEff(ctx.who.tid) >> BigInt(cap) & 1n) === 1n;
}
async function lookupOr(ctx, t, follow) {
  try {
    return await ctx.host.lookup(ctx.who, t, { follow });
  } catch (e) {
    if (e instanceof VetError) return e;
    return new VetError(EPERM, `cannot resolve ${describeTarget(t)}: ${e.message}`);
  }
}
var PROTECTED_WHY = {
  emulated: "an emulated file or view of sysbox-fs (the host file is under it)",
  masked: "a masked path (the host file is under it)",
  readonly: "a read-only path",
  base: "the container's /proc or /sys",
  "initial-ro": "a read-only mount of the container"
};
function coverRule(ctx, target, l) {
  const p = protectionOf(ctx, l);
  if (!p || p.kind === "base" || p.kind === "initial-ro") return void 0;
  if (!l.mountRoot && p.kind !== "emulated") return void 0;
  return fail("cover-protected", EINVAL, `mount over ${describeTarget(target)} refused: it is ${PROTECTED_WHY[p.kind]} (${p.what}), which stays visible`);
}
async function vetMount(ctx, a) {
  const { flags } = a;
  if (flags & MS_NOUSER) return fail("mount-flags", EINVAL, "MS_NOUSER is not a valid mount flag");
  const target = targetOf(a.target, -100, ctx.who);
  const tl = await lookupOr(ctx, target, true);
  if (flags & MS_REMOUNT) {
    if (tl instanceof VetError) return fail("unresolved", tl.errno, `remount of ${a.target}: ${tl.message}`);
    if (!tl.mountRoot) return fail("remount-not-mountpoint", EINVAL, `remount of ${a.target}: not a mount point`);
    const p = protectionOf(ctx, tl);
    const m = tableEntry(ctx, tl);
    const makesRw = (flags & MS_RDONLY) === 0;
    if (makesRw && (isReadOnlyKind(p) || p?.kind === "base" && m?.options.includes("ro"))) {
      return fail("remount-keeps-ro", EPERM, `remount of ${a.target} read-write refused: it is ${PROTECTED_WHY[p.kind]} (${p.what}), which stays read-only`);
    }
    if (!hasCap(ctx, CAP_SYS_ADMIN)) return fail("needs-cap-sys-admin", EPERM, `remount of ${a.target}: the caller lacks CAP_SYS_ADMIN`);
    let data = a.data;
    let note = "";
    if (data && !(flags & MS_BIND)) {
      const r = rewriteIdOptions(data, ctx.host.idMap(ctx.who.tid));
      if (r.changed.length) {
        data = r.data;
        note = ` (host IDs in the options rewritten: ${r.changed.join(" ")})`;
      }
    }
    return perform("remount", `remount of ${a.target}, performed with the arguments as read${note}`, { op: "mount", source: a.source, target, fstype: a.fstype, flags, data });
  }
  if (flags & MS_BIND) {
    if (tl instanceof VetError) return fail("unresolved", tl.errno, `bind onto ${a.target}: ${tl.message}`);
    if (a.source === null) return fail("bind-no-source", 14, "bind mount without a source");
    const source = targetOf(a.source, -100, ctx.who);
    const sl = await lookupOr(ctx, source, true);
    if (sl instanceof VetError) return fail("unresolved", sl.errno, `bind of ${a.source}: ${sl.message}`);
    const sp = protectionOf(ctx, sl);
    if (sp?.kind === "emulated" && sl.mountRoot && tl.mountRoot && sl.mountId === tl.mountId) {
      return { kind: "fake", rule: "bind-self-emulated", reason: `bind of the emulated ${sp.what} onto itself: nothing to do`, value: 0 };
    }
    const cover2 = coverRule(ctx, target, tl);
    if (cover2) return cover2;
    if (!hasCap(ctx, CAP_SYS_ADMIN)) return fail("needs-cap-sys-admin", EPERM, `bind of ${a.source}: the caller lacks CAP_SYS_ADMIN`);
    if (!(flags & MS_REC)) {
      const t = ctx.c.tables().get(ctx.host.mountNamespace(ctx.who.tid));
      const below = tableEntry(ctx, sl) ? hasProtectedBelow(t.table, t.prot, sl.mountId) : void 0;
      if (below) {
        return perform("bind-keeps-submounts", `bind of ${a.source} performed recursively: without its submounts it would show what ${below.what} (${below.kind}) covers`, {
          op: "mount",
          source,
          target,
          fstype: a.fstype,
          flags: flags | MS_REC,
          data: a.data
        });
      }
    }
    return perform("bind", `bind of ${a.source} onto ${a.target}, performed with the arguments as read`, { op: "mount", source, target, fstype: a.fstype, flags, data: a.data });
  }
  if (flags & MS_PROPAGATION) return cont("propagation", "a propagation change: hides and reveals nothing");
  if (flags & MS_MOVE) {
    if (tl instanceof VetError) return fail("unresolved", tl.errno, `move onto ${a.target}: ${tl.message}`);
    const cover2 = coverRule(ctx, target, tl);
    if (cover2) return cover2;
    if (a.source === null) return fail("move-no-source", 14, "move without a source");
    const source = targetOf(a.source, -100, ctx.who);
    const sl = await lookupOr(ctx, source, true);
    if (sl instanceof VetError) return fail("unresolved", sl.errno, `move of ${a.source}: ${sl.message}`);
    const sp = sl.mountRoot ? protectionOf(ctx, sl) : void 0;
    if (sp && sp.kind !== "initial-ro") {
      return fail("move-protected", EINVAL, `move of ${a.source} refused: it is ${PROTECTED_WHY[sp.kind]} (${sp.what}), which stays where it is`);
    }
    if (!hasCap(ctx, CAP_SYS_ADMIN)) return fail("needs-cap-sys-admin", EPERM, `move of ${a.source}: the caller lacks CAP_SYS_ADMIN`);
    return perform("move", `move of ${a.source} onto ${a.target}, performed with the arguments as read`, { op: "mount", source, target, fstype: null, flags, data: null });
  }
  if (a.fstype === "proc" || a.fstype === "sysfs") {
    if (tl instanceof VetError) return fail("unresolved", tl.errno, `mount of ${a.fstype} on ${a.target}: ${tl.message}`);
    const cover2 = coverRule(ctx, target, tl);
    if (cover2) return cover2;
    if (!hasCap(ctx, CAP_SYS_ADMIN)) return fail("needs-cap-sys-admin", EPERM, `mount of ${a.fstype}: the caller lacks CAP_SYS_ADMIN`);
    const op = a.fstype === "proc" ? "mount-proc" : "mount-sysfs";
    return perform(`${a.fstype}-mount`, `a new ${a.fstype} on ${a.target}, performed with the container's emulated files and masked and read-only paths laid over it`, {
      op,
      source: a.source,
      target,
      flags,
      data: a.data
    });
  }
  if (tl instanceof VetError) return cont("new-mount", `a new ${a.fstype ?? "(no type)"} mount; the target doesn't resolve here (${tl.message}): the kernel answers`);
  const cover = tl.mountRoot || ctx.c.tables().initial.fuseDevs.has(tl.dev) ? coverRule(ctx, target, tl) : void 0;
  if (cover) return cover;
  return cont("new-mount", `a new ${a.fstype ?? "(no type)"} mount on ${a.target}: the kernel decides (the file system's own user-namespace rules)`);
}
async function vetUmount(ctx, a) {
  const target = targetOf(a.target, -100, ctx.who);
  const l = await lookupOr(ctx, target, (a.flags & UMOUNT_NOFOLLOW) === 0);
  if (l instanceof VetError) return cont("umount-unresolved", `${a.target} doesn't resolve here (${l.message}): the kernel answers`);
  if (!l.mountRoot) return cont("umount-not-mountpoint", `${a.target} is not a mount point: the kernel answers`);
  const p = protectionOf(ctx, l);
  if (p?.kind === "base") return fail("base-busy", EBUSY, `umount of ${a.target} refused: ${PROTECTED_WHY.base} stays mounted (busy)`);
  if (p && p.kind !== "initial-ro") return fail("protected-umount", EINVAL, `umount of ${a.target} refused: it is ${PROTECTED_WHY[p.kind]} (${p.what}), which stays mounted`);
  return cont("umount", `${a.target} is not protected: the kernel unmounts it`);
}
async function vetSetattr(ctx, a) {
  const { attrSet, attrClr, propagation, usernsFd } = a.attr;
  if (attrSet === 0n && attrClr === 0n && propagation === 0n && usernsFd === 0n) return cont("setattr-noop", "no attribute to change: the kernel answers 0");
  if (attrSet & BigInt(MOUNT_ATTR_IDMAP)) {
    return fail("setattr-idmap", EINVAL, "mount_setattr MOUNT_ATTR_IDMAP refused: it needs a detached mount, and the calls that make one (open_tree OPEN_TREE_CLONE, fsmount) are refused");
  }
  const target = a.path === "" && a.atFlags & AT_EMPTY_PATH ? { kind: "fd", pid: ctx.host.tgid(ctx.who.tid), fd: a.dirfd, rest: "" } : targetOf(a.path, a.dirfd, { ...ctx.who, tgid: ctx.host.tgid(ctx.who.tid) });
  const l = await lookupOr(ctx, target, (a.atFlags & AT_SYMLINK_NOFOLLOW) === 0);
  if (l instanceof VetError) return fail("unresolved", l.errno, `mount_setattr of ${describeTarget(target)}: ${l.message}`);
  if (attrClr & BigInt(MOUNT_ATTR_RDONLY)) {
    const p = protectionOf(ctx, l);
    const m = tableEntry(ctx, l);
    if (isReadOnlyKind(p) || p?.kind === "base" && m?.options.includes("ro")) {
      return fail("setattr-keeps-ro", EPERM, `mount_setattr clearing read-only on ${describeTarget(target)} refused: it is ${PROTECTED_WHY[p.kind]} (${p.what}), which stays read-only`);
    }
    if (a.atFlags & AT_RECURSIVE) {
      const t = ctx.c.tables().get(ctx.host.mountNamespace(ctx.who.tid));
      for (const [id, q] of t.prot) {
        if (!isReadOnlyKind(q) || !isBelow(t.byId, id, l.mountId)) continue;
        return fail("setattr-keeps-ro", EPERM, `recursive mount_setattr clearing read-only on ${describeTarget(target)} refused: ${q.what} below it is ${PROTECTED_WHY[q.kind]}, which stays read-only`);
      }
    }
  }
  if (!hasCap(ctx, CAP_SYS_ADMIN)) return fail("needs-cap-sys-admin", EPERM, "mount_setattr: the caller lacks CAP_SYS_ADMIN");
  return perform("setattr", `mount_setattr of ${describeTarget(target)}, performed with the attributes as read`, { op: "mount-setattr", target, atFlags: a.atFlags, attr: a.attr });
}
function isBelow(byId, id, ancestor) {
  let m = byId.get(id);
  for (let hops = 0; m && hops < 256; hops++) {
    if (m.parent === ancestor) return true;
    if (m.parent === m.id) return false;
    m = byId.get(m.parent);
  }
  return false;
}
async function vetOpenat2(ctx, a) {
  if ((a.how.resolve & BigInt(RESOLVE_NO_XDEV)) === 0n) return cont("openat2", "no RESOLVE_NO_XDEV: the kernel resolves (and reaches emulated files) itself");
  const who = { ...ctx.who, tgid: ctx.host.tgid(ctx.who.tid) };
  const target = targetOf(a.path, a.dirfd, who);
  const l = await lookupOr(ctx, target, (a.how.flags & BigInt(O_NOFOLLOW)) === 0n);
  if (l instanceof VetError) return cont("openat2", `${a.path} doesn't resolve here (${l.message}): the kernel answers`);
  const emulated = ctx.c.tables().initial.fuseDevs.has(l.dev) || protectionOf(ctx, l)?.kind === "emulated";
  if (!emulated) return cont("openat2", `${a.path} is not an emulated file: the kernel answers`);
  return perform("openat2-emulated", `openat2 of the emulated ${a.path} with RESOLVE_NO_XDEV: opened in the caller's context without it (sysbox-fs's files are mounts) and the fd installed`, {
    op: "openat2",
    target,
    flags: a.how.flags,
    mode: a.how.mode,
    resolve: a.how.resolve & ~BigInt(RESOLVE_NO_XDEV),
    cloexec: (a.how.flags & BigInt(O_CLOEXEC)) !== 0n
  });
}
var HANDLERS = {
  mount: (ctx, a) => vetMount(ctx, a),
  umount: (ctx, a) => vetUmount(ctx, a),
  umount2: (ctx, a) => vetUmount(ctx, a),
  mount_setattr: (ctx, a) => vetSetattr(ctx, a),
  openat2: (ctx, a) => vetOpenat2(ctx, a)
};
var VETTED = Object.freeze(Object.keys(HANDLERS));
async function vet(n, c, host) {
  const id = identify(n.arch, n.syscall);
  const base = { containerId: c.containerId, pid: n.pid, arch: id?.arch ?? `0x${n.arch.toString(16)}` };
  const done = (decision, syscall, args2, decoded) => ({
    decision,
    event: { ...base, syscall, args: args2, decision: decision.kind, rule: decision.rule, reason: decision.reason, ...decision.kind === "errno" ? { errno: errnoName(decision.errno) } : {} },
    ...decoded ? { args: decoded } : {}
  });
  if (!id || !id.name) {
    return done(fail("not-vetted", ENOSYS, `syscall ${n.syscall} on ${base.arch} is not one sysbox-fs vets: refused rather than run unvetted`), `nr ${n.syscall}`, {});
  }
  const name = id.name;
  let args;
  try {
    args = decode({ pid: n.pid, id: { ...id, name }, args: n.args }, host.read);
  } catch (e) {
    if (e instanceof VetError) return done(fail("decode", e.errno, `${name}: ${e.message}`), name, {});
    return done(fail("decode", EPERM, `${name}: arguments unreadable: ${e.message}`), name, {});
  }
  const described = describeArgs(args);
  const ctx = { who: { tid: n.pid, tgid: n.pid }, host, c };
  try {
    let tgid;
    ctx.who = {
      tid: n.pid,
      get tgid() {
        tgid ??= host.tgid(n.pid);
        return tgid;
      }
    };
    return done(await HANDLERS[name](ctx, args), name, described, args);
  } catch (e) {
    const errno = e instanceof VetError ? e.errno : EPERM;
    return done(fail("host-failure", errno, `${name}: cannot vet (${e.message}): refused`), name, described, args);
  }
}
function performed(event, result) {
  if (result.errno) return { ...event, errno: errnoName(result.errno), reason: `${event.reason}; the call failed: ${errnoName(result.errno)}` };
  return event;
}

// src/seccomp-host.ts
import { readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  AT_EMPTY_PATH as AT_EMPTY_PATH2,
  AT_FDCWD as AT_FDCWD2,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NOEXEC,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_RDONLY as MOUNT_ATTR_RDONLY2,
  NotFuseError,
  O_DIRECTORY,
  O_NOFOLLOW as O_NOFOLLOW2,
  O_PATH,
  OPEN_TREE_CLONE,
  RESOLVE_BENEATH,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  STATX_ATTR_MOUNT_ROOT,
  isKernelError,
  nsenterAsCaller
} from "@sysbox/native";
function status(tid) {
  return readFileSync(`/proc/${tid}/status`, "utf8");
}
function field(text, name) {
  const m = new RegExp(`^${name}:\\s*(.*)$`, "m").exec(text);
  return m?.[1];
}
function vetError(e, what) {
  if (e instanceof VetError) return e;
  if (isKernelError(e)) return new VetError(e.errno, `${what}: ${e.code}`);
  const code = e.code;
  const errno = e.errno;
  if (code && typeof errno === "number") return new VetError(Math.abs(errno), `${what}: ${code}`);
  return new VetError(EPERM, `${what}: ${e.message}`);
}
function callerCwd(cwd, root) {
  if (cwd.endsWith(" (deleted)") || root.endsWith(" (deleted)")) return void 0;
  if (root === "/") return cwd;
  if (cwd === root) return "/";
  if (cwd.startsWith(`${root}/`)) return cwd.slice(root.length);
  return void 0;
}
var SysboxVetHost = class {
  constructor(k) {
    this.k = k;
  }
  k;
  read = (pid, address, length) => this.k.processVmReadv(pid, address, length);
  tgid(tid) {
    const t = Number(field(status(tid), "Tgid"));
    if (!Number.isInteger(t) || t <= 0) throw new VetError(3, `no Tgid for ${tid}`);
    return t;
  }
  capEff(tid) {
    const v = field(status(tid), "CapEff");
    return v ? BigInt(`0x${v.trim()}`) : 0n;
  }
  idMap(tid) {
    return { uid: parseIdMap(readFileSync(`/proc/${tid}/uid_map`, "utf8")), gid: parseIdMap(readFileSync(`/proc/${tid}/gid_map`, "utf8")) };
  }
  /** The caller's fsuid/fsgid as IDs of its own user namespace (for opens as the caller). */
  callerIds(tid) {
    const st = status(tid);
    const hostUid = Number((field(st, "Uid") ?? "0").split(/\s+/)[3]);
    const hostGid = Number((field(st, "Gid") ?? "0").split(/\s+/)[3]);
    const m = this.idMap(tid);
    const inside = (map, id) => {
      for (const [i, o, n] of map) if (id >= o && id < o + n) return i + (id - o);
      return 65534;
    };
    return { uid: inside(m.uid, hostUid), gid: inside(m.gid, hostGid) };
  }
  mountNamespace(tid) {
    const st = this.k.statx(
      AT_FDCWD2,
      `/proc/${tid}/ns/mnt`,
      0,
      256
      /* STATX_INO */
    );
    return { key: `mnt:${st.ino}`, read: () => parseMountinfo(readFileSync(`/proc/${tid}/mountinfo`, "utf8")) };
  }
  /** How many lookups the dentry cache answered on the loop, and how many went to the pool. */
  lookups = { cached: 0, pool: 0 };
  /**
   * The lookup on the loop thread when the dentry cache has everything (RESOLVE_CACHED: it never waits, so never on
   * a FUSE request this loop would have to answer); undefined (EAGAIN) sends it to the pool.
   */
  cachedOr(dirfd, path, oflags, resolve) {
    try {
      const r = this.k.resolveStatCached(dirfd, path, oflags, resolve);
      this.lookups.cached++;
      return r;
    } catch (e) {
      if (isKernelError(e, "EAGAIN")) {
        this.lookups.pool++;
        return void 0;
      }
      throw e;
    }
  }
  async lookup(who, t, o) {
    const oflags = o.follow ? 0 : O_NOFOLLOW2;
    let r;
    try {
      if (t.kind === "fd") {
        const link = `/proc/${t.pid}/fd/${t.fd}`;
        if (!t.rest) r = this.cachedOr(AT_FDCWD2, link, oflags, 0) ?? await this.k.resolveStat(AT_FDCWD2, link, oflags, 0);
        else {
          const fd = this.k.open(link, O_PATH);
          try {
            r = await this.k.resolveStat(fd, t.rest, oflags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
          } finally {
            this.k.close(fd);
          }
        }
      } else {
        let path = t.path;
        if (t.kind === "cwd") {
          const cwd = callerCwd(readlinkSync(`/proc/${who.tid}/cwd`), readlinkSync(`/proc/${who.tid}/root`));
          if (cwd === void 0) throw new VetError(EPERM, `the caller's cwd is outside its root: ${t.path} not vetted`);
          path = `${cwd}/${t.path}`;
        }
        const root = this.k.open(`/proc/${who.tid}/root`, O_PATH | O_DIRECTORY);
        try {
          r = this.cachedOr(root, path, oflags, RESOLVE_IN_ROOT) ?? await this.k.resolveStat(root, path, oflags, RESOLVE_IN_ROOT);
        } finally {
          this.k.close(root);
        }
      }
    } catch (e) {
      throw vetError(e, "resolve");
    }
    return { mountId: Number(r.mntId), dev: `${r.devMajor}:${r.devMinor}`, mountRoot: (r.attributes & STATX_ATTR_MOUNT_ROOT) !== 0n };
  }
};
async function performAction(k, host, tid, tgid, action, emulation, nsenter) {
  const opened = [];
  const callerPath = (t) => {
    if (t.kind !== "fd") return { path: t.path };
    const pidfd = k.pidfdOpen(t.pid);
    try {
      const fd = k.pidfdGetfd(pidfd, t.fd);
      opened.push(fd);
      return { fd, ...t.rest ? { rest: t.rest } : {} };
    } finally {
      k.close(pidfd);
    }
  };
  void tgid;
  const base = { tid, ...nsenter ? { nsenter } : {} };
  try {
    switch (action.op) {
      case "mount": {
        const source = action.source === null ? null : typeof action.source === "string" ? action.source : callerPath(action.source);
        await nsenterAsCaller(k, "mount", { ...base, target: callerPath(action.target), source, fstype: action.fstype, flags: action.flags, data: action.data });
        return {};
      }
      case "mount-setattr":
        await nsenterAsCaller(k, "setattr", { ...base, target: callerPath(action.target), atFlags: action.atFlags, attr: action.attr });
        return {};
      case "openat2": {
        const ids = host.callerIds(tid);
        try {
          const fd = await nsenterAsCaller(k, "openat2", { ...base, target: callerPath(action.target), flags: action.flags, mode: action.mode, resolve: action.resolve, uid: ids.uid, gid: ids.gid });
          return { fd };
        } catch (e) {
          if (e instanceof NotFuseError) return { notFuse: true };
          throw e;
        }
      }
      case "mount-proc":
      case "mount-sysfs": {
        const em = emulation();
        const proc = action.op === "mount-proc";
        const prefix = proc ? "/proc/" : "/sys/";
        const ro = (action.flags & MS_RDONLY) !== 0 || !proc && em?.sysReadOnly === true;
        const files = [];
        const covers = [];
        const maskFiles = [];
        const maskDirs = [];
        const readonly = [];
        if (em) {
          for (const f of em.files.filter((p) => p.startsWith(prefix))) {
            const fd = k.openTree(AT_FDCWD2, join(em.mountpoint, f), OPEN_TREE_CLONE);
            opened.push(fd);
            if (ro) k.mountSetattr(fd, "", AT_EMPTY_PATH2, { attrSet: MOUNT_ATTR_RDONLY2 });
            files.push({ fd, rel: f.slice(prefix.length) });
          }
          for (const c of em.covers.filter((p) => p.startsWith(prefix))) {
            const fd = k.openTree(AT_FDCWD2, join(em.mountpoint, c), OPEN_TREE_CLONE);
            opened.push(fd);
            k.mountSetattr(fd, "", AT_EMPTY_PATH2, { attrSet: MOUNT_ATTR_RDONLY2 | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC });
            covers.push({ fd, rel: c.slice(prefix.length) });
          }
        }
        const masked = em?.masked?.length ? em.masked : DEFAULT_MASKED_PATHS;
        const roPaths = (em?.readonly?.length ? em.readonly : DEFAULT_READONLY_PATHS).filter((p) => !(em?.files ?? []).some((f) => f.startsWith(`${p}/`)));
        for (const m of masked.filter((p) => p.startsWith(prefix))) {
          let dir = false;
          try {
            dir = statSync(m).isDirectory();
          } catch {
            continue;
          }
          if (dir) maskDirs.push(m.slice(prefix.length));
          else {
            const fd = k.openTree(AT_FDCWD2, "/dev/null", OPEN_TREE_CLONE);
            opened.push(fd);
            maskFiles.push({ fd, rel: m.slice(prefix.length) });
          }
        }
        for (const r of roPaths.filter((p) => p.startsWith(prefix))) readonly.push(r.slice(prefix.length));
        await nsenterAsCaller(k, proc ? "mount-proc" : "mount-sysfs", {
          ...base,
          target: callerPath(action.target),
          source: action.source,
          flags: ro ? action.flags | MS_RDONLY : action.flags,
          data: action.data,
          files,
          covers,
          maskFiles,
          maskDirs,
          readonly
        });
        return {};
      }
      default:
        throw new VetError(EPERM, `unknown action ${action.op}`);
    }
  } finally {
    for (const fd of opened) k.close(fd);
  }
}

// src/seccomp-server.ts
var STORE_LISTEN = "seccomp-listen";
var STORE_LISTENER_PREFIX = "seccomp:";
function startSeccompServer(o) {
  const k = o.kernel;
  const host = new SysboxVetHost(k);
  const counters = { listeners: 0, notifications: 0, continue: 0, perform: 0, errno: 0, fake: 0, performFailed: 0, stale: 0, lookupsCached: 0, lookupsPool: 0 };
  const containers = /* @__PURE__ */ new Map();
  const listeners = /* @__PURE__ */ new Map();
  const perTid = /* @__PURE__ */ new Map();
  let busy = 0;
  let closed = false;
  let listenFd;
  if (o.listenFd !== void 0) listenFd = o.listenFd;
  else {
    try {
      unlinkSync(o.socketPath);
    } catch {
    }
    listenFd = k.listenUnix(o.socketPath, 256);
    o.store?.put({ name: STORE_LISTEN, data: o.socketPath, fd: listenFd });
  }
  const sweepJournals = (keep) => {
    let names = [];
    try {
      names = readdirSync(journalDir);
    } catch {
      return;
    }
    for (const n of names) if (!keep.has(n) && !listenersByName().has(n)) rmSync(join2(journalDir, n), { force: true });
  };
  const listenersByName = () => new Set([...listeners.values()].map((l) => l.name));
  const containerOf = (id, initPid) => {
    let c = containers.get(id);
    if (!c) {
      c = { id, initPid, tables: void 0, listeners: 0 };
      containers.set(id, c);
    }
    return c;
  };
  const tablesOf = (c) => {
    if (!c.tables) {
      const em = o.emulation(c.id);
      let table;
      try {
        table = parseMountinfo(readFileSync2(`/proc/${c.initPid}/mountinfo`, "utf8"));
      } catch (e) {
        throw new Error(`cannot read the mount table of ${c.id}'s init (pid ${c.initPid}): ${e.message}`);
      }
      c.tables = new NamespaceTables(recordInitialMounts(table, { masked: em?.masked ?? [], readonly: em?.readonly ?? [] }));
    }
    return c.tables;
  };
  const emulationOf = (c) => {
    const em = o.emulation(c.id);
    if (!em) return void 0;
    const sys = [...c.tables?.initial.byId.values() ?? []].find((m) => m.fstype === "sysfs" && m.mountpoint === "/sys");
    return { ...em, sysReadOnly: sys ? sys.superOptions.split(",").includes("ro") : true };
  };
  const journalDir = o.journalDir ?? `${o.socketPath}.journal`;
  const journal = (l) => {
    if (l.journalFd === void 0) return;
    try {
      if (l.inflight.size === 0) {
        ftruncateSync(l.journalFd, 0);
        return;
      }
      const inflight = [...l.inflight.values()].map((n) => ({ id: String(n.id), pid: n.pid, syscall: n.syscall, arch: n.arch, args: n.args.map(String) }));
      const text = Buffer.from(JSON.stringify(inflight));
      writeSync(l.journalFd, text, 0, text.length, 0);
      ftruncateSync(l.journalFd, text.length);
    } catch {
    }
  };
  const openJournal = (name) => {
    try {
      mkdirSync(journalDir, { recursive: true, mode: 448 });
      return openSync(join2(journalDir, name), "a+", 384);
    } catch (e) {
      o.log.warn({ err: e.message, journalDir }, "no journal for seccomp notifications in flight");
      return void 0;
    }
  };
  const readJournal = (name) => {
    try {
      const text = readFileSync2(join2(journalDir, name), "utf8");
      return text ? JSON.parse(text) : [];
    } catch {
      return [];
    }
  };
  const audit = (clog, ev) => {
    const line = { audit: true, callerPid: ev.pid, syscall: ev.syscall, arch: ev.arch, args: ev.args, decision: ev.decision, rule: ev.rule, reason: ev.reason, ...ev.errno ? { errno: ev.errno } : {} };
    if (ev.decision === "errno") clog.warn(line, `${ev.syscall} refused: ${ev.reason}`);
    else clog.info(line, `${ev.syscall} ${ev.decision}: ${ev.rule}`);
  };
  const answer = (l, n, d) => {
    try {
      if (d.kind === "continue") k.seccompNotify.respond(l.fd, { id: n.id, continue: true });
      else if (d.kind === "errno") k.seccompNotify.respond(l.fd, { id: n.id, error: d.errno });
      else if (d.kind === "fake" || d.kind === "value") k.seccompNotify.respond(l.fd, { id: n.id, val: BigInt(d.value) });
    } catch (e) {
      if (isKernelError2(e, "ENOENT")) counters.stale++;
      else throw e;
    }
  };
  const decide = async (l, n) => {
    const c = l.container;
    const clog = o.log.child({ containerId: c.id });
    let verdict;
    try {
      verdict = await vet(n, { containerId: c.id, tables: () => tablesOf(c) }, host);
    } catch (e) {
      clog.error({ err: e.message }, "vetting failed: refused");
      answer(l, n, { kind: "errno", rule: "internal", reason: "internal", errno: EPERM });
      return;
    }
    const d = verdict.decision;
    counters[d.kind]++;
    if (!k.seccompNotify.idValid(l.fd, n.id)) {
      counters.stale++;
      clog.info({ audit: true, callerPid: n.pid, syscall: verdict.event.syscall, decision: d.kind, rule: d.rule }, "caller gone before the answer: dropped");
      return;
    }
    if (d.kind !== "perform") {
      audit(clog, verdict.event);
      answer(l, n, d);
      return;
    }
    let result;
    try {
      result = await performAction(k, host, n.pid, () => host.tgid(n.pid), d.action, () => emulationOf(c), o.nsenter);
    } catch (e) {
      counters.performFailed++;
      const errno = isKernelError2(e) ? e.errno : EPERM;
      audit(clog, performed(verdict.event, { errno }));
      if (!isKernelError2(e)) clog.warn({ err: e.message }, "performed call failed");
      if (k.seccompNotify.idValid(l.fd, n.id)) answer(l, n, { kind: "errno", rule: d.rule, reason: d.reason, errno });
      else counters.stale++;
      return;
    } finally {
      if (d.action.op !== "openat2") {
        try {
          c.tables?.invalidate(host.mountNamespace(n.pid).key);
        } catch {
          c.tables?.invalidate();
        }
      }
    }
    if (result.notFuse) {
      audit(clog, { ...verdict.event, decision: "continue", reason: `${verdict.event.reason}; the file opened is not sysbox-fs's: the kernel decides` });
      answer(l, n, { kind: "continue", rule: d.rule, reason: "" });
      return;
    }
    audit(clog, verdict.event);
    if (result.fd !== void 0) {
      try {
        if (!k.seccompNotify.idValid(l.fd, n.id)) {
          counters.stale++;
          return;
        }
        const act = d.action;
        k.seccompNotify.addFd(l.fd, { id: n.id, srcFd: result.fd, send: true, newFdFlags: act.cloexec ? O_CLOEXEC2 : 0 });
      } catch (e) {
        if (isKernelError2(e, "ENOENT")) counters.stale++;
        else throw e;
      } finally {
        k.close(result.fd);
      }
      return;
    }
    if (k.seccompNotify.idValid(l.fd, n.id)) answer(l, n, { kind: "value", value: 0 });
    else counters.stale++;
  };
  const onNotification = (l, n) => {
    counters.notifications++;
    l.inflight.set(n.id, n);
    journal(l);
    busy++;
    const prev = perTid.get(n.pid) ?? Promise.resolve();
    const run = prev.then(() => decide(l, n)).catch((e) => {
      o.log.error({ containerId: l.container.id, pid: n.pid, err: e.message }, "notification not answered");
      try {
        answer(l, n, { kind: "errno", rule: "internal", reason: "internal", errno: EPERM });
      } catch {
      }
    }).finally(() => {
      busy--;
      l.inflight.delete(n.id);
      journal(l);
      if (perTid.get(n.pid) === run) perTid.delete(n.pid);
    });
    perTid.set(n.pid, run);
  };
  const drop = (l, why) => {
    if (!listeners.delete(l.fd)) return;
    l.watcher?.close();
    try {
      k.close(l.fd);
    } catch {
    }
    o.store?.drop(l.name);
    if (l.journalFd !== void 0) closeSync(l.journalFd);
    rmSync(join2(journalDir, l.name), { force: true });
    counters.listeners = listeners.size;
    const c = l.container;
    if (--c.listeners <= 0) containers.delete(c.id);
    o.log.debug({ containerId: c.id, pid: l.pid, why }, "seccomp listener closed");
  };
  const serve = (fd, data, stored) => {
    const c = containerOf(data.containerId, data.initPid);
    c.listeners++;
    const name = stored ?? `${STORE_LISTENER_PREFIX}${data.containerId}:${data.pid}:${fd}:${Date.now().toString(36)}`;
    const l = { fd, name, container: c, pid: data.pid, watcher: void 0, inflight: /* @__PURE__ */ new Map(), data, journalFd: openJournal(name) };
    listeners.set(fd, l);
    counters.listeners = listeners.size;
    if (!stored) o.store?.put({ name: l.name, data: JSON.stringify(data), fd });
    l.watcher = k.seccompNotify.watch(fd, (n) => onNotification(l, n), () => drop(l, "all its processes exited"));
    return l;
  };
  const onConnection = async (conn) => {
    try {
      const { fds, data } = await k.recvFds(conn, 4, 65536);
      const [fd, ...extra] = fds;
      for (const x of extra) k.close(x);
      if (fd === void 0) return;
      let st;
      try {
        st = JSON.parse(data.toString("utf8"));
      } catch {
        st = {};
      }
      const id = st.state?.id ?? st.metadata;
      const pid = st.pid ?? 0;
      if (!id) {
        o.log.warn({ pid }, "seccomp listener without a container id: closed (its calls fail with ENOSYS)");
        k.close(fd);
        return;
      }
      const initPid = containers.get(id)?.initPid ?? st.state?.pid ?? pid;
      serve(fd, { containerId: id, pid, initPid }, void 0);
      o.log.debug({ containerId: id, pid, fd }, "seccomp listener received");
    } catch (e) {
      o.log.warn({ err: e.message }, "seccomp listener connection failed");
    } finally {
      k.close(conn);
    }
  };
  void (async () => {
    while (!closed) {
      let conn;
      try {
        conn = await k.accept(listenFd);
      } catch (e) {
        if (closed) return;
        o.log.warn({ err: e.message }, "seccomp socket accept failed");
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (closed) {
        k.close(conn);
        return;
      }
      void onConnection(conn);
    }
  })();
  return {
    get counters() {
      counters.lookupsCached = host.lookups.cached;
      counters.lookupsPool = host.lookups.pool;
      return counters;
    },
    get busy() {
      return busy;
    },
    listeners: () => [...listeners.values()].map((l) => ({ containerId: l.container.id, pid: l.pid, fd: l.fd })),
    kept: () => [
      { name: STORE_LISTEN, data: o.socketPath, fd: listenFd },
      ...[...listeners.values()].map((l) => ({ name: l.name, data: JSON.stringify(l.data), fd: l.fd }))
    ],
    adopt(name, data, fd) {
      let d;
      try {
        d = JSON.parse(data);
      } catch {
        k.close(fd);
        o.store?.drop(name);
        return;
      }
      const pending = readJournal(name);
      const l = serve(fd, { containerId: d.containerId, pid: d.pid, initPid: d.initPid }, name);
      for (const j of pending) {
        const n = { id: BigInt(j.id), pid: j.pid, syscall: j.syscall, arch: j.arch, instructionPointer: 0n, args: j.args.map((a) => BigInt(a)) };
        if (!k.seccompNotify.idValid(fd, n.id)) continue;
        o.log.info({ containerId: d.containerId, pid: n.pid, id: j.id }, "answering a notification the previous sysbox-fs left in flight");
        onNotification(l, n);
      }
    },
    sweep() {
      sweepJournals(/* @__PURE__ */ new Set());
    },
    close() {
      if (closed) return;
      closed = true;
      if (!o.store) {
        try {
          k.shutdown(listenFd);
        } catch {
        }
        try {
          unlinkSync(o.socketPath);
        } catch {
        }
      }
      for (const l of [...listeners.values()]) {
        l.watcher?.close();
        if (l.journalFd !== void 0) closeSync(l.journalFd);
        listeners.delete(l.fd);
        try {
          k.close(l.fd);
        } catch {
        }
      }
      o.log.info({ counters }, "seccomp server stopped");
    }
  };
}

// ../../../../../tmp/vet-rec/dev/serve.ts
var sock = process.argv[2];
var level = process.argv[3] ?? "info";
var log = pino({ level }, pino.destination({ dest: "/tmp/vet-rec/dev/serve.log", sync: false }));
var s = startSeccompServer({ kernel: realKernel(), log, socketPath: sock, journalDir: "/tmp/vet-rec/dev/journal", emulation: () => void 0 });
process.on("SIGTERM", () => {
  console.log(JSON.stringify(s.counters));
  s.close();
  process.exit(0);
});
console.log("ready");
