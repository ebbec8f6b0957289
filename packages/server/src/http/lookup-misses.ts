/**
 * The budget of "no such user" answers (docs/API.md, "Rate limits"; review finding L4). A client
 * that knows whom it wants rarely asks for a name that does not exist; enumerating the directory
 * is mostly that. So a 404 for an unknown user (from GET /v1/users/:user, bundles or a send,
 * or a file naming a reader that is not an account: routes/files.ts) is charged to
 * `lookupMissesPerDevice` and `lookupMissesPerIp` (shared buckets).
 *
 * Once a miss is refused, the device or address is blocked for the Retry-After, and during the
 * block every look-up of these routes answers 429, found or not: were only misses refused, a 429
 * would itself say "no such user". The block is held in this instance's memory, so the common
 * path (a user that exists) costs nothing here; in cluster mode another relay blocks the client
 * at its own first refused miss, so the oracle gains at most one answer per relay per block.
 */
import type { AuthenticatedDevice } from '../context.js';
import type { RateLimiter } from './rate-limit.js';
import { tooManyRequests } from './rate-limit.js';

const MAX_BLOCKED = 100_000;
const MESSAGE = 'too many look-ups of unknown users; retry later';

export class LookupMisses {
  /** Subject → end of its block (ms). */
  private readonly blocked = new Map<string, number>();

  constructor(
    private readonly limiter: RateLimiter,
    private readonly now: () => number,
  ) {}

  /** Before a look-up: 429 while this device or address is blocked. */
  check(device: AuthenticatedDevice, address: string): void {
    const now = this.now();
    let until = 0;
    for (const key of keys(device, address)) {
      const end = this.blocked.get(key);
      if (end === undefined) continue;
      if (end <= now) this.blocked.delete(key);
      else until = Math.max(until, end);
    }
    if (until > now) throw tooManyRequests(until - now, MESSAGE);
  }

  /** After a look-up found no such user: charges the miss; over budget, blocks and throws 429 (instead of the 404). */
  async miss(device: AuthenticatedDevice, address: string): Promise<void> {
    const [d, a] = keys(device, address);
    const outcomes = await this.limiter.tryShared([
      { action: 'lookupMissesPerDevice', subject: d },
      { action: 'lookupMissesPerIp', subject: a },
    ]);
    const now = this.now();
    let wait = -1;
    for (const [i, key] of [d, a].entries()) {
      const o = outcomes[i];
      if (!o || o.taken) continue;
      // A bucket that never refills blocks for an hour at a time.
      const ms = Number.isFinite(o.retryAfterMs) ? o.retryAfterMs : 3_600_000;
      this.block(key, now + ms);
      wait = Math.max(wait, ms);
    }
    if (wait >= 0) throw tooManyRequests(wait, MESSAGE);
  }

  /** Forgets ended blocks (housekeeping). */
  sweep(): void {
    const now = this.now();
    for (const [key, end] of this.blocked) if (end <= now) this.blocked.delete(key);
  }

  private block(key: string, until: number): void {
    const end = Math.max(until, this.blocked.get(key) ?? 0);
    this.blocked.delete(key); // re-insert: oldest first
    this.blocked.set(key, end);
    if (this.blocked.size > MAX_BLOCKED) {
      const oldest = this.blocked.keys().next().value;
      if (oldest !== undefined) this.blocked.delete(oldest);
    }
  }
}

function keys(device: AuthenticatedDevice, address: string): [string, string] {
  return [`d\u0000${device.user}\u0000${device.deviceId}`, `a\u0000${address}`];
}
