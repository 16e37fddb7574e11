// Runtime-parameterised test declaration: the same test for runc and sysbox-runc; sysbox-runc's pending
// expectations (src/pending.ts) run as `test.fails`.
import { test } from 'vitest';
import { PENDING } from './pending.ts';
import type { Runtime } from './paths.ts';

export const noPending = process.env.SYSBOX_E2E_NO_PENDING === '1';

/** A pending test is expected to fail: don't let one that hangs eat the suite's time budget. */
const PENDING_TIMEOUT_MS = 45_000;

export function isPending(runtime: Runtime, name: string): boolean {
  return runtime === 'sysbox-runc' && !noPending && PENDING.has(name);
}

/** `const t = caseFor(runtime); t('contract: …', async () => { … })` */
export function caseFor(runtime: Runtime) {
  return (name: string, fn: () => Promise<void>, timeoutMs?: number) => {
    if (isPending(runtime, name)) test.fails(name, fn, Math.min(timeoutMs ?? PENDING_TIMEOUT_MS, PENDING_TIMEOUT_MS * 2));
    else test(name, fn, timeoutMs);
  };
}
