import type { Spec } from '../types.js';
import { type ConvertContext, type Report, noReport } from './context.js';

const PING_GROUP_RANGE = 'net.ipv4.ping_group_range';

/**
 * Keeps sysctls writable from inside the user namespace. Docker (no user namespace) sets
 * `net.ipv4.ping_group_range = "0 2147483647"`; in a user namespace the kernel accepts only gids
 * mapped in it (EINVAL otherwise, and runc's create fails), so the range is clamped to the
 * container's gids `0 .. size-1`.
 */
export function sysctlModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  const value = spec.linux?.sysctl?.[PING_GROUP_RANGE];
  if (value === undefined) return spec;
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(value);
  const max = ctx.idRange.size - 1;
  if (!m) return spec;
  const lo = Math.min(Number(m[1]), max);
  const hi = Math.min(Number(m[2]), max);
  const clamped = `${lo} ${hi}`;
  if (clamped === value) return spec;
  report(`${PING_GROUP_RANGE}: "${value}" -> "${clamped}" (gids mapped in the user namespace)`);
  return { ...spec, linux: { ...spec.linux, sysctl: { ...spec.linux!.sysctl, [PING_GROUP_RANGE]: clamped } } };
}
