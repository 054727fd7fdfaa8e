import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    // bin/payout runs dist/ when a build exists; the tests run the sources they test, never a
    // build that may be older (test/dist.test.ts builds and runs the compiled program itself).
    env: { PAYOUT_FROM_SOURCE: '1' },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: two files at a time keeps the embedded server and the tests from starving.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
