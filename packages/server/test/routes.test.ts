/** Happy paths (and their immediate failure twins) for every route of docs/API.md. */
import * as P from '@blindrelay/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  account,
  ackFrame,
  b64,
  entryOf,
  login,
  metricsText,
  newDevice,
  newUser,
  nextList,
  openWs,
  p,
  prekeyJson,
  register,
  registrationBody,
  sendMessage,
  startTestServer,
  type TestServer,
  unb64,
} from './helpers.js';

let t: TestServer;
beforeEach(async () => {
  t = await startTestServer();
});
afterEach(async () => {
  await t.close();
});

const canary = (text: string) => new TextEncoder().encode(text);

describe('system routes', () => {
  it('serves /healthz', async () => {
    const r = await t.api.req('GET', '/healthz');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
  });

  it('serves an OpenAPI 3 document listing every route', async () => {
    const r = await t.api.req('GET', '/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toMatch(/^3\./);
    const routes = Object.entries(r.body.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(routes).toEqual(
      [
        'GET /healthz',
        'GET /openapi.json',
        'POST /v1/accounts',
        'POST /v1/accounts/deletion',
        'POST /v1/auth/challenge',
        'POST /v1/auth/token',
        'GET /v1/users/{user}',
        'PUT /v1/users/{user}/device-list',
        'POST /v1/prekeys',
        'GET /v1/prekeys/status',
        'POST /v1/users/{user}/bundles',
        'POST /v1/messages',
        'GET /v1/messages',
        'POST /v1/messages/ack',
        'GET /v1/send-mark',
        'GET /v1/groups',
        'GET /v1/groups/inbox',
        'GET /v1/groups/{id}',
        'POST /v1/groups',
        'POST /v1/groups/inbox/ack',
        'POST /v1/groups/key-packages/claim',
        'POST /v1/groups/{id}/commits',
        'POST /v1/groups/{id}/messages',
        'PUT /v1/groups/key-packages',
        'POST /v1/sealed/messages',
        'POST /v1/sealed/directory',
        'PUT /v1/sealed/token',
        'GET /v1/sealed/ws',
        'GET /v1/ws',
        'POST /v1/provisioning',
        'PUT /v1/provisioning/{channelId}',
        'GET /v1/provisioning/{channelId}',
        'POST /v1/files',
        'GET /v1/files',
        'GET /v1/files/{id}',
        'PUT /v1/files/{id}/header',
        'POST /v1/files/{id}/versions',
        'DELETE /v1/files/{id}',
        'PUT /v1/files/{id}/versions/{version}/payload',
        'GET /v1/files/{id}/versions/{version}/payload',
        'GET /v1/backup',
        'POST /v1/backup/registration',
        'PUT /v1/backup',
        'PUT /v1/backup/blob',
        'POST /v1/backups/{user}/code',
        'POST /v1/backups/{user}/login',
        'POST /v1/backups/{user}/login/finish',
        'POST /v1/collections',
        'GET /v1/collections',
        'GET /v1/collections/{id}',
        'PUT /v1/collections/{id}',
        'DELETE /v1/collections/{id}',
        'POST /v1/collections/{id}/members',
        'PUT /v1/collections/{id}/records/{record}',
        'GET /v1/collections/{id}/records/{record}',
        'DELETE /v1/collections/{id}/records/{record}',
        'GET /v1/collections/{id}/records',
        'POST /v1/collections/{id}/query',
      ].sort(),
    );
    // Every operation documents its request schema and error shape.
    const send = r.body.paths['/v1/messages'].post;
    expect(send.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
    expect(send.responses['409'].content['application/json'].schema.properties.code).toBeDefined();
    expect(r.body.paths['/v1/messages'].get.security).toEqual([{ bearerAuth: [] }]);
  });

  it('exposes Prometheus metrics without identifying labels', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    await sendMessage(t.api, alice.token, 'bob', [{ deviceId: bob.d.keys.deviceId, body: canary('hello') }]);
    await t.api.req('POST', '/v1/users/bob/bundles', { token: alice.token, body: {} });
    // Not on the API port: only on the metrics listener.
    expect((await t.api.req('GET', '/metrics')).status).toBe(404);
    const res = await fetch(t.server.metricsUrl as string);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const r = { text: await res.text() };
    for (const name of [
      'blindrelay_http_requests_total',
      'blindrelay_http_request_duration_seconds',
      'blindrelay_messages_stored_total',
      'blindrelay_messages_delivered_total',
      'blindrelay_messages_acked_total',
      'blindrelay_messages_queued',
      'blindrelay_websocket_connections',
      'blindrelay_bundles_fetched_total',
      'blindrelay_prekeys_low_total',
    ]) {
      expect(r.text).toContain(name);
    }
    expect(r.text).toMatch(/blindrelay_messages_stored_total 1/);
    expect(r.text).toMatch(/blindrelay_messages_queued 1/);
    expect(r.text).toContain('route="/v1/users/:user/bundles"');
    for (const secret of ['alice', 'bob', String(bob.d.keys.deviceId), alice.token]) expect(r.text).not.toContain(secret);
  });
});

describe('accounts and directory', () => {
  it('registers a user and serves its master key and device list', async () => {
    const { u, token } = await account(t.api, 'alice');
    const r = await t.api.req('GET', '/v1/users/alice', { token });
    expect(r.status).toBe(200);
    expect(r.body.user).toBe('alice');
    expect(unb64(r.body.masterKey)).toEqual(u.master.publicKey);
    const list = await P.verifyDeviceList(p, unb64(r.body.deviceList), { user: 'alice', masterKey: u.master.publicKey }, { now: Date.now() });
    expect(list.devices.map((d) => d.deviceId)).toEqual([u.devices[0]?.keys.deviceId]);
    expect((await t.api.req('GET', '/v1/users/nobody', { token })).status).toBe(404);
  });

  it('refuses a taken user name with 409', async () => {
    await account(t.api, 'alice');
    const again = await newUser('alice');
    const r = await t.api.req('POST', '/v1/accounts', { body: registrationBody(again) });
    expect(r.status).toBe(409);
    expect(r.body.code).toBe('conflict');
  });

  it('refuses a registration list with more than one device', async () => {
    const u = await newUser('carol');
    const second = await newDevice({ user: 'carol' });
    const list = await P.signDeviceList(p, 'carol', u.master, { version: 1, issuedAt: Date.now() }, [
      await entryOf(u.devices[0]!, 'carol', u.master),
      await entryOf(second, 'carol', u.master),
    ]);
    const r = await t.api.req('POST', '/v1/accounts', { body: { ...registrationBody(u), deviceList: b64(list) } });
    expect(r.status).toBe(400);
    expect(r.body.message).toContain('exactly one device');
  });

  it('adds a device with newDevice prekeys, and refuses rollback and foreign signatures', async () => {
    const { u, token } = await account(t.api, 'alice');
    const d2 = await newDevice();
    const v2 = await nextList(u, [...u.devices, d2]);
    const put = await t.api.req('PUT', '/v1/users/alice/device-list', {
      body: { deviceList: b64(v2), newDevice: { deviceId: d2.keys.deviceId, prekeys: prekeyJson(d2) } },
    });
    expect(put.status).toBe(204);
    const token2 = await login(t.api, u, d2);
    const status = await t.api.req('GET', '/v1/prekeys/status', { token: token2 });
    expect(status.body).toEqual({ oneTimePreKeys: 5, pqPreKeys: 3, signedPreKeyId: 1, lastResortPqPreKeyId: 2 });

    // Same version again, or older: 409.
    expect((await t.api.req('PUT', '/v1/users/alice/device-list', { body: { deviceList: b64(v2) } })).status).toBe(409);
    const v1again = await P.signDeviceList(
      p,
      'alice',
      u.master,
      { version: 1, issuedAt: Date.now() },
      await Promise.all(u.devices.map((d) => entryOf(d, 'alice', u.master))),
    );
    const old = await t.api.req('PUT', '/v1/users/alice/device-list', { body: { deviceList: b64(v1again) } });
    expect(old.status).toBe(409);
    // Signed by someone else's master key: 403.
    const mallory = await P.generateMasterKey(p);
    const forged = await P.signDeviceList(p, 'alice', mallory, { version: 9, issuedAt: Date.now() }, []);
    const f = await t.api.req('PUT', '/v1/users/alice/device-list', { body: { deviceList: b64(forged) } });
    expect(f.status).toBe(403);
    expect(f.body.code).toBe('forbidden');
    // The directory still serves v2.
    const dir = await t.api.req('GET', '/v1/users/alice', { token });
    expect(unb64(dir.body.deviceList)).toEqual(v2);
  });
});

describe('device authentication', () => {
  it('issues a token for a signed challenge, once per challenge', async () => {
    const u = await newUser('alice');
    await register(t.api, u);
    const d = u.devices[0]!;
    const c = await t.api.req('POST', '/v1/auth/challenge', { body: { user: 'alice', deviceId: d.keys.deviceId } });
    expect(c.status).toBe(200);
    expect(c.body.expiresAt - t.clock.now()).toBeGreaterThan(55_000);
    expect(c.body.expiresAt - t.clock.now()).toBeLessThanOrEqual(60_000);
    const sig = b64(await P.signAuthChallenge(p, d.keys.signing.seed, unb64(c.body.challenge), 'alice', d.keys.deviceId));
    const body = { user: 'alice', deviceId: d.keys.deviceId, challenge: c.body.challenge, signature: sig };
    const ok = await t.api.req('POST', '/v1/auth/token', { body });
    expect(ok.status).toBe(200);
    expect(unb64(ok.body.token)).toHaveLength(32);
    const replay = await t.api.req('POST', '/v1/auth/token', { body });
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('unauthorized');
  });

  it('refuses expired challenges, bad signatures and unknown devices; expires tokens', async () => {
    const u = await newUser('alice');
    await register(t.api, u);
    const d = u.devices[0]!;
    const challenge = async () =>
      (await t.api.req('POST', '/v1/auth/challenge', { body: { user: 'alice', deviceId: d.keys.deviceId } })).body.challenge as string;
    const sign = async (c: string, seed = d.keys.signing.seed) => b64(await P.signAuthChallenge(p, seed, unb64(c), 'alice', d.keys.deviceId));

    const c1 = await challenge();
    t.clock.advance(61_000);
    expect(
      (await t.api.req('POST', '/v1/auth/token', { body: { user: 'alice', deviceId: d.keys.deviceId, challenge: c1, signature: await sign(c1) } })).status,
    ).toBe(401);

    const c2 = await challenge();
    const other = await P.generateSigningKeyPair(p);
    expect(
      (await t.api.req('POST', '/v1/auth/token', { body: { user: 'alice', deviceId: d.keys.deviceId, challenge: c2, signature: await sign(c2, other.seed) } }))
        .status,
    ).toBe(401);

    const unknown = await t.api.req('POST', '/v1/auth/challenge', { body: { user: 'alice', deviceId: d.keys.deviceId + 1 } });
    expect(unknown.status).toBe(404);

    const token = await login(t.api, u);
    expect((await t.api.req('GET', '/v1/prekeys/status', { token })).status).toBe(200);
    t.clock.advance(3_600_000);
    const expired = await t.api.req('GET', '/v1/prekeys/status', { token });
    expect(expired.status).toBe(401);
  });
});

describe('prekeys and bundles', () => {
  it('uploads prekeys, reports status, refuses duplicate ids', async () => {
    const { u, d, token } = await account(t.api, 'alice', { opks: 2, pqs: 1 });
    expect((await t.api.req('GET', '/v1/prekeys/status', { token })).body).toEqual({
      oneTimePreKeys: 2,
      pqPreKeys: 1,
      signedPreKeyId: 1,
      lastResortPqPreKeyId: 2,
    });
    const more = await P.generateOneTimePreKeys(p, 500, 3);
    const spk2 = await P.generateSignedPreKey(p, u.user, d.keys, 7);
    const up = await t.api.req('POST', '/v1/prekeys', {
      token,
      body: {
        signedPreKey: { id: 7, publicKey: b64(spk2.publicKey), signature: b64(spk2.signature) },
        oneTimePreKeys: more.map((k) => ({ id: k.id, publicKey: b64(k.publicKey) })),
      },
    });
    expect(up.status).toBe(204);
    expect((await t.api.req('GET', '/v1/prekeys/status', { token })).body).toMatchObject({ oneTimePreKeys: 5, signedPreKeyId: 7 });
    const dup = await t.api.req('POST', '/v1/prekeys', { token, body: { oneTimePreKeys: [{ id: 500, publicKey: b64(more[0]!.publicKey) }] } });
    expect(dup.status).toBe(409);
    expect((await t.api.req('POST', '/v1/prekeys', { token, body: {} })).status).toBe(204);
  });

  it('hands out verifiable bundles, consuming one-time keys, then the last-resort key', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob', { opks: 2, pqs: 1 });
    const bobDevice = bob.d.keys.deviceId;
    const ws = await openWs(t.url, { token: bob.token });
    const seen: { opk?: number; pq: number; lastResort: boolean }[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await t.api.req('POST', '/v1/users/bob/bundles', { token: alice.token, body: {} });
      expect(r.status).toBe(200);
      expect(r.body.user).toBe('bob');
      expect(r.body.deviceListVersion).toBe(1);
      expect(r.body.unavailable).toEqual([]);
      expect(r.body.bundles).toHaveLength(1);
      const bundle = P.decodePreKeyBundle(unb64(r.body.bundles[0].bundle));
      const entry = (await P.verifyDeviceList(p, bob.u.list, { user: 'bob', masterKey: bob.u.master.publicKey }, { now: Date.now() })).devices[0]!;
      await P.verifyPreKeyBundle(p, bundle, entry, 'bob');
      seen.push({ ...(bundle.oneTimePreKey ? { opk: bundle.oneTimePreKey.id } : {}), pq: bundle.pqPreKey.id, lastResort: bundle.pqPreKey.lastResort });
    }
    expect(seen).toEqual([
      { opk: 100, pq: 10, lastResort: false },
      { opk: 101, pq: 2, lastResort: true },
      { pq: 2, lastResort: true },
    ]);
    // Below 10 one-time keys: the device hears about it (on connect, then after each fetch).
    const low = await ws.next((f) => f.type === 'prekeys-low' && f.oneTimePreKeys === 0);
    expect(low).toEqual({ type: 'prekeys-low', oneTimePreKeys: 0, pqPreKeys: 0 });
    ws.close();
    expect((await t.api.req('GET', '/v1/prekeys/status', { token: bob.token })).body).toMatchObject({ oneTimePreKeys: 0, pqPreKeys: 0 });
    // Requested subset, with an id that is not a current device.
    const subset = await t.api.req('POST', '/v1/users/bob/bundles', { token: alice.token, body: { deviceIds: [bobDevice, 4242] } });
    expect(subset.body.bundles.map((b: { deviceId: number }) => b.deviceId)).toEqual([bobDevice]);
    expect(subset.body.unavailable).toEqual([4242]);
  });

  it('lists devices without a signed prekey or ML-KEM key as unavailable', async () => {
    const alice = await account(t.api, 'alice');
    const u = await newUser('bare');
    const r = await t.api.req('POST', '/v1/accounts', { body: { ...registrationBody(u), prekeys: prekeyJson(u.devices[0]!, { spk: false }) } });
    expect(r.status).toBe(201);
    const b = await t.api.req('POST', '/v1/users/bare/bundles', { token: alice.token, body: {} });
    expect(b.body.bundles).toEqual([]);
    expect(b.body.unavailable).toEqual([u.devices[0]!.keys.deviceId]);
    // Nothing was consumed for the unavailable device.
    const token = await login(t.api, u);
    expect((await t.api.req('GET', '/v1/prekeys/status', { token })).body).toMatchObject({ oneTimePreKeys: 5, pqPreKeys: 3, signedPreKeyId: null });
  });
});

describe('messages', () => {
  it('stores, fetches (oldest first, with limit) and acknowledges', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const to = bob.d.keys.deviceId;
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await sendMessage(t.api, alice.token, 'bob', [{ deviceId: to, body: canary(`m${i}`) }]);
      expect(r.status).toBe(200);
      expect(r.body.ids).toHaveLength(1);
      expect(typeof r.body.sentAt).toBe('number');
      sent.push(r.body.ids[0]);
    }
    const two = await t.api.req('GET', '/v1/messages?limit=2', { token: bob.token });
    expect(two.status).toBe(200);
    expect(two.body.messages.map((m: { id: string }) => m.id)).toEqual(sent.slice(0, 2));
    const m0 = two.body.messages[0];
    expect(m0).toMatchObject({ from: 'alice', fromDevice: alice.d.keys.deviceId });
    expect(new TextDecoder().decode(unb64(m0.body))).toBe('m0');
    // Alice cannot see or acknowledge Bob's messages.
    expect((await t.api.req('GET', '/v1/messages', { token: alice.token })).body.messages).toEqual([]);
    expect((await t.api.req('POST', '/v1/messages/ack', { token: alice.token, sign: { user: alice.u }, body: { ids: sent } })).status).toBe(204);
    expect((await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toHaveLength(3);
    // Bob acknowledges two; one is left.
    expect((await t.api.req('POST', '/v1/messages/ack', { token: bob.token, sign: { user: bob.u }, body: { ids: sent.slice(0, 2) } })).status).toBe(204);
    const left = await t.api.req('GET', '/v1/messages', { token: bob.token });
    expect(left.body.messages.map((m: { id: string }) => m.id)).toEqual([sent[2]]);
  });

  it('requires exact device coverage (409 mismatched_devices, nothing stored)', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const to = bob.d.keys.deviceId;
    const missing = await sendMessage(t.api, alice.token, 'bob', []);
    expect(missing.status).toBe(409);
    expect(missing.body).toMatchObject({ code: 'mismatched_devices', missing: [to], stale: [] });
    const stale = await sendMessage(t.api, alice.token, 'bob', [
      { deviceId: to, body: canary('x') },
      { deviceId: 77, body: canary('y') },
    ]);
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ code: 'mismatched_devices', missing: [], stale: [77] });
    expect((await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toEqual([]);
    expect((await sendMessage(t.api, alice.token, 'nobody', [{ deviceId: 1, body: canary('x') }])).status).toBe(404);
  });

  it('own-device sync covers all devices of the sender except itself', async () => {
    const { u, token } = await account(t.api, 'alice');
    const d2 = await newDevice();
    const v2 = await nextList(u, [...u.devices, d2]);
    expect(
      (
        await t.api.req('PUT', '/v1/users/alice/device-list', {
          body: { deviceList: b64(v2), newDevice: { deviceId: d2.keys.deviceId, prekeys: prekeyJson(d2) } },
        })
      ).status,
    ).toBe(204);
    const self = u.devices[0]!.keys.deviceId;
    const wrong = await sendMessage(t.api, token, 'alice', [
      { deviceId: self, body: canary('a') },
      { deviceId: d2.keys.deviceId, body: canary('b') },
    ]);
    expect(wrong.body).toMatchObject({ code: 'mismatched_devices', missing: [], stale: [self] });
    expect((await sendMessage(t.api, token, 'alice', [{ deviceId: d2.keys.deviceId, body: canary('sync') }])).status).toBe(200);
    const token2 = await login(t.api, u, d2);
    const got = await t.api.req('GET', '/v1/messages', { token: token2 });
    expect(got.body.messages).toHaveLength(1);
    expect(got.body.messages[0]).toMatchObject({ from: 'alice', fromDevice: self });
  });
});

describe('WebSocket push', () => {
  it('pushes queued messages on connect and new ones as stored; ack deletes', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const to = bob.d.keys.deviceId;
    await sendMessage(t.api, alice.token, 'bob', [{ deviceId: to, body: canary('queued') }]);
    const ws = await openWs(t.url, { token: bob.token });
    const first = await ws.next((f) => f.type === 'message');
    expect(new TextDecoder().decode(unb64(first.message.body))).toBe('queued');
    await sendMessage(t.api, alice.token, 'bob', [{ deviceId: to, body: canary('live') }]);
    const second = await ws.next((f) => f.type === 'message');
    expect(new TextDecoder().decode(unb64(second.message.body))).toBe('live');
    expect(second.message).toMatchObject({ from: 'alice', fromDevice: alice.d.keys.deviceId });
    ws.send(await ackFrame(bob.u, [first.message.id, second.message.id]));
    ws.send({ type: 'nonsense' });
    expect((await ws.next((f) => f.type === 'error')).code).toBe('bad_request');
    // The ack is applied once its signature checked out (docs/API.md §2a).
    await expect.poll(async () => (await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toEqual([]);
    ws.close();
  });

  it('authenticates by subprotocol, selecting blindrelay.v1 rather than echoing the token', async () => {
    const bob = await account(t.api, 'bob');
    const ws = await openWs(t.url, { subprotocols: ['blindrelay.v1', `blindrelay.token.${bob.token}`] });
    expect(ws.ws.protocol).toBe('blindrelay.v1');
    ws.close();
    const tokenOnly = await openWs(t.url, { subprotocols: [`blindrelay.token.${bob.token}`] });
    expect(tokenOnly.ws.protocol).toBe(`blindrelay.token.${bob.token}`);
    tokenOnly.close();
    await expect(openWs(t.url, {})).rejects.toMatchObject({ status: 401 });
    await expect(openWs(t.url, { subprotocols: ['blindrelay.token.AAAA'] })).rejects.toMatchObject({ status: 401 });
    const plain = await t.api.req('GET', '/v1/ws', { token: bob.token });
    expect(plain.status).toBe(426);
    expect(plain.body.code).toBe('upgrade_required');
  });

  it('closes the socket with 4002 when the token expires', async () => {
    const bob = await account(t.api, 'bob');
    t.clock.advance(3_600_000 - 300);
    const ws = await openWs(t.url, { token: bob.token });
    const closed = await ws.closed;
    expect(closed.code).toBe(4002);
  });
});

describe('revocation', () => {
  it('a device removed from the list loses its token, queue, prekeys and socket at once', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const d2 = await newDevice();
    const v2 = await nextList(bob.u, [...bob.u.devices, d2]);
    await t.api.req('PUT', '/v1/users/bob/device-list', { body: { deviceList: b64(v2), newDevice: { deviceId: d2.keys.deviceId, prekeys: prekeyJson(d2) } } });
    const token2 = await login(t.api, bob.u, d2);
    const ws2 = await openWs(t.url, { token: token2 });
    const both = [bob.d.keys.deviceId, d2.keys.deviceId].map((deviceId) => ({ deviceId, body: canary('to both') }));
    expect((await sendMessage(t.api, alice.token, 'bob', both)).status).toBe(200);
    await ws2.next((f) => f.type === 'message');

    const v3 = await nextList(bob.u, [bob.u.devices[0]!]);
    expect((await t.api.req('PUT', '/v1/users/bob/device-list', { body: { deviceList: b64(v3) } })).status).toBe(204);

    expect(await ws2.next((f) => f.type === 'revoked')).toEqual({ type: 'revoked' });
    expect((await ws2.closed).code).toBe(4001);
    const r = await t.api.req('GET', '/v1/messages', { token: token2 });
    expect(r.status).toBe(401);
    await expect(openWs(t.url, { token: token2 })).rejects.toMatchObject({ status: 401 });
    // Login is refused, senders must drop the device, bundles no longer include it.
    await expect(login(t.api, bob.u, d2)).rejects.toThrow(/404/);
    const stale = await sendMessage(t.api, alice.token, 'bob', both);
    expect(stale.body).toMatchObject({ code: 'mismatched_devices', stale: [d2.keys.deviceId] });
    const bundles = await t.api.req('POST', '/v1/users/bob/bundles', { token: alice.token, body: {} });
    expect(bundles.body.bundles.map((b: { deviceId: number }) => b.deviceId)).toEqual([bob.d.keys.deviceId]);
    // The queue went with the device: only device 1's copy remains queued store-wide.
    expect(await metricsText(t)).toMatch(/blindrelay_messages_queued 1\n/);
    // The remaining device is unaffected.
    expect((await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toHaveLength(1);
  });
});

describe('provisioning', () => {
  it('relays one envelope from an existing device to a waiting new device', async () => {
    const alice = await account(t.api, 'alice');
    const c = await t.api.req('POST', '/v1/provisioning');
    expect(c.status).toBe(200);
    expect(unb64(c.body.channelId)).toHaveLength(16);
    const path = `/v1/provisioning/${c.body.channelId}`;
    expect((await t.api.req('GET', path)).status).toBe(204);

    const started = Date.now();
    const waiting = t.api.req('GET', `${path}?wait=10`);
    await new Promise((r) => setTimeout(r, 100));
    const envelope = b64(canary('sealed envelope bytes'));
    expect((await t.api.req('PUT', path, { body: { envelope } })).status).toBe(401);
    expect((await t.api.req('PUT', path, { token: alice.token, body: { envelope } })).status).toBe(204);
    const got = await waiting;
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ envelope });
    expect(Date.now() - started).toBeLessThan(5000);
    // Deleted once fetched; a second approval is refused.
    expect((await t.api.req('GET', path)).status).toBe(404);
    expect((await t.api.req('PUT', path, { token: alice.token, body: { envelope } })).status).toBe(409);
  });

  it('long-polls until the wait ends (204) and expires channels after 10 minutes', async () => {
    const alice = await account(t.api, 'alice');
    const c = await t.api.req('POST', '/v1/provisioning', { body: {} });
    const path = `/v1/provisioning/${c.body.channelId}`;
    const started = Date.now();
    expect((await t.api.req('GET', `${path}?wait=1`)).status).toBe(204);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    t.clock.advance(600_001);
    expect((await t.api.req('PUT', path, { token: alice.token, body: { envelope: b64(canary('late')) } })).status).toBe(404);
    expect((await t.api.req('GET', path)).status).toBe(404);
    expect((await t.api.req('GET', `/v1/provisioning/${b64(new Uint8Array(16))}`)).status).toBe(404);
  });
});

describe('lifecycle', () => {
  it('shuts down gracefully: long polls answered, sockets closed with 1001, data kept', async () => {
    const { startServer } = await import('../src/index.js');
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    await sendMessage(t.api, alice.token, 'bob', [{ deviceId: bob.d.keys.deviceId, body: canary('durable') }]);
    const ws = await openWs(t.url, { token: bob.token });
    await ws.next((f) => f.type === 'message');
    const c = await t.api.req('POST', '/v1/provisioning');
    const poll = t.api.req('GET', `/v1/provisioning/${c.body.channelId}?wait=30`);
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await t.server.close();
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await poll).status).toBe(204);
    expect((await ws.closed).code).toBe(1001);

    // Same data directory: the queued message and the token are still there.
    const again = await startServer({ port: 0, dataDir: t.dataDir, logLevel: 'silent', now: t.clock.now, processMetrics: false });
    try {
      const res = await fetch(`${again.url}/v1/messages`, { headers: { authorization: `Bearer ${bob.token}` } });
      const body = (await res.json()) as { messages: { body: string }[] };
      expect(body.messages.map((m) => new TextDecoder().decode(unb64(m.body)))).toEqual(['durable']);
    } finally {
      await again.close();
    }
  });
});
