/**
 * The profile store's record cache and its split records: changes by another Profile on the same
 * directory are always seen, a failed transaction leaves no changed copy behind, and what a
 * message writes does not grow with the history kept.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Context } from '../src/context.js';
import { addBaseKey, hasBaseKey, pruneBaseKeys } from '../src/prekeys.js';
import { DigestList, LIMITS, Profile, type ReceivedMessage, type SessionEntry, sessionKey } from '../src/profile.js';
import { decodeBaseKeys, encodeBaseKeys } from '../src/profile-codec.js';
import { labelledDigest, SeenSet } from '../src/seen.js';
import { FileStorage } from '../src/storage/fs.js';
import type { ProfileStorage } from '../src/storage/types.js';
import { account, FAST_KDF, message } from './fixtures.js';

const p = createNodePrimitives();
const ctx = { p } as Context;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-cache-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A session entry with opaque bytes (the store never looks inside). */
function entry(fill: number, size = 300): SessionEntry {
  const stored = () => ({ baseKey: p.randomBytes(32), remoteIdentity: p.randomBytes(32), bytes: new Uint8Array(size).fill(fill) });
  return { current: stored(), previous: [stored()] };
}

async function newProfile(storage: ProfileStorage, passphrase?: string): Promise<Profile> {
  const { profile, commitNew } = await Profile.create(storage, p, { passphrase, kdf: FAST_KDF });
  await profile.write('account', account());
  await commitNew();
  return profile;
}

/** Counts the bytes written per file; can make writes of matching files fail. */
class SpyStorage extends FileStorage {
  writes = new Map<string, number>();
  failOn: RegExp | null = null;
  override async write(name: string, data: Uint8Array): Promise<void> {
    if (this.failOn?.test(name)) throw new Error(`disk full writing ${name}`);
    this.writes.set(name, (this.writes.get(name) ?? 0) + data.length);
    return super.write(name, data);
  }
}

const inboxIds = (r: { inbox: ReceivedMessage[] }) => r.inbox.map((m) => m.id);

describe('profile cache', () => {
  it.each([
    ['plain', undefined],
    ['encrypted', 'pw'],
  ])('a second Profile on the same directory sees every change of the other (%s)', async (_, passphrase) => {
    const location = join(dir, 'p');
    const one = await newProfile(new FileStorage(location), passphrase);
    const two = await Profile.open(new FileStorage(location), p, { passphrase });
    const bob = sessionKey('bob', 1);
    await one.transact(async (tx) => {
      tx.setSession(bob, entry(1));
      tx.set('recent', await tx.get('recent'));
      tx.set('contacts', await tx.get('contacts'));
    });
    // `one` now holds decoded copies of all three; `two` changes each of them.
    const replaced = entry(2); // the same size as entry(1): only the content differs
    await two.transact(async (tx) => {
      expect((await tx.session(bob))?.current.bytes[0]).toBe(1);
      tx.setSession(bob, replaced);
      const recent = await tx.get('recent');
      recent.inbox.push(message('m1'));
      tx.set('recent', recent);
      const contacts = await tx.get('contacts');
      contacts.contacts.set('carol', { masterKey: p.randomBytes(32), verified: false, pinnedAt: 3, deviceList: null, keyChange: null });
      tx.set('contacts', contacts);
    });
    await one.transact(async (tx) => {
      expect((await tx.session(bob))?.current.bytes).toEqual(replaced.current.bytes);
      expect(inboxIds(await tx.get('recent'))).toEqual(['m1']);
      expect([...(await tx.get('contacts')).contacts.keys()]).toEqual(['carol']);
    });
    expect(inboxIds(await one.read('recent'))).toEqual(['m1']);
  });

  it('a second Profile sees seen digests the other moved to `seen`', async () => {
    const location = join(dir, 'p');
    const one = await newProfile(new FileStorage(location));
    const two = await Profile.open(new FileStorage(location), p);
    const digests = await Promise.all([...Array(3 * LIMITS.seenHot).keys()].map((i) => labelledDigest(p, 'message', `id-${i}`)));
    const add = (profile: Profile, from: number, to: number) =>
      profile.transact(async (tx) => {
        const seen = await SeenSet.open(ctx, tx);
        for (const d of digests.slice(from, to)) seen.add(d);
      });
    await add(one, 0, LIMITS.seenHot); // `one` moves them to `seen` and keeps that copy
    await add(two, LIMITS.seenHot, 3 * LIMITS.seenHot); // `two` replaces `seen` twice
    await one.transact(async (tx) => {
      const seen = await SeenSet.open(ctx, tx);
      for (const d of digests) expect(seen.has(d)).toBe(true);
      expect(seen.has(await labelledDigest(p, 'message', 'never'))).toBe(false);
    });
  });

  it('a transaction that throws after moving hot digests into `seen` (in place) leaves `seen` as it was', async () => {
    const profile = await newProfile(new FileStorage(join(dir, 'p')));
    const digests = await Promise.all([...Array(3 * LIMITS.seenHot).keys()].map((i) => labelledDigest(p, 'message', `m-${i}`)));
    const first = digests.slice(0, LIMITS.seenHot);
    const moved = digests.slice(LIMITS.seenHot, 2 * LIMITS.seenHot);
    // Committed: `first` moved to `seen`, whose cached copy the next transaction gets.
    await profile.transact(async (tx) => {
      const seen = await SeenSet.open(ctx, tx);
      for (const d of first) seen.add(d);
    });
    const stored = await profile.storage.read('seen.dat');
    await expect(
      profile.transact(async (tx) => {
        const seen = await SeenSet.open(ctx, tx);
        for (const d of moved) seen.add(d); // the hot list fills and is appended to `seen` in place
        expect(moved.every((d) => seen.has(d))).toBe(true);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await profile.storage.read('seen.dat')).toEqual(stored);
    await profile.transact(async (tx) => {
      const seen = await SeenSet.open(ctx, tx);
      expect(first.every((d) => seen.has(d))).toBe(true);
      expect(moved.some((d) => seen.has(d))).toBe(false);
    });
  });

  it('a transaction that throws leaves no changed copy in the cache, even of records it did not mark', async () => {
    const profile = await newProfile(new FileStorage(join(dir, 'p')));
    const bob = sessionKey('bob', 1);
    const original = entry(1);
    await profile.transact(async (tx) => {
      tx.setSession(bob, original);
      tx.set('recent', await tx.get('recent'));
    });
    await expect(
      profile.transact(async (tx) => {
        // Changed in place, some without tx.set: nothing of it may survive.
        (await tx.get('contacts')).contacts.set('mallory', { masterKey: p.randomBytes(32), verified: true, pinnedAt: 1, deviceList: null, keyChange: null });
        (await tx.get('recent')).inbox.push(message('lost'));
        (await tx.get('sessions')).slots.set('mallory/1', 9);
        tx.setSession(bob, entry(3));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await profile.transact(async (tx) => {
      expect((await tx.get('contacts')).contacts.size).toBe(0);
      expect((await tx.get('recent')).inbox).toEqual([]);
      expect([...(await tx.get('sessions')).slots.keys()]).toEqual([bob]);
      expect((await tx.session(bob))?.current.bytes).toEqual(original.current.bytes);
    });
  });

  it('after a flush, a transaction that throws keeps what was flushed and nothing after', async () => {
    const profile = await newProfile(new FileStorage(join(dir, 'p')));
    await expect(
      profile.transact(async (tx) => {
        const recent = await tx.get('recent');
        recent.inbox.push(message('flushed'));
        tx.set('recent', recent);
        await tx.flush();
        recent.inbox.push(message('not flushed'));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(inboxIds(await profile.read('recent'))).toEqual(['flushed']);
    await profile.transact(async (tx) => {
      expect(inboxIds(await tx.get('recent'))).toEqual(['flushed']);
    });
  });

  it('a failed write leaves the records as stored: written ones new, the rest old', async () => {
    const storage = new SpyStorage(join(dir, 'p'));
    const profile = await newProfile(storage);
    const bob = sessionKey('bob', 1);
    const old = entry(1);
    await profile.transact(async (tx) => tx.setSession(bob, old));
    storage.failOn = /^session-/;
    await expect(
      profile.transact(async (tx) => {
        const recent = await tx.get('recent');
        recent.inbox.push(message('m'));
        tx.set('recent', recent);
        tx.setSession(bob, entry(2));
      }),
    ).rejects.toThrow('disk full');
    storage.failOn = null;
    // `recent` is written before sessions (write order); the session write failed.
    const fresh = await Profile.open(new FileStorage(storage.location), p);
    for (const profileToCheck of [profile, fresh]) {
      await profileToCheck.transact(async (tx) => {
        expect(inboxIds(await tx.get('recent'))).toEqual(['m']);
        expect((await tx.session(bob))?.current.bytes).toEqual(old.current.bytes);
      });
    }
  });

  it('a read outside the transaction never sees what the running transaction has not written', async () => {
    const profile = await newProfile(new FileStorage(join(dir, 'p')));
    await profile.transact(async (tx) => tx.set('recent', await tx.get('recent'))); // stored and cached
    await profile.transact(async (tx) => {
      const recent = await tx.get('recent');
      recent.inbox.push(message('pending'));
      tx.set('recent', recent);
      expect((await profile.read('recent')).inbox).toEqual([]);
    });
    expect(inboxIds(await profile.read('recent'))).toEqual(['pending']);
  });
});

describe('split records', () => {
  it('one record per peer device: slots named by the index, freed slots reused, a record of another device refused', async () => {
    const storage = new FileStorage(join(dir, 'p'));
    const profile = await newProfile(storage);
    const keys = ['bob/1', 'bob/2', 'carol/5'];
    await profile.transact(async (tx) => {
      for (const [i, key] of keys.entries()) tx.setSession(key, entry(i));
    });
    const sessionFiles = async () => (await readdir(storage.location)).filter((f) => f.startsWith('session-')).sort();
    expect(await sessionFiles()).toEqual(['session-0.dat', 'session-1.dat', 'session-2.dat']);
    await profile.transact(async (tx) => {
      tx.setSession('bob/1', undefined);
      expect((await tx.sessionKeys()).sort()).toEqual(['bob/2', 'carol/5']);
    });
    expect(await sessionFiles()).toEqual(['session-1.dat', 'session-2.dat']);
    await profile.transact(async (tx) => tx.setSession('dave/3', entry(9)));
    expect(await sessionFiles()).toEqual(['session-0.dat', 'session-1.dat', 'session-2.dat']);
    const reopened = await Profile.open(new FileStorage(storage.location), p);
    await reopened.transact(async (tx) => {
      expect((await tx.session('dave/3'))?.current.bytes[0]).toBe(9);
      expect((await tx.session('carol/5'))?.current.bytes[0]).toBe(2);
      expect(await tx.session('bob/1')).toBeUndefined();
    });
    // A record swapped under another slot (or left by a crash) is not taken for this device's.
    const { readFile } = await import('node:fs/promises');
    await writeFile(join(storage.location, 'session-0.dat'), await readFile(join(storage.location, 'session-1.dat')));
    await expect(reopened.transact(async (tx) => tx.session('dave/3'))).rejects.toMatchObject({ code: 'ERR_PROFILE_CORRUPT' });
  });

  it('what a message writes does not grow with the history kept', async () => {
    const storage = new SpyStorage(join(dir, 'p'));
    const profile = await newProfile(storage);
    // A full history: LIMITS.seen digests in `seen`, 200 peer devices with sessions, 2000 base keys.
    await profile.transact(async (tx) => {
      const old = new DigestList();
      for (let i = 0; i < LIMITS.seen; i++) old.push(await labelledDigest(p, 'message', `old-${i}`), LIMITS.seen);
      const seen = { id: p.randomBytes(16), digests: old };
      tx.set('seen', seen);
      const recent = await tx.get('recent');
      recent.seenId = seen.id;
      tx.set('recent', recent);
      const basekeys = await tx.get('basekeys');
      for (let i = 0; i < 2000; i++) addBaseKey(basekeys, 1, 101, await labelledDigest(p, 'baseKey', `k-${i}`));
      tx.set('basekeys', basekeys);
      for (let i = 0; i < 200; i++) tx.setSession(sessionKey(`peer${i}`, 1), entry(i % 256));
    });
    // One received message (two digests; three here), the inbox, one session.
    storage.writes.clear();
    await profile.transact(async (tx) => {
      const seen = await SeenSet.open(ctx, tx);
      expect(seen.has(await labelledDigest(p, 'message', 'old-0'))).toBe(true);
      for (const what of ['a', 'b', 'c']) seen.add(await labelledDigest(p, 'message', what));
      (await tx.get('recent')).inbox.push(message('new'));
      tx.setSession(sessionKey('peer7', 1), entry(7));
    });
    expect([...storage.writes.keys()].sort()).toEqual(['recent.dat', 'session-7.dat']);
    expect(storage.writes.get('recent.dat')).toBeLessThan(1000);
    expect(storage.writes.get('session-7.dat')).toBeLessThan(1000);
  });

  it('the oldest seen digests are dropped past LIMITS.seen, the newest kept across moves to `seen`', async () => {
    const profile = await newProfile(new FileStorage(join(dir, 'p')));
    const total = LIMITS.seen + 2 * LIMITS.seenHot;
    const digest = (i: number) => labelledDigest(p, 'message', `m-${i}`);
    for (let from = 0; from < total; from += 1000) {
      await profile.transact(async (tx) => {
        const seen = await SeenSet.open(ctx, tx);
        for (let i = from; i < Math.min(total, from + 1000); i++) seen.add(await digest(i));
      });
    }
    await profile.transact(async (tx) => {
      const seen = await SeenSet.open(ctx, tx);
      expect(seen.has(await digest(0))).toBe(false);
      expect(seen.has(await digest(total - LIMITS.seen))).toBe(true);
      expect(seen.has(await digest(total - 1))).toBe(true);
    });
  });

  it('refuses a profile of format version 1 with a clear error', async () => {
    const storage = new FileStorage(join(dir, 'p'));
    await newProfile(storage);
    const path = join(storage.location, 'profile.json');
    const { readFile } = await import('node:fs/promises');
    const header = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...header, version: 1 }));
    await expect(Profile.open(storage, p)).rejects.toMatchObject({ code: 'ERR_PROFILE_CORRUPT', message: expect.stringMatching(/version 1 .*version 2/) });
  });
});

describe('accepted base keys', () => {
  it('are kept per prekey pair without a count limit, and dropped only with their prekeys; version 1 reads as group 1:0', async () => {
    const record = { groups: new Map<string, DigestList>() };
    const first = await labelledDigest(p, 'baseKey', 'first');
    addBaseKey(record, 1, 101, first);
    for (let i = 0; i < 5000; i++) addBaseKey(record, 1, 101, await labelledDigest(p, 'baseKey', `flood-${i}`));
    addBaseKey(record, 2, 102, await labelledDigest(p, 'baseKey', 'other'));
    const decoded = decodeBaseKeys(encodeBaseKeys([...record.groups].map(([key, l]) => ({ key, digests: l.packed() }))));
    const again = { groups: new Map(decoded.map((g) => [g.key, new DigestList(g.digests)] as const)) };
    expect(hasBaseKey(again, first)).toBe(true);
    const prekeys = (signed: number[], pq: number[]) =>
      ({ signed: signed.map((id) => ({ id })), pq: pq.map((id) => ({ id })), oneTime: [] }) as unknown as Parameters<typeof pruneBaseKeys>[1];
    expect(pruneBaseKeys(again, prekeys([1, 2], [101, 102]))).toBe(false);
    expect(pruneBaseKeys(again, prekeys([2], [101, 102]))).toBe(true); // signed prekey 1 deleted by rotation
    expect(hasBaseKey(again, first)).toBe(false);
    expect([...again.groups.keys()]).toEqual(['2:102']);
    // A profile written before the groups: all its sessions were accepted with signed prekey 1.
    const v1 = new Uint8Array([...new TextEncoder().encode('BRk'), 1, 0, 0, 0, 1, ...new Uint8Array(16).fill(7)]);
    expect(decodeBaseKeys(v1).map((g) => g.key)).toEqual(['1:0']);
  });
});

describe('digest lists', () => {
  it('keep distinct digests, oldest first, within the bound; append keeps the newest', async () => {
    const d = await Promise.all([...Array(10).keys()].map((i) => labelledDigest(p, 'message', String(i))));
    const list = new DigestList();
    for (const x of [d[0], d[1], d[0], d[2], d[3]] as string[]) list.push(x, 3);
    expect(list.size).toBe(3);
    expect(list.has(d[0] as string)).toBe(false);
    expect([1, 2, 3].every((i) => list.has(d[i] as string))).toBe(true);
    const copy = new DigestList(list.packed().slice());
    expect(copy.packed()).toEqual(list.packed());
    const newer = new DigestList();
    for (const x of d.slice(3, 6)) newer.push(x, 10);
    list.append(newer, 4);
    expect(list.size).toBe(4);
    expect([2, 3, 4, 5].every((i) => list.has(d[i] as string))).toBe(true);
    expect([0, 1].some((i) => list.has(d[i] as string))).toBe(false);
    expect(new DigestList(list.packed().slice()).packed()).toEqual(list.packed());
    expect(newer.size).toBe(3); // the list appended is unchanged
  });
});
