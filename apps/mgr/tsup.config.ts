import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

// dist/main.js is the daemon (the installer writes a launcher that runs it with Node 24).
const entry: Record<string, string> = { main: 'src/main.ts' };

export default defineConfig({
  entry,
  format: ['esm'],
  dts: false,
  sourcemap: true,
  clean: true,
  target: 'node24',
  define: { __MGR_VERSION__: JSON.stringify(pkg.version) },
  // workspace libraries and pino stay external (resolved from node_modules; `pnpm deploy` injects them);
  // the native addon must be external and resolved at run time.
  external: [/^@sysbox\//, 'pino'],
});
