// Sums the test steps of scripts/test.sh into the closing line CI reads: `N passed, M failed, K expected-fail`.
//
// Input: the results dir, holding steps.tsv (one line per step: name, exit status, its vitest JSON report or '-')
// and the JSON reports. Rules, so that the summary can't read green by accident:
// - a step that exits non-zero without a failing test in its report (no report at all, a global setup or an
//   install that failed, an unhandled error) counts as one failure, named;
// - a file that failed outside its tests (failed to load, a failing beforeAll/afterAll) counts as a failure;
// - a `test.fails` case (an expectation listed as pending, e2e/src/pending.ts) is not a pass: the e2e reporter lists
//   them in <report>.expected-fail.json and they are counted as expected-fail;
// - every skipped test is named (the names of conditionally skipped suites say what they need).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const readJson = (f) => JSON.parse(readFileSync(join(dir, f), 'utf8'));

const steps = existsSync(join(dir, 'steps.tsv'))
  ? readFileSync(join(dir, 'steps.tsv'), 'utf8').split('\n').filter(Boolean).map((l) => {
      const [name, rc, report] = l.split('\t');
      return { name, rc: Number(rc), report: report === '-' ? undefined : report };
    })
  : [];
if (steps.length === 0) {
  console.log(`no test step ran (no ${join(dir, 'steps.tsv')})`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

let passed = 0;
let failed = 0;
let expectedFail = 0;
const skipped = [];
const brokenSteps = [];
for (const s of steps) {
  let p = 0;
  let fl = 0;
  let xf = 0;
  let report;
  if (s.report && existsSync(join(dir, s.report))) {
    try {
      report = readJson(s.report);
    } catch (e) {
      report = undefined;
    }
  }
  if (report) {
    p = report.numPassedTests ?? 0;
    fl = report.numFailedTests ?? 0;
    for (const f of report.testResults ?? []) {
      const assertions = f.assertionResults ?? [];
      // failed outside its tests (load error, hook failure): a failure of its own
      if (f.status === 'failed' && !assertions.some((a) => a.status === 'failed')) fl += 1;
      for (const a of assertions) {
        if (a.status === 'pending' || a.status === 'skipped' || a.status === 'todo') skipped.push(`${s.name}: ${a.fullName ?? a.title}`);
      }
    }
    const xfFile = s.report.replace(/\.json$/, '.expected-fail.json');
    if (existsSync(join(dir, xfFile))) {
      xf = (readJson(xfFile).names ?? []).length;
      p -= xf; // vitest counts a test.fails case that failed as passed
    }
  }
  if (s.rc !== 0 && fl === 0) {
    fl = 1;
    brokenSteps.push(`${s.name}: exited ${s.rc} ${report ? 'without a failing test' : 'without a test report'} (see its output above)`);
  }
  if (p + fl + xf > 0 || s.rc !== 0) {
    console.log(`${s.name.padEnd(60)} ${p} passed, ${fl} failed${xf ? `, ${xf} expected-fail` : ''}`);
  }
  passed += p;
  failed += fl;
  expectedFail += xf;
}
for (const b of brokenSteps) console.log(`failed step: ${b}`);
for (const k of skipped) console.log(`skipped: ${k}`);
console.log(`${passed} passed, ${failed} failed, ${expectedFail} expected-fail${skipped.length ? `, ${skipped.length} skipped (named above)` : ''}`);
process.exit(failed > 0 ? 1 : 0);
