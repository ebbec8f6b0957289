/**
 * The signed-request part of the storage conformance suite (docs/API.md §2a, §5a):
 * `RequestNonceRepository` and `SendMarkRepository`, through the interface only. Registered by
 * storageConformance().
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DeviceRecord, SendMarkRecord, Storage } from '../src/storage/types.js';

const T0 = 1_700_000_000_000;
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const plain = (b: Uint8Array) => Object.getPrototypeOf(b) === Uint8Array.prototype;

export function requestGuardsConformance(store: () => Storage): void {
  const s = () => store();
  const device = (deviceId: number): DeviceRecord => ({ deviceId, signingKey: bytes(32), identityKey: bytes(32) });
  async function user(name: string, d: DeviceRecord) {
    const r = await s().accounts.create(
      { user: name, masterKey: bytes(32), listVersion: 1, deviceList: bytes(100), device: d, prekeys: {}, createdAt: T0 },
      { maxStoredOneTime: 100 },
    );
    expect(r).toBe('created');
  }
  /** Replace alice's list with `devices` (version + 1): absent or re-keyed devices are revoked. */
  async function relist(name: string, version: number, devices: DeviceRecord[]) {
    const r = await s().accounts.replaceDeviceList(
      { user: name, expectedVersion: version, listVersion: version + 1, deviceList: bytes(100), devices, updatedAt: T0 },
      {
        maxStoredOneTime: 100,
      },
    );
    expect(r.status).toBe('updated');
  }
  const mark = (n: number, digest = bytes(32)): SendMarkRecord => ({ mark: n, signature: bytes(64), digest });

  describe('request nonces', () => {
    it('records a nonce once per device; the same nonce of another device is its own', async () => {
      const d1 = device(1);
      const d2 = device(2);
      await user('alice', d1);
      await relist('alice', 1, [d1, d2]);
      const n = bytes(16);
      expect(await s().requestNonces.use('alice', 1, n, T0 + 1000, d1.signingKey)).toBe('recorded');
      expect(await s().requestNonces.use('alice', 1, n, T0 + 1000, d1.signingKey)).toBe('replayed');
      expect(await s().requestNonces.use('alice', 2, n, T0 + 1000, d2.signingKey)).toBe('recorded');
      expect(await s().requestNonces.use('alice', 1, bytes(16), T0 + 1000, d1.signingKey)).toBe('recorded');
    });

    it('of many concurrent uses of one nonce, exactly one is recorded', async () => {
      const d1 = device(1);
      await user('alice', d1);
      const n = bytes(16);
      const results = await Promise.all(Array.from({ length: 8 }, () => s().requestNonces.use('alice', 1, n, T0 + 1000, d1.signingKey)));
      expect(results.filter((r) => r === 'recorded')).toHaveLength(1);
      expect(results.filter((r) => r === 'replayed')).toHaveLength(7);
    });

    it('refuses an unknown device, another signing key, and a revoked device (nothing stored)', async () => {
      const d1 = device(1);
      await user('alice', d1);
      expect(await s().requestNonces.use('alice', 9, bytes(16), T0, d1.signingKey)).toBe('unknown_device');
      expect(await s().requestNonces.use('nobody', 1, bytes(16), T0, d1.signingKey)).toBe('unknown_device');
      const n = bytes(16);
      expect(await s().requestNonces.use('alice', 1, n, T0, bytes(32))).toBe('unknown_device');
      expect(await s().requestNonces.use('alice', 1, n, T0, d1.signingKey)).toBe('recorded');
      // Re-keyed under the same id: the old key no longer counts, and its nonces went with it.
      const rekeyed = device(1);
      await relist('alice', 1, [rekeyed]);
      expect(await s().requestNonces.use('alice', 1, bytes(16), T0, d1.signingKey)).toBe('unknown_device');
      expect(await s().requestNonces.use('alice', 1, n, T0, rekeyed.signingKey)).toBe('recorded');
    });

    it('a signed ack records its nonce and deletes the ids in one write: both, or neither', async () => {
      const d1 = device(1);
      await user('alice', d1);
      const ids = [bytes(16), bytes(16), bytes(16)];
      const r = await s().mailboxes.enqueue({
        to: 'alice',
        expectedListVersion: 1,
        fromUser: 'bob',
        fromDevice: 1,
        sentAt: T0,
        messages: ids.map((id) => ({ id, deviceId: 1, body: bytes(10) })),
        maxQueued: 100,
      });
      expect(r.status).toBe('stored');
      const queued = async () => (await s().mailboxes.fetch('alice', 1, { limit: 10 })).length;
      const n = bytes(16);
      // Another key, or an unknown device: nothing recorded, nothing deleted.
      expect(await s().mailboxes.ackSigned('alice', 1, [ids[0] as Uint8Array], { nonce: n, expiresAt: T0, signingKey: bytes(32) })).toEqual({
        status: 'unknown_device',
        acked: 0,
      });
      expect(await s().mailboxes.ackSigned('alice', 9, [ids[0] as Uint8Array], { nonce: n, expiresAt: T0, signingKey: d1.signingKey })).toEqual({
        status: 'unknown_device',
        acked: 0,
      });
      expect(await queued()).toBe(3);
      // Recorded: deletes those of the ids queued for the device (one unknown id among them).
      const ok = await s().mailboxes.ackSigned('alice', 1, [ids[0] as Uint8Array, ids[1] as Uint8Array, bytes(16)], {
        nonce: n,
        expiresAt: T0,
        signingKey: d1.signingKey,
      });
      expect(ok).toEqual({ status: 'recorded', acked: 2 });
      expect(await queued()).toBe(1);
      expect(await s().mailboxes.countAll()).toBe(1);
      // The same nonce again: replayed, and the remaining message stays.
      expect(await s().mailboxes.ackSigned('alice', 1, [ids[2] as Uint8Array], { nonce: n, expiresAt: T0, signingKey: d1.signingKey })).toEqual({
        status: 'replayed',
        acked: 0,
      });
      expect(await s().requestNonces.use('alice', 1, n, T0, d1.signingKey)).toBe('replayed');
      expect(await queued()).toBe(1);
      // Of concurrent signed acks with one nonce, exactly one deletes.
      const m = bytes(16);
      const all = await Promise.all(
        Array.from({ length: 6 }, () => s().mailboxes.ackSigned('alice', 1, [ids[2] as Uint8Array], { nonce: m, expiresAt: T0, signingKey: d1.signingKey })),
      );
      expect(all.filter((x) => x.status === 'recorded')).toEqual([{ status: 'recorded', acked: 1 }]);
      expect(await queued()).toBe(0);
      expect(await s().mailboxes.countAll()).toBe(0);
    });

    it('forgets nonces once expired (pruneExpired), not before', async () => {
      const d1 = device(1);
      await user('alice', d1);
      const early = bytes(16);
      const late = bytes(16);
      await s().requestNonces.use('alice', 1, early, T0 + 1000, d1.signingKey);
      await s().requestNonces.use('alice', 1, late, T0 + 5000, d1.signingKey);
      await s().pruneExpired(T0 + 1000);
      expect(await s().requestNonces.use('alice', 1, early, T0 + 9000, d1.signingKey)).toBe('recorded');
      expect(await s().requestNonces.use('alice', 1, late, T0 + 9000, d1.signingKey)).toBe('replayed');
    });
  });

  describe('send marks', () => {
    it('raises only upwards; the same send again is accepted; the record comes back as stored', async () => {
      const d1 = device(1);
      await user('alice', d1);
      expect(await s().sendMarks.get('alice', 1)).toBeUndefined();
      const first = mark(5);
      expect(await s().sendMarks.raise('alice', 1, first, d1.signingKey)).toEqual({ status: 'raised' });
      const got = (await s().sendMarks.get('alice', 1)) as SendMarkRecord;
      expect(got.mark).toBe(5);
      expect(plain(got.signature) && plain(got.digest)).toBe(true);
      expect(Array.from(got.signature)).toEqual(Array.from(first.signature));
      expect(Array.from(got.digest)).toEqual(Array.from(first.digest));
      // A retry of the same send (same mark, same digest).
      expect(await s().sendMarks.raise('alice', 1, { ...mark(5, first.digest) }, d1.signingKey)).toEqual({ status: 'repeated' });
      // The same mark for another send, or a lower one: refused with what is held.
      for (const m of [mark(5), mark(4), mark(1)]) {
        const r = await s().sendMarks.raise('alice', 1, m, d1.signingKey);
        expect(r.status).toBe('stale');
        if (r.status === 'stale') expect(r.current.mark).toBe(5);
      }
      expect(await s().sendMarks.raise('alice', 1, mark(9), d1.signingKey)).toEqual({ status: 'raised' });
      expect((await s().sendMarks.get('alice', 1))?.mark).toBe(9);
      expect(await s().sendMarks.raise('alice', 1, mark(2 ** 53 - 1), d1.signingKey)).toEqual({ status: 'raised' });
      expect((await s().sendMarks.get('alice', 1))?.mark).toBe(2 ** 53 - 1);
    });

    it('of concurrent raises, the highest wins and nothing goes backwards', async () => {
      const d1 = device(1);
      await user('alice', d1);
      const results = await Promise.all([3, 1, 7, 2, 7, 5].map((n) => s().sendMarks.raise('alice', 1, mark(n), d1.signingKey)));
      expect(results.filter((r) => r.status === 'raised').length).toBeGreaterThanOrEqual(1);
      expect((await s().sendMarks.get('alice', 1))?.mark).toBe(7);
    });

    it('refuses an unknown or re-keyed device; revocation drops the mark', async () => {
      const d1 = device(1);
      const d2 = device(2);
      await user('alice', d1);
      await relist('alice', 1, [d1, d2]);
      expect((await s().sendMarks.raise('alice', 3, mark(1), d1.signingKey)).status).toBe('unknown_device');
      expect((await s().sendMarks.raise('alice', 2, mark(1), d1.signingKey)).status).toBe('unknown_device');
      expect((await s().sendMarks.raise('alice', 2, mark(4), d2.signingKey)).status).toBe('raised');
      expect(await s().sendMarks.get('alice', 2)).toBeDefined();
      const rekeyed = device(2);
      await relist('alice', 2, [d1, rekeyed]);
      expect(await s().sendMarks.get('alice', 2)).toBeUndefined();
      expect((await s().sendMarks.raise('alice', 2, mark(1), rekeyed.signingKey)).status).toBe('raised');
    });
  });
}
