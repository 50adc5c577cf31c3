import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // End-to-end tests spawn the real CLI; on 2 cores a few of them take tens of seconds.
    testTimeout: 240_000,
    hookTimeout: 240_000,
    // One file at a time: e2e runs compete for the same two cores otherwise.
    fileParallelism: false,
  },
});
