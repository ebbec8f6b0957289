/**
 * A few of the HTTP flows of routes.test.ts against a relay whose storage is PostgreSQL (a fresh
 * schema per test, dropped afterwards), including two relays sharing one database. Skips loudly
 * without PostgreSQL, fails instead under BLINDRELAY_REQUIRE_SERVICES=1.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { account, b64, login, newDevice, nextList, prekeyJson, sendMessage, startTestServer, type TestServer } from './helpers.js';
import { DATABASE_URL, dropSchema, randomSchema, requirePostgres } from './postgres-service.js';

const available = await requirePostgres('routes-postgres');

describe.skipIf(!available)('HTTP routes on PostgreSQL storage', () => {
  let schema: string;
  let t: TestServer;
  const extra: TestServer[] = [];
  beforeEach(async () => {
    schema = randomSchema();
    t = await startTestServer({ databaseUrl: DATABASE_URL, databaseSchema: schema });
  });
  afterEach(async () => {
    await Promise.all([t, ...extra.splice(0)].map((s) => s.close()));
    await dropSchema(schema);
  });

  it('registers, logs in and reads the directory', async () => {
    const alice = await account(t.api, 'alice');
    const r = await t.api.req('GET', '/v1/users/alice', { token: alice.token });
    expect(r.status).toBe(200);
    expect(r.body.user).toBe('alice');
    expect((await t.api.req('POST', '/v1/accounts', { body: { user: 'alice' } })).status).toBeGreaterThanOrEqual(400);
    expect((await t.api.req('GET', '/healthz')).status).toBe(200);
  });

  it('sends, fetches and acknowledges messages; hands out bundles', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const bundles = await t.api.req('POST', '/v1/users/bob/bundles', { token: alice.token, body: {} });
    expect(bundles.status).toBe(200);
    expect((await sendMessage(t.api, alice.token, 'bob', [{ deviceId: bob.d.keys.deviceId, body: new Uint8Array([1, 2, 3]) }])).status).toBe(200);
    const fetched = await t.api.req('GET', '/v1/messages', { token: bob.token });
    expect(fetched.status).toBe(200);
    expect(fetched.body.messages).toHaveLength(1);
    const ack = await t.api.req('POST', '/v1/messages/ack', { token: bob.token, sign: { user: bob.u }, body: { ids: [fetched.body.messages[0].id] } });
    expect(ack.status).toBe(204);
    expect((await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toHaveLength(0);
  });

  it('revokes a device: its token stops working', async () => {
    const bob = await account(t.api, 'bob');
    const d2 = await newDevice();
    const add = await t.api.req('PUT', '/v1/users/bob/device-list', {
      body: { deviceList: b64(await nextList(bob.u, [bob.d, d2])), newDevice: { deviceId: d2.keys.deviceId, prekeys: prekeyJson(d2) } },
    });
    expect(add.status).toBe(204);
    const token2 = await login(t.api, bob.u, d2);
    expect((await t.api.req('GET', '/v1/messages', { token: token2 })).status).toBe(200);
    const drop = await t.api.req('PUT', '/v1/users/bob/device-list', { body: { deviceList: b64(await nextList(bob.u, [bob.d])) } });
    expect(drop.status).toBe(204);
    expect((await t.api.req('GET', '/v1/messages', { token: token2 })).status).toBe(401);
  });

  it('two relays on one database see each other’s accounts, tokens and messages', async () => {
    const t2 = await startTestServer({ databaseUrl: DATABASE_URL, databaseSchema: schema });
    extra.push(t2);
    const alice = await account(t.api, 'alice');
    const bob = await account(t2.api, 'bob');
    expect((await sendMessage(t2.api, alice.token, 'bob', [{ deviceId: bob.d.keys.deviceId, body: new Uint8Array([9]) }])).status).toBe(200);
    const fetched = await t.api.req('GET', '/v1/messages', { token: bob.token });
    expect(fetched.body.messages).toHaveLength(1);
  });

  it('records: two relays on one database share collections, postings and access decisions', async () => {
    const t2 = await startTestServer({ databaseUrl: DATABASE_URL, databaseSchema: schema });
    extra.push(t2);
    const alice = await account(t.api, 'alice');
    const bob = await account(t2.api, 'bob');
    const coll = b64(new Uint8Array(16).fill(3));
    expect((await t.api.req('POST', '/v1/collections', { token: alice.token, body: { id: coll, meta: 'AAAA', members: ['bob'] } })).status).toBe(201);
    const rec = b64(new Uint8Array(16).fill(4));
    const put = await t2.api.req('PUT', `/v1/collections/${coll}/records/${rec}`, {
      token: bob.token,
      body: {
        epoch: 0,
        body: 'AAAA',
        postings: [
          [0, 2 ** 40 + 5],
          [1, 7],
        ],
      },
    });
    expect(put.body).toEqual({ created: true });
    const q = (api: typeof t.api, token: string) =>
      api.req('POST', `/v1/collections/${coll}/query`, {
        token,
        body: {
          any: [
            [
              [0, 2 ** 40 + 5],
              [1, 7],
            ],
          ],
        },
      });
    expect((await q(t.api, alice.token)).body.records.map((r: { id: string }) => r.id)).toEqual([rec]);
    const removed = await t.api.req('POST', `/v1/collections/${coll}/members`, {
      token: alice.token,
      body: { expectedRevision: 1, user: 'bob', add: false },
      sign: { user: alice.u },
    });
    expect(removed.body).toEqual({ revision: 2 });
    expect((await q(t2.api, bob.token)).status).toBe(404);
    expect((await q(t2.api, alice.token)).body.records).toHaveLength(1);
  });
});
