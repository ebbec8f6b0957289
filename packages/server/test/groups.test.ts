/**
 * docs/API.md §13 over HTTP, on SQLite and on PostgreSQL (a fresh schema; skips loudly without
 * it unless BLINDRELAY_REQUIRE_SERVICES=1): KeyPackages handed out at most once with a kept
 * last-resort one; commits ordered per epoch (a concurrent or replayed commit gets 409
 * stale_epoch); each message stored once with a reference per recipient device; removal and
 * leaving stop delivery; bad input (unknown groups, non-members, stale epochs, malformed MLS
 * framing) refused with typed errors and nothing changed. The relay reads only the framing, so
 * the messages here are well-framed PrivateMessages with opaque bodies (RFC 9420 §6.3).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { account, b64, p, startTestServer, type TestServer, unb64 } from './helpers.js';
import { DATABASE_URL, dropSchema, randomSchema, requirePostgres } from './postgres-service.js';

const postgres = await requirePostgres('groups-postgres');

type Acct = Awaited<ReturnType<typeof account>>;
const dev = (a: Acct) => ({ user: a.u.user, deviceId: a.d.keys.deviceId });

/** MLSMessage(PrivateMessage) framing (RFC 9420 §6.3.1) around random "ciphertext". */
function frame(group: Uint8Array, epoch: number, contentType: 1 | 2 | 3, ciphertext = p.randomBytes(48)): string {
  const e = new Uint8Array(8);
  new DataView(e.buffer).setBigUint64(0, BigInt(epoch));
  return b64(Uint8Array.of(0, 1, 0, 2, 16, ...group, ...e, contentType, 0, 4, 1, 2, 3, 4, ciphertext.length, ...ciphertext));
}
const keyPackage = (suite = 0x53) => b64(Uint8Array.of(0, 1, 0, 5, 0, 1, 0, suite, 32, ...p.randomBytes(32), ...p.randomBytes(64)));
const welcome = () => b64(Uint8Array.of(0, 1, 0, 3, 0, 0x53, ...p.randomBytes(64)));

for (const backend of ['sqlite', 'postgres'] as const) {
  describe.skipIf(backend === 'postgres' && !postgres)(`groups delivery service (${backend})`, () => {
    let t: TestServer;
    let schema: string;
    beforeEach(async () => {
      schema = randomSchema();
      t = await startTestServer(backend === 'postgres' ? { databaseUrl: DATABASE_URL, databaseSchema: schema } : {});
    });
    afterEach(async () => {
      await t.close();
      if (backend === 'postgres') await dropSchema(schema);
    });

    const req = (who: Acct, method: string, path: string, body?: unknown) =>
      t.api.req(method, path, { token: who.token, ...(body === undefined ? {} : { body }) });
    const inbox = async (who: Acct) =>
      (await req(who, 'GET', '/v1/groups/inbox')).body.messages as { seq: number; kind: string; epoch: number; message: string; group: string }[];
    async function newGroup(owner: Acct) {
      const raw = p.randomBytes(16);
      const r = await req(owner, 'POST', '/v1/groups', { id: b64(raw) });
      expect(r.status).toBe(201);
      return { raw, id: b64(raw) };
    }

    it('hands out each one-time KeyPackage once, then the last-resort one; refuses bad ones', async () => {
      const alice = await account(t.api, 'alice');
      const bob = await account(t.api, 'bob');
      const [k1, k2, last] = [keyPackage(), keyPackage(), keyPackage()];
      const put = await req(alice, 'PUT', '/v1/groups/key-packages', { keyPackages: [k1, k2], lastResort: last });
      expect(put.body).toEqual({ oneTime: 2 });
      const claim = async () => (await req(bob, 'POST', '/v1/groups/key-packages/claim', { user: 'alice' })).body.keyPackages;
      expect(await claim()).toEqual([{ deviceId: alice.d.keys.deviceId, keyPackage: k1 }]);
      expect(await claim()).toEqual([{ deviceId: alice.d.keys.deviceId, keyPackage: k2 }]);
      expect(await claim()).toEqual([{ deviceId: alice.d.keys.deviceId, keyPackage: last }]);
      expect(await claim()).toEqual([{ deviceId: alice.d.keys.deviceId, keyPackage: last }]);
      // Another cipher suite, a Welcome, garbage: 400, nothing stored.
      for (const bad of [keyPackage(0x01), welcome(), b64(p.randomBytes(30)), 'not base64!'])
        expect((await req(alice, 'PUT', '/v1/groups/key-packages', { keyPackages: [keyPackage(), bad] })).body.code).toBe('bad_request');
      expect((await req(alice, 'PUT', '/v1/groups/key-packages', { keyPackages: [] })).body).toEqual({ oneTime: 0 });
      expect((await req(bob, 'POST', '/v1/groups/key-packages/claim', { user: 'nobody' })).body.code).toBe('no_such_user');
      expect(await (async () => (await req(alice, 'POST', '/v1/groups/key-packages/claim', { user: 'bob' })).body.keyPackages)()).toEqual([]);
    });

    it('orders commits per epoch, stores each message once, queues it per member; removal and leave stop delivery', async () => {
      const [alice, bob, carol] = [await account(t.api, 'alice'), await account(t.api, 'bob'), await account(t.api, 'carol')];
      const g = await newGroup(alice);
      const add = await req(alice, 'POST', `/v1/groups/${g.id}/commits`, {
        commit: frame(g.raw, 0, 3),
        welcome: welcome(),
        members: [dev(alice), dev(bob), dev(carol)],
        added: [dev(bob), dev(carol)],
      });
      expect(add.body).toEqual({ epoch: 1 });
      expect((await inbox(bob)).map((m) => [m.kind, m.epoch, m.group])).toEqual([['welcome', 1, g.id]]);
      expect(await inbox(alice)).toEqual([]);

      // Concurrent commits at epoch 1 from bob and carol: exactly one lands.
      const [rb, rc] = await Promise.all([
        req(bob, 'POST', `/v1/groups/${g.id}/commits`, { commit: frame(g.raw, 1, 3), members: [dev(alice), dev(bob), dev(carol)], added: [] }),
        req(carol, 'POST', `/v1/groups/${g.id}/commits`, { commit: frame(g.raw, 1, 3), members: [dev(alice), dev(bob), dev(carol)], added: [] }),
      ]);
      expect([rb.status, rc.status].sort()).toEqual([200, 409]);
      const lost = rb.status === 409 ? rb : rc;
      expect(lost.body).toMatchObject({ code: 'stale_epoch', epoch: 2 });
      // A replay of the winning commit is stale too.
      expect((await req(alice, 'POST', `/v1/groups/${g.id}/commits`, { commit: frame(g.raw, 1, 3), members: [dev(alice)], added: [] })).body.code).toBe(
        'stale_epoch',
      );

      const text = frame(g.raw, 2, 1);
      expect((await req(alice, 'POST', `/v1/groups/${g.id}/messages`, { message: text })).body).toEqual({ epoch: 2 });
      for (const who of [bob, carol]) expect((await inbox(who)).at(-1)).toMatchObject({ kind: 'application', epoch: 2, message: text });
      // Stored once: the same stored seq in both inboxes.
      expect((await inbox(bob)).at(-1)?.seq).toBe((await inbox(carol)).at(-1)?.seq);

      // Remove carol (epoch 2 -> 3): she gets the commit, then nothing more.
      const remove = frame(g.raw, 2, 3);
      expect((await req(alice, 'POST', `/v1/groups/${g.id}/commits`, { commit: remove, members: [dev(alice), dev(bob)], added: [] })).body).toEqual({
        epoch: 3,
      });
      expect((await inbox(carol)).at(-1)).toMatchObject({ kind: 'commit', message: remove });
      const carolBefore = await inbox(carol);
      await req(bob, 'POST', `/v1/groups/${g.id}/messages`, { message: frame(g.raw, 3, 1) });
      expect(await inbox(carol)).toEqual(carolBefore);
      expect((await req(carol, 'GET', `/v1/groups/${g.id}`)).body.code).toBe('not_found');
      expect((await req(carol, 'POST', `/v1/groups/${g.id}/messages`, { message: frame(g.raw, 3, 1) })).body.code).toBe('not_found');
      expect((await req(alice, 'GET', '/v1/groups')).body.groups).toEqual([{ id: g.id, epoch: 3, members: [dev(alice), dev(bob)] }]);

      // Bob leaves with a proposal: alice gets it, bob gets nothing more.
      const proposal = frame(g.raw, 3, 2);
      expect((await req(bob, 'POST', `/v1/groups/${g.id}/messages`, { message: proposal, leave: true })).status).toBe(200);
      expect((await inbox(alice)).at(-1)).toMatchObject({ kind: 'proposal', message: proposal });
      const bobBefore = await inbox(bob);
      await req(alice, 'POST', `/v1/groups/${g.id}/messages`, { message: frame(g.raw, 3, 1) });
      expect(await inbox(bob)).toEqual(bobBefore);
      expect((await req(alice, 'GET', `/v1/groups/${g.id}`)).body.members).toEqual([dev(alice)]);

      // Ack (signed) drops references; a message nobody references is deleted.
      const last = (await inbox(alice)).at(-1)?.seq as number;
      expect((await t.api.req('POST', '/v1/groups/inbox/ack', { token: alice.token, body: { upTo: last } })).body.code).toBe('signature_required');
      expect((await t.api.req('POST', '/v1/groups/inbox/ack', { token: alice.token, sign: { user: alice.u }, body: { upTo: last } })).status).toBe(204);
      expect(await inbox(alice)).toEqual([]);
    });

    it('refuses bad input with typed errors and changes nothing', async () => {
      const [alice, bob, dave] = [await account(t.api, 'alice'), await account(t.api, 'bob'), await account(t.api, 'dave')];
      const g = await newGroup(alice);
      await req(alice, 'POST', `/v1/groups/${g.id}/commits`, {
        commit: frame(g.raw, 0, 3),
        welcome: welcome(),
        members: [dev(alice), dev(bob)],
        added: [dev(bob)],
      });
      const state = async () => [(await req(alice, 'GET', `/v1/groups/${g.id}`)).body, await inbox(alice), await inbox(bob), await inbox(dave)];
      const before = await state();
      const other = p.randomBytes(16);
      const commit = (who: Acct, body: Record<string, unknown>, id = g.id) =>
        req(who, 'POST', `/v1/groups/${id}/commits`, { members: [dev(alice), dev(bob)], added: [], ...body });
      const cases: [Promise<{ status: number; body: { code: string } }>, number, string][] = [
        // Unknown group, non-member.
        [commit(alice, { commit: frame(other, 1, 3) }, b64(other)), 404, 'not_found'],
        [commit(dave, { commit: frame(g.raw, 1, 3), members: [dev(alice), dev(bob), dev(dave)] }), 404, 'not_found'],
        [req(dave, 'POST', `/v1/groups/${g.id}/messages`, { message: frame(g.raw, 1, 1) }), 404, 'not_found'],
        [req(dave, 'GET', `/v1/groups/${g.id}`), 404, 'not_found'],
        // Stale epochs.
        [commit(alice, { commit: frame(g.raw, 0, 3) }), 409, 'stale_epoch'],
        [commit(alice, { commit: frame(g.raw, 7, 3) }), 409, 'stale_epoch'],
        [req(bob, 'POST', `/v1/groups/${g.id}/messages`, { message: frame(g.raw, 0, 1) }), 409, 'stale_epoch'],
        // Malformed MLS framing and mismatches.
        [commit(alice, { commit: b64(p.randomBytes(80)) }), 400, 'bad_request'],
        [commit(alice, { commit: frame(g.raw, 1, 3).slice(0, -4) }), 400, 'bad_request'],
        [commit(alice, { commit: frame(g.raw, 1, 1) }), 400, 'bad_request'],
        [commit(alice, { commit: frame(other, 1, 3) }), 400, 'bad_request'],
        [commit(alice, { commit: frame(g.raw, 1, 3), members: [dev(bob)] }), 400, 'bad_request'],
        [commit(alice, { commit: frame(g.raw, 1, 3), added: [dev(dave)] }), 400, 'bad_request'],
        [commit(alice, { commit: frame(g.raw, 1, 3), members: [dev(alice), dev(dave)], added: [dev(dave)] }), 400, 'bad_request'],
        [
          commit(alice, { commit: frame(g.raw, 1, 3), welcome: b64(p.randomBytes(40)), members: [dev(alice), dev(dave)], added: [dev(dave)] }),
          400,
          'bad_request',
        ],
        [commit(alice, { commit: frame(g.raw, 1, 3), members: [dev(alice), { user: 'bob', deviceId: 999 }] }), 400, 'bad_request'],
        [commit(alice, { commit: frame(g.raw, 1, 3), members: [dev(alice), dev(alice)] }), 400, 'bad_request'],
        [req(alice, 'POST', `/v1/groups/${g.id}/messages`, { message: frame(g.raw, 1, 3) }), 400, 'bad_request'],
        [req(alice, 'POST', `/v1/groups/${g.id}/messages`, { message: frame(g.raw, 1, 1), leave: true }), 400, 'bad_request'],
        [req(alice, 'POST', `/v1/groups/${g.id}/messages`, { message: b64(Uint8Array.of(0, 1, 0, 2, 16)) }), 400, 'bad_request'],
        [req(alice, 'POST', '/v1/groups/not-an-id/messages', { message: frame(g.raw, 1, 1) }), 400, 'bad_request'],
        [req(alice, 'POST', '/v1/groups', { id: g.id }), 409, 'conflict'],
      ];
      let i = 0;
      for (const [r, status, code] of cases) {
        const res = await r;
        expect([res.status, res.body.code, i++]).toEqual([status, code, i - 1]);
      }
      expect(await state()).toEqual(before);
      expect(unb64(before[0].id)).toEqual(g.raw);
    });
  });
}
