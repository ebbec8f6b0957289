/**
 * docs/API.md §10 over HTTP on the embedded store: collections, sealed records, postings and
 * queries; access (owner, member, stranger, removed member); signed destructive requests; every
 * malformed or unauthorised request refused with a typed error and nothing changed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { account, b64, p, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeEach(async () => {
  t = await startTestServer();
});
afterEach(async () => {
  await t.close();
});

type Acct = Awaited<ReturnType<typeof account>>;
const newId = () => b64(p.randomBytes(16));
const idOf = (n: number) => {
  const b = new Uint8Array(16);
  b[15] = n;
  return b64(b);
};

async function create(owner: Acct, members: string[] = []) {
  const id = newId();
  const r = await t.api.req('POST', '/v1/collections', { token: owner.token, body: { id, meta: b64(p.randomBytes(40)), members } });
  expect(r.status).toBe(201);
  expect(r.body).toEqual({ id, revision: 1 });
  return id;
}
const put = (who: Acct, coll: string, rec: string, postings: [number, number][], epoch = 0, body = b64(p.randomBytes(80))) =>
  t.api.req('PUT', `/v1/collections/${coll}/records/${rec}`, { token: who.token, body: { epoch, body, postings } });
const query = (who: Acct, coll: string, any: [number, number][][], extra: Record<string, unknown> = {}) =>
  t.api.req<{ records: { id: string; epoch: number; body: string }[]; next: string | null; code?: string }>('POST', `/v1/collections/${coll}/query`, {
    token: who.token,
    body: { any, ...extra },
  });

describe('records: collections, records and queries', () => {
  it('stores, queries (AND, OR, paging), replaces and deletes; members share; a removed member loses access', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const carol = await account(t.api, 'carol');
    const coll = await create(alice, ['bob']);

    for (let i = 1; i <= 9; i++)
      expect(
        (
          await put(i % 2 ? alice : bob, coll, idOf(i), [
            [0, i % 3],
            [1, i],
          ])
        ).body,
      ).toEqual({ created: true });
    const stored = await t.api.req('GET', `/v1/collections/${coll}/records/${idOf(4)}`, { token: alice.token });
    expect(stored.body).toMatchObject({ id: idOf(4), epoch: 0, body: expect.any(String), updatedAt: expect.any(Number) });

    const zeros = await query(bob, coll, [[[0, 0]]]);
    expect(zeros.body.records.map((r) => r.id)).toEqual([idOf(3), idOf(6), idOf(9)]);
    expect(
      (
        await query(alice, coll, [
          [
            [0, 0],
            [1, 6],
          ],
        ])
      ).body.records.map((r) => r.id),
    ).toEqual([idOf(6)]);
    expect((await query(alice, coll, [[[1, 2]], [[1, 7]]])).body.records.map((r) => r.id)).toEqual([idOf(2), idOf(7)]);
    const first = await query(alice, coll, [[[0, 1]]], { limit: 2 });
    expect(first.body.records.map((r) => r.id)).toEqual([idOf(1), idOf(4)]);
    expect(first.body.next).toBe(idOf(4));
    expect((await query(alice, coll, [[[0, 1]]], { limit: 2, after: first.body.next })).body.records.map((r) => r.id)).toEqual([idOf(7)]);

    // Replace: new postings only.
    expect((await put(alice, coll, idOf(3), [[0, 1]])).body).toEqual({ created: false });
    expect((await query(alice, coll, [[[0, 0]]])).body.records.map((r) => r.id)).toEqual([idOf(6), idOf(9)]);
    const info = await t.api.req('GET', `/v1/collections/${coll}`, { token: bob.token });
    expect(info.body).toMatchObject({ id: coll, owner: 'alice', members: ['bob'], epoch: 0, revision: 1, recordCount: 9 });
    expect((await t.api.req('GET', '/v1/collections', { token: bob.token })).body.collections).toHaveLength(1);
    expect((await t.api.req('GET', '/v1/collections', { token: carol.token })).body.collections).toEqual([]);

    // Listing by id.
    const listed = await t.api.req('GET', `/v1/collections/${coll}/records?limit=4`, { token: alice.token });
    expect(listed.body.records.map((r: { id: string }) => r.id)).toEqual([1, 2, 3, 4].map(idOf));

    // Delete (signed).
    const path = `/v1/collections/${coll}/records/${idOf(6)}`;
    expect((await t.api.req('DELETE', path, { token: bob.token })).body.code).toBe('signature_required');
    expect((await t.api.req('DELETE', path, { token: bob.token, sign: { user: bob.u } })).status).toBe(204);
    expect((await t.api.req('DELETE', path, { token: bob.token, sign: { user: bob.u } })).status).toBe(404);
    expect((await query(alice, coll, [[[0, 0]]])).body.records.map((r) => r.id)).toEqual([idOf(9)]);

    // Remove bob (signed, owner only), re-key: bob sees nothing; old-epoch writes are refused.
    const remove = { expectedRevision: 1, user: 'bob', add: false };
    expect((await t.api.req('POST', `/v1/collections/${coll}/members`, { token: bob.token, body: remove, sign: { user: bob.u } })).status).toBe(404);
    expect((await t.api.req('POST', `/v1/collections/${coll}/members`, { token: alice.token, body: remove })).body.code).toBe('signature_required');
    expect((await t.api.req('POST', `/v1/collections/${coll}/members`, { token: alice.token, body: remove, sign: { user: alice.u } })).body).toEqual({
      revision: 2,
    });
    for (const r of [
      await query(bob, coll, [[[0, 0]]]),
      await t.api.req('GET', `/v1/collections/${coll}`, { token: bob.token }),
      await t.api.req('GET', `/v1/collections/${coll}/records/${idOf(9)}`, { token: bob.token }),
      await put(bob, coll, idOf(20), []),
    ]) {
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ code: 'not_found', message: 'no such collection' });
    }
    const rekey = { expectedRevision: 2, epoch: 1, meta: b64(p.randomBytes(40)) };
    expect((await t.api.req('PUT', `/v1/collections/${coll}`, { token: alice.token, body: rekey, sign: { user: alice.u } })).body).toEqual({ revision: 3 });
    const stale = await put(alice, coll, idOf(21), [], 0);
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ code: 'conflict', epoch: 1 });
    expect((await put(alice, coll, idOf(21), [[0, 0]], 1)).status).toBe(200);
    expect((await query(alice, coll, [[[0, 0]]])).body.records.map((r) => [r.id, r.epoch])).toEqual([
      [idOf(9), 0],
      [idOf(21), 1],
    ]);

    // Delete the collection (signed, owner).
    expect((await t.api.req('DELETE', `/v1/collections/${coll}`, { token: alice.token, sign: { user: alice.u } })).status).toBe(204);
    expect((await query(alice, coll, [[[0, 0]]])).status).toBe(404);
  });

  it('refuses malformed input, unknown and foreign collections with typed errors, changing nothing', async () => {
    const alice = await account(t.api, 'alice');
    const eve = await account(t.api, 'eve');
    const coll = await create(alice);
    expect((await put(alice, coll, idOf(1), [[2, 42]])).status).toBe(200);
    const before = (await t.api.req('GET', `/v1/collections/${coll}`, { token: alice.token })).body;

    const bad: [string, string, unknown][] = [
      ['POST', '/v1/collections', { id: 'short', meta: 'AA' }],
      ['POST', '/v1/collections', { id: newId() }],
      ['POST', '/v1/collections', { id: newId(), meta: 'not base64!' }],
      ['POST', '/v1/collections', { id: newId(), meta: 'AA', members: ['alice'] }],
      ['POST', '/v1/collections', { id: newId(), meta: 'AA', extra: 1 }],
      ['PUT', `/v1/collections/${coll}/records/${idOf(2)}`, { epoch: 0, body: 'AA', postings: [[32, 1]] }],
      ['PUT', `/v1/collections/${coll}/records/${idOf(2)}`, { epoch: 0, body: 'AA', postings: [[0, 2 ** 48]] }],
      ['PUT', `/v1/collections/${coll}/records/${idOf(2)}`, { epoch: 0, body: 'AA', postings: [[0, -1]] }],
      ['PUT', `/v1/collections/${coll}/records/${idOf(2)}`, { epoch: 0, body: 'AA', postings: [[0]] }],
      ['PUT', `/v1/collections/${coll}/records/${idOf(2)}`, { epoch: -1, body: 'AA', postings: [] }],
      ['PUT', `/v1/collections/${coll}/records/${idOf(2)}`, { epoch: 0, body: '', postings: [] }],
      ['PUT', `/v1/collections/${coll}/records/xyz`, { epoch: 0, body: 'AA', postings: [] }],
      ['POST', `/v1/collections/${coll}/query`, { any: [] }],
      ['POST', `/v1/collections/${coll}/query`, { any: [[]] }],
      ['POST', `/v1/collections/${coll}/query`, { any: [[[0, 1.5]]] }],
      ['POST', `/v1/collections/${coll}/query`, { any: [Array.from({ length: 17 }, (_, i) => [0, i])] }],
      ['POST', `/v1/collections/${coll}/query`, { any: [[[0, 1]]], limit: 0 }],
      ['POST', `/v1/collections/${coll}/query`, { any: [[[0, 1]]], limit: 1001 }],
      ['POST', `/v1/collections/${coll}/query`, { any: [[[0, 1]]], after: 'AA' }],
      ['POST', `/v1/collections/${coll}/query`, { any: 'token' }],
    ];
    for (const [method, path, body] of bad) {
      const r = await t.api.req(method, path, { token: alice.token, body });
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.code).toBe('bad_request');
      // Error messages never echo what was submitted.
      expect(r.text).not.toContain('not base64!');
    }
    const big = await put(alice, coll, idOf(2), [], 0, b64(p.randomBytes(160 * 1024 + 1)));
    expect([400, 413]).toContain(big.status);
    expect(
      (
        await put(
          alice,
          coll,
          idOf(2),
          Array.from({ length: 8193 }, (_, i) => [0, i] as [number, number]),
        )
      ).status,
    ).toBe(400);

    // Unknown collection, and another user's: the same 404.
    const unknown = newId();
    for (const who of [alice, eve]) {
      const target = who === alice ? unknown : coll;
      for (const r of [
        await query(who, target, [[[2, 42]]]),
        await put(who, target, idOf(3), []),
        await t.api.req('GET', `/v1/collections/${target}`, { token: who.token }),
        await t.api.req('GET', `/v1/collections/${target}/records`, { token: who.token }),
        await t.api.req('GET', `/v1/collections/${target}/records/${idOf(1)}`, { token: who.token }),
        await t.api.req('DELETE', `/v1/collections/${target}/records/${idOf(1)}`, { token: who.token, sign: { user: who.u } }),
        await t.api.req('DELETE', `/v1/collections/${target}`, { token: who.token, sign: { user: who.u } }),
        await t.api.req('PUT', `/v1/collections/${target}`, { token: who.token, body: { expectedRevision: 1, epoch: 1, meta: 'AA' }, sign: { user: who.u } }),
        await t.api.req('POST', `/v1/collections/${target}/members`, {
          token: who.token,
          body: { expectedRevision: 1, user: 'eve', add: true },
          sign: { user: who.u },
        }),
      ]) {
        expect(r.status).toBe(404);
        expect(r.body).toEqual({ code: 'not_found', message: 'no such collection' });
      }
    }
    // No token.
    expect((await t.api.req('POST', `/v1/collections/${coll}/query`, { body: { any: [[[2, 42]]] } })).status).toBe(401);
    // Conflicts: taken id, stale revision, an epoch jump, an unknown member.
    expect((await t.api.req('POST', '/v1/collections', { token: alice.token, body: { id: coll, meta: 'AA' } })).status).toBe(409);
    const jump = await t.api.req('PUT', `/v1/collections/${coll}`, {
      token: alice.token,
      body: { expectedRevision: 1, epoch: 2, meta: 'AA' },
      sign: { user: alice.u },
    });
    expect(jump.body).toMatchObject({ code: 'conflict', epoch: 0 });
    const staleRev = await t.api.req('PUT', `/v1/collections/${coll}`, {
      token: alice.token,
      body: { expectedRevision: 7, epoch: 1, meta: 'AA' },
      sign: { user: alice.u },
    });
    expect(staleRev.body).toMatchObject({ code: 'conflict', revision: 1 });
    const nobody = await t.api.req('POST', `/v1/collections/${coll}/members`, {
      token: alice.token,
      body: { expectedRevision: 1, user: 'nobody', add: true },
      sign: { user: alice.u },
    });
    expect(nobody.status).toBe(404);
    // Nothing changed.
    expect((await t.api.req('GET', `/v1/collections/${coll}`, { token: alice.token })).body).toEqual(before);
    expect((await query(alice, coll, [[[2, 42]]])).body.records.map((r) => r.id)).toEqual([idOf(1)]);
  });

  it('rate-limits record writes and reads per device', async () => {
    await t.close();
    t = await startTestServer({
      rateLimits: { recordWritesPerDevice: { capacity: 3, refillPerSecond: 0 }, recordReadsPerDevice: { capacity: 2, refillPerSecond: 0 } },
    });
    const alice = await account(t.api, 'alice');
    const coll = await create(alice);
    expect((await put(alice, coll, idOf(1), [])).status).toBe(200);
    expect((await put(alice, coll, idOf(2), [])).status).toBe(200);
    const limited = await put(alice, coll, idOf(3), []);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
    expect((await query(alice, coll, [[[0, 1]]])).status).toBe(200);
    expect((await query(alice, coll, [[[0, 1]]])).status).toBe(200);
    expect((await query(alice, coll, [[[0, 1]]])).status).toBe(429);
    expect((await t.api.req('GET', `/v1/collections/${coll}`, { token: alice.token })).body).toMatchObject({ code: 'rate_limited' });
  });
});
