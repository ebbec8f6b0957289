/** The storage conformance suite against the embedded SQLite store, one temp directory per test. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import { openSqliteStorage } from '../src/storage/sqlite/sqlite-storage.js';
import { storageConformance } from './storage-conformance.js';

describe('storage conformance: SQLite', () => {
  storageConformance(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'blindrelay-conformance-'));
    return {
      storage: openSqliteStorage({ dataDir: join(dir, 'data'), now: () => 0 }),
      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});
