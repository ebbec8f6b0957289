/**
 * WebSocket sends and batched pushes (docs/API.md §12): a `send` frame carries a batch, the relay
 * answers per item with the rules and codes of `POST /v1/messages`; `blindrelay.v2` pushes
 * batches in `messages` frames; one ack frame acks many.
 */
import * as P from '@blindrelay/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { account, ackFrame, b64, type Frame, newDevice, nextList, openWs, p, prekeyJson, startTestServer, type TestServer } from './helpers.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const body = (n = 200) => b64(p.randomBytes(n));
const mark = async (u: Awaited<ReturnType<typeof account>>, value: number) => ({
  value,
  signature: b64(await P.signSendMark(p, u.d.keys.signing.seed, { user: u.u.user, deviceId: u.d.keys.deviceId, mark: value })),
});
const queued = async (u: Awaited<ReturnType<typeof account>>) =>
  ((await t?.api.req('GET', '/v1/messages', { token: u.token }))?.body.messages as { id: string; body: string }[]).length;

describe('WebSocket send frames', () => {
  it('stores a batch to several users, answers per item in order, and pushes batches to v2 receivers', async () => {
    t = await startTestServer();
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob', { deviceId: 7 });
    const carol = await account(t.api, 'carol', { deviceId: 3 });
    const rx = await openWs(t.url, { token: bob.token, subprotocols: ['blindrelay.v2'] });
    expect(rx.ws.protocol).toBe('blindrelay.v2');
    const tx = await openWs(t.url, { token: alice.token, subprotocols: ['blindrelay.v2'] });
    const bodies = [body(), body(), body()];
    tx.send({
      type: 'send',
      id: 'b1',
      sendMark: await mark(alice, 1),
      items: [
        { to: 'bob', messages: [{ deviceId: 7, body: bodies[0] }] },
        { to: 'carol', messages: [{ deviceId: 3, body: bodies[1] }] },
        { to: 'bob', messages: [{ deviceId: 7, body: bodies[2] }] },
      ],
    });
    const sent = await tx.next((f) => f.type === 'sent');
    expect(sent.id).toBe('b1');
    expect(sent.results).toHaveLength(3);
    for (const r of sent.results) expect(r).toMatchObject({ ok: true, ids: [expect.any(String)], sentAt: expect.any(Number) });
    // Bob gets his two in `messages` frames (one or two, as the wake-ups fall), never `message`.
    const got: Frame['messages'][] = [];
    while (got.length < 2) got.push(...(await rx.next((f) => f.type === 'messages')).messages);
    expect(rx.frames.some((f) => f.type === 'message')).toBe(false);
    expect(new Set(got.map((m: { body: string }) => m.body))).toEqual(new Set([bodies[0], bodies[2]]));
    expect(got.map((m: { id: string }) => m.id).sort()).toEqual([sent.results[0].ids[0], sent.results[2].ids[0]].sort());
    // One ack frame acks both.
    rx.send(
      await ackFrame(
        bob.u,
        got.map((m: { id: string }) => m.id),
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(await queued(bob)).toBe(0);
    expect(await queued(carol)).toBe(1);
    tx.close();
    rx.close();
  });

  it('refuses items with the HTTP rules and codes, one by one, storing nothing for them', async () => {
    t = await startTestServer({ limits: { maxMessageBytes: 1000 } });
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob', { deviceId: 7 });
    // Bob links a second device: a send covering only device 7 gets 409 with `missing`.
    const d8 = await newDevice({ deviceId: 8 });
    const v2 = await nextList(bob.u, [bob.d, d8]);
    const add = await t.api.req('PUT', '/v1/users/bob/device-list', {
      body: { deviceList: b64(v2), newDevice: { deviceId: 8, prekeys: prekeyJson(d8) } },
    });
    expect(add.status).toBe(204);
    const tx = await openWs(t.url, { token: alice.token });
    tx.send({
      type: 'send',
      id: 'b2',
      items: [
        { to: 'bob', messages: [{ deviceId: 7, body: body() }] },
        { to: 'nobody', messages: [{ deviceId: 1, body: body() }] },
        {
          to: 'bob',
          messages: [
            { deviceId: 7, body: body(1001) },
            { deviceId: 8, body: body() },
          ],
        },
        {
          to: 'bob',
          messages: [
            { deviceId: 7, body: body() },
            { deviceId: 8, body: body() },
            { deviceId: 9, body: body() },
          ],
        },
        {
          to: 'bob',
          messages: [
            { deviceId: 7, body: body() },
            { deviceId: 8, body: body() },
          ],
        },
      ],
    });
    const sent = await tx.next((f) => f.type === 'sent');
    expect(sent.results[0]).toMatchObject({ ok: false, status: 409, code: 'mismatched_devices', missing: [8], stale: [] });
    expect(sent.results[1]).toMatchObject({ ok: false, status: 404, code: 'no_such_user' });
    expect(sent.results[2]).toMatchObject({ ok: false, status: 400, code: 'bad_request' });
    expect(sent.results[3]).toMatchObject({ ok: false, status: 409, code: 'mismatched_devices', missing: [], stale: [9] });
    expect(sent.results[4]).toMatchObject({ ok: true, ids: [expect.any(String), expect.any(String)] });
    expect(await queued(bob)).toBe(1); // device 7: only the last item
    tx.close();
  });

  it('refuses a whole batch with a stale send mark, and a malformed frame, storing nothing', async () => {
    t = await startTestServer();
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob', { deviceId: 7 });
    const tx = await openWs(t.url, { token: alice.token });
    const items = [{ to: 'bob', messages: [{ deviceId: 7, body: body() }] }];
    tx.send({ type: 'send', id: 'm5', sendMark: await mark(alice, 5), items });
    expect((await tx.next((f) => f.type === 'sent')).results[0].ok).toBe(true);
    // The same batch again (a retry after a lost answer) is accepted: same mark, same digest.
    tx.send({ type: 'send', id: 'm5b', sendMark: await mark(alice, 5), items });
    expect((await tx.next((f) => f.type === 'sent')).results[0].ok).toBe(true);
    // Another batch with an old mark: refused as a whole.
    tx.send({ type: 'send', id: 'm4', sendMark: await mark(alice, 4), items: [{ to: 'bob', messages: [{ deviceId: 7, body: body() }] }] });
    expect(await tx.next((f) => f.type === 'sent')).toMatchObject({ id: 'm4', error: { status: 409, code: 'send_mark_stale', mark: 5 } });
    // A forged mark: 401.
    tx.send({ type: 'send', id: 'm9', sendMark: { value: 9, signature: b64(p.randomBytes(64)) }, items });
    expect(await tx.next((f) => f.type === 'sent')).toMatchObject({ id: 'm9', error: { status: 401, code: 'bad_signature' } });
    for (const bad of [
      { type: 'send', id: 'x', items: [] },
      { type: 'send', id: 'bad id!', items },
      { type: 'send', id: 'x', items: [{ to: 'bob', messages: [{ deviceId: 7, body: '***' }] }] },
      { type: 'send', id: 'x', items, extra: 1 },
    ]) {
      tx.send(bad);
      expect(await tx.next((f) => f.type === 'error')).toMatchObject({ code: 'bad_request' });
    }
    expect(await queued(bob)).toBe(2);
    tx.close();
  });

  it('charges the per-device message limit per item, as HTTP does', async () => {
    t = await startTestServer({ rateLimits: { messagesPerDevice: { capacity: 2, refillPerSecond: 0 } } });
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob', { deviceId: 7 });
    const tx = await openWs(t.url, { token: alice.token });
    const item = () => ({ to: 'bob', messages: [{ deviceId: 7, body: body() }] });
    tx.send({ type: 'send', id: 'r', items: [item(), item(), item()] });
    const sent = await tx.next((f) => f.type === 'sent');
    expect(sent.results.map((r: { ok: boolean; code?: string }) => r.ok || r.code)).toEqual([true, true, 'rate_limited']);
    expect(await queued(bob)).toBe(2);
    tx.close();
  });

  it("reads a recipient's list once per connection; a list changed since is read again, and the answers are the uncached ones", async () => {
    t = await startTestServer();
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob', { deviceId: 7 });
    const reads = vi.spyOn(t.server.storage.accounts, 'get');
    const tx = await openWs(t.url, { token: alice.token });
    let n = 0;
    // One send frame to `to`: its result and how many account reads it made.
    const send = async (deviceIds: number[], to = 'bob') => {
      const id = `s${++n}`;
      const before = reads.mock.calls.length;
      tx.send({ type: 'send', id, items: [{ to, messages: deviceIds.map((deviceId) => ({ deviceId, body: body() })) }] });
      const result = (await tx.next((f) => f.type === 'sent' && f.id === id)).results[0];
      return { ...result, reads: reads.mock.calls.length - before };
    };
    const setList = async (devices: Awaited<ReturnType<typeof newDevice>>[], added: Awaited<ReturnType<typeof newDevice>>) => {
      const list = await nextList(bob.u, devices);
      const r = await t?.api.req('PUT', '/v1/users/bob/device-list', {
        body: { deviceList: b64(list), newDevice: { deviceId: added.keys.deviceId, prekeys: prekeyJson(added) } },
      });
      expect(r?.status).toBe(204);
    };

    expect(await send([7])).toMatchObject({ ok: true, reads: 1 });
    expect(await send([7])).toMatchObject({ ok: true, reads: 0 });
    // Bob links device 8: a send covering both passes (the remembered list said 7 only: read again) ...
    const d8 = await newDevice({ deviceId: 8, user: 'bob' });
    await setList([bob.d, d8], d8);
    expect(await send([7, 8])).toMatchObject({ ok: true, reads: 1 });
    // ... and one covering 7 only is refused with what is stored now.
    expect(await send([7])).toMatchObject({ ok: false, status: 409, code: 'mismatched_devices', missing: [8], stale: [], reads: 1 });
    // Device 8 re-keyed under the same id: the remembered list (7, 8) still covers, the store refuses
    // its version, and the send goes through against the list read again.
    const d8b = await newDevice({ deviceId: 8, user: 'bob' });
    await setList([bob.d, d8b], d8b);
    const before = await queued(bob);
    expect(await send([7, 8])).toMatchObject({ ok: true, reads: 1 });
    expect(await queued(bob)).toBe(before + 1);
    expect(await send([7, 8])).toMatchObject({ ok: true, reads: 0 });
    // A name that is no account is read every time, never remembered.
    expect(await send([1], 'nobody')).toMatchObject({ ok: false, status: 404, reads: 1 });
    expect(await send([1], 'nobody')).toMatchObject({ ok: false, status: 404, reads: 1 });
    tx.close();
  });
});
