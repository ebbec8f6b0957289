/** The SQLite store: layout, permissions, migrations, hashed secrets, revocation cascade. */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStorage } from '../src/index.js';
import { loadMigrations } from '../src/storage/sqlite/migrate.js';
import { account, b64, login, newDevice, nextList, prekeyJson, sendMessage, startTestServer, type TestServer, unb64 } from './helpers.js';

describe('SQLite storage', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'blindrelay-storage-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates relay.db (WAL) and blobs/ with owner-only permissions, and records migrations', async () => {
    const dataDir = join(dir, 'data');
    const s = openSqliteStorage({ dataDir, now: () => 1000 });
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'blobs')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'relay.db')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'relay.db-wal')).mode & 0o777).toBe(0o600);
    const db = new DatabaseSync(join(dataDir, 'relay.db'), { readOnly: true });
    expect(db.prepare('PRAGMA journal_mode').get()?.journal_mode).toBe('wal');
    // Per connection, so asked of the store's own: savepoint journals in memory (2), not in a file.
    const own = (s as unknown as { db: DatabaseSync }).db;
    expect(own.prepare('PRAGMA temp_store').get()?.temp_store).toBe(2);
    expect(own.prepare('PRAGMA synchronous').get()?.synchronous).toBe(2);
    // Every migration this build ships, in order (numbers may have gaps: features reserve theirs).
    const applied = db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all();
    expect(applied).toEqual(loadMigrations().map((m) => ({ version: m.version, name: m.name, applied_at: 1000 })));
    expect(applied).toEqual(
      expect.arrayContaining([
        { version: 1, name: 'initial', applied_at: 1000 },
        { version: 7, name: 'prekeys_v2', applied_at: 1000 },
        { version: 8, name: 'master_key_rotation', applied_at: 1000 },
        { version: 9, name: 'backups', applied_at: 1000 },
        { version: 11, name: 'records', applied_at: 1000 },
      ]),
    );
    db.close();
    await s.close();
    // Closing checkpoints the WAL back into the main file.
    expect(!existsSync(join(dataDir, 'relay.db-wal')) || statSync(join(dataDir, 'relay.db-wal')).size === 0).toBe(true);
    // Reopening applies nothing new.
    const again = openSqliteStorage({ dataDir, now: () => 2000 });
    await again.close();
    const db2 = new DatabaseSync(join(dataDir, 'relay.db'), { readOnly: true });
    expect(db2.prepare('SELECT count(*) AS n FROM schema_migrations').get()).toEqual({ n: loadMigrations().length });
    db2.close();
  });

  it('refuses a database from a newer schema', async () => {
    const dataDir = join(dir, 'data');
    await openSqliteStorage({ dataDir, now: () => 1 }).close();
    const db = new DatabaseSync(join(dataDir, 'relay.db'));
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 1)").run();
    db.close();
    expect(() => openSqliteStorage({ dataDir, now: () => 1 })).toThrow(/schema version 999/);
  });

  it('runs every statement as prepared: none is re-prepared each time it runs', async () => {
    // Every statement the store prepares, by its SQL.
    const sqls = new Set<string>();
    const prepare = DatabaseSync.prototype.prepare;
    DatabaseSync.prototype.prepare = function (this: DatabaseSync, sql: string) {
      sqls.add(sql);
      return prepare.call(this, sql);
    } as typeof prepare;
    const dataDir = join(dir, 'data');
    try {
      await openSqliteStorage({ dataDir, now: () => 1 }).close();
    } finally {
      DatabaseSync.prototype.prepare = prepare;
    }
    expect(sqls.size).toBeGreaterThan(60);
    // SQLite calls the authorizer only while compiling, so a statement that calls it again when it
    // runs again was re-prepared. Each runs on a second connection in a transaction rolled back.
    const db = new DatabaseSync(join(dataDir, 'relay.db'));
    let compiled = 0;
    db.setAuthorizer(() => {
      compiled++;
      return constants.SQLITE_OK;
    });
    const reprepared = (sql: string) => {
      const statement = db.prepare(sql);
      const named = [...sql.matchAll(/@(\w+)/g)].map((m) => [m[1] as string, null]);
      const args = named.length > 0 ? [Object.fromEntries(named)] : Array.from(sql.matchAll(/\?/g), () => null);
      const run = () => {
        try {
          statement.all(...args);
        } catch {
          // NULLs break constraints; the statement ran as compiled all the same.
        }
      };
      db.exec('BEGIN');
      run();
      compiled = 0;
      run();
      run();
      const n = compiled;
      db.exec('ROLLBACK');
      return n > 0;
    };
    try {
      // The check can fail: a sorting statement with `= ?` is re-prepared by this Node's SQLite.
      // (If this expectation fails, node:sqlite or SQLite changed, and `= +?` may no longer be needed.)
      expect(reprepared('SELECT device_id FROM devices WHERE user = ? ORDER BY device_id')).toBe(true);
      const transactions = /^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA)\b/;
      expect([...sqls].filter((sql) => !transactions.test(sql) && reprepared(sql))).toEqual([]);
    } finally {
      db.close();
    }
  });
});

describe('what the database holds', () => {
  let t: TestServer;
  beforeEach(async () => {
    t = await startTestServer();
  });
  afterEach(async () => {
    await t.close();
  });

  const dump = (db: DatabaseSync) => {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    const blobs: Buffer[] = [];
    for (const table of tables) {
      for (const row of db.prepare(`SELECT * FROM "${table}"`).all() as Record<string, unknown>[]) {
        for (const v of Object.values(row)) {
          if (v instanceof Uint8Array) blobs.push(Buffer.from(v));
          else if (typeof v === 'string') blobs.push(Buffer.from(v));
        }
      }
    }
    return Buffer.concat(blobs);
  };

  it('stores SHA-256 of tokens, challenges and channel ids, never the values', async () => {
    const alice = await account(t.api, 'alice');
    const c = await t.api.req('POST', '/v1/auth/challenge', { body: { user: 'alice', deviceId: alice.d.keys.deviceId } });
    const ch = await t.api.req('POST', '/v1/provisioning');
    const db = new DatabaseSync(join(t.dataDir, 'relay.db'), { readOnly: true });
    try {
      const all = dump(db);
      for (const secret of [unb64(alice.token), unb64(c.body.challenge), unb64(ch.body.channelId)]) {
        expect(all.includes(Buffer.from(secret))).toBe(false);
        expect(all.includes(Buffer.from(b64(secret)))).toBe(false);
        expect(all.includes(createHash('sha256').update(secret).digest())).toBe(true);
      }
    } finally {
      db.close();
    }
  });

  it('revocation deletes every row of the device in one go', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const d2 = await newDevice();
    await t.api.req('PUT', '/v1/users/bob/device-list', {
      body: { deviceList: b64(await nextList(bob.u, [bob.d, d2])), newDevice: { deviceId: d2.keys.deviceId, prekeys: prekeyJson(d2) } },
    });
    await login(t.api, bob.u, d2);
    await t.api.req('POST', '/v1/auth/challenge', { body: { user: 'bob', deviceId: d2.keys.deviceId } });
    await sendMessage(t.api, alice.token, 'bob', [
      { deviceId: bob.d.keys.deviceId, body: new Uint8Array([1]) },
      { deviceId: d2.keys.deviceId, body: new Uint8Array([2]) },
    ]);
    const tables = ['devices', 'signed_prekeys', 'one_time_prekeys', 'pq_prekeys', 'pq_last_resort_prekeys', 'messages', 'auth_challenges', 'auth_tokens'];
    const count = () => {
      const db = new DatabaseSync(join(t.dataDir, 'relay.db'), { readOnly: true });
      try {
        return Object.fromEntries(
          tables.map((tb) => [
            tb,
            (db.prepare(`SELECT count(*) AS n FROM ${tb} WHERE user = 'bob' AND device_id = ?`).get(d2.keys.deviceId) as { n: number }).n,
          ]),
        );
      } finally {
        db.close();
      }
    };
    expect(Object.values(count()).every((n) => n > 0)).toBe(true);
    await t.api.req('PUT', '/v1/users/bob/device-list', { body: { deviceList: b64(await nextList(bob.u, [bob.d])) } });
    expect(Object.values(count()).every((n) => n === 0)).toBe(true);
  });
});

describe('migration numbering', () => {
  it('accepts ascending numbers with gaps (parts of a release reserve theirs), refuses repeats', () => {
    const dir = mkdtempSync(join(tmpdir(), 'br-migrations-'));
    try {
      writeFileSync(join(dir, '001_first.sql'), 'CREATE TABLE a (x INTEGER) STRICT;');
      writeFileSync(join(dir, '009_later.sql'), 'CREATE TABLE b (x INTEGER) STRICT;');
      writeFileSync(join(dir, 'README'), 'not a migration');
      const url = pathToFileURL(`${dir}/`);
      expect(loadMigrations(url).map((m) => [m.version, m.name])).toEqual([
        [1, 'first'],
        [9, 'later'],
      ]);
      writeFileSync(join(dir, '009_again.sql'), 'SELECT 1;');
      expect(() => loadMigrations(url)).toThrow(/ascending order without repeats/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
