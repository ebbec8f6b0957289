/**
 * Encrypted records and blind-index search through a real relay (packages/server in-process):
 * exact, compound and word queries return exactly the matching records (false positives dropped
 * here), keys reach our other devices and members over end-to-end sessions only, a removed member
 * loses access and the collection is re-keyed, and bad input is refused with typed errors.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CollectionKeyMissingError,
  CollectionOwnerOnlyError,
  CollectionUnknownError,
  InvalidArgumentError,
  NoIndexError,
  RecordNotFoundError,
} from '../src/errors.js';
import { type Device, linkDevice, newUserAt } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

let dir: string;
let dataDir: string;
let server: TestRelay;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-records-'));
  dataDir = join(dir, 'data');
  server = await startRelay({ host: '127.0.0.1', port: 0, dataDir, logLevel: 'silent', processMetrics: false, rateLimits: { accountsPerIp: false } });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const newUser = (name: string): Promise<Device> => newUserAt(`${name}-${process.pid}-${++counter}`, server.url);
const drain = (d: Device) => d.client.receive({ onMessage: () => {} });

/** Every byte the relay wrote to disk, as latin1 text (database, WAL, blobs). */
async function relayBytes(): Promise<string> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const path = join(d, e.name);
      if (e.isDirectory()) await walk(path);
      else out.push((await readFile(path)).toString('latin1'));
    }
  };
  await walk(dataDir);
  return out.join('\n');
}

describe('records', () => {
  it('exact, compound and word queries return exactly the matching records; nothing readable reaches the relay', async () => {
    const alice = await newUser('alice');
    const c = await alice.client.createCollection('people-canarycoll', {
      plannedRecords: 64, // narrow tokens: many false candidates, all dropped by the filter
      indexes: [
        { kind: 'exact', fields: ['email'], transforms: ['lower'] },
        { kind: 'exact', fields: ['ssn'], transforms: ['last4'] },
        { kind: 'compound', fields: ['first', 'last'], transforms: ['lower'] },
        { kind: 'word', fields: ['note'] },
      ],
    });
    expect(c.indexes.map((i) => i.bits)).toEqual([5, 5, 5, 9]);
    const people = Array.from({ length: 60 }, (_, i) => ({
      email: `User${i % 20}@Example.com`,
      ssn: `123-45-${String(1000 + (i % 7)).padStart(4, '0')}`,
      first: i % 2 ? 'Ada' : 'Grace',
      last: i % 3 ? 'Lovelace' : 'Hopper',
      note: i % 5 === 0 ? `canaryword${i} met the QUICK brown fox` : `plain note ${i}`,
      n: i,
    }));
    const ids: string[] = [];
    for (const person of people) ids.push(await alice.client.putRecord('people-canarycoll', person));

    const check = async (conds: { field: string; value: string }[], expected: (x: (typeof people)[number]) => boolean) => {
      const r = await alice.client.findRecords('people-canarycoll', conds);
      const got = r.records.map((x) => x.record.n as number).sort((a, b) => a - b);
      expect(got).toEqual(people.filter(expected).map((x) => x.n));
      expect(r.candidates).toBeGreaterThanOrEqual(got.length);
      return r;
    };
    const exact = await check([{ field: 'email', value: 'user3@EXAMPLE.COM' }], (x) => x.email.toLowerCase() === 'user3@example.com');
    await check([{ field: 'ssn', value: '999-99-1004' }], (x) => x.ssn.endsWith('1004'));
    await check(
      [
        { field: 'first', value: 'ADA' },
        { field: 'last', value: 'hopper' },
      ],
      (x) => x.first === 'Ada' && x.last === 'Hopper',
    );
    await check([{ field: 'note', value: 'brown QUICK' }], (x) => x.note.includes('QUICK brown'));
    await check(
      [
        { field: 'note', value: 'fox' },
        { field: 'email', value: 'user0@example.com' },
      ],
      (x) => x.note.includes('fox') && x.email === 'User0@Example.com',
    );
    expect(exact.records).toHaveLength(3);
    // 20 distinct emails on 5-bit tokens (32 values) share tokens (birthday bound: no collision
    // with probability ~0.2 %): the relay returns candidates that do not match; all are dropped.
    let candidates = 0;
    let matches = 0;
    for (let i = 0; i < 20; i++) {
      const r = await check([{ field: 'email', value: `user${i}@example.com` }], (x) => x.email.toLowerCase() === `user${i}@example.com`);
      candidates += r.candidates;
      matches += r.records.length;
    }
    expect(matches).toBe(60);
    expect(candidates).toBeGreaterThan(matches);

    // get / rm.
    expect(await alice.client.getRecord('people-canarycoll', ids[7] as string)).toEqual(people[7]);
    await alice.client.removeRecord('people-canarycoll', ids[3] as string);
    await expect(alice.client.getRecord('people-canarycoll', ids[3] as string)).rejects.toBeInstanceOf(RecordNotFoundError);
    await expect(alice.client.removeRecord('people-canarycoll', ids[3] as string)).rejects.toBeInstanceOf(RecordNotFoundError);
    expect(
      (await alice.client.findRecords('people-canarycoll', [{ field: 'email', value: 'user3@example.com' }])).records.map((x) => x.record.n).sort(),
    ).toEqual([23, 43]);

    // Bad input: typed errors, nothing changed.
    await expect(alice.client.findRecords('people-canarycoll', [{ field: 'n', value: 1 }])).rejects.toBeInstanceOf(NoIndexError);
    await expect(alice.client.findRecords('people-canarycoll', [])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(alice.client.findRecords('people-canarycoll', [{ field: 'note', value: '!!!' }])).rejects.toBeInstanceOf(Error);
    await expect(alice.client.findRecords('no-such-collection', [{ field: 'email', value: 'x' }])).rejects.toBeInstanceOf(CollectionUnknownError);
    await expect(alice.client.putRecord('people-canarycoll', [] as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(alice.client.getRecord('people-canarycoll', 'short')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(alice.client.createCollection('people-canarycoll')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(alice.client.createCollection('bad', { indexes: [{ kind: 'exact', fields: ['a'], transforms: ['rot13' as never] }] })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    expect((await alice.client.describeCollection('people-canarycoll')).recordCount).toBe(59);

    // Inspection: names, field names and values appear nowhere in what the relay stored.
    const stored = await relayBytes();
    for (const canary of ['canarycoll', 'canaryword', 'Lovelace', 'Hopper', 'Example.com', 'example.com', 'email', 'note', '123-45-']) {
      expect(stored.includes(canary), canary).toBe(false);
    }
  });

  it('keys reach our other devices and members end to end; a removed member loses access; the collection is re-keyed', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const carol = await newUser('carol');
    const alice2 = await linkDevice(alice);
    await alice.client.createCollection('shared', { indexes: [{ kind: 'exact', fields: ['k'] }] });
    const id1 = await alice.client.putRecord('shared', { k: 'one' });

    // Our other device gets the key over its session.
    await expect(alice2.client.findRecords('shared', [{ field: 'k', value: 'one' }])).rejects.toBeInstanceOf(CollectionUnknownError);
    await drain(alice2);
    expect((await alice2.client.findRecords('shared', [{ field: 'k', value: 'one' }])).records.map((r) => r.id)).toEqual([id1]);

    // Only the owner shares.
    await expect(alice2.client.shareCollection('shared', bob.client.user)).resolves.toBeDefined(); // alice2 is the owner's user
    await drain(bob);
    const named = `${alice.client.user}/shared`;
    expect((await bob.client.getRecord(named, id1)).k).toBe('one');
    const id2 = await bob.client.putRecord(named, { k: 'two' });
    await expect(bob.client.shareCollection(named, carol.client.user)).rejects.toBeInstanceOf(CollectionOwnerOnlyError);
    await alice.client.shareCollection('shared', carol.client.user);
    await drain(carol);
    expect((await carol.client.findRecords(named, [{ field: 'k', value: 'two' }])).records.map((r) => r.id)).toEqual([id2]);

    // Remove bob: he is refused at once; the collection moves to epoch 1.
    const after = await alice.client.unshareCollection('shared', bob.client.user);
    expect(after.epoch).toBe(1);
    expect(after.members).toEqual([carol.client.user]);
    await expect(bob.client.findRecords(named, [{ field: 'k', value: 'one' }])).rejects.toBeInstanceOf(CollectionUnknownError);
    await expect(bob.client.putRecord(named, { k: 'three' })).rejects.toBeInstanceOf(CollectionUnknownError);
    // Carol needs the new key for new writes; queries span both epochs once she has it.
    await expect(carol.client.putRecord(named, { k: 'three' })).rejects.toBeInstanceOf(CollectionKeyMissingError);
    await drain(carol);
    const id3 = await carol.client.putRecord(named, { k: 'three' });
    expect((await alice.client.findRecords('shared', [{ field: 'k', value: 'one' }])).records.map((r) => r.id)).toEqual([id1]);
    expect((await alice.client.findRecords('shared', [{ field: 'k', value: 'three' }])).records.map((r) => r.id)).toEqual([id3]);
    await drain(alice2);
    expect((await alice2.client.findRecords('shared', [{ field: 'k', value: 'three' }])).records.map((r) => r.id)).toEqual([id3]);
    // Bob never got epoch 1: nothing in his profile decrypts the new record.
    const bobKeys = await bob.client.listCollections();
    expect(bobKeys).toEqual([]);
  });

  it('a device linked after the collection was created gets its keys with the approval, and re-sent ones are harmless', async () => {
    const alice = await newUser('alice');
    await alice.client.createCollection('early', { indexes: [{ kind: 'exact', fields: ['k'] }] });
    const id = await alice.client.putRecord('early', { k: 'x' });
    const later = await linkDevice(alice);
    // No message needed: the keys came inside the sealed provisioning envelope (PROTOCOL.md §19.1).
    expect(await later.client.getRecord('early', id)).toEqual({ k: 'x' });
    expect((await later.client.findRecords('early', [{ field: 'k', value: 'x' }])).records.map((r) => r.id)).toEqual([id]);
    const id2 = await later.client.putRecord('early', { k: 'y' });
    expect(await alice.client.getRecord('early', id2)).toEqual({ k: 'y' });
    // An older device's re-send (`records sync-keys`) changes nothing for it.
    expect(await alice.client.resendCollectionKeys()).toBe(1);
    await drain(later);
    expect((await later.client.listCollections()).map((c) => c.name)).toEqual(['early']);
  });

  it('adds an index later and indexes the stored records', async () => {
    const alice = await newUser('alice');
    await alice.client.createCollection('late');
    const id = await alice.client.putRecord('late', { city: 'Paris', text: 'hello world' });
    await expect(alice.client.findRecords('late', [{ field: 'city', value: 'paris' }])).rejects.toBeInstanceOf(NoIndexError);
    await alice.client.addIndexes('late', [
      { kind: 'exact', fields: ['city'], transforms: ['lower'] },
      { kind: 'word', fields: ['text'] },
    ]);
    expect((await alice.client.findRecords('late', [{ field: 'city', value: 'PARIS' }])).records.map((r) => r.id)).toEqual([id]);
    expect((await alice.client.findRecords('late', [{ field: 'text', value: 'World' }])).records.map((r) => r.id)).toEqual([id]);
  });

  it('re-plans by itself when the owner outgrows the plan, and an explicit re-plan widens further; only the owner re-plans', async () => {
    const alice = await newUser('alice');
    const c = await alice.client.createCollection('small', { plannedRecords: 4, indexes: [{ kind: 'exact', fields: ['k'] }] });
    expect(c.indexes[0]?.bits).toBe(1);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await alice.client.putRecord('small', { k: `v${i}` }));
    // The fifth put went past 4: the owner's SDK re-planned for twice the records then held.
    const grown = await alice.client.describeCollection('small');
    expect(grown).toMatchObject({ outgrown: false, plannedRecords: 10, recordCount: 6 });
    expect(grown.indexes[0]?.bits).toBeGreaterThan(1);
    const after = await alice.client.replanCollection('small', 1000);
    expect(after).toMatchObject({ outgrown: false, plannedRecords: 1000 });
    expect(after.indexes[0]?.bits).toBe(8);
    for (let i = 0; i < 6; i++) {
      const r = await alice.client.findRecords('small', [{ field: 'k', value: `v${i}` }]);
      expect(r.records.map((x) => x.id)).toEqual([ids[i]]);
    }
    const bob = await newUser('bob');
    await alice.client.shareCollection('small', bob.client.user);
    await drain(bob);
    await expect(bob.client.replanCollection(`${alice.client.user}/small`)).rejects.toBeInstanceOf(CollectionOwnerOnlyError);
  });

  it('an interrupted re-plan misses no record: queries ask both widths until the next put finishes it', async () => {
    const alice = await newUser('alice');
    await alice.client.createCollection('mid', {
      plannedRecords: 100,
      indexes: [
        { kind: 'exact', fields: ['k'] },
        { kind: 'word', fields: ['t'] },
      ],
    });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await alice.client.putRecord('mid', { k: `v${i}`, t: `word${i} common` }));
    // The process "dies" after re-indexing three records: later record writes fail.
    let writes = 0;
    alice.hook.fn = async (url, init, next) => {
      if (init?.method === 'PUT' && /\/records\//.test(url) && ++writes > 3) throw new Error('killed');
      return next();
    };
    await expect(alice.client.replanCollection('mid', 100_000)).rejects.toThrow();
    alice.hook.fn = null;
    const half = await alice.client.describeCollection('mid');
    expect(half.plannedRecords).toBe(100_000);
    // Some records carry old-width tokens, some new: every query still finds exactly its records.
    for (let i = 0; i < 8; i++) {
      expect((await alice.client.findRecords('mid', [{ field: 'k', value: `v${i}` }])).records.map((x) => x.id)).toEqual([ids[i]]);
    }
    expect((await alice.client.findRecords('mid', [{ field: 't', value: 'common' }])).records.map((x) => x.id).sort()).toEqual([...ids].sort());
    // The owner's next put finishes the re-plan (every record re-indexed, old widths dropped).
    const late = await alice.client.putRecord('mid', { k: 'v8', t: 'common' });
    for (let i = 0; i < 8; i++) {
      expect((await alice.client.findRecords('mid', [{ field: 'k', value: `v${i}` }])).records.map((x) => x.id)).toEqual([ids[i]]);
    }
    const all = await alice.client.findRecords('mid', [{ field: 't', value: 'common' }]);
    expect(all.records.map((x) => x.id).sort()).toEqual([...ids, late].sort());
  });
});
