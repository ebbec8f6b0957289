/**
 * The storage conformance suite against PostgreSQL, one fresh schema (`br_test_<random>`, dropped
 * afterwards) per test; plus what only a shared database has: several instances migrating at once
 * and claiming prekeys from the same device. Skips loudly without PostgreSQL, fails instead under
 * BLINDRELAY_REQUIRE_SERVICES=1 (see ./postgres-service.ts).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPostgresMigrations } from '../src/storage/postgres/migrate.js';
import { openPostgresStorage } from '../src/storage/postgres/postgres-storage.js';
import type { Storage } from '../src/storage/types.js';
import { DATABASE_URL, dropSchema, randomSchema, requirePostgres } from './postgres-service.js';
import { storageConformance } from './storage-conformance.js';

const available = await requirePostgres('storage-postgres');

describe.skipIf(!available)('storage conformance: PostgreSQL', () => {
  storageConformance(async () => {
    const schema = randomSchema();
    const storage = await openPostgresStorage({ connectionString: DATABASE_URL, schema, now: () => 0 });
    return { storage, cleanup: () => dropSchema(schema) };
  });
});

describe.skipIf(!available)('PostgreSQL storage: several instances on one database', () => {
  let schema: string;
  const opened: Storage[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await dropSchema(schema);
  });
  const open = async (now = 1000) => {
    const s = await openPostgresStorage({ connectionString: DATABASE_URL, schema, now: () => now, maxConnections: 4 });
    opened.push(s);
    return s;
  };
  const query = async <R extends pg.QueryResultRow>(sql: string): Promise<R[]> => {
    const c = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema}` });
    await c.connect();
    try {
      return (await c.query<R>(sql)).rows;
    } finally {
      await c.end();
    }
  };

  it('migrates once when several instances start at once, and records it', async () => {
    schema = randomSchema();
    await Promise.all([open(), open(), open(), open()]);
    const applied = await query('SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
    expect(applied).toEqual(loadPostgresMigrations().map((m) => ({ version: m.version, name: m.name, applied_at: '1000' })));
    expect(applied).toEqual(
      expect.arrayContaining([
        { version: 1, name: 'initial', applied_at: '1000' },
        { version: 7, name: 'prekeys_v2', applied_at: '1000' },
        { version: 8, name: 'master_key_rotation', applied_at: '1000' },
        { version: 9, name: 'backups', applied_at: '1000' },
        { version: 11, name: 'records', applied_at: '1000' },
      ]),
    );
    // A restart applies nothing new.
    await open(2000);
    expect(await query('SELECT count(*)::int AS n FROM schema_migrations')).toEqual([{ n: loadPostgresMigrations().length }]);
  });

  it('refuses a database from a newer schema', async () => {
    schema = randomSchema();
    await open();
    await query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 1)");
    await expect(open()).rejects.toThrow(/schema version 999/);
    opened.pop();
  });

  it('refuses a schema name it would have to quote', async () => {
    schema = randomSchema();
    await expect(openPostgresStorage({ connectionString: DATABASE_URL, schema: 'x"; DROP', now: () => 0 })).rejects.toThrow(/schema name/);
  });

  it('never hands one one-time prekey to two instances claiming concurrently', async () => {
    schema = randomSchema();
    const [a, b, c] = await Promise.all([open(), open(), open()]);
    if (!a || !b || !c) throw new Error('unreachable');
    const bytes = (n: number) => new Uint8Array(randomBytes(n));
    const ids = Array.from({ length: 60 }, (_, i) => i + 1);
    await a.accounts.create(
      {
        user: 'alice',
        masterKey: bytes(32),
        listVersion: 1,
        deviceList: bytes(50),
        device: { deviceId: 1, signingKey: bytes(32), identityKey: bytes(32) },
        prekeys: {
          signedPreKey: { id: 1, publicKey: bytes(32), signature: bytes(64) },
          oneTimePreKeys: ids.map((id) => ({ id, publicKey: bytes(32) })),
          pqPreKeys: ids.map((id) => ({ id, publicKey: bytes(1184), signature: bytes(64) })),
          lastResortPqPreKey: { id: 1000, publicKey: bytes(1184), signature: bytes(64) },
        },
        createdAt: 1,
      },
      { maxStoredOneTime: 100 },
    );
    const stores = [a, b, c];
    const claims = (await Promise.all(Array.from({ length: 75 }, (_, i) => (stores[i % 3] as Storage).prekeys.claim('alice', [1])))).flat();
    const otks = claims.flatMap((r) => (r.status === 'claimed' && r.oneTimePreKey ? [r.oneTimePreKey.id] : []));
    const pqs = claims.flatMap((r) => (r.status === 'claimed' && !r.pqPreKey.lastResort ? [r.pqPreKey.id] : []));
    expect(claims.every((r) => r.status === 'claimed')).toBe(true);
    expect(otks.sort((x, y) => x - y)).toEqual(ids);
    expect(pqs.sort((x, y) => x - y)).toEqual(ids);
  });

  it('stores bytes as BYTEA', async () => {
    schema = randomSchema();
    await open();
    const rows = await query<{ column_name: string }>(
      `SELECT table_name || '.' || column_name AS column_name FROM information_schema.columns
        WHERE table_schema = '${schema}' AND data_type = 'bytea' ORDER BY 1`,
    );
    expect(rows.map((r) => r.column_name)).toContain('auth_tokens.token_hash');
    expect(rows.map((r) => r.column_name)).toContain('messages.body');
    expect(rows.map((r) => r.column_name)).toContain('file_chunks.data');
  });
});
