// Runtime-parameterised test declaration: the same test for runc and sysbox-runc; sysbox-runc's pending
// expectations (src/pending.ts) run as `test.fails`.
import { test } from 'vitest';
import { PENDING } from './pending.ts';
import type { Runtime } from './paths.ts';

export const noPending = process.env.SYSBOX_E2E_NO_PENDING === '1';

export function isPending(runtime: Runtime, name: string): boolean {
  return runtime === 'sysbox-runc' && !noPending && PENDING.has(name);
}

/** `const t = caseFor(runtime); t('contract: …', async () => { … })` */
export function caseFor(runtime: Runtime) {
  return (name: string, fn: () => Promise<void>, timeoutMs?: number) => {
    (isPending(runtime, name) ? test.fails : test)(name, fn, timeoutMs);
  };
}
