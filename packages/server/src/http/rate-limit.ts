/**
 * Rate limits (docs/API.md, "Rate limits"): token buckets keyed by action and subject (a client
 * address, a device, a pair of requester and target). Two kinds:
 * - shared (SHARED_ACTIONS: account creation, authentication, provisioning, device lists,
 *   bundles, directory look-ups): charged through `storage.rateLimits` — in memory with SQLite
 *   (one process), in PostgreSQL in cluster mode, one statement per request, so requests spread
 *   over N relays get one budget, not N;
 * - per instance (sends, acks, prekey uploads, WebSockets, file writes and chunks): in this
 *   process's memory, so the hot paths make no extra database round trip. In cluster mode these
 *   are N× the configured value for a client using N relays (docs/DEPLOY.md).
 * Each bucket starts full, refills continuously, and is swept once full again.
 */
import type { RateLimitRule, RateLimits } from '../config.js';
import { MemoryRateLimits } from '../storage/memory-rate-limits.js';
import type { BucketCharge, BucketOutcome, RateLimitRepository } from '../storage/types.js';
import { ApiError } from './errors.js';

/** The limits every relay of a cluster counts together (the security-relevant ones). */
export const SHARED_ACTIONS = [
  'accountsPerIp',
  'authPerIp',
  'authPerDevice',
  'bundlesPerDevice',
  'bundlesPerPair',
  'oneTimePrekeysPerTarget',
  'deviceListPerIp',
  'deviceListPerUser',
  'provisioningCreatePerIp',
  'provisioningPollPerIp',
  'provisioningPutPerDevice',
  'directoryPerDevice',
  'directoryPerPair',
  'directoryPerIp',
  'lookupMissesPerDevice',
  'lookupMissesPerIp',
  'backupRestorePerIp',
  'backupRestorePerUser',
  'backupWritesPerDevice',
] as const satisfies readonly (keyof RateLimits)[];

export type SharedAction = (typeof SHARED_ACTIONS)[number];
export type LocalAction = Exclude<keyof RateLimits, SharedAction>;

export interface Charge<A extends keyof RateLimits = SharedAction> {
  readonly action: A;
  readonly subject: string;
  /** Default 1; a cost above the capacity is charged as the whole capacity. */
  readonly cost?: number;
}

/** Seconds a refused client should wait (at least 1; an hour when the bucket never refills). */
const retryAfterSeconds = (ms: number) => (Number.isFinite(ms) ? Math.max(1, Math.ceil(ms / 1000)) : 3600);

export const tooManyRequests = (retryAfterMs: number, message = 'too many requests; retry later') =>
  new ApiError(429, 'rate_limited', message, undefined, { 'retry-after': String(retryAfterSeconds(retryAfterMs)) });

export class RateLimiter {
  private readonly local = new MemoryRateLimits();
  private readonly shared: RateLimitRepository;

  /** `shared`: the storage's counters (default: this limiter's own memory, as one process has). */
  constructor(
    private readonly rules: RateLimits,
    private readonly now: () => number,
    private readonly onLimited: (action: keyof RateLimits) => void = () => {},
    shared?: RateLimitRepository,
  ) {
    this.shared = shared ?? this.local;
  }

  /** Takes `cost` tokens from this instance's bucket of (action, subject) or throws 429 `rate_limited` with Retry-After. */
  take(action: LocalAction, subject: string, cost = 1): void {
    this.takeLocal([{ action, subject, cost }]);
  }

  /** takeShared() for this instance's buckets: all or none, synchronously. */
  takeLocal(charges: readonly Charge<LocalAction>[]): void {
    const list = this.charges(charges);
    if (list.length === 0) return;
    const now = this.now();
    const outcomes = this.local.takeNow(
      list.map((c) => c.charge),
      now,
    );
    const wait = this.refused(list, outcomes);
    if (wait < 0) return;
    this.local.refundNow(
      list.filter((_, i) => outcomes[i]?.taken).map((c) => c.charge),
      now,
    );
    throw tooManyRequests(wait);
  }

  /**
   * Takes every charge from the shared buckets, or none: if one is refused, the others are given
   * back and 429 `rate_limited` is thrown with the longest Retry-After of the refused ones.
   */
  async takeShared(charges: readonly Charge[]): Promise<void> {
    const list = this.charges(charges);
    if (list.length === 0) return;
    const now = this.now();
    const outcomes = await this.shared.take(
      list.map((c) => c.charge),
      now,
    );
    const wait = this.refused(list, outcomes);
    if (wait < 0) return;
    const taken = list.filter((_, i) => outcomes[i]?.taken).map((c) => c.charge);
    // Best effort: a refund lost to a dropped connection only leaves the tokens spent.
    await this.shared.refund(taken, now).catch(() => {});
    throw tooManyRequests(wait);
  }

  /**
   * Takes each charge on its own where its bucket allows (never throws 429): per charge, taken
   * (or not limited), or refused with the milliseconds until it would be taken.
   */
  async tryShared(charges: readonly Charge[]): Promise<BucketOutcome[]> {
    const out: BucketOutcome[] = charges.map(() => ({ taken: true }));
    const list = this.charges(charges);
    if (list.length === 0) return out;
    const outcomes = await this.shared.take(
      list.map((c) => c.charge),
      this.now(),
    );
    outcomes.forEach((o, i) => {
      if (o.taken) return;
      const c = list[i] as (typeof list)[number];
      out[c.index] = o;
      this.onLimited(c.action);
    });
    return out;
  }

  /**
   * Deletes the buckets of these (action, subject) pairs, shared and this instance's: a deleted
   * account's per-user and per-device counters (routes/account-deletion.ts).
   */
  async forget(subjects: readonly { readonly action: keyof RateLimits; readonly subject: string }[]): Promise<void> {
    const names = subjects.map((s) => `${s.action}\u0000${s.subject}`);
    await this.local.forget(names);
    if (this.shared !== this.local) await this.shared.forget(names);
  }

  /** Drops this instance's buckets that have refilled completely (the shared ones: storage.pruneExpired). */
  sweep(): void {
    this.local.sweep(this.now());
  }

  /** Buckets held in this instance's memory. */
  get size(): number {
    return this.local.size;
  }

  /** The longest wait of the refused charges (-1: none refused); counts each refusal in the metrics. */
  private refused(list: readonly { action: keyof RateLimits }[], outcomes: readonly BucketOutcome[]): number {
    let wait = -1;
    outcomes.forEach((o, i) => {
      if (o.taken) return;
      wait = Math.max(wait, o.retryAfterMs);
      this.onLimited((list[i] as { action: keyof RateLimits }).action);
    });
    return wait;
  }

  private charge(action: keyof RateLimits, subject: string, cost: number): BucketCharge | undefined {
    const rule: RateLimitRule | false = this.rules[action];
    if (!rule || !(cost > 0)) return undefined;
    return { bucket: `${action}\u0000${subject}`, capacity: rule.capacity, refillPerSecond: rule.refillPerSecond, cost: Math.min(cost, rule.capacity) };
  }

  /** Enabled charges with their index in `charges`; one per bucket (repeated buckets add up). */
  private charges<A extends keyof RateLimits>(charges: readonly Charge<A>[]): { charge: BucketCharge; action: A; index: number }[] {
    const byBucket = new Map<string, { charge: BucketCharge; action: A; index: number }>();
    charges.forEach((c, index) => {
      const charge = this.charge(c.action, c.subject, c.cost ?? 1);
      if (!charge) return;
      const seen = byBucket.get(charge.bucket);
      if (seen) seen.charge = { ...seen.charge, cost: Math.min(seen.charge.capacity, seen.charge.cost + charge.cost) };
      else byBucket.set(charge.bucket, { charge, action: c.action, index });
    });
    return [...byBucket.values()];
  }
}
