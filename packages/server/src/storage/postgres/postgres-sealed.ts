/** PostgreSQL storage of sealed sends (../sealed-types.ts; migration 012). */
import type pg from 'pg';
import {
  type DeliveryTokenUpdate,
  SEALED_FROM_DEVICE,
  SEALED_FROM_USER,
  type SealedEnqueue,
  type SealedEnqueueResult,
  type SealedRepository,
} from '../sealed-types.js';

export interface PgSealedQueries {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[], name?: string): Promise<pg.QueryResult<R>>;
  tx<T>(f: (c: pg.ClientBase) => Promise<T>): Promise<T>;
}

const num = (v: string | number) => Number(v);
const VALID_SQL = `SELECT d FROM unnest($2::bigint[], $3::bytea[]) AS t(d, v)
  WHERE NOT EXISTS (SELECT 1 FROM delivery_tokens k WHERE k.user_name = $1 AND k.device_id = t.d AND k.verifier = t.v
                     AND (k.expires_at IS NULL OR k.expires_at > $4))`;

export class PostgresSealed implements SealedRepository {
  constructor(private readonly db: PgSealedQueries) {}

  async setToken(u: DeliveryTokenUpdate): Promise<boolean> {
    return this.db.tx(async (c) => {
      const dev = await c.query<{ signing_key: Buffer }>('SELECT signing_key FROM devices WHERE user_name = $1 AND device_id = $2 FOR NO KEY UPDATE', [
        u.user,
        u.deviceId,
      ]);
      const key = dev.rows[0]?.signing_key;
      if (!key || Buffer.compare(key, u.signingKey) !== 0) return false;
      if (u.previousValidUntil === undefined) {
        await c.query('DELETE FROM delivery_tokens WHERE user_name = $1 AND device_id = $2 AND verifier <> $3', [u.user, u.deviceId, u.verifier]);
      } else {
        await c.query(
          'UPDATE delivery_tokens SET expires_at = LEAST(coalesce(expires_at, $1), $1) WHERE user_name = $2 AND device_id = $3 AND verifier <> $4',
          [u.previousValidUntil, u.user, u.deviceId, u.verifier],
        );
      }
      await c.query(
        `INSERT INTO delivery_tokens (user_name, device_id, verifier, created_at, expires_at) VALUES ($1, $2, $3, $4, NULL)
         ON CONFLICT (user_name, device_id, verifier) DO UPDATE SET expires_at = NULL`,
        [u.user, u.deviceId, u.verifier, u.createdAt],
      );
      await c.query(
        `DELETE FROM delivery_tokens WHERE (user_name, device_id, verifier) IN
           (SELECT user_name, device_id, verifier FROM delivery_tokens WHERE user_name = $1 AND device_id = $2 AND expires_at IS NOT NULL
             ORDER BY created_at DESC OFFSET $3)`,
        [u.user, u.deviceId, Math.max(0, u.maxPerDevice - 1)],
      );
      return true;
    });
  }

  async invalidTokens(user: string, checks: readonly { deviceId: number; verifier: Uint8Array }[], now: number): Promise<number[]> {
    if (checks.length === 0) return [];
    const r = await this.db.query<{ d: string }>(VALID_SQL, [user, checks.map((c) => c.deviceId), checks.map((c) => c.verifier), now]);
    return r.rows.map((row) => num(row.d));
  }

  /** One transaction per item, in order (each locks its recipient's list and queues in device order). */
  async enqueueSealedMany(qs: readonly SealedEnqueue[]): Promise<SealedEnqueueResult[]> {
    const out: SealedEnqueueResult[] = [];
    for (const q of qs) out.push(await this.enqueueSealed(q));
    return out;
  }

  async enqueueSealed(q: SealedEnqueue): Promise<SealedEnqueueResult> {
    const ids = [...new Set(q.messages.map((m) => m.deviceId))].sort((a, b) => a - b);
    return this.db.tx(async (c): Promise<SealedEnqueueResult> => {
      // SHARE: the list cannot change (replaceDeviceList takes FOR UPDATE) until this commits.
      const v = (await c.query<{ list_version: string }>('SELECT list_version FROM accounts WHERE user_name = $1 FOR SHARE', [q.to])).rows[0];
      if (!v || num(v.list_version) !== q.expectedListVersion) return { status: 'stale_list' };
      const bad = await c.query<{ d: string }>(VALID_SQL, [q.to, q.messages.map((m) => m.deviceId), q.messages.map((m) => m.verifier), q.now]);
      if (bad.rows.length > 0) return { status: 'bad_token', deviceIds: bad.rows.map((r) => num(r.d)) };
      await c.query(
        `INSERT INTO queue_sizes (user_name, device_id, queued) SELECT $1, d, 0 FROM unnest($2::bigint[]) AS t(d)
         ON CONFLICT (user_name, device_id) DO NOTHING`,
        [q.to, ids],
      );
      // Locked in device order (no deadlock between two senders); held until commit. Also
      // serialises two copies of one envelope: the second sees the first's digest.
      const sizes = await c.query<{ device_id: string; queued: string }>(
        'SELECT device_id, queued FROM queue_sizes WHERE user_name = $1 AND device_id = ANY($2::bigint[]) ORDER BY device_id FOR UPDATE',
        [q.to, ids],
      );
      const seen = await c.query<{ device_id: string }>(
        `SELECT s.device_id FROM sealed_digests s JOIN unnest($2::bigint[], $3::bytea[]) AS t(d, g) ON s.device_id = t.d AND s.digest = t.g
          WHERE s.user_name = $1 AND s.expires_at > $4`,
        [q.to, q.messages.map((m) => m.deviceId), q.messages.map((m) => m.digest), q.now],
      );
      if (seen.rows.length > 0) return { status: 'replayed', deviceIds: seen.rows.map((r) => num(r.device_id)) };
      const queued = new Map(sizes.rows.map((r) => [num(r.device_id), num(r.queued)]));
      const full = q.messages.filter((m) => (queued.get(m.deviceId) ?? 0) >= q.maxQueued).map((m) => m.deviceId);
      if (full.length > 0) return { status: 'queue_full', deviceIds: full };
      await c.query(
        `INSERT INTO messages (id, user_name, device_id, from_user, from_device, body, sent_at)
         SELECT i, $1, d, $2, $3, b, $4 FROM unnest($5::bytea[], $6::bigint[], $7::bytea[]) WITH ORDINALITY AS t(i, d, b, n) ORDER BY n`,
        [q.to, SEALED_FROM_USER, SEALED_FROM_DEVICE, q.sentAt, q.messages.map((m) => m.id), q.messages.map((m) => m.deviceId), q.messages.map((m) => m.body)],
      );
      await c.query(
        `INSERT INTO sealed_digests (user_name, device_id, digest, expires_at) SELECT $1, d, g, $4 FROM unnest($2::bigint[], $3::bytea[]) AS t(d, g)
         ON CONFLICT (user_name, device_id, digest) DO UPDATE SET expires_at = excluded.expires_at`,
        [q.to, q.messages.map((m) => m.deviceId), q.messages.map((m) => m.digest), q.digestsUntil],
      );
      await c.query(
        `UPDATE queue_sizes s SET queued = s.queued + t.n FROM unnest($2::bigint[], $3::bigint[]) AS t(d, n)
          WHERE s.user_name = $1 AND s.device_id = t.d`,
        [q.to, ids, ids.map((d) => q.messages.filter((m) => m.deviceId === d).length)],
      );
      return { status: 'stored' };
    });
  }

  async countDigests(): Promise<number> {
    const r = await this.db.query<{ n: string }>('SELECT count(*) AS n FROM sealed_digests');
    return num(r.rows[0]?.n ?? 0);
  }
}
