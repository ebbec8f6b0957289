import { defineConfig } from 'vitest/config';
import LongestFirstSequencer from './scripts/vitest-sequencer.js';

// Tests run the TypeScript sources, not dist/: the packages' `exports` send the
// `@blindrelay/source` condition to src/ (docs/DECISIONS.md, "Built packages"). Vite resolves the
// test files' imports under it; the processes the tests start (the CLI, relays, `--import tsx`
// children) inherit it through NODE_OPTIONS.
const SOURCE = '@blindrelay/source';
if (!process.env.NODE_OPTIONS?.includes(`--conditions=${SOURCE}`)) {
  process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, `--conditions=${SOURCE}`].filter(Boolean).join(' ');
}

export default defineConfig({
  // Vite's own defaults (module, node, development|production) after ours.
  resolve: { conditions: [SOURCE, 'module', 'node', 'development|production'] },
  ssr: { resolve: { conditions: [SOURCE, 'module', 'node', 'development|production'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'bench/**/*.test.ts', 'test/**/*.test.ts'],
    reporters: ['default', './scripts/tally-reporter.ts'],
    // The JavaScript build the CLI tests run (scripts/vitest-global-setup.ts).
    globalSetup: ['./scripts/vitest-global-setup.ts'],
    // Longest files first, from recorded durations (a clean clone has no vitest cache).
    sequence: { sequencer: LongestFirstSequencer },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: keep the pool small so timing-sensitive tests are not starved.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    pool: 'forks',
  },
});
