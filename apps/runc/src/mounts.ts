// The mount part of `create` (issue 4): the I/O around @sysbox/mount-policy's pure decisions, and the call to
// sysbox-mgr that stages ID-mapped bind sources and special dirs. prepare.ts calls planMounts() right after the
// sysbox rules (before anything is allocated) and stageMounts() after the rootfs is staged.
import { lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { isAbsolute, join, posix } from 'node:path';
import {
  applyAdminPolicy,
  BadMountError,
  bindMounts,
  bindsToStage,
  checkMounts,
  DEFAULT_POLICY_FILE,
  defaultPolicy,
  needsImage,
  parseAdminPolicy,
  PolicyFileError,
  specialDirsFor,
  type BindMount,
  type MountCandidate,
  type MountDecision,
  type PolicyConfig,
  type StagedBind,
} from '@sysbox/mount-policy';
import type { MgrClient } from '@sysbox/ipc';
import type { Spec } from '@sysbox/spec';
import type { Log } from './log.js';
import { requireLazily } from './require.js';

export interface MountPlan {
  candidates: MountCandidate[];
  decisions: MountDecision[];
  /** bind mounts mgr stages on the host: ID-mapped, or read-only clones (resolved sources; see bindsToStage) */
  toStage: StagedBind[];
  /** special dirs the spec leaves to us */
  specialDirs: string[];
}

export interface PlanOptions {
  /** admin file (default /etc/sysbox/mount-policy.json; absent = defaults; sysbox-runc takes $SYSBOX_MOUNT_POLICY) */
  policyFile?: string | undefined;
  /** Docker's API socket, asked for the container's image when the socket allow-list matters */
  dockerSocket?: string;
  /** special dirs on/off (default on; sysbox-runc turns them off for SYSBOX_SPECIAL_DIRS=0) */
  specialDirs?: boolean;
  log?: Log;
}

/** The default policy with the admin file's changes. A malformed file refuses every create (fail closed). */
export function loadPolicy(file = DEFAULT_POLICY_FILE): PolicyConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return defaultPolicy();
    throw new PolicyFileError(`mount policy ${file}: ${(e as Error).message}`);
  }
  return applyAdminPolicy(defaultPolicy(), parseAdminPolicy(text, file));
}

/**
 * Resolves a mount destination inside the rootfs the way the engine will, and refuses one that a symlink in the
 * image would lead out of the rootfs with `..` (the engine would clamp it to the rootfs and mount somewhere the
 * spec did not say). Components that don't exist yet are fine (the engine creates them).
 */
export function checkDestination(rootfs: string, destination: string): void {
  if (!isAbsolute(destination)) throw new BadMountError(`mount destination ${JSON.stringify(destination)} is not an absolute path`);
  const todo = destination.split('/').filter(Boolean);
  const at: string[] = [];
  let links = 0;
  while (todo.length) {
    const c = todo.shift()!;
    if (c === '.') continue;
    if (c === '..') {
      if (at.length === 0) throw new BadMountError(`mount destination ${destination} escapes the container's root file system`);
      at.pop();
      continue;
    }
    const p = join(rootfs, ...at, c);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return; // the rest does not exist: created by the engine inside the rootfs
    }
    if (!st.isSymbolicLink()) {
      at.push(c);
      continue;
    }
    if (++links > 40) throw new BadMountError(`mount destination ${destination}: too many levels of symbolic links`);
    const target = readlinkSync(p);
    if (target.startsWith('/')) at.length = 0;
    const parts = target.split('/').filter(Boolean);
    // `..` in a link target that would climb above the rootfs: the link points outside it.
    let depth = at.length;
    for (const x of parts) {
      if (x === '..') depth--;
      else if (x !== '.') depth++;
      if (depth < 0) {
        throw new BadMountError(`mount destination ${destination} escapes the container's root file system through the symlink /${posix.join(...at, c)} -> ${target}`);
      }
    }
    todo.unshift(...parts);
  }
}

/** Resolves every bind mount's source (I/O) and refuses bad input with a clear message. */
export function resolveCandidates(spec: Spec): { candidates: MountCandidate[]; binds: BindMount[] } {
  const candidates: MountCandidate[] = [];
  const binds = bindMounts(spec.mounts);
  for (const b of binds) {
    if (!b.source) throw new BadMountError(`bind mount at ${b.destination} has no source`);
    if (!isAbsolute(b.source)) throw new BadMountError(`mount source ${JSON.stringify(b.source)} (for ${b.destination}) is not an absolute path`);
    let resolved: string;
    try {
      resolved = realpathSync(b.source);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new BadMountError(`mount source ${b.source} (for ${b.destination}) does not exist`);
      if (code === 'ELOOP') throw new BadMountError(`mount source ${b.source} (for ${b.destination}): too many levels of symbolic links`);
      throw new BadMountError(`mount source ${b.source} (for ${b.destination}): ${(e as Error).message}`);
    }
    candidates.push({ index: b.index, destination: b.destination, source: b.source, resolved, readonly: b.readonly });
  }
  return { candidates, binds };
}

/** Image annotations of CRI runtimes (containerd's CRI plugin, CRI-O): the image without asking anyone. */
export const IMAGE_ANNOTATIONS: readonly string[] = ['io.kubernetes.cri.image-name', 'io.kubernetes.cri-o.ImageName'];

export function imageFromAnnotations(spec: Spec): { image: string } | undefined {
  for (const k of IMAGE_ANNOTATIONS) {
    const v = spec.annotations?.[k];
    if (v) return { image: v };
  }
  return undefined;
}

/** The container's image from Docker's container list (not /containers/{id}/json: create holds that lock). */
export function dockerImageOf(containerId: string, socketPath = '/var/run/docker.sock', timeoutMs = 3000, log?: Log): Promise<{ image?: string; imageId?: string }> {
  const filters = encodeURIComponent(JSON.stringify({ id: [containerId] }));
  return new Promise((resolve) => {
    // node:http through require, and only here: its ESM facade would evaluate every lazy export (loading
    // undici, ~10 ms) on each create, though only creates that mount the Docker socket ask Docker.
    const { request } = requireLazily('node:http') as typeof import('node:http');
    const req = request({ socketPath, path: `/containers/json?all=1&filters=${filters}`, method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          const list = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<{ Id?: string; Image?: string; ImageID?: string }>;
          const c = list.find((x) => x.Id === containerId) ?? (list.length === 1 ? list[0] : undefined);
          resolve({ ...(c?.Image ? { image: c.Image } : {}), ...(c?.ImageID ? { imageId: c.ImageID } : {}) });
        } catch {
          resolve({});
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => {
      log?.debug({ containerId, err: e.message }, 'could not ask Docker for the container image');
      resolve({});
    });
    req.end();
  });
}

/**
 * Everything about mounts that can refuse a create, before anything is allocated: bad sources and destinations,
 * restricted host mounts (RestrictedMountError with the user-facing message), then what to stage.
 */
export async function planMounts(spec: Spec, containerId: string, rootfs: string, opts: PlanOptions = {}): Promise<MountPlan> {
  const policy = loadPolicy(opts.policyFile);
  const { candidates, binds } = resolveCandidates(spec);
  for (const m of spec.mounts ?? []) checkDestination(rootfs, m.destination);
  const ctx: { containerId: string; image?: string; imageId?: string } = { containerId };
  if (needsImage(candidates, policy)) Object.assign(ctx, imageFromAnnotations(spec) ?? (await dockerImageOf(containerId, opts.dockerSocket, undefined, opts.log)));
  const decisions = checkMounts(candidates, policy, ctx);
  const resolvedOf = new Map(candidates.map((c) => [c.index, c.resolved]));
  const toStage = bindsToStage(binds, (b) => resolvedOf.get(b.index)!);
  const special = (opts.specialDirs ?? true) ? specialDirsFor(spec.mounts) : [];
  opts.log?.debug({ decisions: decisions.filter((d) => d.kind !== 'allowed').map((d) => `${d.source}: ${d.reason}`), staged: toStage.length, special }, 'mounts planned');
  return { candidates, decisions, toStage, specialDirs: special };
}

/** Asks sysbox-mgr to stage the plan; returns what convertSpec's context takes (stagedMounts, specialDirs). */
export async function stageMounts(
  mgr: Pick<MgrClient, 'prepareMounts'>,
  containerId: string,
  plan: MountPlan,
  rootfs: string,
  log?: Log,
): Promise<{ stagedMounts: Array<{ index: number; source: string }>; specialDirs: Array<{ destination: string; source: string }> }> {
  if (plan.toStage.length === 0 && plan.specialDirs.length === 0) return { stagedMounts: [], specialDirs: [] };
  const r = await mgr.prepareMounts({ containerId, mounts: plan.toStage, specialDirs: plan.specialDirs, rootfs });
  const wanted = new Set(plan.toStage.filter((m) => !m.noIdmap).map((m) => m.index));
  const fallbacks = [...r.mounts.filter((m) => wanted.has(m.index)), ...r.specialDirs].filter((m) => m.method !== 'idmap');
  if (fallbacks.length) log?.warn({ fallbacks }, 'some mounts are not ID-mapped (their file system refused it): owners appear as nobody inside');
  return {
    stagedMounts: r.mounts.map((m) => ({ index: m.index, source: m.source })),
    specialDirs: r.specialDirs.map((d) => ({ destination: d.destination, source: d.source })),
  };
}
