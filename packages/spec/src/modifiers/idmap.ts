import { SysboxSpecError } from '../errors.js';
import type { LinuxIDMapping, Spec } from '../types.js';
import { clone } from '../util.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/** The smallest ID range a system container runs with (the size sysbox allocates). */
export const MIN_ID_RANGE = 65536;

/** A range the spec asks for: container IDs 0..size-1 on host uids uid.. and gids gid.. */
export interface RequestedIdRange {
  uid: number;
  gid: number;
  size: number;
}

function refuse(detail: string): never {
  throw new SysboxSpecError('id-mappings', detail);
}

function single(maps: LinuxIDMapping[], field: string): LinuxIDMapping {
  if (maps.length !== 1) refuse(`${field}: sysbox needs one contiguous range (one entry), got ${maps.length} entries`);
  const m = maps[0]!;
  if (m.containerID !== 0) refuse(`${field}[0].containerID: must be 0 (the range starts at the container's root), got ${m.containerID}`);
  if (m.size < MIN_ID_RANGE) refuse(`${field}[0].size: must be at least ${MIN_ID_RANGE}, got ${m.size}`);
  return m;
}

/**
 * The ID range config.json asks for in `linux.uidMappings` / `linux.gidMappings` (Docker's `userns-remap`, or a caller
 * that chose its own), or undefined when it gives none (sysbox-mgr then allocates one). The maps must be one entry
 * each, from container ID 0, at least MIN_ID_RANGE IDs, the same size for uids and gids; anything else is refused
 * with a SysboxSpecError naming the field. Whether the range lies inside the subordinate IDs and is free is sysbox-mgr's
 * to check when it reserves it.
 */
export function requestedIdRange(spec: Spec): RequestedIdRange | undefined {
  const uids = spec.linux?.uidMappings ?? [];
  const gids = spec.linux?.gidMappings ?? [];
  if (uids.length === 0 && gids.length === 0) return undefined;
  if (gids.length === 0) refuse('linux.gidMappings: missing (linux.uidMappings is given; sysbox needs both or neither)');
  if (uids.length === 0) refuse('linux.uidMappings: missing (linux.gidMappings is given; sysbox needs both or neither)');
  const u = single(uids, 'linux.uidMappings');
  const g = single(gids, 'linux.gidMappings');
  if (g.size !== u.size) refuse(`linux.gidMappings[0].size: must equal linux.uidMappings[0].size (${u.size}), got ${g.size}`);
  return { uid: u.hostID, gid: g.hostID, size: u.size };
}

/**
 * Runs the container in a new user namespace mapping container IDs 0..size-1 to the exclusive host range
 * `ctx.idRange` (uid and gid): the range sysbox-mgr allocated, or the one config.json asked for and sysbox-mgr
 * reserved (see requestedIdRange), so maps given in the spec come out as they went in.
 */
export function idmapModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  const out = clone(spec);
  const linux = (out.linux ??= {});
  const namespaces = (linux.namespaces ??= []);
  if (!namespaces.some((ns) => ns.type === 'user')) namespaces.push({ type: 'user' });
  const given = (linux.uidMappings ?? []).length > 0;
  const { uid, gid, size } = ctx.idRange;
  linux.uidMappings = [{ containerID: 0, hostID: uid, size }];
  linux.gidMappings = [{ containerID: 0, hostID: gid, size }];
  report(`user namespace: uid map 0 ${uid} ${size}, gid map 0 ${gid} ${size}${given ? ' (as config.json asks)' : ''}`);
  return out;
}
