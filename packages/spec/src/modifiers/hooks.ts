import type { Hook, Spec } from '../types.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/**
 * sysbox-runc's attach hooks (ctx.attachHooks): `<path> notify <socket>` first among the prestart hooks and
 * `<path> wait <socket>` last among the createRuntime hooks. An engine that runs these after mounting the
 * container's /proc and /sys and before pivot_root (runc) lets sysbox-runc place sysbox-fs's files while the
 * hooks in between run (Docker's libnetwork-setkey); `wait` holds the engine until they are placed.
 * Without ctx.attachHooks the spec is unchanged.
 */
export function hooksModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  const h = ctx.attachHooks;
  if (!h) return spec;
  const hook = (op: 'notify' | 'wait'): Hook => ({ path: h.path, args: [h.path.split('/').pop() || h.path, op, h.socket] });
  const hooks = spec.hooks ?? {};
  report(`attach hooks: ${h.path} notify first of ${(hooks.prestart?.length ?? 0) + 1} prestart hooks, wait last of ${(hooks.createRuntime?.length ?? 0) + 1} createRuntime hooks`);
  return {
    ...spec,
    hooks: {
      ...hooks,
      prestart: [hook('notify'), ...(hooks.prestart ?? [])],
      createRuntime: [...(hooks.createRuntime ?? []), hook('wait')],
    },
  };
}
