import { applySysboxRules } from '../rules.js';
import type { Spec } from '../types.js';
import { capabilitiesModifier } from './capabilities.js';
import { cgroupnsModifier } from './cgroupns.js';
import type { ConvertContext, Modifier } from './context.js';
import { devicesModifier } from './devices.js';
import { hooksModifier } from './hooks.js';
import { idmapModifier } from './idmap.js';
import { mountsModifier } from './mounts.js';
import { pathsModifier } from './paths.js';
import { rootfsModifier } from './rootfs.js';
import { seccompModifier } from './seccomp.js';
import { sysctlModifier } from './sysctl.js';

export * from './capabilities.js';
export * from './cgroupns.js';
export * from './context.js';
export * from './devices.js';
export * from './hooks.js';
export * from './idmap.js';
export * from './mounts.js';
export * from './paths.js';
export * from './rootfs.js';
export * from './seccomp.js';
export * from './sysctl.js';

/** The conversion, in order. Each entry is one concern; the composition lives only here. */
export const MODIFIERS: ReadonlyArray<readonly [name: string, modifier: Modifier]> = Object.freeze([
  ['idmap', idmapModifier],
  ['cgroupns', cgroupnsModifier],
  ['sysctl', sysctlModifier],
  ['rootfs', rootfsModifier],
  ['mounts', mountsModifier],
  ['capabilities', capabilitiesModifier],
  ['devices', devicesModifier],
  ['paths', pathsModifier],
  ['seccomp', seccompModifier],
  ['hooks', hooksModifier],
] as const);

/**
 * Turns a valid OCI spec into the spec sysbox runs: the sysbox rules first (may throw
 * SysboxSpecError), then every modifier. Pure: the input is not modified. `changes` lists what
 * changed, each line prefixed by the concern that changed it.
 */
export function convertSpec(spec: Spec, ctx: ConvertContext): { spec: Spec; changes: string[] } {
  return applyModifiers(applySysboxRules(spec, ctx.isHostNamespace ? { isHostNamespace: ctx.isHostNamespace } : {}), ctx);
}

/**
 * The second half of convertSpec: every modifier over what applySysboxRules accepted. For a caller that checks the
 * rules first, before it does anything the refusal would have to undo (sysbox-runc's create).
 */
export function applyModifiers(ruled: { spec: Spec; changes: string[] }, ctx: ConvertContext): { spec: Spec; changes: string[] } {
  const changes = ruled.changes.map((c) => `rules: ${c}`);
  let out = ruled.spec;
  for (const [name, modifier] of MODIFIERS) {
    out = modifier(out, ctx, (c) => changes.push(`${name}: ${c}`));
  }
  return { spec: out, changes };
}
