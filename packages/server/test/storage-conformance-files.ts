/**
 * The files part of the storage conformance suite (docs/API.md §8): `FileRepository` and the
 * store's `BlobStore`, through the interface only. Registered by storageConformance().
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { BlobKey } from '../src/blobs/types.js';
import { FILE_UPLOAD_TTL_MS } from '../src/storage/files-prune.js';
import type { FileLimits, NewFile, Storage } from '../src/storage/types.js';

const T0 = 1_700_000_000_000;
const LIMITS: FileLimits = { maxFilesPerUser: 5, userQuotaBytes: 10_000 };
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

async function readAll(stream: Readable): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part as Uint8Array));
  return new Uint8Array(Buffer.concat(parts));
}

export function filesConformance(store: () => Storage): void {
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
  const newFile = (o: Partial<NewFile> = {}): NewFile => ({
    id: bytes(16),
    owner: 'alice',
    readers: [],
    header: bytes(200),
    meta: bytes(40),
    payloadSize: 1000,
    createdAt: T0,
    ...o,
  });
  /** beginAppend + blob append + finishAppend, as the route does. */
  async function append(id: Uint8Array, version: number, offset: number, data: Uint8Array, now = T0, seal?: Uint8Array) {
    const token = bytes(16);
    const begin = await s().files.beginAppend({
      id,
      owner: 'alice',
      version,
      offset,
      length: data.length,
      token,
      now,
      leaseUntil: now + 60_000,
      sealed: seal !== undefined,
    });
    if (begin.status !== 'ok') return begin;
    await s().blobs.append({ fileId: id, version }, offset, data);
    return s().files.finishAppend(id, version, token, offset + data.length, now, seal);
  }

  describe('files', () => {
    it('creates a file and reads it back as plain Uint8Arrays; lists owners and complete files of readers', async () => {
      await user('alice');
      await user('bob');
      const f = newFile({ readers: ['bob'] });
      expect(await s().files.create(f, LIMITS)).toEqual({ status: 'created' });
      const got = await s().files.get(f.id);
      expect(got).toMatchObject({ owner: 'alice', readers: ['bob'], revision: 1, createdAt: T0, updatedAt: T0 });
      expect(Object.getPrototypeOf(got?.id)).toBe(Uint8Array.prototype);
      expect(Object.getPrototypeOf(got?.current.header)).toBe(Uint8Array.prototype);
      expect(got?.current).toEqual({ version: 1, header: f.header, meta: f.meta, payloadSize: 1000, received: 0 });
      expect(got?.pending).toBeUndefined();
      expect((await s().files.list('alice', { limit: 10 })).map((x) => x.id)).toEqual([f.id]);
      expect(await s().files.list('bob', { limit: 10 })).toEqual([]); // not complete yet
      expect(await append(f.id, 1, 0, bytes(1000))).toEqual({ status: 'appended', received: 1000, complete: true });
      expect((await s().files.list('bob', { limit: 10 })).map((x) => x.id)).toEqual([f.id]);
      expect(await s().files.get(bytes(16))).toBeUndefined();
    });

    it('refuses unknown readers, too many files and quota overruns, storing nothing', async () => {
      await user('alice');
      expect(await s().files.create(newFile({ readers: ['nobody'] }), LIMITS)).toEqual({ status: 'unknown_reader' });
      expect(await s().files.create(newFile({ payloadSize: 6000 }), LIMITS)).toEqual({ status: 'created' });
      expect(await s().files.create(newFile({ payloadSize: 4001 }), LIMITS)).toEqual({ status: 'quota_exceeded', usedBytes: 6000 });
      for (let i = 0; i < 4; i++) expect((await s().files.create(newFile({ payloadSize: 16 }), LIMITS)).status).toBe('created');
      expect(await s().files.create(newFile({ payloadSize: 16 }), LIMITS)).toEqual({ status: 'too_many_files' });
      expect(await s().files.list('alice', { limit: 100 })).toHaveLength(5);
    });

    it('never exceeds the quota under concurrent creations', async () => {
      await user('alice');
      const results = await Promise.all(Array.from({ length: 8 }, () => s().files.create(newFile({ payloadSize: 3000 }), { ...LIMITS, maxFilesPerUser: 100 })));
      expect(results.filter((r) => r.status === 'created')).toHaveLength(3);
    });

    it('pages the list by id', async () => {
      await user('alice');
      const ids = [];
      for (let i = 0; i < 5; i++) {
        const f = newFile({ payloadSize: 16 });
        await s().files.create(f, LIMITS);
        ids.push(f.id);
      }
      ids.sort((a, b) => Buffer.compare(a, b));
      const first = await s().files.list('alice', { limit: 3 });
      expect(first.map((f) => f.id)).toEqual(ids.slice(0, 3));
      expect((await s().files.list('alice', { limit: 3, after: ids[2] })).map((f) => f.id)).toEqual(ids.slice(3));
    });

    it('appends only at `received`, one upload at a time, never past payloadSize', async () => {
      await user('alice');
      await user('bob');
      const f = newFile();
      await s().files.create(f, LIMITS);
      const start = (o: { offset?: number; length?: number; owner?: string; version?: number; now?: number; token?: Uint8Array } = {}) =>
        s().files.beginAppend({
          id: f.id,
          owner: o.owner ?? 'alice',
          version: o.version ?? 1,
          offset: o.offset ?? 0,
          length: o.length ?? 10,
          token: o.token ?? bytes(16),
          now: o.now ?? T0,
          leaseUntil: (o.now ?? T0) + 60_000,
        });
      expect(await start({ owner: 'bob' })).toEqual({ status: 'not_found' });
      expect(await start({ version: 2 })).toEqual({ status: 'not_found' });
      expect(await start({ offset: 5 })).toEqual({ status: 'offset_mismatch', received: 0 });
      expect(await start({ length: 1001 })).toEqual({ status: 'too_long' });
      const token = bytes(16);
      expect(await start({ token })).toEqual({ status: 'ok' });
      expect(await start()).toEqual({ status: 'busy' });
      // A lease that expired can be taken over; the old holder's record is then refused.
      expect(await start({ now: T0 + 60_001 })).toEqual({ status: 'ok' });
      expect(await s().files.finishAppend(f.id, 1, token, 10, T0)).toEqual({ status: 'lost' });
      expect(await s().files.abortAppend(f.id, 1, token)).toBe('released');
      expect(await s().files.abortAppend(f.id, 2, token)).toBe('gone');
      expect((await append(f.id, 1, 0, bytes(10), T0 + 200_000)).status).toBe('appended');
      expect(await append(f.id, 1, 0, bytes(10), T0 + 200_000)).toEqual({ status: 'offset_mismatch', received: 10 });
      expect((await s().files.get(f.id))?.current.received).toBe(10);
    });

    it('stores blob bytes and cuts an unrecorded tail (a crash between the blob write and the metadata)', async () => {
      await user('alice');
      const f = newFile();
      await s().files.create(f, LIMITS);
      const key: BlobKey = { fileId: f.id, version: 1 };
      const a = bytes(300);
      const b = bytes(700);
      await append(f.id, 1, 0, a);
      await s().blobs.append(key, 300, bytes(500)); // written, never recorded
      expect(await append(f.id, 1, 300, b)).toEqual({ status: 'appended', received: 1000, complete: true });
      const all = await readAll(await s().blobs.read(key, 0, 1000));
      expect(Buffer.from(all).equals(Buffer.concat([a, b]))).toBe(true);
      const part = await readAll(await s().blobs.read(key, 250, 400));
      expect(Buffer.from(part).equals(Buffer.concat([a, b]).subarray(250, 400))).toBe(true);
      expect(await append(f.id, 1, 1000, bytes(1))).toEqual({ status: 'complete' });
      await expect(s().blobs.append({ fileId: f.id, version: 1 }, 2000, bytes(1))).rejects.toThrow(/shorter/);
    });

    it('replaces the header (compare-and-set), only once the current version is complete', async () => {
      await user('alice');
      await user('bob');
      const f = newFile();
      await s().files.create(f, LIMITS);
      const h = bytes(300);
      const update = { id: f.id, owner: 'alice', expectedRevision: 1, header: h, updatedAt: T0 + 5 };
      expect(await s().files.replaceHeader(update)).toEqual({ status: 'incomplete' });
      await append(f.id, 1, 0, bytes(1000));
      expect(await s().files.replaceHeader({ ...update, owner: 'bob' })).toEqual({ status: 'not_found' });
      expect(await s().files.replaceHeader({ ...update, readers: ['nobody'] })).toEqual({ status: 'unknown_reader' });
      expect(await s().files.replaceHeader({ ...update, readers: ['bob'] })).toEqual({ status: 'updated', revision: 2 });
      expect(await s().files.replaceHeader(update)).toEqual({ status: 'stale', revision: 2 });
      const got = await s().files.get(f.id);
      expect(got).toMatchObject({ revision: 2, readers: ['bob'], updatedAt: T0 + 5 });
      expect(got?.current.header).toEqual(h);
      expect(got?.current.meta).toEqual(f.meta); // kept when not given
      const results = await Promise.all([2, 2, 2].map((r) => s().files.replaceHeader({ ...update, expectedRevision: r })));
      expect(results.filter((r) => r.status === 'updated')).toHaveLength(1);
    });

    it('revokes with a pending version: readers replaced at once, promoted on completion, old version dropped', async () => {
      await user('alice');
      await user('bob');
      await user('carol');
      const f = newFile({ readers: ['bob', 'carol'] });
      await s().files.create(f, LIMITS);
      await append(f.id, 1, 0, bytes(1000));
      const v = { id: f.id, owner: 'alice', expectedRevision: 1, header: bytes(100), meta: bytes(20), payloadSize: 500, readers: ['carol'], updatedAt: T0 + 1 };
      expect(await s().files.createVersion({ ...v, payloadSize: 9001 }, LIMITS)).toEqual({ status: 'quota_exceeded', usedBytes: 1000 });
      expect(await s().files.createVersion({ ...v, expectedRevision: 7 }, LIMITS)).toEqual({ status: 'stale', revision: 1 });
      expect(await s().files.createVersion({ ...v, owner: 'bob' }, LIMITS)).toEqual({ status: 'not_found' });
      expect(await s().files.createVersion(v, LIMITS)).toEqual({ status: 'created', version: 2, revision: 2 });
      let got = await s().files.get(f.id);
      expect(got).toMatchObject({
        readers: ['carol'],
        revision: 2,
        current: { version: 1, received: 1000 },
        pending: { version: 2, payloadSize: 500, received: 0 },
      });
      expect((await s().files.list('bob', { limit: 10 })).length).toBe(0);
      // Replacing the pending version: a fresh number, the old one dropped.
      await append(f.id, 2, 0, bytes(100));
      expect(await s().files.createVersion({ ...v, expectedRevision: 2 }, LIMITS)).toEqual({ status: 'created', version: 3, revision: 3, dropped: 2 });
      expect(await s().files.hasVersion(f.id, 2)).toBe(false);
      expect(await append(f.id, 3, 0, bytes(499))).toEqual({ status: 'appended', received: 499, complete: false });
      expect(await append(f.id, 3, 499, bytes(1))).toEqual({ status: 'appended', received: 500, complete: true, promoted: { revision: 4, dropped: 1 } });
      got = await s().files.get(f.id);
      expect(got).toMatchObject({ revision: 4, current: { version: 3, payloadSize: 500, received: 500 } });
      expect(got?.pending).toBeUndefined();
      expect(await s().files.hasVersion(f.id, 1)).toBe(false);
    });

    it("stores the owner's seal with the append that completes a version, and only there", async () => {
      await user('alice');
      const f = newFile();
      await s().files.create(f, LIMITS);
      const seal = bytes(97);
      expect(await append(f.id, 1, 0, bytes(500), T0, seal)).toEqual({ status: 'seal_not_final' });
      expect((await s().files.get(f.id))?.current.received).toBe(0);
      expect(await append(f.id, 1, 0, bytes(500))).toMatchObject({ status: 'appended', received: 500 });
      expect((await s().files.get(f.id))?.current.seal).toBeUndefined();
      expect(await append(f.id, 1, 500, bytes(500), T0, seal)).toMatchObject({ status: 'appended', complete: true });
      expect((await s().files.get(f.id))?.current.seal).toEqual(seal);
      // A version completed without one (stored before seals existed) has none.
      const old = newFile();
      await s().files.create(old, LIMITS);
      await append(old.id, 1, 0, bytes(1000));
      expect((await s().files.get(old.id))?.current.seal).toBeUndefined();
      // A revocation's version: sealed on completion, promoted with its seal.
      const v = { id: f.id, owner: 'alice', expectedRevision: 1, header: bytes(100), meta: bytes(20), payloadSize: 300, readers: [], updatedAt: T0 + 1 };
      expect(await s().files.createVersion(v, LIMITS)).toMatchObject({ status: 'created', version: 2 });
      const seal2 = bytes(97);
      expect(await append(f.id, 2, 0, bytes(300), T0, seal2)).toMatchObject({ status: 'appended', complete: true, promoted: { dropped: 1 } });
      expect((await s().files.get(f.id))?.current).toMatchObject({ version: 2, seal: seal2 });
    });

    it('refuses a second file with the same id, storing nothing', async () => {
      await user('alice');
      const f = newFile();
      expect(await s().files.create(f, LIMITS)).toEqual({ status: 'created' });
      expect(await s().files.create({ ...f, header: bytes(10) }, LIMITS)).toEqual({ status: 'id_taken' });
      expect((await s().files.get(f.id))?.current.header).toEqual(f.header);
    });

    it('does not replace the header while a revocation is pending (review L2); does again once it completed or was pruned', async () => {
      await user('alice');
      await user('bob');
      await user('carol');
      const f = newFile({ readers: ['bob', 'carol'] });
      await s().files.create(f, LIMITS);
      await append(f.id, 1, 0, bytes(1000));
      const v = { id: f.id, owner: 'alice', expectedRevision: 1, header: bytes(100), meta: bytes(20), payloadSize: 500, readers: ['carol'], updatedAt: T0 + 1 };
      expect(await s().files.createVersion(v, LIMITS)).toMatchObject({ status: 'created', version: 2, revision: 2 });
      const share = { id: f.id, owner: 'alice', expectedRevision: 2, header: bytes(300), readers: ['bob', 'carol'], updatedAt: T0 + 2 };
      expect(await s().files.replaceHeader(share)).toEqual({ status: 'pending' });
      const got = await s().files.get(f.id);
      expect(got).toMatchObject({ readers: ['carol'], revision: 2 });
      expect(got?.current.header).toEqual(f.header);
      // Completed: the header of the new version may change.
      await append(f.id, 2, 0, bytes(500));
      expect(await s().files.replaceHeader({ ...share, expectedRevision: 3 })).toEqual({ status: 'updated', revision: 4 });
      // Pruned (stalled for a day): the current version's header may change again.
      expect(await s().files.createVersion({ ...v, expectedRevision: 4 }, LIMITS)).toMatchObject({ status: 'created', version: 3 });
      expect(await s().files.replaceHeader({ ...share, expectedRevision: 5 })).toEqual({ status: 'pending' });
      expect(await s().files.pruneStale(T0 + FILE_UPLOAD_TTL_MS + 10)).toEqual([{ id: f.id, version: 3 }]);
      expect(await s().files.replaceHeader({ ...share, expectedRevision: 5 })).toEqual({ status: 'updated', revision: 6 });
    });

    it('deletes for the owner only, reporting every version', async () => {
      await user('alice');
      await user('bob');
      const f = newFile({ readers: ['bob'] });
      await s().files.create(f, LIMITS);
      expect(await s().files.delete(f.id, 'bob')).toEqual({ status: 'not_found' }); // cannot see it yet
      await append(f.id, 1, 0, bytes(1000));
      expect(await s().files.delete(f.id, 'bob')).toEqual({ status: 'forbidden' });
      await s().files.createVersion(
        { id: f.id, owner: 'alice', expectedRevision: 1, header: bytes(10), meta: bytes(10), payloadSize: 16, readers: [], updatedAt: T0 },
        LIMITS,
      );
      expect(await s().files.delete(f.id, 'alice')).toEqual({ status: 'deleted', versions: [1, 2] });
      expect(await s().files.get(f.id)).toBeUndefined();
      expect(await s().files.delete(f.id, 'alice')).toEqual({ status: 'not_found' });
    });

    it('prunes stale incomplete uploads and their blobs, and orphan blobs; keeps complete and fresh ones', async () => {
      await user('alice');
      const stale = newFile();
      const fresh = newFile();
      const done = newFile();
      for (const f of [stale, fresh, done]) await s().files.create(f, LIMITS);
      await append(stale.id, 1, 0, bytes(10));
      await append(done.id, 1, 0, bytes(1000));
      await s().files.createVersion(
        { id: done.id, owner: 'alice', expectedRevision: 1, header: bytes(10), meta: bytes(10), payloadSize: 100, readers: [], updatedAt: T0 },
        LIMITS,
      );
      await append(done.id, 2, 0, bytes(10));
      await append(fresh.id, 1, 0, bytes(10), T0 + FILE_UPLOAD_TTL_MS);
      await s().pruneExpired(T0 + FILE_UPLOAD_TTL_MS + 1);
      expect(await s().files.get(stale.id)).toBeUndefined();
      expect(await s().files.get(fresh.id)).toBeDefined();
      const kept = await s().files.get(done.id);
      expect(kept?.current.received).toBe(1000);
      expect(kept?.pending).toBeUndefined();
      const blobs = (await s().blobs.list()).map((k) => `${Buffer.from(k.fileId).toString('hex')}.${k.version}`).sort();
      expect(blobs).toEqual([`${Buffer.from(fresh.id).toString('hex')}.1`, `${Buffer.from(done.id).toString('hex')}.1`].sort());
    });

    it('deletes blobs idempotently', async () => {
      await user('alice');
      const f = newFile();
      await s().files.create(f, LIMITS);
      await append(f.id, 1, 0, bytes(10));
      await s().blobs.delete({ fileId: f.id, version: 1 });
      await s().blobs.delete({ fileId: f.id, version: 1 });
      await expect(s().blobs.read({ fileId: f.id, version: 1 }, 0, 10)).rejects.toThrow();
    });
  });
}
