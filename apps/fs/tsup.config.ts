import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

// dist/main.js is the daemon (the installer writes a launcher that runs it with Node 24).
export default defineConfig({
  entry: { main: 'src/main.ts' },
  format: ['esm'],
  dts: false,
  sourcemap: true,
  clean: true,
  target: 'node24',
  define: { __FS_VERSION__: JSON.stringify(pkg.version) },
  // workspace libraries and pino stay external.
  external: [/^@sysbox\//, 'pino'],
});
