import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'bench/**/*.test.ts', 'test/**/*.test.ts'],
    reporters: ['default', './scripts/tally-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: keep the pool small so timing-sensitive tests are not starved.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    pool: 'forks',
  },
});
