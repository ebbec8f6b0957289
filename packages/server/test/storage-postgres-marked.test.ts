/**
 * `mailboxes.enqueueMarked` on PostgreSQL (ENQUEUE_MARKED_SQL, postgres-storage.ts): a send and its
 * send mark (docs/API.md §5a) in one statement. The send is stored only if the mark is accepted
 * (raised, or the same mark and digest again), with the same verdicts as `sendMarks.raise`
 * followed by `enqueue`; a refused mark stores nothing. Each test on a fresh schema. Skips loudly
 * without PostgreSQL, fails instead under BLINDRELAY_REQUIRE_SERVICES=1.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPostgresStorage } from '../src/storage/postgres/postgres-storage.js';
import type { DeviceRecord, Enqueue, SendMarkRecord, Storage } from '../src/storage/types.js';
import { DATABASE_URL, dropSchema, randomSchema, requirePostgres } from './postgres-service.js';

const available = await requirePostgres('storage-postgres-marked');
const T0 = 1_700_000_000_000;
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

describe.skipIf(!available)('PostgreSQL storage: a send and its mark in one statement (enqueueMarked)', () => {
  let schema: string;
  let s: Storage;
  const sender: DeviceRecord = { deviceId: 1, signingKey: bytes(32), identityKey: bytes(32) };
  const recipient: DeviceRecord = { deviceId: 1, signingKey: bytes(32), identityKey: bytes(32) };

  beforeEach(async () => {
    schema = randomSchema();
    s = await openPostgresStorage({ connectionString: DATABASE_URL, schema, now: () => 0 });
    for (const [user, device] of [
      ['alice', sender],
      ['bob', recipient],
    ] as const) {
      const r = await s.accounts.create(
        { user, masterKey: bytes(32), listVersion: 1, deviceList: bytes(100), device, prekeys: {}, createdAt: T0 },
        { maxStoredOneTime: 100 },
      );
      expect(r).toBe('created');
    }
  });
  afterEach(async () => {
    await s.close();
    await dropSchema(schema);
  });

  const enqueueMarked = (q: Enqueue, record: SendMarkRecord, signingKey = sender.signingKey) => {
    const f = s.mailboxes.enqueueMarked?.bind(s.mailboxes);
    if (!f) throw new Error('the PostgreSQL store must offer enqueueMarked');
    return f(q, { record, signingKey });
  };
  const send = (o: { version?: number; maxQueued?: number } = {}): Enqueue => ({
    to: 'bob',
    expectedListVersion: o.version ?? 1,
    fromUser: 'alice',
    fromDevice: 1,
    sentAt: T0,
    messages: [{ id: bytes(16), deviceId: 1, body: bytes(20) }],
    maxQueued: o.maxQueued ?? 1000,
  });
  const mark = (n: number, digest = bytes(32)): SendMarkRecord => ({ mark: n, signature: bytes(64), digest });
  const queued = async () => (await s.mailboxes.fetch('bob', 1, { limit: 100 })).length;
  const held = async () => (await s.sendMarks.get('alice', 1))?.mark;

  it('stores the send when the mark is raised (first mark, and a higher one), and again for the same mark and digest', async () => {
    // The first send to bob's device also creates its queue row (the transaction path).
    expect(await enqueueMarked(send(), mark(3))).toEqual({ mark: { status: 'raised' }, stored: { status: 'stored' } });
    expect(await held()).toBe(3);
    const m5 = mark(5);
    expect(await enqueueMarked(send(), m5)).toEqual({ mark: { status: 'raised' }, stored: { status: 'stored' } });
    // A retry of the same send (same mark, same digest): accepted, as raise answers 'repeated'.
    expect(await enqueueMarked(send(), { ...mark(5, m5.digest) })).toEqual({ mark: { status: 'repeated' }, stored: { status: 'stored' } });
    expect(await queued()).toBe(3);
    expect(await held()).toBe(5);
  });

  it('stores nothing under a stale mark (lower, or the same for another send) and answers the mark held', async () => {
    await enqueueMarked(send(), mark(5));
    for (const m of [mark(4), mark(5), mark(1)]) {
      const r = await enqueueMarked(send(), m);
      expect(r.stored).toBeUndefined();
      expect(r.mark.status).toBe('stale');
      if (r.mark.status === 'stale') expect(r.mark.current.mark).toBe(5);
    }
    expect(await queued()).toBe(1);
    expect(await held()).toBe(5);
  });

  it('stores nothing and raises nothing for a device not listed with that key', async () => {
    await enqueueMarked(send(), mark(2));
    expect(await enqueueMarked(send(), mark(9), bytes(32))).toEqual({ mark: { status: 'unknown_device' } });
    expect(await enqueueMarked({ ...send(), fromDevice: 2 }, mark(9))).toEqual({ mark: { status: 'unknown_device' } });
    expect(await queued()).toBe(1);
    expect(await held()).toBe(2);
  });

  it("raises the mark but stores nothing on a stale list or a full queue (enqueue's verdicts)", async () => {
    await enqueueMarked(send(), mark(1));
    expect(await enqueueMarked(send({ version: 7 }), mark(2))).toEqual({ mark: { status: 'raised' }, stored: { status: 'stale_list' } });
    expect(await held()).toBe(2);
    expect(await enqueueMarked(send({ maxQueued: 1 }), mark(3))).toEqual({ mark: { status: 'raised' }, stored: { status: 'queue_full', deviceIds: [1] } });
    expect(await held()).toBe(3);
    expect(await queued()).toBe(1);
  });

  it('of concurrent sends under different marks, exactly those whose mark was accepted are stored; the highest mark wins', async () => {
    await enqueueMarked(send(), mark(1));
    const results = await Promise.all([3, 2, 8, 4, 8, 6].map((n) => enqueueMarked(send(), mark(n))));
    const accepted = results.filter((r) => r.mark.status === 'raised' || r.mark.status === 'repeated');
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    for (const r of accepted) expect(r.stored).toEqual({ status: 'stored' });
    for (const r of results.filter((x) => !accepted.includes(x))) expect(r.stored).toBeUndefined();
    expect(await queued()).toBe(1 + accepted.length);
    expect(await held()).toBe(8);
  });
});
