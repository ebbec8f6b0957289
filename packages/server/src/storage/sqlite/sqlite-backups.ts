/**
 * Encrypted key backups in SQLite (docs/API.md §9; migrations/009). Writes go through group
 * commit; each method's checks (generation, attempt count, expiry) are made inside its closure.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { BackupAccess, BackupRecord, BackupRepository, PutBackupResult, StartLoginResult } from '../types.js';
import type { GroupCommit } from './group-commit.js';
import { Pluck } from './pluck.js';

type Row = {
  user: string;
  kind: number;
  blob: Uint8Array;
  wrapped_key: Uint8Array;
  code_hash: Uint8Array | null;
  opaque_record: string | null;
  generation: number;
  failed_attempts: number;
  updated_at: number;
};

const plain = (b: Uint8Array): Uint8Array => new Uint8Array(b);

export function backupFromRow(r: Row): BackupRecord {
  const access: BackupAccess =
    r.kind === 1
      ? { kind: 1, wrappedKey: plain(r.wrapped_key), codeHash: plain(r.code_hash as Uint8Array) }
      : { kind: 2, wrappedKey: plain(r.wrapped_key), opaqueRecord: r.opaque_record as string };
  return {
    user: r.user,
    access,
    blob: plain(r.blob),
    generation: Number(r.generation),
    failedAttempts: Number(r.failed_attempts),
    updatedAt: Number(r.updated_at),
  };
}

export class SqliteBackups implements BackupRepository {
  private readonly s;
  constructor(
    db: DatabaseSync,
    private readonly w: GroupCommit,
  ) {
    this.s = {
      setup: new Pluck<string>(db, 'SELECT setup FROM backup_server WHERE id = 1'),
      insertSetup: db.prepare('INSERT INTO backup_server (id, setup) VALUES (1, ?) ON CONFLICT DO NOTHING'),
      account: new Pluck<string>(db, 'SELECT user FROM accounts WHERE user = ?'),
      get: db.prepare('SELECT * FROM backups WHERE user = ?'),
      generation: new Pluck<number>(db, 'SELECT generation FROM backups WHERE user = ?'),
      upsert: db.prepare(
        `INSERT INTO backups (user, kind, blob, wrapped_key, code_hash, opaque_record, generation, failed_attempts, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, 1, 0, ?)
           ON CONFLICT (user) DO UPDATE SET kind = excluded.kind, blob = excluded.blob, wrapped_key = excluded.wrapped_key,
             code_hash = excluded.code_hash, opaque_record = excluded.opaque_record, generation = backups.generation + 1,
             failed_attempts = 0, updated_at = excluded.updated_at`,
      ),
      replaceBlob: db.prepare('UPDATE backups SET blob = ?, generation = generation + 1, updated_at = ? WHERE user = ? AND generation = ?'),
      dropLogins: db.prepare('DELETE FROM backup_logins WHERE user = ?'),
      dropExpired: db.prepare('DELETE FROM backup_logins WHERE user = ? AND expires_at <= ?'),
      count: db.prepare('UPDATE backups SET failed_attempts = failed_attempts + 1 WHERE user = ? AND failed_attempts < ?'),
      insertLogin: db.prepare('INSERT INTO backup_logins (login_hash, user, state, expires_at) VALUES (?, ?, ?, ?)'),
      login: db.prepare('SELECT state, expires_at FROM backup_logins WHERE login_hash = ? AND user = ?'),
      dropLogin: db.prepare('DELETE FROM backup_logins WHERE login_hash = ?'),
      reset: db.prepare('UPDATE backups SET failed_attempts = 0 WHERE user = ?'),
    };
  }

  async serverSetup(candidate: string): Promise<string> {
    const held = this.s.setup.get();
    if (held !== undefined) return held;
    return this.w.run(() => {
      this.s.insertSetup.run(candidate);
      return this.s.setup.get() as string;
    });
  }

  async get(user: string): Promise<BackupRecord | undefined> {
    const row = this.s.get.get(user) as Row | undefined;
    return row ? backupFromRow(row) : undefined;
  }

  async put(user: string, access: BackupAccess, blob: Uint8Array, now: number, expectedGeneration?: number): Promise<PutBackupResult> {
    return this.w.run((): PutBackupResult => {
      if (this.s.account.get(user) === undefined) return { status: 'not_found' };
      const held = this.s.generation.get(user);
      if (expectedGeneration !== undefined && (held ?? 0) !== expectedGeneration) return { status: 'stale', generation: held ?? 0 };
      this.s.upsert.run(
        user,
        access.kind,
        blob,
        access.wrappedKey,
        access.kind === 1 ? access.codeHash : null,
        access.kind === 2 ? access.opaqueRecord : null,
        now,
      );
      this.s.dropLogins.run(user);
      return { status: 'stored', generation: this.s.generation.get(user) as number };
    }, blob.length);
  }

  async replaceBlob(user: string, blob: Uint8Array, expectedGeneration: number, now: number): Promise<PutBackupResult> {
    return this.w.run((): PutBackupResult => {
      if (this.s.replaceBlob.run(blob, now, user, expectedGeneration).changes === 1) return { status: 'stored', generation: expectedGeneration + 1 };
      const held = this.s.generation.get(user);
      return held === undefined ? { status: 'not_found' } : { status: 'stale', generation: held };
    }, blob.length);
  }

  async startLogin(user: string, loginHash: Uint8Array, state: string, expiresAt: number, maxAttempts: number, now: number): Promise<StartLoginResult> {
    return this.w.run((): StartLoginResult => {
      if (this.s.generation.get(user) === undefined) return { status: 'not_found' };
      if (this.s.count.run(user, maxAttempts).changes !== 1) return { status: 'locked' };
      this.s.dropExpired.run(user, now);
      this.s.insertLogin.run(loginHash, user, state, expiresAt);
      return { status: 'started' };
    });
  }

  async takeLogin(user: string, loginHash: Uint8Array, now: number): Promise<string | undefined> {
    return this.w.run(() => {
      const row = this.s.login.get(loginHash, user) as { state: string; expires_at: number } | undefined;
      if (!row) return undefined;
      this.s.dropLogin.run(loginHash);
      return row.expires_at > now ? row.state : undefined;
    });
  }

  async loginSucceeded(user: string): Promise<void> {
    await this.w.run(() => {
      this.s.reset.run(user);
    });
  }
}
