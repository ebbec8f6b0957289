/**
 * Test files in the order that ends the run soonest on two workers: the longest first, by the
 * durations recorded in scripts/test-durations.json (a file → milliseconds map, refreshed with
 * `BLINDRELAY_DURATIONS_FILE=scripts/test-durations.json npx vitest run`, see tally-reporter.ts).
 *
 * Why: on a clean clone (CI) vitest has no cache of earlier runs and starts the largest files
 * first, so a short file that runs for minutes (a recall test over 100,000 records, a cluster fault
 * test) starts late and runs alone at the end while the other worker idles. Files not in the table
 * (new ones) go first, as vitest itself runs unknown files first.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const TABLE = new URL('./test-durations.json', import.meta.url);

function recorded(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(TABLE, 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const table = recorded();
    const root = this.ctx.config.root;
    const ms = (f: TestSpecification) => table[relative(root, f.moduleId)] ?? Number.POSITIVE_INFINITY;
    // Vitest's own order first (its cache, else the largest files first); a stable sort keeps it
    // among files of equal or unknown duration.
    return (await super.sort(files)).sort((a, b) => {
      const [x, y] = [ms(a), ms(b)];
      return x === y ? 0 : x > y ? -1 : 1;
    });
  }
}
