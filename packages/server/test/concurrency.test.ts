/** One-time prekeys are handed out at most once, however many fetches race for them. */
import * as P from '@blindrelay/protocol';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { account, startTestServer, type TestServer, unb64 } from './helpers.js';

let t: TestServer;
beforeEach(async () => {
  t = await startTestServer();
});
afterEach(async () => {
  await t.close();
});

it('many parallel bundle fetches never return the same one-time prekey', async () => {
  const bob = await account(t.api, 'bob', { opks: 60, pqs: 40 });
  const requesters = [await account(t.api, 'alice'), await account(t.api, 'carol'), await account(t.api, 'dave')];
  const fetches = Array.from({ length: 90 }, (_, i) =>
    t.api.req('POST', '/v1/users/bob/bundles', { token: requesters[i % requesters.length]!.token, body: {} }),
  );
  const results = await Promise.all(fetches);
  const opks: number[] = [];
  const pqs: number[] = [];
  let lastResort = 0;
  for (const r of results) {
    expect(r.status).toBe(200);
    const b = P.decodePreKeyBundle(unb64(r.body.bundles[0].bundle));
    if (b.oneTimePreKey) opks.push(b.oneTimePreKey.id);
    if (b.pqPreKey.lastResort) lastResort++;
    else pqs.push(b.pqPreKey.id);
  }
  expect(opks).toHaveLength(60);
  expect(new Set(opks).size).toBe(60);
  expect(new Set(opks)).toEqual(new Set(bob.d.opks.map((k) => k.id)));
  expect(pqs).toHaveLength(40);
  expect(new Set(pqs).size).toBe(40);
  expect(lastResort).toBe(50);
  const status = await t.api.req('GET', '/v1/prekeys/status', { token: bob.token });
  expect(status.body).toMatchObject({ oneTimePreKeys: 0, pqPreKeys: 0 });
});

it('parallel sends to one device are all stored, in a single order, none lost', async () => {
  const bob = await account(t.api, 'bob');
  const senders = [await account(t.api, 'alice'), await account(t.api, 'carol')];
  const sends = Array.from({ length: 60 }, (_, i) =>
    t.api.req('POST', '/v1/messages', {
      token: senders[i % 2]!.token,
      body: { to: 'bob', messages: [{ deviceId: bob.d.keys.deviceId, body: Buffer.from(`m${i}`).toString('base64url') }] },
    }),
  );
  const ids = (await Promise.all(sends)).map((r) => {
    expect(r.status).toBe(200);
    return r.body.ids[0] as string;
  });
  const got = await t.api.req('GET', '/v1/messages?limit=500', { token: bob.token });
  expect(got.body.messages).toHaveLength(60);
  expect(new Set(got.body.messages.map((m: { id: string }) => m.id))).toEqual(new Set(ids));
});
