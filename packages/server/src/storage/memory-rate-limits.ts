/**
 * Token buckets in memory: the rate-limit counters of the embedded relay (one process, SQLite),
 * and every relay's own per-instance limits (src/http/rate-limit.ts). A bucket starts full,
 * refills continuously up to its capacity, and is forgotten once full again (`sweep`); a hard cap
 * evicts the least recently used beyond MAX_BUCKETS, so memory stays bounded whatever the keys.
 */
import type { BucketCharge, BucketOutcome, RateLimitRepository } from './types.js';

export const MAX_BUCKETS = 100_000;

interface Bucket {
  tokens: number;
  updated: number;
  capacity: number;
  refillPerSecond: number;
}

/** The bucket's tokens at `now` (refilled since its last charge, never above capacity). */
function level(b: Bucket, now: number): number {
  return Math.min(b.capacity, b.tokens + (Math.max(0, now - b.updated) / 1000) * b.refillPerSecond);
}

/** Milliseconds until `b` holds `cost` tokens; Infinity if it never refills. */
export function waitMs(tokens: number, cost: number, refillPerSecond: number): number {
  if (tokens >= cost) return 0;
  return refillPerSecond > 0 ? ((cost - tokens) / refillPerSecond) * 1000 : Number.POSITIVE_INFINITY;
}

export class MemoryRateLimits implements RateLimitRepository {
  private readonly buckets = new Map<string, Bucket>();

  /** take(), synchronously (the per-instance limits run inside request handlers without awaiting). */
  takeNow(charges: readonly BucketCharge[], now: number): BucketOutcome[] {
    return charges.map((c): BucketOutcome => {
      const old = this.buckets.get(c.bucket);
      const tokens = old ? level({ ...old, capacity: c.capacity, refillPerSecond: c.refillPerSecond }, now) : c.capacity;
      const cost = Math.min(c.cost, c.capacity);
      if (tokens < cost) return { taken: false, retryAfterMs: waitMs(tokens, cost, c.refillPerSecond) };
      this.store(c.bucket, { tokens: tokens - cost, updated: Math.max(now, old?.updated ?? now), capacity: c.capacity, refillPerSecond: c.refillPerSecond });
      return { taken: true };
    });
  }

  async take(charges: readonly BucketCharge[], now: number): Promise<BucketOutcome[]> {
    return this.takeNow(charges, now);
  }

  refundNow(charges: readonly BucketCharge[], now: number): void {
    for (const c of charges) {
      const b = this.buckets.get(c.bucket);
      if (!b) continue;
      const tokens = Math.min(c.capacity, level(b, now) + Math.min(c.cost, c.capacity));
      this.buckets.set(c.bucket, { ...b, tokens, updated: Math.max(now, b.updated) });
    }
  }

  async refund(charges: readonly BucketCharge[], now: number): Promise<void> {
    this.refundNow(charges, now);
  }

  async forget(buckets: readonly string[]): Promise<void> {
    for (const b of buckets) this.buckets.delete(b);
  }

  /** Forgets buckets that have refilled completely (they hold no state worth keeping). */
  sweep(now: number): void {
    for (const [key, b] of this.buckets) if (level(b, now) >= b.capacity) this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }

  private store(key: string, b: Bucket): void {
    this.buckets.delete(key); // re-insert: Map order is then least recently used first
    this.buckets.set(key, b);
    if (this.buckets.size > MAX_BUCKETS) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
  }
}
