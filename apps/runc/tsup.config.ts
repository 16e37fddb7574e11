import { defineConfig } from 'tsup';

// sysbox-runc is a short-lived CLI that Docker starts several times per container. Two CommonJS files:
// dist/main.cjs, the whole CLI in one file (workspace libraries bundled in, so the installed runtime is
// self-contained; pino and the native addon's package, its CJS build, stay external), and dist/load.cjs, which
// runs main.cjs from a V8 code cache taken after a create (see src/load.ts). Modules reached through
// `await import()` stay lazy (esbuild wraps them in init functions): verbs that only pass through to the engine
// evaluate nothing else.
export default defineConfig({
  entry: { main: 'src/main.ts', load: 'src/load.ts' },
  format: ['cjs'],
  dts: false,
  sourcemap: true,
  clean: true,
  splitting: false,
  shims: true,
  target: 'node24',
  noExternal: [/^@sysbox\/(spec|ipc|mount-policy|dns)$/, /^@bufbuild\/protobuf/],
  external: ['pino', '@sysbox/native'],
});
