/**
 * Signed-request nonces and send marks in SQLite (docs/API.md §2a, §5a; migrations/005). Writes go
 * through group commit; the device check (still listed, with the signing key the caller verified
 * against) is made inside each write's closure. `= +?`: see sqlite-storage.ts.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { RaiseSendMarkResult, RequestNonceRepository, SendMarkRecord, SendMarkRepository, UseNonceResult } from '../types.js';
import type { GroupCommit } from './group-commit.js';
import { Pluck } from './pluck.js';

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

export class SqliteRequestNonces implements RequestNonceRepository {
  private readonly s;
  constructor(
    db: DatabaseSync,
    private readonly w: GroupCommit,
  ) {
    this.s = {
      signingKey: new Pluck<Uint8Array>(db, 'SELECT signing_key FROM devices WHERE user = ? AND device_id = ?'),
      insert: db.prepare('INSERT INTO request_nonces (user, device_id, nonce, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
    };
  }

  async use(user: string, deviceId: number, nonce: Uint8Array, expiresAt: number, signingKey: Uint8Array): Promise<UseNonceResult> {
    return this.w.run((): UseNonceResult => {
      const key = this.s.signingKey.get(user, deviceId);
      if (!key || !sameBytes(key, signingKey)) return 'unknown_device';
      return this.s.insert.run(user, deviceId, nonce, expiresAt).changes === 1 ? 'recorded' : 'replayed';
    });
  }
}

type MarkRow = { mark: number; signature: Uint8Array; digest: Uint8Array };
const toRecord = (r: MarkRow): SendMarkRecord => ({ mark: r.mark, signature: r.signature, digest: r.digest });

export class SqliteSendMarks implements SendMarkRepository {
  private readonly s;
  constructor(
    db: DatabaseSync,
    private readonly w: GroupCommit,
  ) {
    this.s = {
      signingKey: new Pluck<Uint8Array>(db, 'SELECT signing_key FROM devices WHERE user = ? AND device_id = ?'),
      get: db.prepare('SELECT mark, signature, digest FROM send_marks WHERE user = ? AND device_id = ?'),
      upsert: db.prepare(
        `INSERT INTO send_marks (user, device_id, mark, signature, digest) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (user, device_id) DO UPDATE SET mark = excluded.mark, signature = excluded.signature, digest = excluded.digest`,
      ),
    };
  }

  async get(user: string, deviceId: number): Promise<SendMarkRecord | undefined> {
    const row = this.s.get.get(user, deviceId) as MarkRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  async raise(user: string, deviceId: number, record: SendMarkRecord, signingKey: Uint8Array): Promise<RaiseSendMarkResult> {
    return this.w.run((): RaiseSendMarkResult => {
      const key = this.s.signingKey.get(user, deviceId);
      if (!key || !sameBytes(key, signingKey)) return { status: 'unknown_device' };
      const row = this.s.get.get(user, deviceId) as MarkRow | undefined;
      if (row && record.mark < row.mark) return { status: 'stale', current: toRecord(row) };
      if (row && record.mark === row.mark) return sameBytes(row.digest, record.digest) ? { status: 'repeated' } : { status: 'stale', current: toRecord(row) };
      this.s.upsert.run(user, deviceId, record.mark, record.signature, record.digest);
      return { status: 'raised' };
    });
  }
}
