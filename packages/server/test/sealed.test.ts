/**
 * Sealed sends on the relay (docs/API.md §11), on SQLite and on PostgreSQL: delivery tokens
 * (rotate, revoke), fan-out with the device-list coverage rule, replay refusal, forged and revoked
 * tokens, and "nothing stored" checked on the storage itself after every refusal.
 */
import * as P from '@blindrelay/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServerOptions } from '../src/config.js';
import { account, b64, login, newDevice, nextList, p, prekeyJson, startTestServer, type TestServer } from './helpers.js';
import { DATABASE_URL, dropSchema, randomSchema, requirePostgres } from './postgres-service.js';

const pgAvailable = await requirePostgres('sealed sends on PostgreSQL');

type Acct = Awaited<ReturnType<typeof account>>;

/** A sealed-looking envelope (the relay checks only its shape; the SDK tests open real ones). */
const envelope = (n = 120) => P.concat(Uint8Array.of(P.SEALED_ENVELOPE_VERSION), p.randomBytes(n));

function suite(name: string, enabled: boolean, options: () => ServerOptions, after: () => Promise<void> = async () => {}) {
  describe.skipIf(!enabled)(`sealed sends: ${name}`, () => {
    let t: TestServer;
    beforeEach(async () => {
      t = await startTestServer(options());
    });
    afterEach(async () => {
      await t.close();
      await after();
    });

    async function setToken(a: Acct, token: Uint8Array, mode: 'rotate' | 'revoke' = 'rotate', device = a.d, bearer = a.token) {
      const body = { verifier: b64(await P.deliveryTokenVerifier(p, token)), mode };
      return t.api.req('PUT', '/v1/sealed/token', { token: bearer, body, sign: { user: a.u, device, timestamp: t.clock.now() } });
    }
    const sealedSend = (to: string, messages: { deviceId: number; token: Uint8Array; body: Uint8Array }[]) =>
      t.api.req('POST', '/v1/sealed/messages', {
        body: { to, messages: messages.map((m) => ({ deviceId: m.deviceId, token: b64(m.token), body: b64(m.body) })) },
      });
    /** Everything queued for the account's first device, read through the storage (not the API). */
    const queued = (a: Acct) => t.server.storage.mailboxes.fetch(a.u.user, a.d.keys.deviceId, { limit: 1000 });

    it('stores a sealed message with no sender, delivers it as sealed; the ack path is unchanged', async () => {
      const bob = await account(t.api, 'bob');
      const token = P.newDeliveryToken(p);
      expect((await setToken(bob, token)).status).toBe(204);
      const body = envelope();
      const r = await sealedSend('bob', [{ deviceId: bob.d.keys.deviceId, token, body }]);
      expect(r.status).toBe(200);
      const rows = await queued(bob);
      expect(rows).toHaveLength(1);
      expect(rows[0]?.fromUser).toBe('');
      expect(rows[0]?.fromDevice).toBe(0);
      const fetched = await t.api.req('GET', '/v1/messages', { token: bob.token });
      expect(fetched.body.messages[0]).toEqual({ id: r.body.ids[0], sealed: true, body: b64(body), sentAt: r.body.sentAt });
      const ack = await t.api.req('POST', '/v1/messages/ack', { token: bob.token, sign: { user: bob.u }, body: { ids: r.body.ids } });
      expect(ack.status).toBe(204);
      expect(await queued(bob)).toHaveLength(0);
    });

    it('refuses a forged token, an unknown user and a token of another device alike (403, nothing stored)', async () => {
      const bob = await account(t.api, 'bob');
      const carol = await account(t.api, 'carol');
      const token = P.newDeliveryToken(p);
      const carolToken = P.newDeliveryToken(p);
      await setToken(bob, token);
      await setToken(carol, carolToken);
      const digests = await t.server.storage.sealed.countDigests();
      for (const [to, tok] of [
        ['bob', P.newDeliveryToken(p)],
        ['bob', carolToken],
        ['nobody', token],
      ] as const) {
        const r = await sealedSend(to, [{ deviceId: bob.d.keys.deviceId, token: tok, body: envelope() }]);
        expect(r.status).toBe(403);
        expect(r.body.code).toBe('invalid_delivery_token');
        expect(r.body.missing).toBeUndefined();
      }
      // No token set at all yet (a new device): refused the same way.
      const dave = await account(t.api, 'dave');
      expect((await sealedSend('dave', [{ deviceId: dave.d.keys.deviceId, token, body: envelope() }])).status).toBe(403);
      expect(await queued(bob)).toHaveLength(0);
      expect(await t.server.storage.sealed.countDigests()).toBe(digests);
    });

    it('rotation keeps the previous token for the grace period; revocation ends every other token at once', async () => {
      const bob = await account(t.api, 'bob');
      const t1 = P.newDeliveryToken(p);
      const t2 = P.newDeliveryToken(p);
      const t3 = P.newDeliveryToken(p);
      await setToken(bob, t1);
      expect((await setToken(bob, t2, 'rotate')).status).toBe(204);
      const to = (tok: Uint8Array) => sealedSend('bob', [{ deviceId: bob.d.keys.deviceId, token: tok, body: envelope() }]);
      expect((await to(t1)).status).toBe(200);
      expect((await to(t2)).status).toBe(200);
      t.clock.advance(8 * 24 * 3600_000);
      expect((await to(t1)).status).toBe(403); // grace period over
      expect((await to(t2)).status).toBe(200);
      const relogged = { ...bob, token: await login(t.api, bob.u) };
      expect((await setToken(relogged, t3, 'revoke')).status).toBe(204);
      const before = (await queued(bob)).length;
      const revoked = await to(t2);
      expect(revoked.status).toBe(403);
      expect(revoked.body.code).toBe('invalid_delivery_token');
      expect(await queued(bob)).toHaveLength(before);
      expect((await to(t3)).status).toBe(200);
    });

    it('the directory for a token holder, unauthenticated; a wrong token and an unknown user look the same (403)', async () => {
      const bob = await account(t.api, 'bob');
      const token = P.newDeliveryToken(p);
      await setToken(bob, token);
      const look = (user: string, tok: Uint8Array) =>
        t.api.req('POST', '/v1/sealed/directory', { body: { user, deviceId: bob.d.keys.deviceId, token: b64(tok) } });
      const ok = await look('bob', token);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ user: 'bob', deviceList: b64(bob.u.list), masterKey: b64(bob.u.master.publicKey) });
      for (const r of [await look('bob', P.newDeliveryToken(p)), await look('nobody', token)]) {
        expect(r.status).toBe(403);
        expect(r.body.code).toBe('invalid_delivery_token');
      }
    });

    it('setting a token needs a signed request', async () => {
      const bob = await account(t.api, 'bob');
      const r = await t.api.req('PUT', '/v1/sealed/token', {
        token: bob.token,
        body: { verifier: b64(await P.deliveryTokenVerifier(p, P.newDeliveryToken(p))), mode: 'revoke' },
      });
      expect(r.status).toBe(401);
    });

    it('a replayed sealed envelope is refused (409 replayed), nothing stored', async () => {
      const bob = await account(t.api, 'bob');
      const token = P.newDeliveryToken(p);
      await setToken(bob, token);
      const body = envelope();
      expect((await sealedSend('bob', [{ deviceId: bob.d.keys.deviceId, token, body }])).status).toBe(200);
      const replay = await sealedSend('bob', [{ deviceId: bob.d.keys.deviceId, token, body }]);
      expect(replay.status).toBe(409);
      expect(replay.body.code).toBe('replayed');
      expect(await queued(bob)).toHaveLength(1);
      // Even after the first copy was acknowledged (the digest outlives the message).
      const [row] = await queued(bob);
      await t.server.storage.mailboxes.ack('bob', bob.d.keys.deviceId, [row?.id as Uint8Array]);
      expect((await sealedSend('bob', [{ deviceId: bob.d.keys.deviceId, token, body }])).status).toBe(409);
      expect(await queued(bob)).toHaveLength(0);
    });

    it("fan-out to every device; 409 with the current list when the batch does not cover exactly the recipient's devices", async () => {
      const bob = await account(t.api, 'bob');
      const d2 = await newDevice();
      const add = await t.api.req('PUT', '/v1/users/bob/device-list', {
        body: { deviceList: b64(await nextList(bob.u, [bob.d, d2])), newDevice: { deviceId: d2.keys.deviceId, prekeys: prekeyJson(d2) } },
      });
      expect(add.status).toBe(204);
      const token2 = await login(t.api, bob.u, d2);
      const k1 = P.newDeliveryToken(p);
      const k2 = P.newDeliveryToken(p);
      await setToken(bob, k1);
      expect((await setToken(bob, k2, 'rotate', d2, token2)).status).toBe(204);
      const one = await sealedSend('bob', [{ deviceId: bob.d.keys.deviceId, token: k1, body: envelope() }]);
      expect(one.status).toBe(409);
      expect(one.body).toMatchObject({ code: 'mismatched_devices', missing: [d2.keys.deviceId], stale: [] });
      const stale = await sealedSend('bob', [
        { deviceId: bob.d.keys.deviceId, token: k1, body: envelope() },
        { deviceId: d2.keys.deviceId, token: k2, body: envelope() },
        { deviceId: 999_999, token: k2, body: envelope() },
      ]);
      expect(stale.status).toBe(409);
      expect(stale.body).toMatchObject({ missing: [], stale: [999_999] });
      // One device's token right, the other's wrong: refused as a whole.
      const mixed = await sealedSend('bob', [
        { deviceId: bob.d.keys.deviceId, token: k1, body: envelope() },
        { deviceId: d2.keys.deviceId, token: k1, body: envelope() },
      ]);
      expect(mixed.status).toBe(403);
      expect(await queued(bob)).toHaveLength(0);
      const ok = await sealedSend('bob', [
        { deviceId: bob.d.keys.deviceId, token: k1, body: envelope() },
        { deviceId: d2.keys.deviceId, token: k2, body: envelope() },
      ]);
      expect(ok.status).toBe(200);
      expect(await queued(bob)).toHaveLength(1);
      expect(await t.server.storage.mailboxes.fetch('bob', d2.keys.deviceId, { limit: 10 })).toHaveLength(1);
    });

    it('malformed batches: 400, nothing stored', async () => {
      const bob = await account(t.api, 'bob');
      const token = P.newDeliveryToken(p);
      await setToken(bob, token);
      const id = bob.d.keys.deviceId;
      for (const messages of [
        [],
        [{ deviceId: id, token: b64(token), body: b64(new Uint8Array(10)) }],
        [{ deviceId: id, token: b64(token), body: b64(P.concat(Uint8Array.of(2), p.randomBytes(100))) }],
        [{ deviceId: id, token: b64(token.subarray(0, 31)), body: b64(envelope()) }],
        [
          { deviceId: id, token: b64(token), body: b64(envelope()) },
          { deviceId: id, token: b64(token), body: b64(envelope()) },
        ],
      ]) {
        const r = await t.api.req('POST', '/v1/sealed/messages', { body: { to: 'bob', messages } });
        expect(r.status, JSON.stringify(messages).slice(0, 80)).toBe(400);
      }
      expect(await queued(bob)).toHaveLength(0);
    });

    it('enqueueSealedMany: each item all or nothing and independent; a repeat within the batch is replayed; results in order', async () => {
      const bob = await account(t.api, 'bob');
      const token = P.newDeliveryToken(p);
      await setToken(bob, token);
      const verifier = await P.deliveryTokenVerifier(p, token);
      const listVersion = (await t.server.storage.accounts.get('bob'))?.listVersion as number;
      const now = t.clock.now();
      const q = async (body: Uint8Array, v = verifier, version = listVersion) => ({
        to: 'bob',
        expectedListVersion: version,
        sentAt: now,
        messages: [{ id: p.randomBytes(16), deviceId: bob.d.keys.deviceId, body, verifier: v, digest: await p.sha256(body) }],
        maxQueued: 1000,
        digestsUntil: now + 3600_000,
        now,
      });
      const a = envelope();
      const b = envelope();
      const results = await t.server.storage.sealed.enqueueSealedMany([
        await q(a),
        await q(b, await P.deliveryTokenVerifier(p, P.newDeliveryToken(p))),
        await q(a),
        await q(b, verifier, listVersion + 1),
        await q(b),
      ]);
      expect(results.map((r) => r.status)).toEqual(['stored', 'bad_token', 'replayed', 'stale_list', 'stored']);
      expect((await queued(bob)).map((r) => b64(r.body))).toEqual([b64(a), b64(b)]);
      expect(await t.server.storage.sealed.countDigests()).toBe(2);
    });

    it('revoking the device removes its tokens (a sealed send to it is then 403/409, never stored)', async () => {
      const bob = await account(t.api, 'bob');
      const d2 = await newDevice();
      await t.api.req('PUT', '/v1/users/bob/device-list', {
        body: { deviceList: b64(await nextList(bob.u, [bob.d, d2])), newDevice: { deviceId: d2.keys.deviceId, prekeys: prekeyJson(d2) } },
      });
      const token2 = await login(t.api, bob.u, d2);
      const k2 = P.newDeliveryToken(p);
      await setToken(bob, k2, 'rotate', d2, token2);
      await t.api.req('PUT', '/v1/users/bob/device-list', { body: { deviceList: b64(await nextList(bob.u, [bob.d])) } });
      const r = await sealedSend('bob', [{ deviceId: d2.keys.deviceId, token: k2, body: envelope() }]);
      expect(r.status).toBe(403);
    });
  });
}

suite('SQLite', true, () => ({}));
let schema = '';
suite(
  'PostgreSQL',
  pgAvailable,
  () => {
    schema = randomSchema();
    return { databaseUrl: DATABASE_URL, databaseSchema: schema };
  },
  () => dropSchema(schema),
);

describe('sealed sends: limits (SQLite)', () => {
  let t: TestServer;
  afterEach(async () => {
    await t.close();
  });

  it('a stranger exceeding the first-contact limit (authenticated sends to another user, per pair) is refused, nothing stored', async () => {
    t = await startTestServer({ rateLimits: { messagesPerPair: { capacity: 3, refillPerSecond: 1 / 3600 } } });
    const bob = await account(t.api, 'bob');
    const stranger = await account(t.api, 'stranger');
    const send = () =>
      t.api.req('POST', '/v1/messages', {
        token: stranger.token,
        body: { to: 'bob', messages: [{ deviceId: bob.d.keys.deviceId, body: b64(p.randomBytes(64)) }] },
      });
    for (let i = 0; i < 3; i++) expect((await send()).status).toBe(200);
    const before = await t.server.storage.mailboxes.fetch('bob', bob.d.keys.deviceId, { limit: 100 });
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('rate_limited');
    expect(await t.server.storage.mailboxes.fetch('bob', bob.d.keys.deviceId, { limit: 100 })).toEqual(before);
  });

  it('sealed sends are limited per recipient device and per address: refused, nothing stored', async () => {
    t = await startTestServer({ rateLimits: { sealedPerRecipient: { capacity: 2, refillPerSecond: 1 / 3600 } } });
    const bob = await account(t.api, 'bob');
    const token = P.newDeliveryToken(p);
    const body = { verifier: b64(await P.deliveryTokenVerifier(p, token)), mode: 'rotate' };
    expect((await t.api.req('PUT', '/v1/sealed/token', { token: bob.token, body, sign: { user: bob.u } })).status).toBe(204);
    const send = () =>
      t.api.req('POST', '/v1/sealed/messages', {
        body: { to: 'bob', messages: [{ deviceId: bob.d.keys.deviceId, token: b64(token), body: b64(envelope()) }] },
      });
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(200);
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(await t.server.storage.mailboxes.fetch('bob', bob.d.keys.deviceId, { limit: 100 })).toHaveLength(2);
    expect(await t.server.storage.sealed.countDigests()).toBe(2);
  });
});
