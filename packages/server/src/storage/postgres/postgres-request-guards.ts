/**
 * Signed-request nonces and send marks in PostgreSQL (docs/API.md §2a, §5a; migrations/004). Each
 * write is one transaction that first locks the device row (`FOR KEY SHARE`: a revocation waits,
 * and the signing key cannot change under us), then checks that the device still has the signing
 * key the caller verified against. Send marks lock their own row `FOR UPDATE`, so concurrent
 * raises for one device take turns and the compare-and-raise holds across relay instances.
 */
import type pg from 'pg';
import type { PgQueries } from '../../blobs/postgres-blob-store.js';
import type { RaiseSendMarkResult, RequestNonceRepository, SendMarkRecord, SendMarkRepository, UseNonceResult } from '../types.js';

type Db = pg.ClientBase;
type MarkRow = { mark: string; signature: Buffer; digest: Buffer };

const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b);
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;
const toRecord = (r: MarkRow): SendMarkRecord => ({ mark: Number(r.mark), signature: u8(r.signature), digest: u8(r.digest) });

/** True if the device is listed with this signing key; locks its row until the transaction ends. */
async function deviceHasKey(c: Db, user: string, deviceId: number, signingKey: Uint8Array): Promise<boolean> {
  const r = await c.query<{ signing_key: Buffer }>('SELECT signing_key FROM devices WHERE user_name = $1 AND device_id = $2 FOR KEY SHARE', [user, deviceId]);
  const key = r.rows[0]?.signing_key;
  return !!key && sameBytes(key, signingKey);
}

export class PostgresRequestNonces implements RequestNonceRepository {
  constructor(private readonly db: PgQueries) {}

  async use(user: string, deviceId: number, nonce: Uint8Array, expiresAt: number, signingKey: Uint8Array): Promise<UseNonceResult> {
    return this.db.tx(async (c): Promise<UseNonceResult> => {
      if (!(await deviceHasKey(c, user, deviceId, signingKey))) return 'unknown_device';
      const r = await c.query('INSERT INTO request_nonces (user_name, device_id, nonce, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
        user,
        deviceId,
        nonce,
        expiresAt,
      ]);
      return r.rowCount === 1 ? 'recorded' : 'replayed';
    });
  }
}

export class PostgresSendMarks implements SendMarkRepository {
  constructor(private readonly db: PgQueries) {}

  async get(user: string, deviceId: number): Promise<SendMarkRecord | undefined> {
    const r = await this.db.query<MarkRow>('SELECT mark, signature, digest FROM send_marks WHERE user_name = $1 AND device_id = $2', [user, deviceId]);
    const row = r.rows[0];
    return row ? toRecord(row) : undefined;
  }

  async raise(user: string, deviceId: number, record: SendMarkRecord, signingKey: Uint8Array): Promise<RaiseSendMarkResult> {
    return this.db.tx(async (c): Promise<RaiseSendMarkResult> => {
      if (!(await deviceHasKey(c, user, deviceId, signingKey))) return { status: 'unknown_device' };
      // A first mark: insert, or find the row a concurrent first raise inserted and compare with it.
      const inserted = await c.query(
        'INSERT INTO send_marks (user_name, device_id, mark, signature, digest) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
        [user, deviceId, record.mark, record.signature, record.digest],
      );
      if (inserted.rowCount === 1) return { status: 'raised' };
      const held = (
        await c.query<MarkRow>('SELECT mark, signature, digest FROM send_marks WHERE user_name = $1 AND device_id = $2 FOR UPDATE', [user, deviceId])
      ).rows[0] as MarkRow;
      const current = toRecord(held);
      if (record.mark < current.mark) return { status: 'stale', current };
      if (record.mark === current.mark) return sameBytes(current.digest, record.digest) ? { status: 'repeated' } : { status: 'stale', current };
      await c.query('UPDATE send_marks SET mark = $3, signature = $4, digest = $5 WHERE user_name = $1 AND device_id = $2', [
        user,
        deviceId,
        record.mark,
        record.signature,
        record.digest,
      ]);
      return { status: 'raised' };
    });
  }
}
