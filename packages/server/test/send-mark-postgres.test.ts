/**
 * Send marks (docs/API.md §5a) on a relay whose storage is PostgreSQL, where a send and its mark
 * are one write (`mailboxes.enqueueMarked`, services/send-messages.ts storeMarkedSend): over HTTP
 * and in one-item WebSocket send frames, the answers are those of raising the mark first — a stale
 * or forged mark refuses the send with nothing stored, a stale mark wins over the item's own
 * refusal, a refused send still raises its mark — and an accepted send takes the one write.
 * A fresh schema per test. Skips loudly without PostgreSQL, fails instead under
 * BLINDRELAY_REQUIRE_SERVICES=1.
 */
import * as P from '@blindrelay/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { account, b64, openWs, p, startTestServer, type TestServer } from './helpers.js';
import { DATABASE_URL, dropSchema, randomSchema, requirePostgres } from './postgres-service.js';

const available = await requirePostgres('send-mark-postgres');

describe.skipIf(!available)('send marks on PostgreSQL: the mark and the send in one write', () => {
  let schema: string;
  let t: TestServer;
  beforeEach(async () => {
    schema = randomSchema();
    t = await startTestServer({ databaseUrl: DATABASE_URL, databaseSchema: schema });
  });
  afterEach(async () => {
    await t.close();
    await dropSchema(schema);
  });

  const body = () => b64(p.randomBytes(64));
  type User = Awaited<ReturnType<typeof account>>;
  const mark = async (u: User, value: number) => ({
    value,
    signature: b64(await P.signSendMark(p, u.d.keys.signing.seed, { user: u.u.user, deviceId: u.d.keys.deviceId, mark: value })),
  });
  const queued = async (u: User) => (await t.api.req('GET', '/v1/messages', { token: u.token })).body.messages.length as number;
  const held = async (u: User) => (await t.api.req('GET', '/v1/send-mark', { token: u.token })).body.mark as number;

  it('HTTP: accepted in one write; stale, repeated, forged and refused sends answer as before', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const to = bob.d.keys.deviceId;
    const send = (m: { value: number; signature: string }, b = body(), user = 'bob', deviceId = to) =>
      t.api.req('POST', '/v1/messages', { token: alice.token, body: { to: user, messages: [{ deviceId, body: b }], sendMark: m } });
    const oneWrite = vi.spyOn(t.server.storage.mailboxes, 'enqueueMarked' as never);
    const raise = vi.spyOn(t.server.storage.sendMarks, 'raise');

    const m1 = await mark(alice, 1);
    const first = body();
    expect((await send(m1, first)).status).toBe(200);
    expect(oneWrite).toHaveBeenCalledTimes(1);
    expect(raise).not.toHaveBeenCalled();
    expect((await send(m1, first)).status).toBe(200); // the same send again: accepted
    const stale = await send(m1); // the same mark, other ciphertext
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ code: 'send_mark_stale', mark: 1, signature: m1.signature });
    expect(await queued(bob)).toBe(2);
    expect((await send(await mark(bob, 9))).body.code).toBe('bad_signature');
    expect((await send({ value: 9, signature: b64(new Uint8Array(64)) })).status).toBe(401);
    expect(await held(alice)).toBe(1);
    // A send refused before the store (409 mismatched_devices) still raises its mark...
    const m4 = await mark(alice, 4);
    expect((await send(m4, body(), 'bob', to + 1)).body).toMatchObject({ code: 'mismatched_devices' });
    expect(await held(alice)).toBe(4);
    expect((await send(m4)).body).toMatchObject({ code: 'send_mark_stale', mark: 4 });
    // ...and a stale mark wins over the send's own refusal (an unknown recipient).
    expect((await send(await mark(alice, 2), body(), 'nobody')).body).toMatchObject({ code: 'send_mark_stale', mark: 4 });
    expect(await queued(bob)).toBe(2);
    expect((await send(await mark(alice, 5))).status).toBe(200);
    expect(await queued(bob)).toBe(3);
  });

  it('WebSocket: a one-item frame takes the one write; a stale mark refuses the frame, a refused item raises the mark', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob', { deviceId: 7 });
    const oneWrite = vi.spyOn(t.server.storage.mailboxes, 'enqueueMarked' as never);
    const tx = await openWs(t.url, { token: alice.token });
    const items = [{ to: 'bob', messages: [{ deviceId: 7, body: body() }] }];
    tx.send({ type: 'send', id: 'm5', sendMark: await mark(alice, 5), items });
    expect((await tx.next((f) => f.type === 'sent')).results[0]).toMatchObject({ ok: true });
    expect(oneWrite).toHaveBeenCalledTimes(1);
    tx.send({ type: 'send', id: 'm5b', sendMark: await mark(alice, 5), items }); // a retry: same digest
    expect((await tx.next((f) => f.type === 'sent')).results[0]).toMatchObject({ ok: true });
    tx.send({ type: 'send', id: 'm4', sendMark: await mark(alice, 4), items: [{ to: 'bob', messages: [{ deviceId: 7, body: body() }] }] });
    expect(await tx.next((f) => f.type === 'sent')).toMatchObject({ id: 'm4', error: { status: 409, code: 'send_mark_stale', mark: 5 } });
    tx.send({ type: 'send', id: 'm9', sendMark: { value: 9, signature: b64(p.randomBytes(64)) }, items });
    expect(await tx.next((f) => f.type === 'sent')).toMatchObject({ id: 'm9', error: { status: 401, code: 'bad_signature' } });
    // A refused item (no such device): its result, and the mark raised.
    tx.send({ type: 'send', id: 'm6', sendMark: await mark(alice, 6), items: [{ to: 'bob', messages: [{ deviceId: 8, body: body() }] }] });
    expect((await tx.next((f) => f.type === 'sent')).results[0]).toMatchObject({ ok: false, status: 409, code: 'mismatched_devices' });
    expect(await held(alice)).toBe(6);
    // A stale mark and an unknown recipient: the frame is refused for the mark.
    tx.send({ type: 'send', id: 'm3', sendMark: await mark(alice, 3), items: [{ to: 'nobody', messages: [{ deviceId: 1, body: body() }] }] });
    expect(await tx.next((f) => f.type === 'sent')).toMatchObject({ id: 'm3', error: { status: 409, code: 'send_mark_stale', mark: 6 } });
    expect(await queued(bob)).toBe(2);
    tx.close();
  });
});
