import { defineConfig } from 'vitest/config';

// Serial: one dockerd, one pair of sysbox daemons, tests that restart a daemon.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['./src/global-setup.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    sequence: { concurrent: false },
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    reporters: ['default', './src/count-reporter.ts'],
  },
});
