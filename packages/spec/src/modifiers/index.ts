import { containerOptions } from '../options.js';
import { applySysboxRules, type RulesOptions } from '../rules.js';
import type { Spec } from '../types.js';
import { capabilitiesModifier } from './capabilities.js';
import { cgroupnsModifier } from './cgroupns.js';
import { cgroupsModifier } from './cgroups.js';
import type { ConvertContext, Modifier } from './context.js';
import { devicesModifier } from './devices.js';
import { hooksModifier } from './hooks.js';
import { idmapModifier } from './idmap.js';
import { mountsModifier } from './mounts.js';
import { pathsModifier } from './paths.js';
import { rootfsModifier } from './rootfs.js';
import { seccompModifier } from './seccomp.js';
import { stagedDevicesModifier } from './staged-devices.js';
import { sysctlModifier } from './sysctl.js';
import { systemdModifier } from './systemd.js';

export * from './capabilities.js';
export * from './cgroupns.js';
export * from './cgroups.js';
export * from './context.js';
export * from './devices.js';
export * from './hooks.js';
export * from './idmap.js';
export * from './mounts.js';
export * from './paths.js';
export * from './rootfs.js';
export * from './seccomp.js';
export * from './staged-devices.js';
export * from './sysctl.js';
export * from './systemd.js';

/** The conversion, in order. Each entry is one concern; the composition lives only here. */
export const MODIFIERS: ReadonlyArray<readonly [name: string, modifier: Modifier]> = Object.freeze([
  ['idmap', idmapModifier],
  ['cgroupns', cgroupnsModifier],
  ['sysctl', sysctlModifier],
  ['rootfs', rootfsModifier],
  ['mounts', mountsModifier],
  ['capabilities', capabilitiesModifier],
  ['devices', devicesModifier],
  ['staged-devices', stagedDevicesModifier],
  ['paths', pathsModifier],
  ['cgroups', cgroupsModifier],
  ['systemd', systemdModifier],
  ['seccomp', seccompModifier],
  ['hooks', hooksModifier],
] as const);

/**
 * What a regular container (SYSBOX_SYSCONT_MODE=FALSE) skips: the spec is run as the engine would run it, plus a user
 * namespace with its exclusive range and a cgroup namespace (and what running in them needs: staged rootfs and binds,
 * devices the host lacks, the ping range clamp). Capabilities are honoured there (containerOptions).
 */
export const SYSCONT_ONLY_MODIFIERS: ReadonlySet<string> = new Set(['devices', 'paths', 'cgroups', 'systemd', 'seccomp', 'hooks']);

/**
 * Turns a valid OCI spec into the spec sysbox runs: the container's switches (containerOptions: `SYSBOX_HONOR_CAPS`,
 * `SYSBOX_SYSCONT_MODE` over ctx's defaults; may throw SysboxSpecError), the sysbox rules (may throw
 * SysboxSpecError), then every modifier (in a regular container, those outside SYSCONT_ONLY_MODIFIERS). Pure: the
 * input is not modified. `changes` lists what changed, each line prefixed by the concern that changed it.
 */
export function convertSpec(spec: Spec, ctx: ConvertContext): { spec: Spec; changes: string[] } {
  return applyModifiers(applySysboxRules(spec, rulesOptions(ctx)), ctx);
}

/** The applySysboxRules options a ConvertContext carries. */
export function rulesOptions(ctx: ConvertContext): RulesOptions {
  return {
    ...(ctx.isHostNamespace ? { isHostNamespace: ctx.isHostNamespace } : {}),
    ...(ctx.inspectNamespace ? { inspectNamespace: ctx.inspectNamespace } : {}),
  };
}

/**
 * The second half of convertSpec: every modifier over what applySysboxRules accepted. For a caller that checks the
 * rules first, before it does anything the refusal would have to undo (sysbox-runc's create).
 */
export function applyModifiers(ruled: { spec: Spec; changes: string[] }, ctx: ConvertContext): { spec: Spec; changes: string[] } {
  const options = containerOptions(ruled.spec, ctx);
  const changes = ruled.changes.map((c) => `rules: ${c}`);
  if (!options.syscontMode) changes.push(`mode: regular container (no ${[...SYSCONT_ONLY_MODIFIERS].join(', ')} changes)`);
  const resolved: ConvertContext = { ...ctx, ...options };
  let out = ruled.spec;
  for (const [name, modifier] of MODIFIERS) {
    if (!options.syscontMode && SYSCONT_ONLY_MODIFIERS.has(name)) continue;
    out = modifier(out, resolved, (c) => changes.push(`${name}: ${c}`));
  }
  return { spec: out, changes };
}
