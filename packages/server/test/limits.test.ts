/** Rate limits (429 rate_limited) and capacity limits (queue cap, stored prekeys, bodies). */
import * as P from '@blindrelay/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { RateLimiter } from '../src/http/rate-limit.js';
import { DEFAULT_RATE_LIMITS } from '../src/index.js';
import { account, b64, metricsText, newUser, nextList, p, registrationBody, sendMessage, startTestServer, type TestServer } from './helpers.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('token buckets', () => {
  it('allows the capacity at once, refills over time, answers 429 with Retry-After', () => {
    let now = 0;
    const rl = new RateLimiter({ ...DEFAULT_RATE_LIMITS, messagesPerDevice: { capacity: 2, refillPerSecond: 0.5 } }, () => now);
    rl.take('messagesPerDevice', 'a');
    rl.take('messagesPerDevice', 'a');
    rl.take('messagesPerDevice', 'b'); // another subject has its own bucket
    let err: unknown;
    try {
      rl.take('messagesPerDevice', 'a');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ statusCode: 429, code: 'rate_limited', headers: { 'retry-after': '2' } });
    now += 2000;
    rl.take('messagesPerDevice', 'a');
    expect(() => rl.take('messagesPerDevice', 'a')).toThrow();
    now += 1_000_000;
    rl.sweep();
    expect(rl.size).toBe(0);
  });

  it('takes shared charges all or nothing, and each on its own when asked', async () => {
    let now = 0;
    const rules = {
      ...DEFAULT_RATE_LIMITS,
      bundlesPerDevice: { capacity: 3, refillPerSecond: 1 },
      bundlesPerPair: { capacity: 1, refillPerSecond: 0.1 },
      oneTimePrekeysPerTarget: { capacity: 1, refillPerSecond: 0 },
    };
    const rl = new RateLimiter(rules, () => now);
    await rl.takeShared([
      { action: 'bundlesPerDevice', subject: 'me', cost: 2 },
      { action: 'bundlesPerPair', subject: 'me-a' },
    ]);
    // The pair is spent: refused, and the device's bucket is given back its 2 tokens.
    await expect(
      rl.takeShared([
        { action: 'bundlesPerDevice', subject: 'me', cost: 2 },
        { action: 'bundlesPerPair', subject: 'me-a' },
      ]),
    ).rejects.toMatchObject({ statusCode: 429, code: 'rate_limited', headers: { 'retry-after': '10' } });
    await rl.takeShared([
      { action: 'bundlesPerDevice', subject: 'me' },
      { action: 'bundlesPerPair', subject: 'me-b' },
    ]);
    await expect(rl.takeShared([{ action: 'bundlesPerDevice', subject: 'me', cost: 1 }])).rejects.toMatchObject({ statusCode: 429 });
    // tryShared never throws; a bucket that never refills says so.
    expect(
      await rl.tryShared([
        { action: 'oneTimePrekeysPerTarget', subject: 'x' },
        { action: 'oneTimePrekeysPerTarget', subject: 'y' },
      ]),
    ).toEqual([{ taken: true }, { taken: true }]);
    expect(await rl.tryShared([{ action: 'oneTimePrekeysPerTarget', subject: 'x' }])).toEqual([{ taken: false, retryAfterMs: Number.POSITIVE_INFINITY }]);
    now += 1000;
    await rl.takeShared([{ action: 'bundlesPerDevice', subject: 'me' }]);
  });

  it("takes this instance's charges all or nothing too", () => {
    const rules = { ...DEFAULT_RATE_LIMITS, messagesPerDevice: { capacity: 3, refillPerSecond: 0 }, messagesPerPair: { capacity: 1, refillPerSecond: 0 } };
    const rl = new RateLimiter(rules, () => 0);
    const send = (to: string) =>
      rl.takeLocal([
        { action: 'messagesPerDevice', subject: 'me' },
        { action: 'messagesPerPair', subject: `me-${to}` },
      ]);
    send('a');
    expect(() => send('a')).toThrow(expect.objectContaining({ statusCode: 429, headers: { 'retry-after': '3600' } }));
    // The refused send cost the device nothing: two more recipients fit, then the device is spent.
    send('b');
    send('c');
    expect(() => send('d')).toThrow(expect.objectContaining({ statusCode: 429 }));
  });
});

describe('rate-limited routes', () => {
  it('registration, authentication, bundles, provisioning and device-list updates answer 429', async () => {
    const one = { capacity: 2, refillPerSecond: 0 };
    t = await startTestServer({
      rateLimits: {
        accountsPerIp: one,
        authPerDevice: { capacity: 3, refillPerSecond: 0 },
        bundlesPerDevice: one,
        provisioningCreatePerIp: one,
        deviceListPerUser: one,
      },
    });
    const alice = await account(t.api, 'alice');
    await account(t.api, 'bob');
    const carol = await newUser('carol');
    const r = await t.api.req('POST', '/v1/accounts', { body: registrationBody(carol) });
    expect(r.status).toBe(429);
    expect(r.body.code).toBe('rate_limited');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);

    // authPerDevice: account() used two (challenge + token); one more, then refused.
    expect((await t.api.req('POST', '/v1/auth/challenge', { body: { user: 'alice', deviceId: alice.d.keys.deviceId } })).status).toBe(200);
    expect((await t.api.req('POST', '/v1/auth/challenge', { body: { user: 'alice', deviceId: alice.d.keys.deviceId } })).status).toBe(429);

    // Bundles: each device fetched costs one; the third is refused (prekey exhaustion).
    for (const status of [200, 200, 429]) expect((await t.api.req('POST', '/v1/users/bob/bundles', { token: alice.token, body: {} })).status).toBe(status);

    for (const status of [200, 200, 429]) expect((await t.api.req('POST', '/v1/provisioning')).status).toBe(status);

    // Device-list updates: invalid attempts are charged per address, valid ones per user.
    for (const status of [409, 409, 409])
      expect((await t.api.req('PUT', '/v1/users/alice/device-list', { body: { deviceList: b64(alice.u.list) } })).status).toBe(status);
    for (const status of [204, 204, 429]) {
      const list = await nextList(alice.u, alice.u.devices);
      expect((await t.api.req('PUT', '/v1/users/alice/device-list', { body: { deviceList: b64(list) } })).status).toBe(status);
    }

    expect(await metricsText(t)).toMatch(/blindrelay_rate_limited_total\{action="bundlesPerDevice"\} 1/);
  });
});

describe('capacity limits', () => {
  it('a full device queue refuses the whole send with 429 queue_full, storing nothing', async () => {
    t = await startTestServer({ limits: { maxQueuedPerDevice: 2 } });
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const to = [{ deviceId: bob.d.keys.deviceId, body: new Uint8Array([1]) }];
    expect((await sendMessage(t.api, alice.token, 'bob', to)).status).toBe(200);
    expect((await sendMessage(t.api, alice.token, 'bob', to)).status).toBe(200);
    const full = await sendMessage(t.api, alice.token, 'bob', to);
    expect(full.status).toBe(429);
    expect(full.body).toEqual({ code: 'queue_full', message: expect.any(String), devices: [bob.d.keys.deviceId] });
    const msgs = (await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages;
    expect(msgs).toHaveLength(2);
    await t.api.req('POST', '/v1/messages/ack', { token: bob.token, sign: { user: bob.u }, body: { ids: [msgs[0].id] } });
    expect((await sendMessage(t.api, alice.token, 'bob', to)).status).toBe(200);
  });

  it('bounds a fetch by total body bytes, always returning at least one message', async () => {
    t = await startTestServer({ limits: { maxFetchBytes: 20 } });
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    for (const n of [8, 8, 8, 30]) {
      expect((await sendMessage(t.api, alice.token, 'bob', [{ deviceId: bob.d.keys.deviceId, body: new Uint8Array(n) }])).status).toBe(200);
    }
    const first = (await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages;
    expect(first).toHaveLength(2);
    await t.api.req('POST', '/v1/messages/ack', { token: bob.token, sign: { user: bob.u }, body: { ids: first.map((m: { id: string }) => m.id) } });
    expect((await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toHaveLength(1);
  });

  it('refuses more stored one-time prekeys than the cap with 409', async () => {
    t = await startTestServer({ limits: { maxStoredOneTimePreKeys: 7 } });
    const alice = await account(t.api, 'alice'); // 5 stored
    const more = await P.generateOneTimePreKeys(p, 1000, 3);
    const r = await t.api.req('POST', '/v1/prekeys', {
      token: alice.token,
      body: { oneTimePreKeys: more.map((k) => ({ id: k.id, publicKey: b64(k.publicKey) })) },
    });
    expect(r.status).toBe(409);
    expect(
      (
        await t.api.req('POST', '/v1/prekeys', {
          token: alice.token,
          body: { oneTimePreKeys: more.slice(0, 2).map((k) => ({ id: k.id, publicKey: b64(k.publicKey) })) },
        })
      ).status,
    ).toBe(204);
  });

  it('accepts a message body at the 1.25 MiB limit in a request under 4 MiB', async () => {
    t = await startTestServer();
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const body = p.randomBytes(1.25 * 1024 * 1024);
    expect((await sendMessage(t.api, alice.token, 'bob', [{ deviceId: bob.d.keys.deviceId, body }])).status).toBe(200);
    const got = await t.api.req('GET', '/v1/messages', { token: bob.token });
    expect(got.body.messages[0].body).toBe(b64(body));
  });
});
