import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { setupFiles: ['./vitest.setup.ts'], include: ['src/**/*.test.ts'], testTimeout: 60_000 },
});
