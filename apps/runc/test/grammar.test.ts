import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { renderGrammarHeader } from '../src/grammar.js';

const HEADER = join(import.meta.dirname, '..', '..', '..', 'native', 'csrc', 'runc-grammar.h');

describe("runc's grammar has one source", () => {
  // `pnpm --filter @sysbox/runc gen:grammar` runs this test with SYSBOX_WRITE_GRAMMAR=1: it writes the header first
  if (process.env.SYSBOX_WRITE_GRAMMAR === '1') writeFileSync(HEADER, renderGrammarHeader());

  test('native/csrc/runc-grammar.h is what apps/runc/src/cli.ts renders (else: pnpm --filter @sysbox/runc gen:grammar)', () => {
    expect(readFileSync(HEADER, 'utf8')).toBe(renderGrammarHeader());
  });
});
