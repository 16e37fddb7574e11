#!/usr/bin/env node
// Measures what `import '@sysbox/ipc'` costs a fresh process (sysbox-runc starts several times per container),
// and checks that it loads no node:http2. Run after a build: node scripts/import-time.mjs
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const entry = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'index.js');
const code = `
const t0 = performance.now();
await import(${JSON.stringify(entry)});
const ms = performance.now() - t0;
const http2Loaded = process.moduleLoadList.some((m) => m.endsWith(' http2'));
console.log(JSON.stringify({ ms, http2Loaded }));
`;
const runs = [];
for (let i = 0; i < 10; i++) runs.push(JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' })));
const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
console.log(`import @sysbox/ipc: median ${ms[5].toFixed(2)} ms (min ${ms[0].toFixed(2)}, max ${ms[9].toFixed(2)}); node:http2 loaded: ${runs.some((r) => r.http2Loaded)}`);
