/**
 * Numbered SQL migrations for PostgreSQL (`migrations/NNN_name.sql`, the same naming rule as the
 * SQLite ones), applied at start-up in ONE transaction and recorded in `schema_migrations`.
 *
 * Several relay instances may start at once against the same database: the transaction first
 * takes `pg_advisory_xact_lock(MIGRATION_LOCK)`, so one instance migrates while the others wait,
 * then find nothing left to do. The lock is released by COMMIT or ROLLBACK, never leaked. A
 * database written by a newer server (a version this build does not know) is refused.
 */
import type pg from 'pg';
import { loadMigrations, type Migration } from '../sqlite/migrate.js';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

/** An arbitrary constant, shared by every Blindrelay instance: "blindrelay migrations". */
export const MIGRATION_LOCK = 0x626c_696e_6472_6d67n;

export function loadPostgresMigrations(): Migration[] {
  return loadMigrations(MIGRATIONS_DIR);
}

/** Quotes an identifier already checked against SCHEMA_PATTERN. */
export const quoteIdent = (name: string) => `"${name}"`;

/**
 * Applies pending migrations on `client` (one connection, not a pool); returns the versions
 * applied now. `schema`: create it first if absent (the connection's search_path names it).
 */
export async function migratePostgres(
  client: pg.ClientBase,
  now: number,
  schema?: string,
  migrations: readonly Migration[] = loadPostgresMigrations(),
): Promise<number[]> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
    if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const known = new Set(migrations.map((m) => m.version));
    for (const v of applied) {
      if (!known.has(v))
        throw new Error(`the database has schema version ${v}, unknown to this server; refusing to start (was it written by a newer release?)`);
    }
    const pending = migrations.filter((m) => !applied.has(m.version));
    for (const m of pending) {
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now]);
    }
    await client.query('COMMIT');
    return pending.map((m) => m.version);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
