// Sums vitest JSON reports into the closing line CI reads: `N passed, M failed`.
// A `test.fails` test that failed as expected counts as passed (as vitest counts it).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const r = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const p = r.numPassedTests ?? 0;
  const fl = r.numFailedTests ?? 0;
  const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A file that failed outside its tests (failed to load, a failing beforeAll/afterAll) is a failure too.
  const broken = (r.testResults ?? []).filter(
    (t) => t.status === 'failed' && !(t.assertionResults ?? []).some((a) => a.status === 'failed'),
  ).length;
  // (a package whose integration config has no tests yet ran nothing: not listed)
  if (p + fl + broken + s > 0) console.log(`${f.replace(/\.json$/, '').padEnd(28)} ${p} passed, ${fl + broken} failed${s ? `, ${s} skipped` : ''}`);
  passed += p;
  failed += fl + broken;
  skipped += s;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
