import { defineConfig } from 'tsup';

// ESM for the daemons and the tests; CommonJS too (dist/index.cjs, the "require" export) for sysbox-runc's
// one-file CLI bundle (apps/runc/tsup.config.ts). shims: import.meta.url in the CJS build, so the addon and the
// helpers in bin/ are found beside either file.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'node24',
});
