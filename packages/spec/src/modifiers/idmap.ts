import type { Spec } from '../types.js';
import { clone } from '../util.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/**
 * Runs the container in a new user namespace mapping container IDs 0..size-1 to the exclusive host
 * range `ctx.idRange` (uid and gid). Any mapping or joined user namespace in the input is replaced.
 */
export function idmapModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  const out = clone(spec);
  const linux = (out.linux ??= {});
  const namespaces = (linux.namespaces ??= []);
  const user = namespaces.find((ns) => ns.type === 'user');
  if (!user) namespaces.push({ type: 'user' });
  else delete user.path;
  const { uid, gid, size } = ctx.idRange;
  linux.uidMappings = [{ containerID: 0, hostID: uid, size }];
  linux.gidMappings = [{ containerID: 0, hostID: gid, size }];
  report(`user namespace: uid map 0 ${uid} ${size}, gid map 0 ${gid} ${size}`);
  return out;
}
