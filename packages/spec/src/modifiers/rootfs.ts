import type { Spec } from '../types.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/** Points `root.path` at the rootfs staged by sysbox-mgr (`ctx.rootfs`), keeping `readonly`. */
export function rootfsModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  if (ctx.rootfs === undefined || spec.root?.path === ctx.rootfs) return spec;
  report(`root.path: ${spec.root?.path ?? '(none)'} -> ${ctx.rootfs}`);
  return { ...spec, root: { ...spec.root, path: ctx.rootfs } };
}
