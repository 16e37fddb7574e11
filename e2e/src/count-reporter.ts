// Prints per-runtime counts and then exactly one final plain line `N passed, M failed, K expected-fail`.
// A `test.fails` test that failed as expected (a pending expectation, src/pending.ts) is not a pass: it is counted as
// expected-fail, and, when $SYSBOX_TEST_RESULTS is set (scripts/test.sh), listed in e2e.expected-fail.json there for
// scripts/summarize.mjs (vitest's JSON report counts such a test as passed).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Reporter, TestModule, TestCase } from 'vitest/node';
import { PENDING } from './pending.ts';

function* casesOf(mod: TestModule): Generator<TestCase> {
  yield* mod.children.allTests();
}

function runtimeOf(tc: TestCase): string {
  for (let p: any = tc.parent; p && p.type === 'suite'; p = p.parent) {
    const m = /\b(sysbox-runc|runc|crun)\b/.exec(p.name as string);
    if (m) return m[1]!;
  }
  return 'other';
}

export default class CountReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    const expectedFail: string[] = [];
    const per = new Map<string, { passed: number; failed: number; expectedFail: number; skipped: number }>();
    for (const mod of testModules) {
      for (const tc of casesOf(mod)) {
        const state = tc.result().state;
        const rt = runtimeOf(tc);
        const row = per.get(rt) ?? { passed: 0, failed: 0, expectedFail: 0, skipped: 0 };
        if (state === 'passed' && tc.options.fails) {
          expectedFail.push(tc.fullName);
          row.expectedFail++;
        } else if (state === 'passed') {
          passed++;
          row.passed++;
        } else if (state === 'failed') {
          failed++;
          row.failed++;
        } else {
          row.skipped++;
        }
        per.set(rt, row);
      }
    }
    const lines: string[] = [''];
    // ids in src/pending.ts that name no sysbox-runc test of this run (typo, or renamed test); only meaningful on a full run
    const seen = new Set<string>();
    for (const mod of testModules) for (const tc of casesOf(mod)) if (runtimeOf(tc) === 'sysbox-runc' && tc.result().state !== 'skipped') seen.add(tc.name);
    const stale = [...PENDING].filter((id) => !seen.has(id));
    if (seen.size > 0 && stale.length > 0 && stale.length < PENDING.size) {
      lines.push(`src/pending.ts: ${stale.length} id(s) match no test run now: ${stale.map((s) => JSON.stringify(s)).join(', ')}`);
    }
    for (const [rt, r] of [...per.entries()].sort()) {
      lines.push(`${rt}: ${r.passed} passed, ${r.failed} failed, ${r.expectedFail} expected-fail (pending)${r.skipped ? `, ${r.skipped} skipped` : ''}`);
    }
    if (process.env.SYSBOX_E2E_NO_PENDING === '1') {
      // a ready-made src/pending.ts body: the sysbox-runc tests that fail now
      const failing: string[] = [];
      for (const mod of testModules) for (const tc of casesOf(mod)) if (runtimeOf(tc) === 'sysbox-runc' && tc.result().state === 'failed') failing.push(tc.name);
      lines.push(`sysbox-runc tests failing now (candidates for src/pending.ts):`, ...failing.map((n) => `  ${JSON.stringify(n).replace(/^"|"$/g, "'")},`));
    }
    lines.push(`${passed} passed, ${failed} failed, ${expectedFail.length} expected-fail`);
    process.stdout.write(lines.join('\n') + '\n');
    const dir = process.env.SYSBOX_TEST_RESULTS;
    if (dir) writeFileSync(join(dir, 'e2e.expected-fail.json'), JSON.stringify({ names: expectedFail }, null, 2));
  }
}
