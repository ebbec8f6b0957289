/**
 * Account deletion in the storage conformance suite (storage/types.ts `AccountRepository.delete`,
 * docs/API.md §1a), through the interface only: everything keyed by the user goes, in one step,
 * and nothing of anyone else; a stale version changes nothing; the name can be registered again.
 * Registered by storageConformance(). The byte-level proof (nothing left in the files or rows)
 * is in packages/cli/test/account-deletion-e2e.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DeviceRecord, NewFile, Storage } from '../src/storage/types.js';

const T0 = 1_700_000_000_000;
const LIMITS = { maxStoredOneTime: 100 };
const FILE_LIMITS = { maxFilesPerUser: 10, userQuotaBytes: 1_000_000 };
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

export function accountDeletionConformance(store: () => Storage): void {
  const s = () => store();
  const device = (deviceId: number): DeviceRecord => ({ deviceId, signingKey: bytes(32), identityKey: bytes(32) });
  const prekeys = () => ({
    signedPreKey: { id: 1, publicKey: bytes(32), signature: bytes(64) },
    oneTimePreKeys: [{ id: 5, publicKey: bytes(32) }],
    pqPreKeys: [{ id: 6, publicKey: bytes(1184), signature: bytes(64) }],
    lastResortPqPreKey: { id: 7, publicKey: bytes(1184), signature: bytes(64) },
  });
  async function user(name: string, devices: DeviceRecord[]): Promise<number> {
    const [first, ...rest] = devices as [DeviceRecord, ...DeviceRecord[]];
    expect(
      await s().accounts.create(
        { user: name, masterKey: bytes(32), listVersion: 1, deviceList: bytes(100), device: first, prekeys: prekeys(), createdAt: T0 },
        LIMITS,
      ),
    ).toBe('created');
    let version = 1;
    const listed = [first];
    for (const d of rest) {
      listed.push(d);
      const r = await s().accounts.replaceDeviceList(
        {
          user: name,
          expectedVersion: version,
          listVersion: version + 1,
          deviceList: bytes(100),
          devices: [...listed],
          newDevice: { deviceId: d.deviceId, prekeys: prekeys() },
          updatedAt: T0,
        },
        LIMITS,
      );
      expect(r.status).toBe('updated');
      version++;
    }
    return version;
  }
  const send = (from: string, fromDevice: number, to: string, version: number, deviceIds: number[]) =>
    s().mailboxes.enqueue({
      to,
      expectedListVersion: version,
      fromUser: from,
      fromDevice,
      sentAt: T0,
      messages: deviceIds.map((deviceId) => ({ id: bytes(16), deviceId, body: bytes(20) })),
      maxQueued: 100,
    });
  const newFile = (owner: string, readers: string[]): NewFile => ({
    id: bytes(16),
    owner,
    readers,
    header: bytes(200),
    meta: bytes(40),
    payloadSize: 64,
    createdAt: T0,
  });
  async function storeFile(f: NewFile): Promise<void> {
    expect(await s().files.create(f, FILE_LIMITS)).toEqual({ status: 'created' });
    const token = bytes(16);
    expect(await s().files.beginAppend({ id: f.id, owner: f.owner, version: 1, offset: 0, length: 64, token, now: T0, leaseUntil: T0 + 60_000 })).toEqual({
      status: 'ok',
    });
    await s().blobs.append({ fileId: f.id, version: 1 }, 0, bytes(64));
    expect((await s().files.finishAppend(f.id, 1, token, 64, T0)).status).toBe('appended');
  }
  const hasBlob = async (id: Uint8Array) => (await s().blobs.list()).some((k) => Buffer.compare(k.fileId, id) === 0);

  describe('account deletion', () => {
    it('deletes everything keyed by the user, and nothing of anyone else', async () => {
      const [z1, z2] = [device(11), device(12)];
      const zv = await user('zebra', [z1, z2]);
      const bv = await user('bob', [device(1)]);
      const cv = await user('carol', [device(1)]);
      // Queues: to zebra, from zebra to others, and between others (the control).
      expect(await send('bob', 1, 'zebra', zv, [11, 12])).toEqual({ status: 'stored' });
      expect(await send('zebra', 11, 'bob', bv, [1])).toEqual({ status: 'stored' });
      expect(await send('zebra', 12, 'carol', cv, [1])).toEqual({ status: 'stored' });
      expect(await send('bob', 1, 'carol', cv, [1])).toEqual({ status: 'stored' });
      // Tokens, challenges, nonces, send marks of zebra's devices (and bob's, the control).
      const zToken = bytes(32);
      const bToken = bytes(32);
      expect(await s().auth.createToken({ hash: zToken, user: 'zebra', deviceId: 11, createdAt: T0, expiresAt: T0 + 1e6 }, 8)).toBe(true);
      expect(await s().auth.createToken({ hash: bToken, user: 'bob', deviceId: 1, createdAt: T0, expiresAt: T0 + 1e6 }, 8)).toBe(true);
      expect(await s().auth.createChallenge({ hash: bytes(32), user: 'zebra', deviceId: 12, createdAt: T0, expiresAt: T0 + 1e6 }, 8)).toBe(true);
      const nonce = bytes(16);
      expect(await s().requestNonces.use('zebra', 11, nonce, T0 + 1e6, z1.signingKey)).toBe('recorded');
      expect((await s().sendMarks.raise('zebra', 12, { mark: 3, signature: bytes(64), digest: bytes(32) }, z2.signingKey)).status).toBe('raised');
      // Files: zebra's own (read by bob), bob's read by zebra and carol.
      const own = newFile('zebra', ['bob']);
      const shared = newFile('bob', ['carol', 'zebra']);
      await storeFile(own);
      await storeFile(shared);
      // Its key backup with a login in progress (and bob's, the control).
      const backup = { kind: 2, wrappedKey: bytes(65), opaqueRecord: 'record-zebra' } as const;
      expect((await s().backups.put('zebra', backup, bytes(50), T0)).status).toBe('stored');
      expect((await s().backups.put('bob', { ...backup, opaqueRecord: 'record-bob' }, bytes(50), T0)).status).toBe('stored');
      const login = bytes(32);
      expect((await s().backups.startLogin('zebra', login, 'state', T0 + 60_000, 10, T0)).status).toBe('started');
      // Encrypted records: zebra's collection (bob a member) with a record, and bob's with zebra a member.
      const RECORD_LIMITS = { maxCollectionsPerUser: 10, maxRecordsPerCollection: 100, maxCollectionMembers: 10 };
      const zColl = bytes(16);
      const bColl = bytes(16);
      expect(
        await s().records.createCollection({ id: zColl, owner: 'zebra', epoch: 0, meta: bytes(50), members: ['bob'], createdAt: T0 }, RECORD_LIMITS),
      ).toEqual({ status: 'created' });
      expect(
        await s().records.createCollection({ id: bColl, owner: 'bob', epoch: 0, meta: bytes(50), members: ['zebra'], createdAt: T0 }, RECORD_LIMITS),
      ).toEqual({ status: 'created' });
      const rec = { id: bytes(16), epoch: 0, body: bytes(60), postings: [{ index: 0, token: 42 }] };
      expect((await s().records.putRecord(zColl, 'zebra', rec, RECORD_LIMITS, T0)).status).toBe('stored');
      const before = await s().mailboxes.countAll();
      expect(before).toBe(5);

      expect(await s().accounts.delete({ user: 'zebra', expectedListVersion: zv })).toEqual({ status: 'deleted', devices: [11, 12] });

      expect(await s().accounts.get('zebra')).toBeUndefined();
      expect(await s().accounts.getDevice('zebra', 11)).toBeUndefined();
      expect(await s().prekeys.status('zebra', 11)).toEqual({ oneTimePreKeys: 0, pqPreKeys: 0, signedPreKeyId: null, lastResortPqPreKeyId: null });
      expect(await s().mailboxes.fetch('zebra', 11, { limit: 100 })).toEqual([]);
      // zebra's messages waiting for bob and carol are gone; bob's message to carol stays.
      expect(await s().mailboxes.fetch('bob', 1, { limit: 100 })).toEqual([]);
      const carol = await s().mailboxes.fetch('carol', 1, { limit: 100 });
      expect(carol.map((m) => m.fromUser)).toEqual(['bob']);
      expect(await s().mailboxes.countAll()).toBe(1);
      expect(await s().auth.findToken(zToken, T0)).toBeUndefined();
      expect(await s().auth.findToken(bToken, T0)).toMatchObject({ user: 'bob', deviceId: 1 });
      expect(await s().sendMarks.get('zebra', 12)).toBeUndefined();
      // Its files and their payloads are gone; it is no longer a reader of bob's file.
      expect(await s().files.get(own.id)).toBeUndefined();
      expect(await hasBlob(own.id)).toBe(false);
      expect((await s().files.get(shared.id))?.readers).toEqual(['carol']);
      expect(await hasBlob(shared.id)).toBe(true);
      expect((await s().files.list('zebra', { limit: 10 })).length).toBe(0);
      // Its collections and records are gone; it is no longer a member of bob's.
      expect(await s().records.getCollection(zColl, 'bob')).toBeUndefined();
      expect(await s().records.listCollections('zebra')).toEqual([]);
      expect((await s().records.getCollection(bColl, 'bob'))?.members).toEqual([]);
      // Its backup and login state are gone; bob's backup stays.
      expect(await s().backups.get('zebra')).toBeUndefined();
      expect(await s().backups.takeLogin('zebra', login, T0)).toBeUndefined();
      expect(await s().backups.get('bob')).toBeDefined();
      // bob and carol are untouched.
      expect((await s().accounts.get('bob'))?.listVersion).toBe(bv);
      expect(await s().prekeys.status('bob', 1)).toMatchObject({ oneTimePreKeys: 1, signedPreKeyId: 1 });

      // Once only.
      expect(await s().accounts.delete({ user: 'zebra', expectedListVersion: zv })).toEqual({ status: 'not_found' });
    });

    it('changes nothing when the device list moved on (stale) or the user is unknown', async () => {
      const v = await user('zebra', [device(11)]);
      expect(await send('zebra', 11, 'zebra', v, [11])).toEqual({ status: 'stored' });
      expect(await s().accounts.delete({ user: 'zebra', expectedListVersion: v + 1 })).toEqual({ status: 'stale' });
      expect(await s().accounts.delete({ user: 'Zebra', expectedListVersion: v })).toEqual({ status: 'not_found' });
      expect((await s().accounts.get('zebra'))?.devices.map((d) => d.deviceId)).toEqual([11]);
      expect(await s().mailboxes.fetch('zebra', 11, { limit: 10 })).toHaveLength(1);
      expect(await s().prekeys.status('zebra', 11)).toMatchObject({ oneTimePreKeys: 1 });
    });

    it('lets the name be registered again, with nothing of the deleted account', async () => {
      const v = await user('zebra', [device(11), device(12)]);
      expect(await send('zebra', 11, 'zebra', v, [11, 12])).toEqual({ status: 'stored' });
      expect((await s().accounts.delete({ user: 'zebra', expectedListVersion: v })).status).toBe('deleted');
      const fresh = device(11);
      expect(await user('zebra', [fresh])).toBe(1);
      const got = await s().accounts.get('zebra');
      expect(got?.devices.map((d) => d.deviceId)).toEqual([11]);
      expect(Buffer.compare(got?.devices[0]?.signingKey as Uint8Array, fresh.signingKey)).toBe(0);
      expect(await s().mailboxes.fetch('zebra', 11, { limit: 10 })).toEqual([]);
      expect(await s().mailboxes.countAll()).toBe(0);
    });

    it('of concurrent deletions of one account exactly one deletes', async () => {
      const v = await user('zebra', [device(11)]);
      const results = await Promise.all(Array.from({ length: 4 }, () => s().accounts.delete({ user: 'zebra', expectedListVersion: v })));
      expect(results.filter((r) => r.status === 'deleted')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'not_found')).toHaveLength(3);
    });
  });
}
