// @sysbox/native through require() (its CommonJS build, dist/index.cjs), not import(): the CLI runs as one CJS
// bundle from a V8 code cache through vm.Script (see load.ts), where import() has no loader, and esbuild leaves
// import() of an external package as it is.
import { requireLazily } from './require.js';

export type Native = typeof import('@sysbox/native');

let native: Native | undefined;

/** Loads the addon's package (synchronously; the addon itself loads on its first kernel call). */
export function loadNative(): Native {
  native ??= requireLazily('@sysbox/native') as Native;
  return native;
}
