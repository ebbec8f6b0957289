/**
 * The PostgreSQL service for tests: is it reachable, and a fresh schema per test.
 *
 * BLINDRELAY_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) names it. Without
 * it reachable the PostgreSQL suites skip with a loud banner, unless BLINDRELAY_REQUIRE_SERVICES=1
 * (CI), where they fail (DEVELOPERS.md, "Tests that need outside things").
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, it } from 'vitest';

export const DATABASE_URL = process.env.BLINDRELAY_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
export const REQUIRED = process.env.BLINDRELAY_REQUIRE_SERVICES === '1';

/** Undefined when reachable, else why not (connect + `SELECT 1` within 2 s). */
export async function postgresUnreachable(url = DATABASE_URL): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000, query_timeout: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message || String(err) : String(err);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Checks reachability once; prints the banner (skip) or registers a failing test (required).
 * Returns true when the PostgreSQL tests should run.
 */
export async function requirePostgres(what: string): Promise<boolean> {
  const why = await postgresUnreachable();
  if (!why) return true;
  const where = DATABASE_URL.replace(/\/\/[^@/]*@/, '//');
  if (REQUIRED) {
    describe(`${what} (required by BLINDRELAY_REQUIRE_SERVICES=1)`, () => {
      it('needs PostgreSQL', () => {
        throw new Error(`PostgreSQL tests are required (BLINDRELAY_REQUIRE_SERVICES=1) but ${where} is unreachable: ${why}`);
      });
    });
  } else {
    const bar = '!'.repeat(100);
    console.warn(
      `\n${bar}\n!!! POSTGRESQL TESTS SKIPPED (${what}): ${where} is unreachable: ${why}\n` +
        '!!! The PostgreSQL storage did NOT get tested. Start PostgreSQL or set BLINDRELAY_TEST_DATABASE_URL;\n' +
        '!!! set BLINDRELAY_REQUIRE_SERVICES=1 to make this a failure.\n' +
        `${bar}\n`,
    );
  }
  return false;
}

export const randomSchema = () => `br_test_${randomBytes(6).toString('hex')}`;

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string, url = DATABASE_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
