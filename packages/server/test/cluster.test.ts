/**
 * Cluster mode: three relays in-process on one PostgreSQL schema and one NATS (a unique subject
 * prefix per test), checking that WebSocket push and revocation reach a device whose socket is on
 * another relay than the one that took the request. Skips loudly without PostgreSQL or NATS,
 * fails instead under BLINDRELAY_REQUIRE_SERVICES=1. Also the NatsBus itself: events on the wire,
 * and the wake-up after a reconnect.
 */
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NatsBus } from '../src/bus/nats.js';
import { type BusEvent, deviceTopic } from '../src/bus/types.js';
import { account, ackFrame, b64, login, newDevice, nextList, openWs, prekeyJson, sendMessage, startTestServer, type TestServer, unb64 } from './helpers.js';
import { NATS_URL, requireNats } from './nats-service.js';
import { DATABASE_URL, dropSchema, randomSchema, requirePostgres } from './postgres-service.js';

const available = (await requirePostgres('cluster')) && (await requireNats('cluster'));
const text = (s: string) => new TextEncoder().encode(s);
const decode = (body: string) => new TextDecoder().decode(unb64(body));
/** Lets each relay's new NATS subscriptions settle, so a push seen afterwards came from a real event. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

describe.skipIf(!available)('cluster: three relays, PostgreSQL + NATS', () => {
  let schema: string;
  let relays: TestServer[];
  const closed = new Set<TestServer>();
  beforeEach(async () => {
    schema = randomSchema();
    const natsSubjectPrefix = `blindrelay.test_${randomBytes(6).toString('hex')}`;
    relays = [];
    for (let i = 0; i < 3; i++) relays.push(await startTestServer({ databaseUrl: DATABASE_URL, databaseSchema: schema, natsUrl: NATS_URL, natsSubjectPrefix }));
  });
  afterEach(async () => {
    await Promise.all(relays.filter((r) => !closed.has(r)).map((r) => r.close()));
    closed.clear();
    await dropSchema(schema);
  });

  it('pushes a message sent through relay B to a socket on relay A within 2 s', async () => {
    const [a, b, c] = relays as [TestServer, TestServer, TestServer];
    const bob = await account(a.api, 'bob');
    const alice = await account(b.api, 'alice');
    const carol = await account(c.api, 'carol');
    const ws = await openWs(a.url, { token: bob.token });
    await settle();
    const to = bob.d.keys.deviceId;
    expect((await sendMessage(b.api, alice.token, 'bob', [{ deviceId: to, body: text('via B') }])).status).toBe(200);
    const first = await ws.next((f) => f.type === 'message', 2000);
    expect(decode(first.message.body)).toBe('via B');
    expect(first.message).toMatchObject({ from: 'alice', fromDevice: alice.d.keys.deviceId });
    expect((await sendMessage(c.api, carol.token, 'bob', [{ deviceId: to, body: text('via C') }])).status).toBe(200);
    expect(decode((await ws.next((f) => f.type === 'message', 2000)).message.body)).toBe('via C');
    ws.send(await ackFrame(bob.u, [first.message.id]));
    ws.close();
    await ws.closed;
  });

  it('pushes a revocation made on relay C to a socket on relay A (revoked, then close 4001)', async () => {
    const [a, , c] = relays as [TestServer, TestServer, TestServer];
    const bob = await account(c.api, 'bob');
    const d2 = await newDevice();
    const v2 = await nextList(bob.u, [bob.d, d2]);
    const add = await c.api.req('PUT', '/v1/users/bob/device-list', {
      body: { deviceList: b64(v2), newDevice: { deviceId: d2.keys.deviceId, prekeys: prekeyJson(d2) } },
    });
    expect(add.status).toBe(204);
    const token2 = await login(a.api, bob.u, d2);
    const ws2 = await openWs(a.url, { token: token2 });
    await settle();
    const v3 = await nextList(bob.u, [bob.d]);
    expect((await c.api.req('PUT', '/v1/users/bob/device-list', { body: { deviceList: b64(v3) } })).status).toBe(204);
    expect(await ws2.next((f) => f.type === 'revoked', 2000)).toEqual({ type: 'revoked' });
    expect((await ws2.closed).code).toBe(4001);
    await expect(openWs(a.url, { token: token2 })).rejects.toMatchObject({ status: 401 });
  });

  it('keeps delivering between the other two relays when one closes', async () => {
    const [a, b, c] = relays as [TestServer, TestServer, TestServer];
    const bob = await account(a.api, 'bob');
    const alice = await account(c.api, 'alice');
    const onC = await openWs(c.url, { token: bob.token }); // this one goes away with relay C
    const ws = await openWs(a.url, { token: bob.token });
    await settle();
    await c.close();
    closed.add(c);
    expect((await onC.closed).code).toBe(1001);
    const to = bob.d.keys.deviceId;
    expect((await sendMessage(b.api, alice.token, 'bob', [{ deviceId: to, body: text('after C closed') }])).status).toBe(200);
    expect(decode((await ws.next((f) => f.type === 'message', 2000)).message.body)).toBe('after C closed');
    // And the other way round: a socket on B, a send through A.
    const wsB = await openWs(b.url, { token: alice.token });
    await settle();
    expect((await sendMessage(a.api, bob.token, 'alice', [{ deviceId: alice.d.keys.deviceId, body: text('A to B') }])).status).toBe(200);
    expect(decode((await wsB.next((f) => f.type === 'message', 2000)).message.body)).toBe('A to B');
    ws.close();
    wsB.close();
  });
});

describe.skipIf(!available)('NatsBus', () => {
  const prefix = () => `blindrelay.test_${randomBytes(6).toString('hex')}`;

  it('carries routing events between connections, ignores anything else on the subject, and wakes subscribers after a reconnect', async () => {
    const p = prefix();
    const one = await NatsBus.connect({ servers: NATS_URL, prefix: p });
    const two = await NatsBus.connect({ servers: NATS_URL, prefix: p });
    const raw = await connect({ servers: NATS_URL });
    try {
      const topic = deviceTopic('bob', 7);
      const seen: BusEvent[] = [];
      const unsubscribe = one.subscribe(topic, (e) => seen.push(e));
      await new Promise((resolve) => setTimeout(resolve, 100));
      seen.splice(0); // the wake-up once the subscription is in place
      raw.publish(`${p}.${topic}`, new TextEncoder().encode('{"type":"message","body":"x"'));
      raw.publish(`${p}.${topic}`, new TextEncoder().encode('{"type":"other"}'));
      await two.publish(topic, { type: 'prekeys-low', oneTimePreKeys: 3, pqPreKeys: 1 });
      await two.publish(topic, { type: 'revoked' });
      await expect.poll(() => seen.length).toBe(2);
      expect(seen).toEqual([{ type: 'prekeys-low', oneTimePreKeys: 3, pqPreKeys: 1 }, { type: 'revoked' }]);

      seen.splice(0);
      await (one as unknown as { nc: NatsConnection }).nc.reconnect();
      await expect.poll(() => seen, { timeout: 5000 }).toEqual([{ type: 'message' }]);
      unsubscribe();
      await two.publish(topic, { type: 'message' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(seen).toEqual([{ type: 'message' }]);
    } finally {
      await Promise.all([one.close(), two.close(), raw.close()]);
    }
  });
});
