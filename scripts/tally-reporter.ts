/**
 * Vitest reporter that ends the run with the tally line CI reads:
 * `N passed, N failed` (plus `, N skipped` when any were), counted from the runner's results.
 * A test file that fails to load and an unhandled error each count as one failure. With
 * BLINDRELAY_TALLY_FILE set, the counts are also written there as JSON (scripts/test.mjs adds up
 * the runs of several runtimes). With BLINDRELAY_DURATIONS_FILE set, each file's wall time in ms is
 * merged into that JSON table (scripts/test-durations.json orders the next runs: vitest-sequencer.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Reporter, SerializedError, TestModule } from 'vitest/node';

export default class TallyReporter implements Reporter {
  private tally = '';

  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    for (const m of modules) {
      let tests = 0;
      for (const t of m.children.allTests()) {
        tests++;
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (tests === 0 && m.state() === 'failed') failed++;
    }
    this.tally = `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
    const file = process.env.BLINDRELAY_TALLY_FILE;
    if (file) writeFileSync(file, JSON.stringify({ passed, failed, skipped }));
    const table = process.env.BLINDRELAY_DURATIONS_FILE;
    if (table) writeDurations(table, modules);
  }

  // The default reporter prints its summary after every reporter's onTestRunEnd; printing here,
  // in the last hook of the run, keeps the tally on the very last line.
  onFinished(): void {
    if (this.tally) process.stdout.write(`\n${this.tally}\n`);
  }
}

/** Merges each module's wall time (collect + setup + tests) into the JSON table at `path`, sorted by path. */
function writeDurations(path: string, modules: ReadonlyArray<TestModule>): void {
  let table: Record<string, number> = {};
  try {
    table = JSON.parse(readFileSync(path, 'utf8')) as Record<string, number>;
  } catch {}
  for (const m of modules) {
    const d = m.diagnostic();
    table[relative(m.project.config.root, m.moduleId)] = Math.round(d.collectDuration + d.setupDuration + d.duration);
  }
  const sorted = Object.fromEntries(Object.entries(table).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(path, `${JSON.stringify(sorted, null, 2)}\n`);
}
