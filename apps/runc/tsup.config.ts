import { defineConfig } from 'tsup';
import type { Plugin } from 'esbuild';

// @sysbox/ipc's build inlines @grpc/grpc-js into one lazy chunk (dist/src-*.js), reached only through the
// 'grpc-js' transport, which sysbox-runc never asks for: its clients use the lean HTTP/2 client. Left in, it
// is a megabyte of the bundle that every start reads and whose code cache it deserializes (~2 ms).
const withoutGrpcJs: Plugin = {
  name: 'without-grpc-js',
  setup(build) {
    build.onResolve({ filter: /^\.\/src-[A-Z0-9]+\.js$/ }, (args) =>
      /[\\/]packages[\\/]ipc[\\/]dist[\\/]/.test(args.importer) ? { path: args.path, namespace: 'without-grpc-js' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'without-grpc-js' }, () => ({
      contents: "throw new Error('sysbox-runc is built without @grpc/grpc-js: use the lean transport');",
      loader: 'js',
    }));
  },
};

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
  external: ['pino', '@grpc/grpc-js', '@sysbox/native'],
  esbuildPlugins: [withoutGrpcJs],
});
