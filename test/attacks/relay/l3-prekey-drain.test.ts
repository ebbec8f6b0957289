/**
 * Review finding L3 (security-2026-12.md): any user could drain any device's one-time prekeys and
 * flood its queue.
 *
 * The attack, against a real relay with its default limits: ten stranger accounts fetch a victim
 * device's prekey bundle over and over (POST /v1/users/:user/bundles), each bundle consuming one
 * one-time X25519 and one one-time ML-KEM prekey; then one account sends message after message to
 * the victim to fill its queue (10 000) so nobody else gets through.
 *
 * What stops it now (docs/API.md §3, §5): a requesting device gets `bundlesPerPair` (4) bundles of
 * one target device, then 429 with Retry-After; a target device hands out `oneTimePrekeysPerTarget`
 * (30) one-time prekeys to other users' devices, after which bundles still come — so a newcomer
 * can still start a session — but without one-time prekeys, so the stock is not emptied; a sender
 * gets `messagesPerPair` (1000) sends to one recipient, then 429 with Retry-After, while another
 * sender still gets through.
 */
import * as P from '@blindrelay/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS } from '../../../packages/server/src/config.js';
import { account, sendMessage, startTestServer, type TestServer, unb64 } from '../../../packages/server/test/helpers.js';

const STOCK = 100;
const PAIR = DEFAULT_RATE_LIMITS.bundlesPerPair as { capacity: number };
const BUDGET = DEFAULT_RATE_LIMITS.oneTimePrekeysPerTarget as { capacity: number };
const FLOOD = DEFAULT_RATE_LIMITS.messagesPerPair as { capacity: number };
const text = (s: string) => new TextEncoder().encode(s);

let t: TestServer;
beforeAll(async () => {
  // Every limit at its shipped default (the test helpers otherwise turn them off).
  t = await startTestServer({ rateLimits: DEFAULT_RATE_LIMITS });
});
afterAll(async () => {
  await t?.close();
});

describe('L3: prekey draining and mailbox flooding by other users', () => {
  it('stops strangers after the documented budget; the victim keeps its one-time prekeys and can still be reached', async () => {
    const victim = await account(t.api, 'victim', { opks: STOCK, pqs: STOCK });
    const deviceId = victim.d.keys.deviceId;
    const strangers = [];
    for (let i = 0; i < 10; i++) strangers.push(await account(t.api, `stranger${i}`));

    let oneTimeHandedOut = 0;
    let bundlesServed = 0;
    for (const s of strangers) {
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 20; attempt++) {
        const r = await t.api.req('POST', '/v1/users/victim/bundles', { token: s.token, body: {} });
        statuses.push(r.status);
        if (r.status === 429) {
          expect(r.body.code).toBe('rate_limited');
          expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
          continue;
        }
        expect(r.status).toBe(200);
        for (const b of r.body.bundles) {
          bundlesServed++;
          if (P.decodePreKeyBundle(unb64(b.bundle)).oneTimePreKey) oneTimeHandedOut++;
        }
      }
      // Each stranger device: the per-pair budget, then refused.
      expect(statuses.filter((s) => s === 200)).toHaveLength(PAIR.capacity);
      expect(statuses.slice(PAIR.capacity).every((s) => s === 429)).toBe(true);
    }
    expect(bundlesServed).toBe(10 * PAIR.capacity);
    // The per-target budget bounds what all strangers together took; the rest of the stock stays.
    expect(oneTimeHandedOut).toBe(BUDGET.capacity);
    const status = await t.api.req('GET', '/v1/prekeys/status', { token: victim.token });
    expect(status.body).toMatchObject({ oneTimePreKeys: STOCK - BUDGET.capacity, pqPreKeys: STOCK - BUDGET.capacity });

    // A newcomer still gets a usable bundle (signed prekey + last-resort ML-KEM key): no lock-out.
    const friend = await account(t.api, 'friend');
    const r = await t.api.req('POST', '/v1/users/victim/bundles', { token: friend.token, body: {} });
    expect(r.status).toBe(200);
    const bundle = P.decodePreKeyBundle(unb64(r.body.bundles[0].bundle));
    expect(bundle.deviceId).toBe(deviceId);
    expect(bundle.oneTimePreKey).toBeUndefined();
    expect((await t.api.req('GET', '/v1/prekeys/status', { token: victim.token })).body.oneTimePreKeys).toBe(STOCK - BUDGET.capacity);

    // The budget refills (10 an hour): an hour later newcomers get one-time prekeys again.
    t.clock.advance(3_600_000);
    const later = await account(t.api, 'later');
    const again = await t.api.req('POST', '/v1/users/victim/bundles', { token: later.token, body: {} });
    expect(P.decodePreKeyBundle(unb64(again.body.bundles[0].bundle)).oneTimePreKey).toBeDefined();
  });

  it('refuses a flooding sender with 429 and Retry-After long before the queue cap, while another sender gets through', async () => {
    const target = await account(t.api, 'target');
    const flooder = await account(t.api, 'flooder');
    const other = await account(t.api, 'other');
    const to = [{ deviceId: target.d.keys.deviceId, body: text('x') }];

    let accepted = 0;
    let refused: Awaited<ReturnType<typeof sendMessage>> | undefined;
    for (let i = 0; i < FLOOD.capacity + 200 && !refused; i++) {
      const r = await sendMessage(t.api, flooder.token, 'target', to);
      if (r.status === 200) accepted++;
      else refused = r;
    }
    expect(refused?.status).toBe(429);
    expect(refused?.body.code).toBe('rate_limited');
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(accepted).toBeGreaterThanOrEqual(FLOOD.capacity);
    expect(accepted).toBeLessThan(FLOOD.capacity + 50); // refills at 1/s while the loop runs
    expect((await sendMessage(t.api, flooder.token, 'target', to)).status).toBe(429);

    // Someone else still reaches the target.
    expect((await sendMessage(t.api, other.token, 'target', [{ deviceId: target.d.keys.deviceId, body: text('hello') }])).status).toBe(200);
  });
});
