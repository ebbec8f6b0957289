/**
 * The storage conformance suite (DESIGN.md, "Storage": one interface, one conformance suite, two
 * implementations). `storageConformance(open)` registers vitest tests that exercise every method
 * of `Storage` (src/storage/types.ts) through the interface only; each test gets a fresh, empty
 * store from `open()` and releases it with the fixture's `cleanup()`.
 *
 * The clock is injected: every time the interface needs is an argument, so the tests use a fixed
 * `T0` and move it by hand. Keys, hashes and ciphertext are random bytes of the right length: the
 * storage layer stores public or opaque bytes and checks none of them cryptographically.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceRecord, NewAccount, PrekeyBatch, PrekeyLimits, Storage, StoredMessage } from '../src/storage/types.js';
import { backupsConformance } from './storage-conformance-backups.js';
import { accountDeletionConformance } from './storage-conformance-deletion.js';
import { filesConformance } from './storage-conformance-files.js';
import { rateLimitsConformance } from './storage-conformance-rate-limits.js';
import { recordsConformance } from './storage-conformance-records.js';
import { requestGuardsConformance } from './storage-conformance-requests.js';

export interface StorageFixture {
  readonly storage: Storage;
  /** Called after `storage.close()`: removes the temp directory / drops the schema. */
  cleanup(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const LIMITS: PrekeyLimits = { maxStoredOneTime: 100 };

const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const hash = () => bytes(32);

/** A plain Uint8Array (DESIGN.md convention 6: no Buffer above the adapters). */
function expectPlainBytes(b: Uint8Array, equal?: Uint8Array) {
  expect(Object.getPrototypeOf(b)).toBe(Uint8Array.prototype);
  if (equal) expect(Array.from(b)).toEqual(Array.from(equal));
}

const device = (deviceId: number): DeviceRecord => ({ deviceId, signingKey: bytes(32), identityKey: bytes(32) });

/** A full prekey batch: signed prekey `spkId`, X25519 one-time ids `otkIds`, ML-KEM ids `pqIds`, last resort `lrId`. */
function batch(o: { spkId?: number; otkIds?: number[]; pqIds?: number[]; lrId?: number } = {}): PrekeyBatch {
  return {
    ...(o.spkId === undefined ? {} : { signedPreKey: { id: o.spkId, publicKey: bytes(32), signature: bytes(64) } }),
    oneTimePreKeys: (o.otkIds ?? []).map((id) => ({ id, publicKey: bytes(32) })),
    pqPreKeys: (o.pqIds ?? []).map((id) => ({ id, publicKey: bytes(1184), signature: bytes(64) })),
    ...(o.lrId === undefined ? {} : { lastResortPqPreKey: { id: o.lrId, publicKey: bytes(1184), signature: bytes(64) } }),
  };
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const fullBatch = () => batch({ spkId: 1, otkIds: range(100, 3), pqIds: range(10, 2), lrId: 2 });

function newAccount(user: string, dev: DeviceRecord = device(1), prekeys: PrekeyBatch = fullBatch()): NewAccount {
  return { user, masterKey: bytes(32), listVersion: 1, deviceList: bytes(100), device: dev, prekeys, createdAt: T0 };
}

export function storageConformance(open: () => Promise<StorageFixture>): void {
  let fixture: StorageFixture;
  let s: Storage;
  beforeEach(async () => {
    fixture = await open();
    s = fixture.storage;
  });
  afterEach(async () => {
    await s.close();
    await fixture.cleanup();
  });

  /** Creates `user` with device 1, then (if asked) adds devices by a device-list update. */
  async function setup(user: string, extra: DeviceRecord[] = []) {
    const d1 = device(1);
    expect(await s.accounts.create(newAccount(user, d1), LIMITS)).toBe('created');
    let version = 1;
    const devices = [d1];
    for (const d of extra) {
      devices.push(d);
      const r = await s.accounts.replaceDeviceList(
        {
          user,
          expectedVersion: version,
          listVersion: version + 1,
          deviceList: bytes(100),
          devices: [...devices],
          newDevice: { deviceId: d.deviceId, prekeys: fullBatch() },
          updatedAt: T0,
        },
        LIMITS,
      );
      expect(r).toEqual({ status: 'updated', revoked: [] });
      version++;
    }
    return { devices, version };
  }

  async function send(to: string, version: number, deviceIds: number[], o: { maxQueued?: number; body?: Uint8Array; sentAt?: number } = {}) {
    return s.mailboxes.enqueue({
      to,
      expectedListVersion: version,
      fromUser: 'sender',
      fromDevice: 7,
      sentAt: o.sentAt ?? T0,
      messages: deviceIds.map((deviceId) => ({ id: bytes(16), deviceId, body: o.body ?? bytes(10) })),
      maxQueued: o.maxQueued ?? 1000,
    });
  }

  async function token(user: string, deviceId: number, o: { createdAt?: number; expiresAt?: number; max?: number; signingKey?: Uint8Array } = {}) {
    const h = hash();
    const ok = await s.auth.createToken(
      {
        hash: h,
        user,
        deviceId,
        createdAt: o.createdAt ?? T0,
        expiresAt: o.expiresAt ?? T0 + 3_600_000,
        ...(o.signingKey ? { signingKey: o.signingKey } : {}),
      },
      o.max ?? 32,
    );
    return { h, ok };
  }

  describe('accounts', () => {
    it('creates an account with its device and prekeys, and reads it back as plain Uint8Arrays', async () => {
      const a = newAccount('alice');
      expect(await s.accounts.create(a, LIMITS)).toBe('created');
      const got = await s.accounts.get('alice');
      expect(got).toBeDefined();
      if (!got) return;
      expect(got.user).toBe('alice');
      expect(got.listVersion).toBe(1);
      expectPlainBytes(got.masterKey, a.masterKey);
      expectPlainBytes(got.deviceList, a.deviceList);
      expect(got.devices).toHaveLength(1);
      const d = got.devices[0] as DeviceRecord;
      expect(d.deviceId).toBe(1);
      expectPlainBytes(d.signingKey, a.device.signingKey);
      expectPlainBytes(d.identityKey, a.device.identityKey);
      const one = await s.accounts.getDevice('alice', 1);
      expect(one?.deviceId).toBe(1);
      expectPlainBytes(one?.signingKey as Uint8Array, a.device.signingKey);
      expect(await s.prekeys.status('alice', 1)).toEqual({ oneTimePreKeys: 3, pqPreKeys: 2, signedPreKeyId: 1, lastResortPqPreKeyId: 2 });
    });

    it('reports a taken name and leaves the first account untouched', async () => {
      const first = newAccount('alice');
      expect(await s.accounts.create(first, LIMITS)).toBe('created');
      expect(await s.accounts.create(newAccount('alice', device(9)), LIMITS)).toBe('exists');
      const got = await s.accounts.get('alice');
      expectPlainBytes(got?.masterKey as Uint8Array, first.masterKey);
      expect(got?.devices.map((d) => d.deviceId)).toEqual([1]);
      expect(await s.accounts.getDevice('alice', 9)).toBeUndefined();
    });

    it('lets exactly one of many concurrent creations of a name win', async () => {
      const results = await Promise.all(range(0, 8).map(() => s.accounts.create(newAccount('alice'), LIMITS)));
      expect(results.filter((r) => r === 'created')).toHaveLength(1);
      expect(results.filter((r) => r === 'exists')).toHaveLength(7);
    });

    it('knows nothing of unknown users and devices; names are case-sensitive', async () => {
      await setup('alice');
      expect(await s.accounts.get('bob')).toBeUndefined();
      expect(await s.accounts.get('Alice')).toBeUndefined();
      expect(await s.accounts.getDevice('bob', 1)).toBeUndefined();
      expect(await s.accounts.getDevice('alice', 2)).toBeUndefined();
    });

    it('adds a device with its first prekeys and lists devices by ascending id', async () => {
      const d1 = device(5);
      await s.accounts.create(newAccount('alice', d1), LIMITS);
      const d2 = device(3);
      const list = bytes(120);
      const r = await s.accounts.replaceDeviceList(
        {
          user: 'alice',
          expectedVersion: 1,
          listVersion: 4,
          deviceList: list,
          devices: [d1, d2],
          newDevice: { deviceId: 3, prekeys: batch({ spkId: 7, otkIds: [1, 2], pqIds: [3], lrId: 9 }) },
          updatedAt: T0 + 1,
        },
        LIMITS,
      );
      expect(r).toEqual({ status: 'updated', revoked: [] });
      const got = await s.accounts.get('alice');
      expect(got?.listVersion).toBe(4);
      expectPlainBytes(got?.deviceList as Uint8Array, list);
      expect(got?.devices.map((d) => d.deviceId)).toEqual([3, 5]);
      expect(await s.prekeys.status('alice', 3)).toEqual({ oneTimePreKeys: 2, pqPreKeys: 1, signedPreKeyId: 7, lastResortPqPreKeyId: 9 });
    });

    it('applies a device-list update only on the expected version (compare-and-set)', async () => {
      const { devices } = await setup('alice');
      const update = (expectedVersion: number, listVersion: number) =>
        s.accounts.replaceDeviceList({ user: 'alice', expectedVersion, listVersion, deviceList: bytes(100), devices, updatedAt: T0 }, LIMITS);
      expect(await update(2, 3)).toEqual({ status: 'stale' });
      expect((await s.accounts.get('alice'))?.listVersion).toBe(1);
      expect(await update(1, 2)).toEqual({ status: 'updated', revoked: [] });
      expect(await update(1, 3)).toEqual({ status: 'stale' });
      expect((await s.accounts.get('alice'))?.listVersion).toBe(2);
      expect(
        await s.accounts.replaceDeviceList({ user: 'bob', expectedVersion: 1, listVersion: 2, deviceList: bytes(10), devices, updatedAt: T0 }, LIMITS),
      ).toEqual({ status: 'not_found' });
    });

    it('a rotation (custody, migration 008) replaces the master key and stores the statement with the list, keeping the devices', async () => {
      const { devices } = await setup('alice', [device(2)]);
      const before = await s.accounts.get('alice');
      expect(before?.rotation).toBeUndefined();
      const masterKey = bytes(32).map((b) => b ^ 0x5a);
      const statement = bytes(300);
      const r = await s.accounts.replaceDeviceList(
        { user: 'alice', expectedVersion: 2, listVersion: 3, deviceList: bytes(120), devices, rotation: { masterKey, statement }, updatedAt: T0 },
        LIMITS,
      );
      expect(r).toEqual({ status: 'updated', revoked: [] });
      const after = await s.accounts.get('alice');
      expect(after?.masterKey).toEqual(masterKey);
      expect(after?.rotation).toEqual(statement);
      expect(after?.listVersion).toBe(3);
      expect(after?.devices.map((d) => d.deviceId)).toEqual([1, 2]);
      // A later update without a rotation keeps the key and the newest statement.
      expect(
        await s.accounts.replaceDeviceList({ user: 'alice', expectedVersion: 3, listVersion: 4, deviceList: bytes(100), devices, updatedAt: T0 }, LIMITS),
      ).toEqual({
        status: 'updated',
        revoked: [],
      });
      expect((await s.accounts.get('alice'))?.rotation).toEqual(statement);
      expect((await s.accounts.get('alice'))?.masterKey).toEqual(masterKey);
    });

    it('lets exactly one of several concurrent updates from the same version win', async () => {
      const { devices } = await setup('alice');
      const results = await Promise.all(
        range(0, 6).map((i) =>
          s.accounts.replaceDeviceList(
            { user: 'alice', expectedVersion: 1, listVersion: 2 + i, deviceList: bytes(100), devices: [...devices, device(10 + i)], updatedAt: T0 },
            LIMITS,
          ),
        ),
      );
      expect(results.filter((r) => r.status === 'updated')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'stale')).toHaveLength(5);
      expect((await s.accounts.get('alice'))?.devices).toHaveLength(2);
    });

    it('revoking a device deletes its tokens, challenges, queue and prekeys, and nothing of the others', async () => {
      const d2 = device(2);
      const { devices, version } = await setup('bob', [d2]);
      const t1 = await token('bob', 1);
      const t2 = await token('bob', 2);
      const c2 = hash();
      expect(await s.auth.createChallenge({ hash: c2, user: 'bob', deviceId: 2, createdAt: T0, expiresAt: T0 + 60_000 }, 16)).toBe(true);
      expect(await send('bob', version, [1, 2])).toEqual({ status: 'stored' });
      expect(await s.mailboxes.countAll()).toBe(2);

      const r = await s.accounts.replaceDeviceList(
        { user: 'bob', expectedVersion: version, listVersion: version + 1, deviceList: bytes(100), devices: [devices[0] as DeviceRecord], updatedAt: T0 },
        LIMITS,
      );
      expect(r).toEqual({ status: 'updated', revoked: [2] });
      expect(await s.accounts.getDevice('bob', 2)).toBeUndefined();
      expect(await s.auth.findToken(t2.h, T0)).toBeUndefined();
      expect(await s.auth.consumeChallenge(c2, 'bob', 2, T0)).toBe(false);
      expect(await s.mailboxes.fetch('bob', 2, { limit: 10 })).toEqual([]);
      expect(await s.mailboxes.countAll()).toBe(1);
      expect(await s.prekeys.status('bob', 2)).toEqual({ oneTimePreKeys: 0, pqPreKeys: 0, signedPreKeyId: null, lastResortPqPreKeyId: null });
      expect(await s.prekeys.claim('bob', [2])).toEqual([{ status: 'unavailable', deviceId: 2 }]);
      // Device 1 untouched.
      expect((await s.auth.findToken(t1.h, T0))?.deviceId).toBe(1);
      expect(await s.mailboxes.fetch('bob', 1, { limit: 10 })).toHaveLength(1);
      expect((await s.prekeys.status('bob', 1)).oneTimePreKeys).toBe(3);
    });

    it('treats the same device id with new keys as a revocation plus a new device', async () => {
      const { version } = await setup('bob');
      const t1 = await token('bob', 1);
      expect(await send('bob', version, [1])).toEqual({ status: 'stored' });
      const replacement = device(1);
      const r = await s.accounts.replaceDeviceList(
        {
          user: 'bob',
          expectedVersion: version,
          listVersion: version + 1,
          deviceList: bytes(100),
          devices: [replacement],
          newDevice: { deviceId: 1, prekeys: batch({ spkId: 50, otkIds: [500] }) },
          updatedAt: T0,
        },
        LIMITS,
      );
      expect(r).toEqual({ status: 'updated', revoked: [1] });
      expectPlainBytes((await s.accounts.getDevice('bob', 1))?.signingKey as Uint8Array, replacement.signingKey);
      expect(await s.auth.findToken(t1.h, T0)).toBeUndefined();
      expect(await s.mailboxes.fetch('bob', 1, { limit: 10 })).toEqual([]);
      expect(await s.prekeys.status('bob', 1)).toEqual({ oneTimePreKeys: 1, pqPreKeys: 0, signedPreKeyId: 50, lastResortPqPreKeyId: null });
    });

    it('rejects an update whose newDevice is not a device added by the list, changing nothing', async () => {
      const { devices } = await setup('alice');
      await expect(
        s.accounts.replaceDeviceList(
          {
            user: 'alice',
            expectedVersion: 1,
            listVersion: 2,
            deviceList: bytes(100),
            devices,
            newDevice: { deviceId: 1, prekeys: fullBatch() },
            updatedAt: T0,
          },
          LIMITS,
        ),
      ).rejects.toThrow();
      expect((await s.accounts.get('alice'))?.listVersion).toBe(1);
      expect((await s.prekeys.status('alice', 1)).oneTimePreKeys).toBe(3);
    });
  });

  describe('prekeys', () => {
    it('uploads and counts; a new signed or last-resort prekey replaces the old one', async () => {
      await s.accounts.create(newAccount('alice', device(1), batch()), LIMITS);
      expect(await s.prekeys.status('alice', 1)).toEqual({ oneTimePreKeys: 0, pqPreKeys: 0, signedPreKeyId: null, lastResortPqPreKeyId: null });
      expect(await s.prekeys.upload('alice', 1, batch({ spkId: 1, otkIds: [1, 2, 3], pqIds: [1, 2], lrId: 1 }), LIMITS)).toEqual({ status: 'stored' });
      expect(await s.prekeys.status('alice', 1)).toEqual({ oneTimePreKeys: 3, pqPreKeys: 2, signedPreKeyId: 1, lastResortPqPreKeyId: 1 });
      expect(await s.prekeys.upload('alice', 1, batch({ spkId: 2, lrId: 5, otkIds: [4] }), LIMITS)).toEqual({ status: 'stored' });
      expect(await s.prekeys.status('alice', 1)).toEqual({ oneTimePreKeys: 4, pqPreKeys: 2, signedPreKeyId: 2, lastResortPqPreKeyId: 5 });
      const [c] = await s.prekeys.claim('alice', [1]);
      expect(c?.status === 'claimed' && c.signedPreKey.id).toBe(2);
    });

    it('refuses a batch reusing a stored one-time id, storing nothing of it', async () => {
      await setup('alice'); // X25519 ids 100..102, ML-KEM ids 10..11
      expect(await s.prekeys.upload('alice', 1, batch({ spkId: 9, otkIds: [200, 101] }), LIMITS)).toEqual({ status: 'duplicate_id' });
      expect(await s.prekeys.upload('alice', 1, batch({ pqIds: [20, 11] }), LIMITS)).toEqual({ status: 'duplicate_id' });
      expect(await s.prekeys.status('alice', 1)).toEqual({ oneTimePreKeys: 3, pqPreKeys: 2, signedPreKeyId: 1, lastResortPqPreKeyId: 2 });
      // The same ids on another kind or device are fine.
      expect(await s.prekeys.upload('alice', 1, batch({ otkIds: [10], pqIds: [100] }), LIMITS)).toEqual({ status: 'stored' });
    });

    it('refuses a batch that would exceed the stored one-time cap, per kind', async () => {
      await setup('alice');
      const limits = { maxStoredOneTime: 5 };
      expect(await s.prekeys.upload('alice', 1, batch({ otkIds: range(1, 3) }), limits)).toEqual({ status: 'too_many' });
      expect(await s.prekeys.upload('alice', 1, batch({ pqIds: range(1, 4) }), limits)).toEqual({ status: 'too_many' });
      expect(await s.prekeys.upload('alice', 1, batch({ otkIds: range(1, 2), pqIds: range(1, 3) }), limits)).toEqual({ status: 'stored' });
      expect(await s.prekeys.status('alice', 1)).toMatchObject({ oneTimePreKeys: 5, pqPreKeys: 5 });
    });

    it('never exceeds the cap under concurrent uploads', async () => {
      await s.accounts.create(newAccount('alice', device(1), batch()), LIMITS);
      const limits = { maxStoredOneTime: 10 };
      const results = await Promise.all(range(0, 8).map((i) => s.prekeys.upload('alice', 1, batch({ otkIds: range(i * 10, 3) }), limits)));
      expect(results.filter((r) => r.status === 'stored')).toHaveLength(3);
      expect((await s.prekeys.status('alice', 1)).oneTimePreKeys).toBe(9);
    });

    it('refuses uploads for unknown devices and for a device whose signing key changed', async () => {
      const { devices } = await setup('alice');
      const d1 = devices[0] as DeviceRecord;
      expect(await s.prekeys.upload('alice', 2, batch({ otkIds: [1] }), LIMITS)).toEqual({ status: 'unknown_device' });
      expect(await s.prekeys.upload('bob', 1, batch({ otkIds: [1] }), LIMITS)).toEqual({ status: 'unknown_device' });
      expect(await s.prekeys.upload('alice', 1, batch({ otkIds: [1] }), LIMITS, bytes(32))).toEqual({ status: 'unknown_device' });
      expect(await s.prekeys.upload('alice', 1, batch({ otkIds: [1] }), LIMITS, d1.signingKey)).toEqual({ status: 'stored' });
      expect(await s.prekeys.status('alice', 2)).toEqual({ oneTimePreKeys: 0, pqPreKeys: 0, signedPreKeyId: null, lastResortPqPreKeyId: null });
    });

    it('hands out one-time prekeys oldest first, once each, then the last-resort ML-KEM key', async () => {
      const { devices } = await setup('alice'); // X25519 100..102, ML-KEM 10..11, last resort 2
      await s.prekeys.upload('alice', 1, batch({ otkIds: [50], pqIds: [5] }), LIMITS);
      const seen: { otk: number | undefined; pq: number; lastResort: boolean; remaining: object }[] = [];
      for (let i = 0; i < 5; i++) {
        const [c] = await s.prekeys.claim('alice', [1]);
        if (c?.status !== 'claimed') throw new Error('expected a claim');
        expect(c.device.deviceId).toBe(1);
        expectPlainBytes(c.device.signingKey, (devices[0] as DeviceRecord).signingKey);
        expectPlainBytes(c.signedPreKey.publicKey);
        expectPlainBytes(c.pqPreKey.publicKey);
        expect(c.pqPreKey.signature).toHaveLength(64);
        if (c.oneTimePreKey) expectPlainBytes(c.oneTimePreKey.publicKey);
        seen.push({ otk: c.oneTimePreKey?.id, pq: c.pqPreKey.id, lastResort: c.pqPreKey.lastResort, remaining: c.remaining });
      }
      expect(seen).toEqual([
        { otk: 100, pq: 10, lastResort: false, remaining: { oneTimePreKeys: 3, pqPreKeys: 2 } },
        { otk: 101, pq: 11, lastResort: false, remaining: { oneTimePreKeys: 2, pqPreKeys: 1 } },
        { otk: 102, pq: 5, lastResort: false, remaining: { oneTimePreKeys: 1, pqPreKeys: 0 } },
        { otk: 50, pq: 2, lastResort: true, remaining: { oneTimePreKeys: 0, pqPreKeys: 0 } },
        { otk: undefined, pq: 2, lastResort: true, remaining: { oneTimePreKeys: 0, pqPreKeys: 0 } },
      ]);
      expect(await s.prekeys.status('alice', 1)).toMatchObject({ oneTimePreKeys: 0, pqPreKeys: 0, lastResortPqPreKeyId: 2 });
    });

    it('claims for several devices at once, reporting non-current ones unavailable', async () => {
      await setup('alice', [device(2)]);
      const r = await s.prekeys.claim('alice', [2, 9, 1]);
      expect(r.map((c) => [c.status, c.status === 'claimed' ? c.device.deviceId : c.deviceId])).toEqual([
        ['claimed', 2],
        ['unavailable', 9],
        ['claimed', 1],
      ]);
      expect(await s.prekeys.claim('nobody', [1])).toEqual([{ status: 'unavailable', deviceId: 1 }]);
    });

    it('spares the one-time prekeys of the devices asked (last-resort ML-KEM key, no X25519 one-time key)', async () => {
      await setup('alice', [device(2)]); // each: X25519 ids 100..102, ML-KEM ids 10..11, last resort 2
      await s.accounts.create(newAccount('nolr', device(1), batch({ spkId: 1, otkIds: [1], pqIds: [7] })), LIMITS);
      const r = await s.prekeys.claim('alice', [1, 2], { withoutOneTime: new Set([2]) });
      expect(r.map((c) => (c.status === 'claimed' ? [c.device.deviceId, c.oneTimePreKey?.id, c.pqPreKey.id, c.pqPreKey.lastResort] : c))).toEqual([
        [1, 100, 10, false],
        [2, undefined, 2, true],
      ]);
      expect(await s.prekeys.status('alice', 2)).toMatchObject({ oneTimePreKeys: 3, pqPreKeys: 2 });
      // Without a last-resort key, a one-time ML-KEM key is still better than no bundle.
      const [c] = await s.prekeys.claim('nolr', [1], { withoutOneTime: new Set([1]) });
      expect(c?.status === 'claimed' && [c.oneTimePreKey, c.pqPreKey.id, c.pqPreKey.lastResort]).toEqual([undefined, 7, false]);
      expect(await s.prekeys.status('nolr', 1)).toMatchObject({ oneTimePreKeys: 1, pqPreKeys: 0 });
    });

    it('reports a device without a signed prekey or any ML-KEM prekey unavailable, consuming nothing', async () => {
      await s.accounts.create(newAccount('nospk', device(1), batch({ otkIds: [1], pqIds: [1], lrId: 1 })), LIMITS);
      await s.accounts.create(newAccount('nopq', device(1), batch({ spkId: 1, otkIds: [1] })), LIMITS);
      expect(await s.prekeys.claim('nospk', [1])).toEqual([{ status: 'unavailable', deviceId: 1 }]);
      expect(await s.prekeys.claim('nopq', [1])).toEqual([{ status: 'unavailable', deviceId: 1 }]);
      expect(await s.prekeys.status('nospk', 1)).toMatchObject({ oneTimePreKeys: 1, pqPreKeys: 1 });
      expect(await s.prekeys.status('nopq', 1)).toMatchObject({ oneTimePreKeys: 1, pqPreKeys: 0 });
    });

    it('never hands the same one-time key to two of many concurrent claims', async () => {
      await s.accounts.create(newAccount('alice', device(1), batch({ spkId: 1, otkIds: range(1, 40), pqIds: range(1, 30), lrId: 999 })), LIMITS);
      const claims = (await Promise.all(range(0, 50).map(() => s.prekeys.claim('alice', [1])))).flat();
      const otks: number[] = [];
      const pqs: number[] = [];
      let lastResort = 0;
      for (const c of claims) {
        if (c.status !== 'claimed') throw new Error('expected a claim');
        if (c.oneTimePreKey) otks.push(c.oneTimePreKey.id);
        if (c.pqPreKey.lastResort) lastResort++;
        else pqs.push(c.pqPreKey.id);
      }
      expect(otks).toHaveLength(40);
      expect(new Set(otks).size).toBe(40);
      expect(pqs).toHaveLength(30);
      expect(new Set(pqs).size).toBe(30);
      expect(lastResort).toBe(20);
      expect(await s.prekeys.status('alice', 1)).toMatchObject({ oneTimePreKeys: 0, pqPreKeys: 0 });
    });
  });

  describe('mailboxes', () => {
    it('stores and fetches in order with every field, after a sequence number and up to a limit', async () => {
      const { version } = await setup('bob');
      const bodies = range(0, 5).map((i) => new Uint8Array([i, i, i]));
      const ids: Uint8Array[] = [];
      for (const [i, body] of bodies.entries()) {
        const id = bytes(16);
        ids.push(id);
        expect(
          await s.mailboxes.enqueue({
            to: 'bob',
            expectedListVersion: version,
            fromUser: 'alice',
            fromDevice: 3,
            sentAt: T0 + i,
            messages: [{ id, deviceId: 1, body }],
            maxQueued: 100,
          }),
        ).toEqual({ status: 'stored' });
      }
      const all = await s.mailboxes.fetch('bob', 1, { limit: 100 });
      expect(all).toHaveLength(5);
      for (const [i, m] of all.entries()) {
        expectPlainBytes(m.id, ids[i]);
        expectPlainBytes(m.body, bodies[i]);
        expect(m).toMatchObject({ fromUser: 'alice', fromDevice: 3, sentAt: T0 + i });
        expect(Number.isSafeInteger(m.seq)).toBe(true);
      }
      const seqs = all.map((m) => m.seq);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      expect(new Set(seqs).size).toBe(5);
      expect((await s.mailboxes.fetch('bob', 1, { limit: 2 })).map((m) => m.seq)).toEqual(seqs.slice(0, 2));
      expect((await s.mailboxes.fetch('bob', 1, { limit: 2, afterSeq: seqs[1] })).map((m) => m.seq)).toEqual(seqs.slice(2, 4));
      expect(await s.mailboxes.fetch('bob', 1, { limit: 10, afterSeq: seqs[4] })).toEqual([]);
      // Fetching does not remove anything.
      expect(await s.mailboxes.fetch('bob', 1, { limit: 100 })).toHaveLength(5);
      expect(await s.mailboxes.fetch('bob', 2, { limit: 100 })).toEqual([]);
      expect(await s.mailboxes.fetch('nobody', 1, { limit: 100 })).toEqual([]);
    });

    it('stops a fetch at maxBytes, but always returns the first message', async () => {
      const { version } = await setup('bob');
      for (let i = 0; i < 4; i++) await send('bob', version, [1], { body: bytes(100) });
      expect(await s.mailboxes.fetch('bob', 1, { limit: 10, maxBytes: 250 })).toHaveLength(2);
      expect(await s.mailboxes.fetch('bob', 1, { limit: 10, maxBytes: 200 })).toHaveLength(2);
      expect(await s.mailboxes.fetch('bob', 1, { limit: 10, maxBytes: 10 })).toHaveLength(1);
    });

    it('keeps one queue per device, and a sequence that grows across the store', async () => {
      const { version } = await setup('bob', [device(2)]);
      await setup('carol');
      await send('bob', version, [1, 2]);
      await send('carol', 1, [1]);
      await send('bob', version, [2]);
      const q1 = await s.mailboxes.fetch('bob', 1, { limit: 10 });
      const q2 = await s.mailboxes.fetch('bob', 2, { limit: 10 });
      const qc = await s.mailboxes.fetch('carol', 1, { limit: 10 });
      expect([q1.length, q2.length, qc.length]).toEqual([1, 2, 1]);
      expect((q2[1] as StoredMessage).seq).toBeGreaterThan((qc[0] as StoredMessage).seq);
      expect(await s.mailboxes.countAll()).toBe(4);
    });

    it('refuses a send checked against an older device list (or an unknown user), storing nothing', async () => {
      const { version } = await setup('bob', [device(2)]);
      expect(await send('bob', version - 1, [1])).toEqual({ status: 'stale_list' });
      expect(await send('nobody', 1, [1])).toEqual({ status: 'stale_list' });
      expect(await s.mailboxes.countAll()).toBe(0);
    });

    it('refuses a send to a full queue, storing none of its messages', async () => {
      const { version } = await setup('bob', [device(2)]);
      expect(await send('bob', version, [1, 2], { maxQueued: 2 })).toEqual({ status: 'stored' });
      expect(await send('bob', version, [1], { maxQueued: 2 })).toEqual({ status: 'stored' });
      expect(await send('bob', version, [1, 2], { maxQueued: 2 })).toEqual({ status: 'queue_full', deviceIds: [1] });
      expect(await s.mailboxes.fetch('bob', 2, { limit: 10 })).toHaveLength(1);
      expect(await s.mailboxes.countAll()).toBe(3);
      // Acknowledging makes room again: the counter follows deletions.
      const [first] = await s.mailboxes.fetch('bob', 1, { limit: 1 });
      expect(await s.mailboxes.ack('bob', 1, [(first as StoredMessage).id])).toBe(1);
      expect(await send('bob', version, [1, 2], { maxQueued: 2 })).toEqual({ status: 'stored' });
      expect(await send('bob', version, [2], { maxQueued: 2 })).toEqual({ status: 'queue_full', deviceIds: [2] });
      expect(await s.mailboxes.countAll()).toBe(4);
    });

    it('stores several sends in one call, each on its own: one refused send stores nothing and stops none of the others', async () => {
      const { version } = await setup('bob', [device(2)]);
      await setup('carol');
      const one = (to: string, v: number, deviceIds: number[], maxQueued: number) => ({
        to,
        expectedListVersion: v,
        fromUser: 'alice',
        fromDevice: 3,
        sentAt: T0,
        messages: deviceIds.map((deviceId) => ({ id: bytes(16), deviceId, body: bytes(10) })),
        maxQueued,
      });
      const sends = [
        one('bob', version, [1, 2], 2),
        one('bob', version - 1, [1, 2], 2),
        one('carol', 1, [1], 2),
        one('bob', version, [1, 2], 2),
        // Bob's device 1 now holds 2 (the cap): the sends before this one in the same call count.
        one('bob', version, [1, 2], 2),
        one('nobody', 1, [1], 2),
        one('carol', 1, [1], 2),
      ];
      expect(await s.mailboxes.enqueueMany([])).toEqual([]);
      const results = await s.mailboxes.enqueueMany(sends);
      const stored = { status: 'stored' };
      const stale = { status: 'stale_list' };
      // Concurrent stores (one transaction per send) may refuse another of bob's three instead; the
      // counts are what every store must agree on.
      expect(results).toHaveLength(7);
      expect([results[1], results[2], results[5], results[6]]).toEqual([stale, stored, stale, stored]);
      expect([results[0], results[3], results[4]].filter((r) => r?.status === 'stored')).toHaveLength(2);
      expect([results[0], results[3], results[4]].filter((r) => r?.status === 'queue_full')).toEqual([{ status: 'queue_full', deviceIds: [1, 2] }]);
      const bob1 = await s.mailboxes.fetch('bob', 1, { limit: 10 });
      const bob2 = await s.mailboxes.fetch('bob', 2, { limit: 10 });
      expect([bob1.length, bob2.length, (await s.mailboxes.fetch('carol', 1, { limit: 10 })).length]).toEqual([2, 2, 2]);
      // What is queued is exactly the messages of the sends answered `stored`, each on its device.
      const hex = (id: Uint8Array) => Buffer.from(id).toString('hex');
      const expected = (to: string, deviceId: number) =>
        sends
          .filter((q, i) => q.to === to && results[i]?.status === 'stored')
          .flatMap((q) => q.messages.filter((m) => m.deviceId === deviceId).map((m) => hex(m.id)))
          .sort();
      expect(bob1.map((m) => hex(m.id)).sort()).toEqual(expected('bob', 1));
      expect(bob2.map((m) => hex(m.id)).sort()).toEqual(expected('bob', 2));
      expect(await s.mailboxes.countAll()).toBe(6);
    });

    it('never exceeds the queue cap under concurrent sends', async () => {
      const { version } = await setup('bob');
      const results = await Promise.all(range(0, 12).map(() => send('bob', version, [1], { maxQueued: 5 })));
      expect(results.filter((r) => r.status === 'stored')).toHaveLength(5);
      expect(results.filter((r) => r.status === 'queue_full')).toHaveLength(7);
      expect(await s.mailboxes.fetch('bob', 1, { limit: 100 })).toHaveLength(5);
      expect(await s.mailboxes.countAll()).toBe(5);
    });

    it('acknowledges only messages queued for the acknowledging device', async () => {
      const { version } = await setup('bob', [device(2)]);
      await send('bob', version, [1, 2]);
      await send('bob', version, [1]);
      const q1 = await s.mailboxes.fetch('bob', 1, { limit: 10 });
      const q2 = await s.mailboxes.fetch('bob', 2, { limit: 10 });
      const id2 = (q2[0] as StoredMessage).id;
      expect(await s.mailboxes.ack('bob', 1, [id2])).toBe(0);
      expect(await s.mailboxes.ack('alice', 2, [id2])).toBe(0);
      expect(await s.mailboxes.ack('bob', 1, [])).toBe(0);
      expect(await s.mailboxes.ack('bob', 1, [bytes(16)])).toBe(0);
      expect(await s.mailboxes.ack('bob', 1, [...q1.map((m) => m.id), bytes(16)])).toBe(2);
      expect(
        await s.mailboxes.ack(
          'bob',
          1,
          q1.map((m) => m.id),
        ),
      ).toBe(0);
      expect(await s.mailboxes.fetch('bob', 1, { limit: 10 })).toEqual([]);
      expect(await s.mailboxes.fetch('bob', 2, { limit: 10 })).toHaveLength(1);
      expect(await s.mailboxes.countAll()).toBe(1);
    });
  });

  describe('auth', () => {
    it('consumes a challenge once, only for its own device, only before expiry', async () => {
      await setup('alice', [device(2)]);
      const mk = async (expiresAt: number) => {
        const h = hash();
        expect(await s.auth.createChallenge({ hash: h, user: 'alice', deviceId: 1, createdAt: T0, expiresAt }, 16)).toBe(true);
        return h;
      };
      const c = await mk(T0 + 60_000);
      expect(await s.auth.consumeChallenge(c, 'alice', 1, T0 + 1)).toBe(true);
      expect(await s.auth.consumeChallenge(c, 'alice', 1, T0 + 1)).toBe(false);
      // The wrong device uses it up all the same.
      const other = await mk(T0 + 60_000);
      expect(await s.auth.consumeChallenge(other, 'alice', 2, T0)).toBe(false);
      expect(await s.auth.consumeChallenge(other, 'alice', 1, T0)).toBe(false);
      const expired = await mk(T0 + 60_000);
      expect(await s.auth.consumeChallenge(expired, 'alice', 1, T0 + 60_000)).toBe(false);
      expect(await s.auth.consumeChallenge(expired, 'alice', 1, T0)).toBe(false);
      // Looked up by exactly its hash.
      const h = await mk(T0 + 60_000);
      const near = new Uint8Array(h);
      near[31] = (near[31] as number) ^ 1;
      expect(await s.auth.consumeChallenge(near, 'alice', 1, T0)).toBe(false);
      expect(await s.auth.consumeChallenge(h, 'alice', 1, T0)).toBe(true);
    });

    it('lets only one of many concurrent consumptions of a challenge succeed', async () => {
      await setup('alice');
      const c = hash();
      await s.auth.createChallenge({ hash: c, user: 'alice', deviceId: 1, createdAt: T0, expiresAt: T0 + 60_000 }, 16);
      const results = await Promise.all(range(0, 10).map(() => s.auth.consumeChallenge(c, 'alice', 1, T0)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('keeps at most maxOutstanding challenges per device, dropping the oldest', async () => {
      await setup('alice');
      const hs: Uint8Array[] = [];
      for (let i = 0; i < 4; i++) {
        const h = hash();
        hs.push(h);
        expect(await s.auth.createChallenge({ hash: h, user: 'alice', deviceId: 1, createdAt: T0 + i, expiresAt: T0 + 60_000 }, 3)).toBe(true);
      }
      expect(await s.auth.consumeChallenge(hs[0] as Uint8Array, 'alice', 1, T0)).toBe(false);
      for (const h of hs.slice(1)) expect(await s.auth.consumeChallenge(h, 'alice', 1, T0)).toBe(true);
    });

    it('counts the challenge cap per requester: a flood from one requester never evicts another', async () => {
      await setup('alice');
      const owner = new Uint8Array(16).fill(1);
      const mine = hash();
      expect(await s.auth.createChallenge({ hash: mine, user: 'alice', deviceId: 1, createdAt: T0, expiresAt: T0 + 60_000, requester: owner }, 3)).toBe(true);
      const theirs: Uint8Array[] = [];
      for (let i = 1; i <= 5; i++) {
        const h = hash();
        theirs.push(h);
        const c = { hash: h, user: 'alice', deviceId: 1, createdAt: T0 + i, expiresAt: T0 + 60_000, requester: new Uint8Array(16).fill(2) };
        expect(await s.auth.createChallenge(c, 3)).toBe(true);
      }
      expect(await s.auth.consumeChallenge(mine, 'alice', 1, T0)).toBe(true);
      // The flooding requester only displaced its own oldest challenges.
      expect(await s.auth.consumeChallenge(theirs[0] as Uint8Array, 'alice', 1, T0)).toBe(false);
      expect(await s.auth.consumeChallenge(theirs[4] as Uint8Array, 'alice', 1, T0)).toBe(true);
    });

    it('refuses challenges and tokens for devices not in the list', async () => {
      await setup('alice');
      expect(await s.auth.createChallenge({ hash: hash(), user: 'alice', deviceId: 2, createdAt: T0, expiresAt: T0 + 1 }, 16)).toBe(false);
      expect(await s.auth.createChallenge({ hash: hash(), user: 'bob', deviceId: 1, createdAt: T0, expiresAt: T0 + 1 }, 16)).toBe(false);
      expect((await token('alice', 2)).ok).toBe(false);
      expect((await token('bob', 1)).ok).toBe(false);
    });

    it('finds a token by its hash until it expires', async () => {
      await setup('alice');
      const { h, ok } = await token('alice', 1, { expiresAt: T0 + 1000 });
      expect(ok).toBe(true);
      const found = await s.auth.findToken(h, T0);
      expect(found).toEqual({ user: 'alice', deviceId: 1, expiresAt: T0 + 1000, signingKey: expect.any(Uint8Array) });
      // The device's key as listed, read with the token (the relay checks signed requests against it).
      expect(found?.signingKey).toEqual((await s.accounts.getDevice('alice', 1))?.signingKey);
      expect(await s.auth.findToken(h, T0 + 999)).toBeDefined();
      expect(await s.auth.findToken(h, T0 + 1000)).toBeUndefined();
      expect(await s.auth.findToken(hash(), T0)).toBeUndefined();
    });

    it('refuses a token when the device no longer has the signing key the caller checked', async () => {
      const { devices } = await setup('alice');
      expect((await token('alice', 1, { signingKey: bytes(32) })).ok).toBe(false);
      const { h, ok } = await token('alice', 1, { signingKey: (devices[0] as DeviceRecord).signingKey });
      expect(ok).toBe(true);
      expect((await s.auth.findToken(h, T0))?.user).toBe('alice');
    });

    it('keeps at most maxPerDevice tokens per device, dropping the oldest', async () => {
      await setup('alice');
      const ts = [];
      for (let i = 0; i < 4; i++) ts.push(await token('alice', 1, { createdAt: T0 + i, max: 3 }));
      expect(await s.auth.findToken(ts[0]?.h as Uint8Array, T0)).toBeUndefined();
      for (const t of ts.slice(1)) expect(await s.auth.findToken(t.h, T0)).toBeDefined();
    });

    it('prunes expired challenges, tokens and provisioning channels, and only those', async () => {
      await setup('alice');
      const live = await token('alice', 1, { expiresAt: T0 + 2000 });
      const dead = await token('alice', 1, { expiresAt: T0 + 1000 });
      const deadChallenge = hash();
      await s.auth.createChallenge({ hash: deadChallenge, user: 'alice', deviceId: 1, createdAt: T0, expiresAt: T0 + 1000 }, 16);
      const liveChallenge = hash();
      await s.auth.createChallenge({ hash: liveChallenge, user: 'alice', deviceId: 1, createdAt: T0 + 1, expiresAt: T0 + 2000 }, 16);
      for (let i = 0; i < 2; i++) expect(await s.provisioning.createChannel(hash(), T0, T0 + 1000, 3)).toBe(true);
      expect(await s.provisioning.createChannel(hash(), T0, T0 + 2000, 3)).toBe(true);
      await s.pruneExpired(T0 + 1000);
      // Looking "back in time" shows what is gone from the store, not just hidden by expiry.
      expect(await s.auth.findToken(dead.h, T0)).toBeUndefined();
      expect(await s.auth.findToken(live.h, T0)).toBeDefined();
      expect(await s.auth.consumeChallenge(deadChallenge, 'alice', 1, T0)).toBe(false);
      expect(await s.auth.consumeChallenge(liveChallenge, 'alice', 1, T0)).toBe(true);
      // Two channels were pruned: two more fit under the cap of 3 even at T0.
      expect(await s.provisioning.createChannel(hash(), T0, T0 + 2000, 3)).toBe(true);
      expect(await s.provisioning.createChannel(hash(), T0, T0 + 2000, 3)).toBe(true);
      expect(await s.provisioning.createChannel(hash(), T0, T0 + 2000, 3)).toBe(false);
    });
  });

  describe('provisioning', () => {
    it('takes a channel through empty → envelope (once) → used up', async () => {
      const ch = hash();
      expect(await s.provisioning.createChannel(ch, T0, T0 + 600_000, 10)).toBe(true);
      expect(await s.provisioning.takeEnvelope(ch, T0)).toEqual({ status: 'empty' });
      const env = bytes(500);
      expect(await s.provisioning.putEnvelope(ch, env, T0 + 1)).toBe('stored');
      expect(await s.provisioning.putEnvelope(ch, bytes(10), T0 + 2)).toBe('already_set');
      const got = await s.provisioning.takeEnvelope(ch, T0 + 3);
      expect(got.status).toBe('envelope');
      if (got.status === 'envelope') expectPlainBytes(got.envelope, env);
      expect(await s.provisioning.takeEnvelope(ch, T0 + 4)).toEqual({ status: 'not_found' });
      expect(await s.provisioning.putEnvelope(ch, bytes(10), T0 + 5)).toBe('already_set');
    });

    it('knows no unknown or expired channel', async () => {
      expect(await s.provisioning.putEnvelope(hash(), bytes(10), T0)).toBe('not_found');
      expect(await s.provisioning.takeEnvelope(hash(), T0)).toEqual({ status: 'not_found' });
      const ch = hash();
      await s.provisioning.createChannel(ch, T0, T0 + 1000, 10);
      expect(await s.provisioning.putEnvelope(ch, bytes(10), T0 + 1000)).toBe('not_found');
      const late = hash();
      await s.provisioning.createChannel(late, T0, T0 + 1000, 10);
      expect(await s.provisioning.putEnvelope(late, bytes(10), T0 + 999)).toBe('stored');
      expect(await s.provisioning.takeEnvelope(late, T0 + 1000)).toEqual({ status: 'not_found' });
    });

    it('hands an envelope to exactly one of many concurrent takers', async () => {
      const ch = hash();
      await s.provisioning.createChannel(ch, T0, T0 + 1000, 10);
      await s.provisioning.putEnvelope(ch, bytes(10), T0);
      const results = await Promise.all(range(0, 8).map(() => s.provisioning.takeEnvelope(ch, T0)));
      expect(results.filter((r) => r.status === 'envelope')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'not_found')).toHaveLength(7);
    });

    it('caps open channels, counting only unexpired ones', async () => {
      expect(await s.provisioning.createChannel(hash(), T0, T0 + 1000, 2)).toBe(true);
      expect(await s.provisioning.createChannel(hash(), T0, T0 + 5000, 2)).toBe(true);
      expect(await s.provisioning.createChannel(hash(), T0, T0 + 5000, 2)).toBe(false);
      expect(await s.provisioning.createChannel(hash(), T0 + 1000, T0 + 5000, 2)).toBe(true);
      const results = await Promise.all(range(0, 6).map(() => s.provisioning.createChannel(hash(), T0 + 1000, T0 + 5000, 4)));
      expect(results.filter(Boolean)).toHaveLength(2);
    });
  });

  filesConformance(() => s);
  accountDeletionConformance(() => s);
  recordsConformance(() => s);
  requestGuardsConformance(() => s);
  rateLimitsConformance(() => s);
  backupsConformance(() => s);

  describe('lifecycle', () => {
    it('rejects writes after close, and closing twice is harmless', async () => {
      await s.close();
      await expect(s.accounts.create(newAccount('late'), LIMITS)).rejects.toThrow();
      await s.close();
    });
  });
}
