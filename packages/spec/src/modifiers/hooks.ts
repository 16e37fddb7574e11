import type { Hook, Spec } from '../types.js';
import { isBelowAny } from '../util.js';
import { type ConvertContext, type Report, noReport } from './context.js';
import { LOCKED_TREES } from './paths.js';

/**
 * The annotation that carries the masked and read-only paths sysbox-runc lays itself, locked with /proc and /sys
 * (JSON `{"maskedPaths": [...], "readonlyPaths": [...]}`): taken out of `linux.maskedPaths` and `linux.readonlyPaths`
 * so that the engine doesn't lay a second, unlocked copy over each (see hooksModifier).
 */
export const LAID_PATHS_ANNOTATION = 'io.sysbox.laid-paths';

export interface MaskedAndReadonly {
  maskedPaths: string[];
  readonlyPaths: string[];
}

/** The paths of LAID_PATHS_ANNOTATION (none when the spec has no such annotation or it is not the JSON it writes). */
export function laidPathsOf(spec: Spec): MaskedAndReadonly {
  const none = { maskedPaths: [], readonlyPaths: [] };
  const text = spec.annotations?.[LAID_PATHS_ANNOTATION];
  if (text === undefined) return none;
  try {
    const v = JSON.parse(text) as Partial<MaskedAndReadonly>;
    const strings = (a: unknown) => (Array.isArray(a) ? a.filter((x): x is string => typeof x === 'string') : []);
    return { maskedPaths: strings(v.maskedPaths), readonlyPaths: strings(v.readonlyPaths) };
  } catch {
    return none;
  }
}

/** All of a converted spec's masked and read-only paths: the engine's (`linux.*`) and those sysbox-runc lays. */
export function maskedAndReadonlyOf(spec: Spec): MaskedAndReadonly {
  const laid = laidPathsOf(spec);
  return {
    maskedPaths: [...(spec.linux?.maskedPaths ?? []), ...laid.maskedPaths],
    readonlyPaths: [...(spec.linux?.readonlyPaths ?? []), ...laid.readonlyPaths],
  };
}

const inLockedTree = (p: string) => isBelowAny(p, LOCKED_TREES);

/**
 * sysbox-runc's attach hooks (ctx.attachHooks): `<path> notify <socket>` first among the prestart hooks and
 * `<path> wait <socket>` last among the createRuntime hooks. An engine that runs these after mounting the
 * container's /proc and /sys and before pivot_root (runc) lets sysbox-runc place sysbox-fs's files while the
 * hooks in between run (Docker's libnetwork-setkey); `wait` holds the engine until they are placed.
 * The masked and read-only paths in /proc and /sys move to LAID_PATHS_ANNOTATION: sysbox-runc lays them in the same
 * placement, before the kernel locks the trees, whereas runc would lay its own after pivot_root, over ours and
 * unlocked (a mask the container could remount read-write, and ~10 more mounts for systemd to walk).
 * Without ctx.attachHooks the spec is unchanged.
 */
export function hooksModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  const h = ctx.attachHooks;
  if (!h) return spec;
  const hook = (op: 'notify' | 'wait'): Hook => ({ path: h.path, args: [h.path.split('/').pop() || h.path, op, h.socket] });
  const hooks = spec.hooks ?? {};
  report(`attach hooks: ${h.path} notify first of ${(hooks.prestart?.length ?? 0) + 1} prestart hooks, wait last of ${(hooks.createRuntime?.length ?? 0) + 1} createRuntime hooks`);
  const linux = spec.linux ?? {};
  const masked = linux.maskedPaths ?? [];
  const readonly = linux.readonlyPaths ?? [];
  const laid: MaskedAndReadonly = { maskedPaths: masked.filter(inLockedTree), readonlyPaths: readonly.filter(inLockedTree) };
  const moved = laid.maskedPaths.length + laid.readonlyPaths.length > 0;
  if (moved) report(`masked and read-only paths in ${LOCKED_TREES.join(' and ')} laid by sysbox-runc, not the engine: ${[...laid.maskedPaths, ...laid.readonlyPaths].join(' ')}`);
  return {
    ...spec,
    hooks: {
      ...hooks,
      prestart: [hook('notify'), ...(hooks.prestart ?? [])],
      createRuntime: [...(hooks.createRuntime ?? []), hook('wait')],
    },
    ...(moved
      ? {
          linux: { ...linux, maskedPaths: masked.filter((p) => !inLockedTree(p)), readonlyPaths: readonly.filter((p) => !inLockedTree(p)) },
          annotations: { ...spec.annotations, [LAID_PATHS_ANNOTATION]: JSON.stringify(laid) },
        }
      : {}),
  };
}
