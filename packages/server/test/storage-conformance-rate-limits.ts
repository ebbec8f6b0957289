/**
 * The rate-limit counters part of the storage conformance suite (`RateLimitRepository`: token
 * buckets shared by the relays of a cluster), through the interface only. Registered by
 * storageConformance().
 */
import { describe, expect, it } from 'vitest';
import type { BucketCharge, Storage } from '../src/storage/types.js';

const T0 = 1_700_000_000_000;
const charge = (bucket: string, capacity: number, refillPerSecond: number, cost = 1): BucketCharge => ({ bucket, capacity, refillPerSecond, cost });

export function rateLimitsConformance(store: () => Storage): void {
  const r = () => store().rateLimits;

  describe('rate limits', () => {
    it('starts full, takes up to the capacity, then refuses with the wait until a token refills; a refusal changes nothing', async () => {
      const a = charge('accountsPerIp\u0000192.0.2.1', 2, 0.5);
      expect(await r().take([a], T0)).toEqual([{ taken: true }]);
      expect(await r().take([a], T0)).toEqual([{ taken: true }]);
      const [refused] = await r().take([a], T0);
      expect(refused?.taken).toBe(false);
      expect(refused && !refused.taken && refused.retryAfterMs).toBeCloseTo(2000, -1);
      // Half a token later: still refused, and the refusal above did not cost anything.
      const [later] = await r().take([a], T0 + 1000);
      expect(later && !later.taken && later.retryAfterMs).toBeCloseTo(1000, -1);
      expect(await r().take([a], T0 + 2000)).toEqual([{ taken: true }]);
      expect((await r().take([a], T0 + 2000))[0]?.taken).toBe(false);
    });

    it('refills continuously but never above the capacity', async () => {
      const a = charge('a', 3, 1);
      expect(await r().take([{ ...a, cost: 3 }], T0)).toEqual([{ taken: true }]);
      expect((await r().take([a], T0 + 500))[0]?.taken).toBe(false);
      expect(await r().take([a], T0 + 1000)).toEqual([{ taken: true }]);
      // A long idle time refills to 3, not more.
      expect(await r().take([{ ...a, cost: 3 }], T0 + 1_000_000)).toEqual([{ taken: true }]);
      expect((await r().take([a], T0 + 1_000_000))[0]?.taken).toBe(false);
    });

    it('judges each charge of one call on its own bucket, and keeps buckets apart', async () => {
      const a = charge('bundlesPerPair\u0000alice\u00001\u0000bob\u00007', 1, 0.001);
      const b = charge('bundlesPerPair\u0000alice\u00001\u0000bob\u00008', 1, 0.001);
      expect(await r().take([a], T0)).toEqual([{ taken: true }]);
      const out = await r().take([a, b, charge('x', 5, 1, 5)], T0);
      expect(out.map((o) => o.taken)).toEqual([false, true, true]);
      expect((await r().take([b], T0))[0]?.taken).toBe(false);
    });

    it('says when a bucket that never refills would be taken: never', async () => {
      const a = charge('never', 1, 0);
      expect(await r().take([a], T0)).toEqual([{ taken: true }]);
      expect(await r().take([a], T0 + 86_400_000)).toEqual([{ taken: false, retryAfterMs: Number.POSITIVE_INFINITY }]);
    });

    it('refunds tokens, never above the capacity, and ignores unknown buckets', async () => {
      const a = charge('a', 4, 0);
      expect(await r().take([{ ...a, cost: 3 }], T0)).toEqual([{ taken: true }]);
      await r().refund([{ ...a, cost: 2 }, charge('unknown', 1, 1)], T0);
      expect(await r().take([{ ...a, cost: 3 }], T0)).toEqual([{ taken: true }]);
      await r().refund([{ ...a, cost: 100 }], T0);
      expect(await r().take([{ ...a, cost: 4 }], T0)).toEqual([{ taken: true }]);
      expect((await r().take([a], T0))[0]?.taken).toBe(false);
    });

    it('never overdraws a bucket under concurrent charges', async () => {
      const a = charge('busy', 10, 0);
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => r().take([a, charge(`other${i}`, 1, 0)], T0)));
      expect(results.filter((o) => o[0]?.taken)).toHaveLength(10);
      expect(results.every((o) => o[1]?.taken)).toBe(true);
    });

    it('housekeeping keeps buckets that have not refilled yet', async () => {
      const a = charge('kept', 2, 1);
      expect(await r().take([{ ...a, cost: 2 }], T0)).toEqual([{ taken: true }]);
      await store().pruneExpired(T0 + 500);
      expect((await r().take([a], T0 + 500))[0]?.taken).toBe(false);
      await store().pruneExpired(T0 + 60_000);
      expect(await r().take([{ ...a, cost: 2 }], T0 + 60_000)).toEqual([{ taken: true }]);
    });
  });
}
