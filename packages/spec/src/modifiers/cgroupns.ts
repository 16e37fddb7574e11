import type { Spec } from '../types.js';
import { withNamespace } from '../util.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/** Gives the container its own cgroup namespace (Docker omits it on cgroup v1 hosts). */
export function cgroupnsModifier(spec: Spec, _ctx: ConvertContext, report: Report = noReport): Spec {
  const out = withNamespace(spec, 'cgroup');
  if (out !== spec) report('added a cgroup namespace');
  return out;
}
