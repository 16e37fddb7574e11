// Per-container switches read from the spec's process environment, as Sysbox reads them, over defaults the
// runtime takes from its configuration (ConvertContext.honorCaps, ConvertContext.syscontMode).

import { SysboxSpecError } from './errors.js';
import type { Spec } from './types.js';

/** `SYSBOX_HONOR_CAPS=TRUE`: the five capability sets are exactly those of config.json. */
export const HONOR_CAPS_ENV = 'SYSBOX_HONOR_CAPS';
/** `SYSBOX_SYSCONT_MODE=FALSE`: a regular container (the spec as runc runs it, in a user namespace of its own). */
export const SYSCONT_MODE_ENV = 'SYSBOX_SYSCONT_MODE';

export interface ContainerOptions {
  /** capabilities exactly as config.json gives them (always true in regular-container mode) */
  honorCaps: boolean;
  /** a system container (default); false: a regular container, see README "Regular-container mode" */
  syscontMode: boolean;
}

export interface OptionDefaults {
  honorCaps?: boolean | undefined;
  syscontMode?: boolean | undefined;
}

/** The value of `name` in `process.env` (the last one wins, as in execve), or undefined. */
export function envValue(spec: Spec, name: string): string | undefined {
  let value: string | undefined;
  for (const e of spec.process?.env ?? []) {
    if (typeof e === 'string' && e.startsWith(`${name}=`)) value = e.slice(name.length + 1);
  }
  return value;
}

function flag(spec: Spec, name: string): boolean | undefined {
  const v = envValue(spec, name);
  if (v === undefined) return undefined;
  const u = v.trim().toUpperCase();
  if (u === 'TRUE') return true;
  if (u === 'FALSE') return false;
  throw new SysboxSpecError('invalid-option', `process.env: ${name} must be TRUE or FALSE, got ${JSON.stringify(v.slice(0, 40))}`);
}

/**
 * The container's switches: `SYSBOX_HONOR_CAPS` and `SYSBOX_SYSCONT_MODE` in config.json's `process.env` (TRUE or
 * FALSE, any case) override the runtime's defaults; any other value is refused (SysboxSpecError naming the variable).
 * A regular container (syscontMode false) always honours the capabilities.
 */
export function containerOptions(spec: Spec, defaults: OptionDefaults = {}): ContainerOptions {
  const syscontMode = flag(spec, SYSCONT_MODE_ENV) ?? defaults.syscontMode ?? true;
  const honorCaps = flag(spec, HONOR_CAPS_ENV) ?? defaults.honorCaps ?? false;
  return { syscontMode, honorCaps: honorCaps || !syscontMode };
}
