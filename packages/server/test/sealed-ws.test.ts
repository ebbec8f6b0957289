/**
 * The sealed-send WebSocket (docs/API.md §11a): unauthenticated, batched sealed sends answered
 * per item with the rules and codes of `POST /v1/sealed/messages`; abuse (forged and revoked
 * tokens, replays, the per-address and per-recipient limits) refused with nothing stored, checked
 * on the storage itself; malformed frames counted and the connection closed; no credentials taken.
 * On SQLite and on PostgreSQL (when a server is available).
 */
import * as P from '@blindrelay/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServerOptions } from '../src/config.js';
import { account, b64, login, newDevice, nextList, openWs, p, prekeyJson, startTestServer, type TestServer } from './helpers.js';
import { DATABASE_URL, dropSchema, randomSchema, requirePostgres } from './postgres-service.js';

const pgAvailable = await requirePostgres('the sealed-send WebSocket on PostgreSQL');

type Acct = Awaited<ReturnType<typeof account>>;
const SEALED = { path: '/v1/sealed/ws', subprotocols: ['blindrelay.sealed.v1'] };
/** A sealed-looking envelope (the relay checks only its shape; the SDK tests open real ones). */
const envelope = (n = 120) => P.concat(Uint8Array.of(P.SEALED_ENVELOPE_VERSION), p.randomBytes(n));

let t: TestServer | undefined;
/** The storage of the running suite (SQLite, or PostgreSQL in a fresh schema). */
let base: () => ServerOptions = () => ({});
let after: () => Promise<void> = async () => {};
afterEach(async () => {
  await t?.close();
  t = undefined;
  await after();
});

async function start(options: ServerOptions = {}) {
  t = await startTestServer({ ...base(), ...options });
  return t;
}
async function setToken(a: Acct, token: Uint8Array, mode: 'rotate' | 'revoke' = 'rotate', bearer = a.token) {
  const body = { verifier: b64(await P.deliveryTokenVerifier(p, token)), mode };
  const r = await (t as TestServer).api.req('PUT', '/v1/sealed/token', { token: bearer, body, sign: { user: a.u, timestamp: (t as TestServer).clock.now() } });
  expect(r.status).toBe(204);
}
const item = (to: string, deviceId: number, token: Uint8Array, body: Uint8Array = envelope()) => ({
  to,
  messages: [{ deviceId, token: b64(token), body: b64(body) }],
});
/** Everything queued for the account's first device, read through the storage (not the API). */
const queued = (a: Acct) => (t as TestServer).server.storage.mailboxes.fetch(a.u.user, a.d.keys.deviceId, { limit: 1000 });

function suite(name: string, enabled: boolean, options: () => ServerOptions, cleanup: () => Promise<void> = async () => {}) {
  describe.skipIf(!enabled)(`sealed-send WebSocket: ${name}`, () => {
    beforeEach(() => {
      base = options;
      after = cleanup;
    });

    it('stores a batch to several users with no sender, answers per item in order; a refused item stops none of the others', async () => {
      const s = await start();
      const bob = await account(s.api, 'bob');
      const carol = await account(s.api, 'carol');
      const kb = P.newDeliveryToken(p);
      const kc = P.newDeliveryToken(p);
      await setToken(bob, kb);
      await setToken(carol, kc);
      const ws = await openWs(s.url, SEALED);
      expect(ws.ws.protocol).toBe('blindrelay.sealed.v1');
      const bodies = [envelope(), envelope(), envelope()];
      ws.send({
        type: 'sealed-send',
        id: 'f1',
        items: [
          item('bob', bob.d.keys.deviceId, kb, bodies[0]),
          item('carol', carol.d.keys.deviceId, P.newDeliveryToken(p)), // forged: 403, alone
          item('carol', carol.d.keys.deviceId, kc, bodies[1]),
          item('bob', bob.d.keys.deviceId, kb, bodies[2]),
        ],
      });
      const sent = await ws.next((f) => f.type === 'sealed-sent');
      expect(sent.id).toBe('f1');
      expect(sent.results).toHaveLength(4);
      expect(sent.results[0]).toMatchObject({ ok: true, ids: [expect.any(String)], sentAt: expect.any(Number) });
      expect(sent.results[1]).toMatchObject({ ok: false, status: 403, code: 'invalid_delivery_token' });
      expect(sent.results[2]).toMatchObject({ ok: true });
      expect(sent.results[3]).toMatchObject({ ok: true });
      const rows = await queued(bob);
      expect(rows.map((r) => b64(r.body))).toEqual([b64(bodies[0] as Uint8Array), b64(bodies[2] as Uint8Array)]);
      expect(rows.every((r) => r.fromUser === '' && r.fromDevice === 0)).toBe(true);
      expect((await queued(carol)).map((r) => b64(r.body))).toEqual([b64(bodies[1] as Uint8Array)]);
      // Bob fetches them as sealed messages, as after an HTTP sealed send.
      const fetched = await s.api.req('GET', '/v1/messages', { token: bob.token });
      expect(fetched.body.messages[0]).toEqual({
        id: sent.results[0].ids[0],
        sealed: true,
        body: b64(bodies[0] as Uint8Array),
        sentAt: sent.results[0].sentAt,
      });
      // The open sealed sockets are counted on the metrics listener, and nothing else about them.
      const gauge = async () => {
        const text = await (await fetch(s.server.metricsUrl as string)).text();
        return Number(/^blindrelay_sealed_websocket_connections (\d+)$/m.exec(text)?.[1]);
      };
      expect(await gauge()).toBe(1);
      ws.close();
      for (let i = 0; i < 100 && (await gauge()) !== 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await gauge()).toBe(0);
    });

    it('refuses a revoked token, a replayed envelope (across HTTP and the socket, and within one frame), an unknown user; nothing stored for them', async () => {
      const s = await start();
      const bob = await account(s.api, 'bob');
      const k1 = P.newDeliveryToken(p);
      await setToken(bob, k1);
      const id = bob.d.keys.deviceId;
      const once = envelope();
      const http = await s.api.req('POST', '/v1/sealed/messages', { body: item('bob', id, k1, once) });
      expect(http.status).toBe(200);
      const twice = envelope();
      const ws = await openWs(s.url, SEALED);
      ws.send({ type: 'sealed-send', id: 'r1', items: [item('bob', id, k1, once), item('bob', id, k1, twice), item('bob', id, k1, twice)] });
      const r1 = await ws.next((f) => f.type === 'sealed-sent');
      expect(r1.results.map((r: { ok: boolean; code?: string }) => r.code ?? 'ok')).toEqual(['replayed', 'ok', 'replayed']);
      expect(await queued(bob)).toHaveLength(2);
      const digests = await s.server.storage.sealed.countDigests();
      // Revoked: a new token with mode revoke ends k1 at once.
      const relogged = { ...bob, token: await login(s.api, bob.u) };
      await setToken(relogged, P.newDeliveryToken(p), 'revoke');
      ws.send({ type: 'sealed-send', id: 'r2', items: [item('bob', id, k1), item('nobody', id, k1)] });
      const r2 = await ws.next((f) => f.type === 'sealed-sent');
      expect(r2.results).toMatchObject([
        { ok: false, status: 403, code: 'invalid_delivery_token' },
        { ok: false, status: 403, code: 'invalid_delivery_token' },
      ]);
      expect(await queued(bob)).toHaveLength(2);
      expect(await s.server.storage.sealed.countDigests()).toBe(digests);
      ws.close();
    });

    it("answers 409 mismatched_devices with the current list for an item that does not cover exactly the recipient's devices", async () => {
      const s = await start();
      const bob = await account(s.api, 'bob');
      const k1 = P.newDeliveryToken(p);
      await setToken(bob, k1);
      const d2 = await newDevice();
      const add = await s.api.req('PUT', '/v1/users/bob/device-list', {
        body: { deviceList: b64(await nextList(bob.u, [bob.d, d2])), newDevice: { deviceId: d2.keys.deviceId, prekeys: prekeyJson(d2) } },
      });
      expect(add.status).toBe(204);
      const ws = await openWs(s.url, SEALED);
      ws.send({ type: 'sealed-send', id: 'm', items: [item('bob', bob.d.keys.deviceId, k1)] });
      const r = await ws.next((f) => f.type === 'sealed-sent');
      expect(r.results[0]).toMatchObject({ ok: false, status: 409, code: 'mismatched_devices', missing: [d2.keys.deviceId], stale: [] });
      expect(await queued(bob)).toHaveLength(0);
      ws.close();
    });

    it('charges the per-address limit per item and the per-recipient limit as HTTP: refused items store nothing', async () => {
      const s = await start({
        rateLimits: { sealedPerIp: { capacity: 4, refillPerSecond: 1 / 3600 }, sealedPerRecipient: { capacity: 2, refillPerSecond: 1 / 3600 } },
      });
      const bob = await account(s.api, 'bob');
      const carol = await account(s.api, 'carol');
      const kb = P.newDeliveryToken(p);
      const kc = P.newDeliveryToken(p);
      await setToken(bob, kb);
      await setToken(carol, kc);
      // The upgrade costs one unit of the address budget, as one POST would.
      const ws = await openWs(s.url, SEALED);
      ws.send({
        type: 'sealed-send',
        id: 'l1',
        items: [
          item('bob', bob.d.keys.deviceId, kb),
          item('bob', bob.d.keys.deviceId, kb),
          item('bob', bob.d.keys.deviceId, kb),
          item('carol', carol.d.keys.deviceId, kc),
        ],
      });
      const r = await ws.next((f) => f.type === 'sealed-sent');
      expect(r.results.map((x: { ok: boolean; code?: string }) => x.code ?? 'ok')).toEqual(['ok', 'ok', 'rate_limited', 'rate_limited']);
      expect(r.results[3].status).toBe(429);
      expect(await queued(bob)).toHaveLength(2);
      expect(await queued(carol)).toHaveLength(0);
      expect(await s.server.storage.sealed.countDigests()).toBe(2);
      // The address budget is spent: the next upgrade is refused too.
      await expect(openWs(s.url, SEALED)).rejects.toMatchObject({ status: 429 });
      ws.close();
    });

    it('malformed frames get an error frame, store nothing, and close the connection after 20; no other frame type is taken', async () => {
      const s = await start();
      const bob = await account(s.api, 'bob');
      const k = P.newDeliveryToken(p);
      await setToken(bob, k);
      const ws = await openWs(s.url, SEALED);
      const bad: unknown[] = [
        'not json',
        { type: 'ack', ids: [] },
        { type: 'send', id: 'x', items: [{ to: 'bob', messages: [{ deviceId: bob.d.keys.deviceId, body: b64(envelope()) }] }] },
        { type: 'sealed-send', id: 'x', items: [] },
        { type: 'sealed-send', id: 'bad id!', items: [item('bob', bob.d.keys.deviceId, k)] },
        { type: 'sealed-send', id: 'x', items: [{ to: 'bob', messages: [{ deviceId: bob.d.keys.deviceId, token: b64(k) }] }] },
      ];
      for (const f of bad) {
        ws.send(f);
        expect(await ws.next((x) => x.type === 'error')).toMatchObject({ code: 'bad_request' });
      }
      // A well-formed frame with an item that is not a sealed envelope: that item refused alone, as HTTP (400).
      const notSealed = P.concat(Uint8Array.of(2), p.randomBytes(100));
      ws.send({ type: 'sealed-send', id: 'b', items: [item('bob', bob.d.keys.deviceId, k, notSealed), item('bob', bob.d.keys.deviceId, k)] });
      const r = await ws.next((f) => f.type === 'sealed-sent');
      expect(r.results[0]).toMatchObject({ ok: false, status: 400 });
      expect(r.results[1]).toMatchObject({ ok: true });
      expect(await queued(bob)).toHaveLength(1);
      ws.ws.send(Buffer.from([1, 2, 3]), { binary: true });
      for (let i = bad.length + 1; i < 20; i++) ws.send('{');
      expect((await ws.closed).code).toBe(1008);
      expect(await queued(bob)).toHaveLength(1);
    });

    it('takes no credentials and no plain GET: a bearer token or token subprotocol is refused (400), as is a missing subprotocol', async () => {
      const s = await start();
      const bob = await account(s.api, 'bob');
      await expect(openWs(s.url, { ...SEALED, token: bob.token })).rejects.toMatchObject({ status: 400 });
      await expect(openWs(s.url, { ...SEALED, subprotocols: ['blindrelay.sealed.v1', `blindrelay.token.${bob.token}`] })).rejects.toMatchObject({
        status: 400,
      });
      await expect(openWs(s.url, { path: SEALED.path, subprotocols: ['blindrelay.v2'] })).rejects.toMatchObject({ status: 400 });
      const plain = await s.api.req('GET', '/v1/sealed/ws', {});
      expect(plain.status).toBe(426);
    });
  });
}

suite('SQLite', true, () => ({}));
let schema = '';
suite(
  'PostgreSQL',
  pgAvailable,
  () => {
    schema ||= randomSchema();
    return { databaseUrl: DATABASE_URL, databaseSchema: schema };
  },
  async () => {
    await dropSchema(schema);
    schema = '';
  },
);
