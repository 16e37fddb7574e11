import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node24',
  // @bufbuild/protobuf is bundled, tree-shaken to the wire reader/writer the generated code uses: its `wire`
  // entry re-exports text-format, which loads most of the library (~7 ms per sysbox-runc start).
  noExternal: ['@bufbuild/protobuf'],
});
