import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the fuzz test's heavy run (SYSBOX_HEAVY=1) drives 100,000 cases
    testTimeout: 120_000,
  },
});
