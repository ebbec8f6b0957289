/**
 * Account deletion in cluster mode (docs/API.md §1a): three relays on one PostgreSQL schema and
 * one NATS. The user's two devices hold sockets on relays A and B; the primary deletes the account
 * through relay C. Both sockets are told (`account-deleted`, close 4003) through the bus, their
 * tokens are refused everywhere, a peer on any relay gets `no_such_user`, and no row of any table
 * of the schema mentions the name, a key or a device id of the account afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as P from '../../protocol/src/index.js';
import { createNodePrimitives } from '../../protocol/src/primitives/node.js';
import { account, b64, login, newDevice, nextList, openWs, prekeyJson, sendMessage, startTestServer, type TestServer } from './helpers.js';
import { NATS_URL, requireNats } from './nats-service.js';
import { DATABASE_URL, dropSchema, randomSchema, requirePostgres } from './postgres-service.js';

const available = (await requirePostgres('account deletion, cluster')) && (await requireNats('account deletion, cluster'));
const p = createNodePrimitives();
const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

describe.skipIf(!available)('account deletion in a cluster (PostgreSQL + NATS)', () => {
  let schema: string;
  let relays: TestServer[];
  beforeEach(async () => {
    schema = randomSchema();
    const natsSubjectPrefix = `blindrelay.test_${randomBytes(6).toString('hex')}`;
    relays = [];
    for (let i = 0; i < 3; i++) relays.push(await startTestServer({ databaseUrl: DATABASE_URL, databaseSchema: schema, natsUrl: NATS_URL, natsSubjectPrefix }));
  });
  afterEach(async () => {
    await Promise.all(relays.map((r) => r.close()));
    await dropSchema(schema);
  });

  /** `table: what` for every row of the schema that mentions one of `needles` (row text: bytea as \x hex). */
  async function rowsMentioning(needles: Map<string, string>, deviceIds: number[]): Promise<string[]> {
    const c = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema}` });
    await c.connect();
    try {
      const found: string[] = [];
      const tables = (await c.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema])).rows;
      expect(tables.length).toBeGreaterThan(15);
      for (const { table_name } of tables) {
        for (const { r } of (await c.query<{ r: string }>(`SELECT t::text AS r FROM "${table_name}" t`)).rows) {
          for (const [what, n] of needles) if (r.includes(n)) found.push(`${table_name}: ${what}`);
        }
        const cols = await c.query<{ column_name: string }>(
          "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name IN ('device_id', 'from_device')",
          [schema, table_name],
        );
        for (const { column_name } of cols.rows) {
          if ((await c.query(`SELECT 1 FROM "${table_name}" WHERE ${column_name} = ANY($1::bigint[])`, [deviceIds])).rowCount)
            found.push(`${table_name}.${column_name}`);
        }
      }
      return found;
    } finally {
      await c.end();
    }
  }

  it('closes the sockets on every relay, refuses the tokens everywhere, leaves no row', async () => {
    const [a, b, c] = relays as [TestServer, TestServer, TestServer];
    const z = await account(c.api, 'zebracanary7q');
    const companion = await newDevice();
    const list = await nextList(z.u, [z.d, companion]);
    expect(
      (
        await c.api.req('PUT', '/v1/users/zebracanary7q/device-list', {
          body: { deviceList: b64(list), newDevice: { deviceId: companion.keys.deviceId, prekeys: prekeyJson(companion) } },
        })
      ).status,
    ).toBe(204);
    const companionToken = await login(b.api, z.u, companion);
    const bob = await account(a.api, 'bob');
    // Traffic both ways, so the name is in queues, rate buckets and send marks.
    expect(
      (
        await sendMessage(a.api, bob.token, 'zebracanary7q', [
          { deviceId: z.d.keys.deviceId, body: randomBytes(40) },
          { deviceId: companion.keys.deviceId, body: randomBytes(40) },
        ])
      ).status,
    ).toBe(200);
    expect((await sendMessage(b.api, companionToken, 'bob', [{ deviceId: bob.d.keys.deviceId, body: randomBytes(40) }])).status).toBe(200);

    const wsA = await openWs(a.url, { token: z.token });
    const wsB = await openWs(b.url, { token: companionToken });
    await settle();
    const needles = new Map<string, string>([
      ['name', 'zebracanary7q'],
      ['master key', `\\x${Buffer.from(z.u.master.publicKey).toString('hex')}`],
      ['signing key', `\\x${Buffer.from(z.d.keys.signing.publicKey).toString('hex')}`],
      ['companion signing key', `\\x${Buffer.from(companion.keys.signing.publicKey).toString('hex')}`],
    ]);
    const ids = [z.d.keys.deviceId, companion.keys.deviceId];
    expect((await rowsMentioning(needles, ids)).length).toBeGreaterThan(5); // positive control

    const d = { user: 'zebracanary7q', timestamp: c.clock.now(), nonce: p.randomBytes(16), listDigest: await P.deviceListDigest(p, z.u.list) };
    const body = {
      timestamp: d.timestamp,
      nonce: b64(d.nonce),
      listDigest: b64(d.listDigest),
      signature: b64(await P.signAccountDeletion(p, z.u.master.seed, d)),
    };
    const token = await login(c.api, z.u);
    const r = await c.api.req('POST', '/v1/accounts/deletion', { token, body, sign: { user: z.u, timestamp: c.clock.now() } });
    expect(r.status, r.text).toBe(204);

    for (const ws of [wsA, wsB]) {
      expect(await ws.next((f) => f.type === 'account-deleted', 2000)).toEqual({ type: 'account-deleted' });
      expect((await ws.closed).code).toBe(4003);
    }
    for (const relay of relays) {
      expect((await relay.api.req('GET', '/v1/prekeys/status', { token: z.token })).status).toBe(401);
      const lookup = await relay.api.req('GET', '/v1/users/zebracanary7q', { token: bob.token });
      expect(lookup.body.code).toBe('no_such_user');
    }
    // bob's queue no longer holds the companion's message.
    expect((await a.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toEqual([]);
    expect(await rowsMentioning(needles, ids)).toEqual([]);
  });
});
