/**
 * Numbered SQL migrations (`migrations/NNN_name.sql`), applied in order inside one transaction at
 * start-up and recorded in `schema_migrations`. A database written by a newer server (a version
 * this build does not know) is refused rather than guessed at.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
const FILE_PATTERN = /^(\d{3})_([a-z0-9_]+)\.sql$/;

export function loadMigrations(dir: URL = MIGRATIONS_DIR): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = FILE_PATTERN.exec(file);
    if (!m) continue;
    out.push({ version: Number(m[1]), name: m[2] as string, sql: readFileSync(new URL(file, dir), 'utf8') });
  }
  // Numbers only grow and never repeat. Gaps are allowed: numbers are reserved per feature branch
  // (008-010 and 011 were taken in parallel), and a database records each version it applied.
  out.forEach((mig, i) => {
    const previous = out[i - 1];
    if (mig.version < 1 || (previous && mig.version <= previous.version))
      throw new Error(`migration numbers must be unique and ascending (found ${mig.version} at position ${i + 1})`);
  });
  return out;
}

/** Applies pending migrations; returns the versions applied now. */
export function migrate(db: DatabaseSync, now: number, migrations: readonly Migration[] = loadMigrations()): number[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  const known = new Set(migrations.map((m) => m.version));
  for (const v of applied) {
    if (!known.has(v)) throw new Error(`the database has schema version ${v}, unknown to this server; refusing to start (was it written by a newer release?)`);
  }
  const pending = migrations.filter((m) => !applied.has(m.version));
  if (pending.length === 0) return [];
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  db.exec('BEGIN IMMEDIATE');
  try {
    for (const m of pending) {
      db.exec(m.sql);
      record.run(m.version, m.name, now);
    }
    db.exec('COMMIT');
  } catch (err) {
    // A failed statement may already have ended the transaction (SQLite rolls back on some errors).
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
  return pending.map((m) => m.version);
}
