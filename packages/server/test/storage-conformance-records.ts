/**
 * The records part of the storage conformance suite (records-types.ts, docs/API.md §10): access
 * (owner, member, anyone else = not_found), epochs, revisions, caps, postings replaced and
 * deleted with their record, AND / OR queries with paging. Registered by storageConformance().
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CollectionLimits, NewRecord, Posting, StoredRecord } from '../src/storage/records-types.js';
import { decodePostings, encodePostings } from '../src/storage/records-types.js';
import type { Storage } from '../src/storage/types.js';

const T0 = 1_700_000_000_000;
const LIMITS: CollectionLimits = { maxCollectionsPerUser: 3, maxRecordsPerCollection: 50, maxCollectionMembers: 2 };
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ids = (rs: StoredRecord[] | { status: string }) => (Array.isArray(rs) ? rs.map((r) => hex(r.id)) : rs);
/** 16-byte ids in ascending order. */
const idOf = (n: number) => {
  const b = new Uint8Array(16);
  b[14] = n >> 8;
  b[15] = n & 0xff;
  return b;
};

export function recordsConformance(store: () => Storage): void {
  const s = () => store();
  async function user(name: string) {
    const r = await s().accounts.create(
      {
        user: name,
        masterKey: bytes(32),
        listVersion: 1,
        deviceList: bytes(100),
        device: { deviceId: 1, signingKey: bytes(32), identityKey: bytes(32) },
        prekeys: {},
        createdAt: T0,
      },
      { maxStoredOneTime: 100 },
    );
    expect(r).toBe('created');
  }
  async function collection(owner = 'alice', members: string[] = []) {
    const id = bytes(16);
    expect(await s().records.createCollection({ id, owner, epoch: 0, meta: bytes(50), members, createdAt: T0 }, LIMITS)).toEqual({ status: 'created' });
    return id;
  }
  const rec = (n: number, postings: Posting[], epoch = 0): NewRecord => ({ id: idOf(n), epoch, body: bytes(60), postings });

  describe('records', () => {
    it('posting lists encode 48-bit tokens exactly', () => {
      const list = [
        { index: 0, token: 0 },
        { index: 31, token: 2 ** 48 - 1 },
        { index: 7, token: 123_456_789_012 },
      ];
      expect(decodePostings(encodePostings(list))).toEqual(list);
    });

    it('creates collections with members; only owner and members see them; anyone else gets not_found', async () => {
      await user('alice');
      await user('bob');
      await user('carol');
      const id = await collection('alice', ['bob']);
      const meta = bytes(10);
      expect(await s().records.createCollection({ id, owner: 'alice', epoch: 0, meta, members: [], createdAt: T0 }, LIMITS)).toEqual({ status: 'id_taken' });
      expect(await s().records.createCollection({ id: bytes(16), owner: 'alice', epoch: 0, meta, members: ['nobody'], createdAt: T0 }, LIMITS)).toEqual({
        status: 'unknown_member',
      });
      const seen = await s().records.getCollection(id, 'bob');
      expect(seen).toMatchObject({ owner: 'alice', members: ['bob'], epoch: 0, revision: 1, recordCount: 0 });
      expect(await s().records.getCollection(id, 'carol')).toBeUndefined();
      expect(await s().records.getCollection(bytes(16), 'alice')).toBeUndefined();
      expect((await s().records.listCollections('bob')).map((c) => hex(c.id))).toEqual([hex(id)]);
      expect(await s().records.listCollections('carol')).toEqual([]);
      // Carol can do nothing with it, and it is unchanged.
      expect(await s().records.putRecord(id, 'carol', rec(1, []), LIMITS, T0)).toEqual({ status: 'not_found' });
      expect(await s().records.query(id, 'carol', { alternatives: [[{ index: 0, token: 1 }]], limit: 10 })).toEqual({ status: 'not_found' });
      expect(await s().records.listRecords(id, 'carol', { limit: 10 })).toEqual({ status: 'not_found' });
      expect(await s().records.getRecord(id, 'carol', idOf(1))).toEqual({ status: 'not_found' });
      expect(await s().records.deleteRecord(id, 'carol', idOf(1))).toEqual({ status: 'not_found' });
      // Owner-only operations refuse a member, as not_found.
      expect(await s().records.updateCollection(id, 'bob', { expectedRevision: 1, epoch: 1, meta, now: T0 })).toEqual({ status: 'not_found' });
      expect(await s().records.setMember(id, 'bob', 'carol', true, { expectedRevision: 1, now: T0 }, LIMITS)).toEqual({ status: 'not_found' });
      expect(await s().records.deleteCollection(id, 'bob')).toBe(false);
      expect(await s().records.getCollection(id, 'alice')).toMatchObject({ revision: 1, members: ['bob'] });
      // Caps.
      await collection('alice');
      await collection('alice');
      expect(await s().records.createCollection({ id: bytes(16), owner: 'alice', epoch: 0, meta, members: [], createdAt: T0 }, LIMITS)).toEqual({
        status: 'too_many_collections',
      });
    });

    it('membership and re-keying: revisions compare-and-set, epochs grow by one', async () => {
      await user('alice');
      await user('bob');
      await user('carol');
      await user('dave');
      const id = await collection();
      const cas = { expectedRevision: 1, now: T0 };
      expect(await s().records.setMember(id, 'alice', 'bob', true, cas, LIMITS)).toEqual({ status: 'updated', revision: 2 });
      expect(await s().records.setMember(id, 'alice', 'carol', true, cas, LIMITS)).toEqual({ status: 'stale', revision: 2 });
      expect(await s().records.setMember(id, 'alice', 'nobody', true, { ...cas, expectedRevision: 2 }, LIMITS)).toEqual({ status: 'unknown_member' });
      expect(await s().records.setMember(id, 'alice', 'alice', true, { ...cas, expectedRevision: 2 }, LIMITS)).toEqual({ status: 'unknown_member' });
      expect(await s().records.setMember(id, 'alice', 'carol', true, { ...cas, expectedRevision: 2 }, LIMITS)).toEqual({ status: 'updated', revision: 3 });
      expect(await s().records.setMember(id, 'alice', 'dave', true, { ...cas, expectedRevision: 3 }, LIMITS)).toEqual({ status: 'too_many_members' });
      expect(await s().records.putRecord(id, 'bob', rec(1, [{ index: 0, token: 5 }]), LIMITS, T0)).toEqual({ status: 'stored', created: true });
      // Remove bob, re-key: bob loses access at once, and writes under epoch 0 are refused.
      expect(await s().records.setMember(id, 'alice', 'bob', false, { ...cas, expectedRevision: 3 }, LIMITS)).toEqual({ status: 'updated', revision: 4 });
      expect(await s().records.setMember(id, 'alice', 'bob', false, { ...cas, expectedRevision: 4 }, LIMITS)).toEqual({ status: 'unknown_member' });
      expect(await s().records.getRecord(id, 'bob', idOf(1))).toEqual({ status: 'not_found' });
      const meta = bytes(20);
      expect(await s().records.updateCollection(id, 'alice', { expectedRevision: 4, epoch: 2, meta, now: T0 })).toEqual({ status: 'bad_epoch', epoch: 0 });
      expect(await s().records.updateCollection(id, 'alice', { expectedRevision: 3, epoch: 1, meta, now: T0 })).toEqual({ status: 'stale', revision: 4 });
      expect(await s().records.updateCollection(id, 'alice', { expectedRevision: 4, epoch: 1, meta, now: T0 + 1 })).toEqual({ status: 'updated', revision: 5 });
      const c = await s().records.getCollection(id, 'carol');
      expect(c).toMatchObject({ epoch: 1, revision: 5, members: ['carol'], recordCount: 1, updatedAt: T0 + 1 });
      expect(hex(c?.meta as Uint8Array)).toBe(hex(meta));
      expect(await s().records.putRecord(id, 'carol', rec(2, []), LIMITS, T0)).toEqual({ status: 'stale_epoch', epoch: 1 });
      expect(await s().records.putRecord(id, 'carol', rec(2, [], 1), LIMITS, T0)).toEqual({ status: 'stored', created: true });
      // Old-epoch records stay readable.
      expect((await s().records.getRecord(id, 'carol', idOf(1))) as StoredRecord).toMatchObject({ epoch: 0 });
    });

    it('stores, replaces and deletes records with their postings; caps the count', async () => {
      await user('alice');
      const id = await collection();
      const r1 = rec(1, [
        { index: 0, token: 7 },
        { index: 1, token: 2 ** 40 + 3 },
      ]);
      expect(await s().records.putRecord(id, 'alice', r1, LIMITS, T0)).toEqual({ status: 'stored', created: true });
      const got = (await s().records.getRecord(id, 'alice', idOf(1))) as StoredRecord;
      expect(hex(got.body)).toBe(hex(r1.body));
      expect(got).toMatchObject({ epoch: 0, updatedAt: T0 });
      expect(await s().records.getRecord(id, 'alice', idOf(2))).toBeUndefined();
      const q = (postings: Posting[]) => s().records.query(id, 'alice', { alternatives: [postings], limit: 10 });
      expect(ids(await q([{ index: 1, token: 2 ** 40 + 3 }]))).toEqual([hex(idOf(1))]);
      // Replace: the old postings go, the new ones come.
      const r1b = rec(1, [{ index: 0, token: 8 }]);
      expect(await s().records.putRecord(id, 'alice', r1b, LIMITS, T0 + 5)).toEqual({ status: 'stored', created: false });
      expect(ids(await q([{ index: 0, token: 7 }]))).toEqual([]);
      expect(ids(await q([{ index: 1, token: 2 ** 40 + 3 }]))).toEqual([]);
      expect(ids(await q([{ index: 0, token: 8 }]))).toEqual([hex(idOf(1))]);
      expect((await s().records.getCollection(id, 'alice'))?.recordCount).toBe(1);
      // Delete.
      expect(await s().records.deleteRecord(id, 'alice', idOf(1))).toEqual({ status: 'deleted' });
      expect(await s().records.deleteRecord(id, 'alice', idOf(1))).toEqual({ status: 'no_record' });
      expect(ids(await q([{ index: 0, token: 8 }]))).toEqual([]);
      expect((await s().records.getCollection(id, 'alice'))?.recordCount).toBe(0);
      // The cap counts records, not writes.
      for (let i = 0; i < LIMITS.maxRecordsPerCollection; i++) expect((await s().records.putRecord(id, 'alice', rec(i, []), LIMITS, T0)).status).toBe('stored');
      expect(await s().records.putRecord(id, 'alice', rec(999, []), LIMITS, T0)).toEqual({ status: 'too_many_records' });
      expect(await s().records.putRecord(id, 'alice', rec(3, [{ index: 0, token: 1 }]), LIMITS, T0)).toEqual({ status: 'stored', created: false });
      // Listing pages by id.
      const page = (await s().records.listRecords(id, 'alice', { after: idOf(9), limit: 3 })) as StoredRecord[];
      expect(page.map((r) => hex(r.id))).toEqual([idOf(10), idOf(11), idOf(12)].map(hex));
      // Deleting the collection takes everything.
      expect(await s().records.deleteCollection(id, 'alice')).toBe(true);
      expect(await s().records.getCollection(id, 'alice')).toBeUndefined();
      expect(await s().records.query(id, 'alice', { alternatives: [[{ index: 0, token: 1 }]], limit: 10 })).toEqual({ status: 'not_found' });
      const other = await collection();
      expect(await s().records.listRecords(other, 'alice', { limit: 10 })).toEqual([]);
    });

    it('answers ANDs of postings, ORs of alternatives, in id order, paged', async () => {
      await user('alice');
      const id = await collection();
      const other = await collection();
      // Record i has posting (0, i % 3), (1, i % 5), and (2, 100 + i) for the last epoch-like alternative.
      for (let i = 0; i < 30; i++) {
        const postings = [
          { index: 0, token: i % 3 },
          { index: 1, token: i % 5 },
          { index: 2, token: 100 + i },
        ];
        await s().records.putRecord(id, 'alice', rec(i, postings), LIMITS, T0);
      }
      // Same tokens in another collection never leak into this one.
      await s().records.putRecord(other, 'alice', rec(1000, [{ index: 0, token: 0 }]), LIMITS, T0);
      const expected = (f: (i: number) => boolean) =>
        Array.from({ length: 30 }, (_, i) => i)
          .filter(f)
          .map((i) => hex(idOf(i)));
      const query = (alternatives: Posting[][], limit = 100, after?: Uint8Array) =>
        s()
          .records.query(id, 'alice', { alternatives, limit, ...(after ? { after } : {}) })
          .then(ids);
      expect(await query([[{ index: 0, token: 0 }]])).toEqual(expected((i) => i % 3 === 0));
      expect(
        await query([
          [
            { index: 0, token: 0 },
            { index: 1, token: 0 },
          ],
        ]),
      ).toEqual(expected((i) => i % 15 === 0));
      // Same token value under another index is another posting.
      expect(await query([[{ index: 1, token: 4 }]])).toEqual(expected((i) => i % 5 === 4));
      expect(await query([[{ index: 3, token: 0 }]])).toEqual([]);
      // OR of alternatives, deduplicated and ordered.
      expect(await query([[{ index: 2, token: 105 }], [{ index: 2, token: 101 }], [{ index: 0, token: 2 }]])).toEqual(
        expected((i) => i === 1 || i === 5 || i % 3 === 2),
      );
      // Paging.
      const first = await query([[{ index: 0, token: 1 }]], 4);
      expect(first).toEqual(expected((i) => i % 3 === 1).slice(0, 4));
      expect(await query([[{ index: 0, token: 1 }]], 4, idOf(10))).toEqual(expected((i) => i % 3 === 1 && i > 10).slice(0, 4));
      // Bodies come back with the ids.
      const [one] = (await s().records.query(id, 'alice', { alternatives: [[{ index: 2, token: 107 }]], limit: 5 })) as StoredRecord[];
      expect(hex((one as StoredRecord).body)).toBe(hex(((await s().records.getRecord(id, 'alice', idOf(7))) as StoredRecord).body));
    });
  });
}
