/**
 * Rate-limit counters in PostgreSQL (migrations/004_rate_buckets.sql), shared by every relay of a
 * cluster: spreading requests over N relays does not give N budgets.
 *
 * A charge is ONE statement, whatever the number of buckets (TAKE_SQL): an upsert per bucket
 * that inserts a new bucket full-minus-cost, or updates an existing one only if, refilled up to
 * now, it holds the cost. `ON CONFLICT DO UPDATE` locks the row and re-reads its newest version,
 * so concurrent charges from any relay queue on it and never overdraw it; buckets are upserted in
 * key order, so two multi-bucket charges do not deadlock (and a deadlock would be retried).
 * Refused buckets are returned with their level for Retry-After.
 *
 * Buckets are named by the first 16 bytes of SHA-256 of their name (action, then subject: a
 * client address, user and device names, a requester/target pair), so the table holds no readable
 * address or user name; a short input space (IPv4 addresses) can still be brute-forced from a
 * dump. `full_at` (a bound on when the bucket is full again) lets housekeeping delete buckets that
 * carry no state, so the table holds only recent activity.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { waitMs } from '../memory-rate-limits.js';
import type { BucketCharge, BucketOutcome, RateLimitRepository } from '../types.js';

/** What this repository needs of the storage's connection pool (postgres-storage.ts). */
export interface PgWrites {
  write<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[], idempotent?: boolean): Promise<pg.QueryResult<R>>;
}

/** A bucket that never refills is never full again: kept (such rules exist in tests only). */
const NEVER = '9007199254740991';

const TAKE_SQL = `
WITH input AS (SELECT * FROM unnest($1::bytea[], $2::float8[], $3::float8[], $4::float8[]) AS t(bucket, capacity, refill, cost)),
taken AS (
  INSERT INTO rate_buckets AS b (bucket, tokens, capacity, refill, updated_at, full_at)
  SELECT bucket, capacity - cost, capacity, refill, $5,
         CASE WHEN refill > 0 THEN $5 + ceil(capacity / refill * 1000)::bigint ELSE ${NEVER} END
    FROM input ORDER BY bucket
  ON CONFLICT (bucket) DO UPDATE SET
    tokens = LEAST(EXCLUDED.capacity, b.tokens + GREATEST(0, EXCLUDED.updated_at - b.updated_at) * EXCLUDED.refill / 1000)
             - (EXCLUDED.capacity - EXCLUDED.tokens),
    capacity = EXCLUDED.capacity,
    refill = EXCLUDED.refill,
    updated_at = GREATEST(b.updated_at, EXCLUDED.updated_at),
    full_at = GREATEST(b.full_at, EXCLUDED.full_at)
  WHERE LEAST(EXCLUDED.capacity, b.tokens + GREATEST(0, EXCLUDED.updated_at - b.updated_at) * EXCLUDED.refill / 1000)
        >= EXCLUDED.capacity - EXCLUDED.tokens
  RETURNING b.bucket)
SELECT i.bucket, t.bucket IS NOT NULL AS taken, r.tokens, r.updated_at
  FROM input i LEFT JOIN taken t ON t.bucket = i.bucket LEFT JOIN rate_buckets r ON r.bucket = i.bucket AND t.bucket IS NULL`;

const REFUND_SQL = `
UPDATE rate_buckets b SET tokens = LEAST(b.capacity, b.tokens + t.cost)
  FROM unnest($1::bytea[], $2::float8[]) AS t(bucket, cost) WHERE b.bucket = t.bucket`;

/** Housekeeping: buckets that are full again (storage.pruneExpired). */
export const PRUNE_RATE_BUCKETS_SQL = 'DELETE FROM rate_buckets WHERE full_at <= $1';

/** The stored name of a bucket: 16 bytes of SHA-256 of its name. */
export const bucketDigest = (bucket: string): Buffer => createHash('sha256').update(bucket, 'utf8').digest().subarray(0, 16);

type Row = { bucket: Buffer; taken: boolean; tokens: number | null; updated_at: string | null };

export class PgRateLimits implements RateLimitRepository {
  constructor(private readonly db: PgWrites) {}

  async take(charges: readonly BucketCharge[], now: number): Promise<BucketOutcome[]> {
    if (charges.length === 0) return [];
    const digests = charges.map((c) => bucketDigest(c.bucket));
    const costs = charges.map((c) => Math.min(c.cost, c.capacity));
    const r = await this.db.write<Row>('rate_take', TAKE_SQL, [
      digests,
      charges.map((c) => c.capacity),
      charges.map((c) => c.refillPerSecond),
      costs,
      Math.round(now),
    ]);
    const byDigest = new Map(r.rows.map((row) => [row.bucket.toString('hex'), row]));
    return charges.map((c, i): BucketOutcome => {
      const row = byDigest.get((digests[i] as Buffer).toString('hex'));
      if (!row) return { taken: false, retryAfterMs: 1000 }; // cannot happen (one row per input): fail closed
      if (row.taken) return { taken: true };
      const updated = Number(row.updated_at ?? now);
      const tokens = Math.min(c.capacity, Number(row.tokens ?? 0) + (Math.max(0, now - updated) / 1000) * c.refillPerSecond);
      // A refusal always waits a little: the row read may predate a concurrent charge.
      return { taken: false, retryAfterMs: Math.max(1, waitMs(tokens, costs[i] as number, c.refillPerSecond)) };
    });
  }

  async forget(buckets: readonly string[]): Promise<void> {
    if (buckets.length === 0) return;
    await this.db.write('rate_forget', 'DELETE FROM rate_buckets WHERE bucket = ANY($1::bytea[])', [buckets.map(bucketDigest)], true);
  }

  async refund(charges: readonly BucketCharge[], _now: number): Promise<void> {
    if (charges.length === 0) return;
    await this.db.write('rate_refund', REFUND_SQL, [charges.map((c) => bucketDigest(c.bucket)), charges.map((c) => Math.min(c.cost, c.capacity))]);
  }
}
