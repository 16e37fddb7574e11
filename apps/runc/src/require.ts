// The one require() of the bundle's on-demand loads (node:child_process, node:net, node:http, pino, @sysbox/native):
// dist/load.cjs runs the bundle through vm.Script, which has no ESM loader for import() (see load.ts), and a
// builtin loaded at the top would cost every invocation its start-up time, used or not.
import { createRequire } from 'node:module';

export const requireLazily = createRequire(import.meta.url);
