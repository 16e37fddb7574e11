import { defineConfig } from 'tsup';

// One ESM bundle with lazy chunks: the verbs that only pass through to the engine load nothing else.
// Workspace libraries are bundled in (so the installed runtime is self-contained); pino, grpc and the
// native addon stay external and load only when a verb needs them.
export default defineConfig({
  entry: { main: 'src/main.ts' },
  format: ['esm'],
  dts: false,
  sourcemap: true,
  clean: true,
  splitting: true,
  target: 'node24',
  noExternal: [/^@sysbox\/(spec|ipc)$/, /^@bufbuild\/protobuf/],
  external: ['pino', '@grpc/grpc-js', '@sysbox/native'],
});
