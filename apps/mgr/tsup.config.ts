import { existsSync, readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

// dist/main.js is the daemon (the installer writes a launcher that runs it with Node 24).
// src/staging is built as its own entry when present, loaded at run time by main (see daemon.ts loadStager).
const entry: Record<string, string> = { main: 'src/main.ts' };
if (existsSync('src/staging/index.ts')) entry['staging/index'] = 'src/staging/index.ts';
if (existsSync('src/staging/mounts.ts')) entry['staging/mounts'] = 'src/staging/mounts.ts';

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
