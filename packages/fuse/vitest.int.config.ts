import { defineConfig } from 'vitest/config';

// Integration tests: root, the real kernel. Run serially.
export default defineConfig({
  test: {
    include: ['test/**/*.int.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
  },
});
