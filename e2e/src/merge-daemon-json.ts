// Merges runtimes into /etc/docker/daemon.json without dropping anything else there.
// Run under `flock /tmp/daemon-json.lock` (other engineers merge their own runtimes the same way).
// Usage: node merge-daemon-json.ts <daemon.json path> '<{"name": {"path": "..."}}>'
// Prints "changed" when the file was rewritten, "unchanged" otherwise.
import { readFileSync, writeFileSync, renameSync, mkdirSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';

const [file, runtimesJson] = process.argv.slice(2);
if (!file || !runtimesJson) {
  console.error('usage: merge-daemon-json.ts <daemon.json> <runtimes json>');
  process.exit(2);
}
const wanted = JSON.parse(runtimesJson) as Record<string, { path: string; runtimeArgs?: string[] }>;
let cfg: Record<string, unknown> = {};
let before = '';
try {
  before = readFileSync(file, 'utf8');
  cfg = before.trim() ? (JSON.parse(before) as Record<string, unknown>) : {};
} catch (e) {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
    console.error(`${file}: ${(e as Error).message}`);
    process.exit(1);
  }
}
const runtimes = { ...((cfg.runtimes as Record<string, unknown> | undefined) ?? {}) };
for (const [name, rt] of Object.entries(wanted)) runtimes[name] = { ...((runtimes[name] as object | undefined) ?? {}), ...rt };
cfg.runtimes = runtimes;
const after = JSON.stringify(cfg, null, 2) + '\n';
if (after === before) {
  console.log('unchanged');
} else {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, after);
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, file);
  console.log('changed');
}
