/**
 * Encrypted key backups in PostgreSQL (docs/API.md §9; migrations/009). Each write is one
 * transaction that locks the user's backup row (`FOR UPDATE`), so the generation compare-and-set
 * and the failed-attempt count hold across every relay instance of a cluster.
 */
import type pg from 'pg';
import type { PgQueries } from '../../blobs/postgres-blob-store.js';
import type { BackupAccess, BackupRecord, BackupRepository, PutBackupResult, StartLoginResult } from '../types.js';

type Row = {
  user_name: string;
  kind: number;
  blob: Buffer;
  wrapped_key: Buffer;
  code_hash: Buffer | null;
  opaque_record: string | null;
  generation: string;
  failed_attempts: number;
  updated_at: string;
};

const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b);

function fromRow(r: Row): BackupRecord {
  const access: BackupAccess =
    Number(r.kind) === 1
      ? { kind: 1, wrappedKey: u8(r.wrapped_key), codeHash: u8(r.code_hash as Buffer) }
      : { kind: 2, wrappedKey: u8(r.wrapped_key), opaqueRecord: r.opaque_record as string };
  return {
    user: r.user_name,
    access,
    blob: u8(r.blob),
    generation: Number(r.generation),
    failedAttempts: Number(r.failed_attempts),
    updatedAt: Number(r.updated_at),
  };
}

async function lockedGeneration(c: pg.ClientBase, user: string): Promise<number | undefined> {
  const r = await c.query<{ generation: string }>('SELECT generation FROM backups WHERE user_name = $1 FOR UPDATE', [user]);
  const g = r.rows[0]?.generation;
  return g === undefined ? undefined : Number(g);
}

export class PostgresBackups implements BackupRepository {
  constructor(private readonly db: PgQueries) {}

  async serverSetup(candidate: string): Promise<string> {
    const held = await this.db.query<{ setup: string }>('SELECT setup FROM backup_server WHERE id = 1');
    if (held.rows[0]) return held.rows[0].setup;
    return this.db.tx(async (c) => {
      await c.query('INSERT INTO backup_server (id, setup) VALUES (1, $1) ON CONFLICT DO NOTHING', [candidate]);
      return (await c.query<{ setup: string }>('SELECT setup FROM backup_server WHERE id = 1')).rows[0]?.setup as string;
    });
  }

  async get(user: string): Promise<BackupRecord | undefined> {
    const r = await this.db.query<Row>('SELECT * FROM backups WHERE user_name = $1', [user]);
    return r.rows[0] ? fromRow(r.rows[0]) : undefined;
  }

  async put(user: string, access: BackupAccess, blob: Uint8Array, now: number, expectedGeneration?: number): Promise<PutBackupResult> {
    return this.db.tx(async (c): Promise<PutBackupResult> => {
      // The account row first (KEY SHARE: an account deletion waits), then the backup row.
      const account = await c.query('SELECT 1 FROM accounts WHERE user_name = $1 FOR KEY SHARE', [user]);
      if (account.rowCount !== 1) return { status: 'not_found' };
      const held = await lockedGeneration(c, user);
      if (expectedGeneration !== undefined && (held ?? 0) !== expectedGeneration) return { status: 'stale', generation: held ?? 0 };
      const r = await c.query<{ generation: string }>(
        `INSERT INTO backups (user_name, kind, blob, wrapped_key, code_hash, opaque_record, generation, failed_attempts, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, 1, 0, $7)
           ON CONFLICT (user_name) DO UPDATE SET kind = excluded.kind, blob = excluded.blob, wrapped_key = excluded.wrapped_key,
             code_hash = excluded.code_hash, opaque_record = excluded.opaque_record, generation = backups.generation + 1,
             failed_attempts = 0, updated_at = excluded.updated_at
           RETURNING generation`,
        [user, access.kind, blob, access.wrappedKey, access.kind === 1 ? access.codeHash : null, access.kind === 2 ? access.opaqueRecord : null, now],
      );
      await c.query('DELETE FROM backup_logins WHERE user_name = $1', [user]);
      return { status: 'stored', generation: Number(r.rows[0]?.generation) };
    });
  }

  async replaceBlob(user: string, blob: Uint8Array, expectedGeneration: number, now: number): Promise<PutBackupResult> {
    const r = await this.db.query<{ generation: string }>(
      'UPDATE backups SET blob = $1, generation = generation + 1, updated_at = $2 WHERE user_name = $3 AND generation = $4 RETURNING generation',
      [blob, now, user, expectedGeneration],
    );
    if (r.rowCount === 1) return { status: 'stored', generation: Number(r.rows[0]?.generation) };
    const held = await this.db.query<{ generation: string }>('SELECT generation FROM backups WHERE user_name = $1', [user]);
    const g = held.rows[0]?.generation;
    return g === undefined ? { status: 'not_found' } : { status: 'stale', generation: Number(g) };
  }

  async startLogin(user: string, loginHash: Uint8Array, state: string, expiresAt: number, maxAttempts: number, now: number): Promise<StartLoginResult> {
    return this.db.tx(async (c): Promise<StartLoginResult> => {
      if ((await lockedGeneration(c, user)) === undefined) return { status: 'not_found' };
      const counted = await c.query('UPDATE backups SET failed_attempts = failed_attempts + 1 WHERE user_name = $1 AND failed_attempts < $2', [
        user,
        maxAttempts,
      ]);
      if (counted.rowCount !== 1) return { status: 'locked' };
      await c.query('DELETE FROM backup_logins WHERE user_name = $1 AND expires_at <= $2', [user, now]);
      await c.query('INSERT INTO backup_logins (login_hash, user_name, state, expires_at) VALUES ($1, $2, $3, $4)', [loginHash, user, state, expiresAt]);
      return { status: 'started' };
    });
  }

  async takeLogin(user: string, loginHash: Uint8Array, now: number): Promise<string | undefined> {
    const r = await this.db.query<{ state: string; expires_at: string }>(
      'DELETE FROM backup_logins WHERE login_hash = $1 AND user_name = $2 RETURNING state, expires_at',
      [loginHash, user],
    );
    const row = r.rows[0];
    return row && Number(row.expires_at) > now ? row.state : undefined;
  }

  async loginSucceeded(user: string): Promise<void> {
    await this.db.query('UPDATE backups SET failed_attempts = 0 WHERE user_name = $1', [user]);
  }
}
