/**
 * Vitest reporter that ends the run with the tally line CI reads:
 * `N passed, N failed` (plus `, N skipped` when any were), counted from the runner's results.
 * A test file that fails to load and an unhandled error each count as one failure. With
 * BLINDRELAY_TALLY_FILE set, the counts are also written there as JSON (scripts/test.mjs adds up
 * the runs of several runtimes).
 */
import { writeFileSync } from 'node:fs';
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
  }

  // The default reporter prints its summary after every reporter's onTestRunEnd; printing here,
  // in the last hook of the run, keeps the tally on the very last line.
  onFinished(): void {
    if (this.tally) process.stdout.write(`\n${this.tally}\n`);
  }
}
