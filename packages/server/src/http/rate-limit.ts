/**
 * In-memory token buckets (the embedded default; docs/API.md names what is limited). A bucket is
 * keyed by action and subject (client address, device or user); idle full buckets are swept so
 * the map stays bounded by recent activity, and a hard cap evicts the oldest keys beyond it.
 */
import type { RateLimitRule, RateLimits } from '../config.js';
import { ApiError } from './errors.js';

interface Bucket {
  tokens: number;
  updated: number;
}

export const MAX_BUCKETS = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly rules: RateLimits,
    private readonly now: () => number,
    private readonly onLimited: (action: keyof RateLimits) => void = () => {},
  ) {}

  /**
   * Takes `cost` tokens from the bucket of (action, subject) or throws 429 `rate_limited` with a
   * Retry-After header. A cost above the capacity is charged as the whole capacity.
   */
  take(action: keyof RateLimits, subject: string, cost = 1): void {
    const rule = this.rules[action];
    if (!rule || cost <= 0) return;
    const key = `${action}\u0000${subject}`;
    const now = this.now();
    const b = this.refill(this.buckets.get(key), rule, now);
    const charge = Math.min(cost, rule.capacity);
    if (b.tokens < charge) {
      this.store(key, b);
      this.onLimited(action);
      const wait = rule.refillPerSecond > 0 ? Math.ceil((charge - b.tokens) / rule.refillPerSecond) : 3600;
      throw new ApiError(429, 'rate_limited', 'too many requests; retry later', undefined, { 'retry-after': String(Math.max(1, wait)) });
    }
    b.tokens -= charge;
    this.store(key, b);
  }

  /** Drops buckets that have refilled completely (they hold no state worth keeping). */
  sweep(): void {
    const now = this.now();
    for (const [key, b] of this.buckets) {
      const action = key.slice(0, key.indexOf('\u0000')) as keyof RateLimits;
      const rule = this.rules[action];
      if (!rule || this.refill(b, rule, now).tokens >= rule.capacity) this.buckets.delete(key);
    }
  }

  get size(): number {
    return this.buckets.size;
  }

  private refill(b: Bucket | undefined, rule: RateLimitRule, now: number): Bucket {
    if (!b) return { tokens: rule.capacity, updated: now };
    const elapsed = Math.max(0, now - b.updated) / 1000;
    return { tokens: Math.min(rule.capacity, b.tokens + elapsed * rule.refillPerSecond), updated: now };
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
