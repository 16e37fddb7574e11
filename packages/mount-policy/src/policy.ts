// Restricted host mounts: which bind-mount sources a system container may not have, and why.
// Pure: paths come in already resolved (symlinks, `..`) by the caller; nothing here touches the file system.
import { posix } from 'node:path';
import { PolicyFileError, RestrictedMountError } from './errors.js';

/** 'any': no bind mount of the path (or below it) at all. 'rw': only read-only bind mounts are allowed. */
export type RestrictedAccess = 'any' | 'rw';

export interface RestrictedEntry {
  /** absolute, normalized host path; the entry covers the path and everything below it */
  path: string;
  access: RestrictedAccess;
  /** why it is restricted (shown in decisions and logs, never in the user-facing refusal) */
  reason: string;
  /** the Docker socket: allowed for admin-listed images (PolicyConfig.dockerSocketImages) */
  dockerSocket?: boolean;
}

const r = (path: string, reason: string, access: RestrictedAccess = 'any', dockerSocket = false): RestrictedEntry =>
  Object.freeze({ path, access, reason, ...(dockerSocket ? { dockerSocket: true } : {}) });

/** The default restricted host paths (issue 4, DESIGN.md paths of the sysbox daemons). */
export const DEFAULT_RESTRICTED: readonly RestrictedEntry[] = Object.freeze([
  r('/etc/docker', "Docker's configuration"),
  r('/var/run/docker.sock', 'the Docker socket', 'any', true),
  r('/run/docker.sock', 'the Docker socket', 'any', true),
  r('/var/run/docker', "Docker's runtime state"),
  r('/run/docker', "Docker's runtime state"),
  r('/var/lib/docker', "Docker's state"),
  r('/etc/containerd', "containerd's configuration"),
  r('/run/containerd', "containerd's sockets and runtime state"),
  r('/var/run/containerd', "containerd's sockets and runtime state"),
  r('/var/lib/containerd', "containerd's state"),
  r('/etc/sysbox', "sysbox's configuration"),
  r('/run/sysbox', "the sysbox daemons' sockets"),
  r('/var/run/sysbox', "the sysbox daemons' sockets"),
  r('/run/sysbox-runc', "sysbox-runc's state"),
  r('/var/lib/sysbox', "sysbox-mgr's data (ID ranges, staged mounts, special dirs)"),
  r('/var/lib/sysboxfs', "sysbox-fs's FUSE trees"),
  r('/proc', "the host's procfs", 'rw'),
  r('/sys', "the host's sysfs", 'rw'),
  r('/dev', "the host's devices", 'rw'),
  r('/boot', "the host's kernel and boot loader", 'rw'),
  r('/lib/modules', "the host's kernel modules", 'rw'),
  r('/usr/lib/modules', "the host's kernel modules", 'rw'),
]);

export interface PolicyConfig {
  restricted: readonly RestrictedEntry[];
  /** images (name[:tag], name@digest or sha256:<id>) whose containers may mount the Docker socket */
  dockerSocketImages: readonly string[];
  /** Docker's data root (default /var/lib/docker): own per-container files and named volumes are allowed below it */
  dockerRoot: string;
  /**
   * Refuse a source that contains a restricted path (e.g. `/`, `/etc`, `/run`), which would expose it below the
   * mount point (default true; entries restricted only read-write don't count).
   */
  refuseParents: boolean;
}

export function defaultPolicy(): PolicyConfig {
  return { restricted: DEFAULT_RESTRICTED, dockerSocketImages: [], dockerRoot: '/var/lib/docker', refuseParents: true };
}

/** The admin file (/etc/sysbox/mount-policy.json by default), as parsed. */
export interface AdminPolicy {
  restricted?: {
    add?: Array<string | { path: string; access?: RestrictedAccess; reason?: string }>;
    remove?: string[];
  };
  dockerSocket?: { allowImages?: string[] };
  dockerRoot?: string;
  refuseParents?: boolean;
}

/** Lexical normalization of an absolute path: no `.`/`..`/double or trailing slashes. */
export function normalizePath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** p is dir or below it (both normalized, absolute). */
export function isUnder(p: string, dir: string): boolean {
  return dir === '/' || p === dir || p.startsWith(`${dir}/`);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Parses the admin file's text. Throws PolicyFileError with the offending field. */
export function parseAdminPolicy(text: string, file = 'mount-policy.json'): AdminPolicy {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new PolicyFileError(`${file}: invalid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PolicyFileError(`${file}: expected an object`);
  const o = v as Record<string, unknown>;
  const out: AdminPolicy = {};
  for (const k of Object.keys(o)) {
    if (k !== 'restricted' && k !== 'dockerSocket' && k !== 'dockerRoot' && k !== 'refuseParents' && !k.startsWith('$') && k !== 'comment') {
      throw new PolicyFileError(`${file}: unknown field "${k}" (known: restricted, dockerSocket, dockerRoot, refuseParents)`);
    }
  }
  if (o['restricted'] !== undefined) {
    const rs = o['restricted'] as Record<string, unknown>;
    if (typeof rs !== 'object' || rs === null || Array.isArray(rs)) throw new PolicyFileError(`${file}: restricted: expected an object with add/remove`);
    out.restricted = {};
    if (rs['add'] !== undefined) {
      if (!Array.isArray(rs['add'])) throw new PolicyFileError(`${file}: restricted.add: expected an array`);
      out.restricted.add = rs['add'].map((e, i) => {
        const at = `${file}: restricted.add[${i}]`;
        const path = typeof e === 'string' ? e : (e as { path?: unknown })?.path;
        if (typeof path !== 'string' || !path.startsWith('/')) throw new PolicyFileError(`${at}: expected an absolute path`);
        if (typeof e === 'string') return e;
        const access = (e as { access?: unknown }).access;
        if (access !== undefined && access !== 'any' && access !== 'rw') throw new PolicyFileError(`${at}.access: must be "any" or "rw"`);
        const reason = (e as { reason?: unknown }).reason;
        return { path, ...(access ? { access } : {}), ...(typeof reason === 'string' ? { reason } : {}) };
      });
    }
    if (rs['remove'] !== undefined) {
      if (!isStringArray(rs['remove'])) throw new PolicyFileError(`${file}: restricted.remove: expected an array of paths`);
      out.restricted.remove = rs['remove'];
    }
  }
  if (o['dockerSocket'] !== undefined) {
    const ds = o['dockerSocket'] as Record<string, unknown>;
    if (typeof ds !== 'object' || ds === null || Array.isArray(ds)) throw new PolicyFileError(`${file}: dockerSocket: expected an object with allowImages`);
    if (ds['allowImages'] !== undefined && !isStringArray(ds['allowImages'])) {
      throw new PolicyFileError(`${file}: dockerSocket.allowImages: expected an array of image names`);
    }
    out.dockerSocket = ds['allowImages'] ? { allowImages: ds['allowImages'] as string[] } : {};
  }
  if (o['dockerRoot'] !== undefined) {
    if (typeof o['dockerRoot'] !== 'string' || !o['dockerRoot'].startsWith('/')) throw new PolicyFileError(`${file}: dockerRoot: expected an absolute path`);
    out.dockerRoot = o['dockerRoot'];
  }
  if (o['refuseParents'] !== undefined) {
    if (typeof o['refuseParents'] !== 'boolean') throw new PolicyFileError(`${file}: refuseParents: expected true or false`);
    out.refuseParents = o['refuseParents'];
  }
  return out;
}

/** The default policy with the admin's additions and removals. */
export function applyAdminPolicy(base: PolicyConfig, admin: AdminPolicy): PolicyConfig {
  const remove = new Set((admin.restricted?.remove ?? []).map(normalizePath));
  const restricted = base.restricted.filter((e) => !remove.has(e.path));
  for (const a of admin.restricted?.add ?? []) {
    const e = typeof a === 'string' ? { path: a } : a;
    const path = normalizePath(e.path);
    if (restricted.some((x) => x.path === path)) continue;
    restricted.push(r(path, e.reason ?? 'restricted by the administrator', e.access ?? 'any'));
  }
  return {
    restricted,
    dockerSocketImages: [...base.dockerSocketImages, ...(admin.dockerSocket?.allowImages ?? [])],
    dockerRoot: admin.dockerRoot ? normalizePath(admin.dockerRoot) : base.dockerRoot,
    refuseParents: admin.refuseParents ?? base.refuseParents,
  };
}

/** One bind mount of the spec, with its source as given and as resolved on the host. */
export interface MountCandidate {
  /** index in spec.mounts */
  index: number;
  destination: string;
  /** the source as in the spec */
  source: string;
  /** the source resolved through symlinks and `..` (realpath); the source itself if it could not be resolved */
  resolved: string;
  readonly: boolean;
}

export interface PolicyContext {
  containerId: string;
  /** the container's image (from Docker's API), when known; needed only for the Docker socket allow-list */
  image?: string;
  /** the image's id (sha256:...), when known */
  imageId?: string;
}

export type DecisionKind = 'allowed' | 'own-container-file' | 'volume' | 'restricted' | 'docker-socket-allowed';

export interface MountDecision {
  index: number;
  source: string;
  resolved: string;
  allowed: boolean;
  kind: DecisionKind;
  /** human-readable reason */
  reason: string;
  /** the restricted entry that matched (refusals and socket allowances) */
  entry?: RestrictedEntry;
  /** set when the source was refused because it contains `entry.path` */
  contains?: string;
}

/** Docker image reference normalized for comparison: `docker.io/library/` dropped, `:latest` added when no tag/digest. */
export function normalizeImage(ref: string): string {
  let s = ref.trim();
  if (/^sha256:[0-9a-f]{12,64}$/.test(s)) return s;
  s = s.replace(/^(docker\.io|index\.docker\.io)\//, '').replace(/^library\//, '');
  const slash = s.lastIndexOf('/');
  const last = s.slice(slash + 1);
  if (!s.includes('@') && !last.includes(':')) s += ':latest';
  return s;
}

/** Whether an image (name and/or id) is on the allow-list. An id prefix (sha256:abcdef012345) matches too. */
export function imageAllowed(list: readonly string[], image?: string, imageId?: string): boolean {
  if (!image && !imageId) return false;
  const name = image ? normalizeImage(image) : undefined;
  return list.some((entry) => {
    const e = normalizeImage(entry);
    if (name && e === name) return true;
    if (imageId && e.startsWith('sha256:') && imageId.startsWith(e)) return true;
    return false;
  });
}

function allowance(p: string, policy: PolicyConfig, containerId: string): { kind: DecisionKind; reason: string } | undefined {
  const root = policy.dockerRoot;
  if (isUnder(p, `${root}/containers/${containerId}`) && p !== `${root}/containers/${containerId}`) {
    return { kind: 'own-container-file', reason: "Docker's own file for this container" };
  }
  // --ipc=container:<other>: Docker binds the other container's /dev/shm (sharing that was asked for).
  const c = p.startsWith(`${root}/containers/`) ? p.slice(root.length + '/containers/'.length).split('/') : [];
  if (c.length >= 3 && c[0] && c[1] === 'mounts' && c[2] === 'shm') return { kind: 'own-container-file', reason: `/dev/shm of container ${c[0]} (shared IPC)` };
  const rel = p.startsWith(`${root}/volumes/`) ? p.slice(root.length + '/volumes/'.length).split('/') : [];
  if (rel.length >= 2 && rel[0] && rel[1] === '_data') return { kind: 'volume', reason: `Docker volume ${rel[0]}` };
  return undefined;
}

/** The restricted entry covering p (deepest first), if any. */
function restrictedEntry(p: string, policy: PolicyConfig): RestrictedEntry | undefined {
  let best: RestrictedEntry | undefined;
  for (const e of policy.restricted) if (isUnder(p, e.path) && (!best || e.path.length > best.path.length)) best = e;
  return best;
}

/**
 * The decision for one bind mount. Both the source as written (normalized) and its resolution are checked, so a
 * symlink or `..` into a restricted path is caught, and so is a restricted path reached under another name
 * (e.g. /var/run/docker.sock → /run/docker.sock).
 */
export function decideMount(c: MountCandidate, policy: PolicyConfig, ctx: PolicyContext): MountDecision {
  const base = { index: c.index, source: c.source, resolved: c.resolved };
  const paths = [...new Set([normalizePath(c.source), normalizePath(c.resolved)])];
  // The resolved path decides allowances: a symlink named like a volume can't reach elsewhere.
  const resolved = normalizePath(c.resolved);
  const allow = allowance(resolved, policy, ctx.containerId);
  if (allow) return { ...base, allowed: true, ...allow };
  for (const p of paths) {
    const e = restrictedEntry(p, policy);
    if (!e) continue;
    if (e.access === 'rw' && c.readonly) continue;
    if (e.dockerSocket && imageAllowed(policy.dockerSocketImages, ctx.image, ctx.imageId)) {
      return { ...base, allowed: true, kind: 'docker-socket-allowed', reason: `the Docker socket, allowed for image ${ctx.image ?? ctx.imageId}`, entry: e };
    }
    return { ...base, allowed: false, kind: 'restricted', reason: `${e.path}: ${e.reason}${e.access === 'rw' ? ' (read-write)' : ''}`, entry: e };
  }
  if (policy.refuseParents) {
    for (const p of paths) {
      const e = policy.restricted.find((x) => x.access === 'any' && x.path !== p && isUnder(x.path, p));
      if (!e) continue;
      if (e.dockerSocket && imageAllowed(policy.dockerSocketImages, ctx.image, ctx.imageId)) continue;
      return { ...base, allowed: false, kind: 'restricted', reason: `contains ${e.path}: ${e.reason}`, entry: e, contains: e.path };
    }
  }
  return { ...base, allowed: true, kind: 'allowed', reason: 'not restricted' };
}

/** Whether deciding these mounts needs the container's image (a Docker socket mount while an allow-list exists). */
export function needsImage(cands: readonly MountCandidate[], policy: PolicyConfig): boolean {
  if (policy.dockerSocketImages.length === 0) return false;
  return cands.some((c) =>
    [normalizePath(c.source), normalizePath(c.resolved)].some((p) => restrictedEntry(p, policy)?.dockerSocket === true),
  );
}

/** The path named in a refusal: the source as written when it is itself restricted, else what it resolves to. */
function shownPath(d: MountDecision, policy: PolicyConfig): string {
  const src = normalizePath(d.source);
  return restrictedEntry(src, policy) ? d.source : normalizePath(d.resolved);
}

/** Decides every mount; throws RestrictedMountError for the first refused one. Returns the decisions. */
export function checkMounts(cands: readonly MountCandidate[], policy: PolicyConfig, ctx: PolicyContext): MountDecision[] {
  const out: MountDecision[] = [];
  for (const c of cands) {
    const d = decideMount(c, policy, ctx);
    if (!d.allowed) throw new RestrictedMountError(d.contains ? d.source : shownPath(d, policy), d);
    out.push(d);
  }
  return out;
}
