/**
 * Signed requests (docs/API.md §2a) and send marks (§5a) at the HTTP and WebSocket level: every
 * way a signature can be missing, malformed, foreign, stale, replayed or moved, and the send-mark
 * compare-and-raise with its 409 answer.
 */
import * as P from '@blindrelay/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REQUEST_SIGNATURE_WINDOW_MS } from '../src/http/request-signature.js';
import {
  account,
  ackFrame,
  b64,
  newDevice,
  nextList,
  openWs,
  p,
  prekeyJson,
  sendMessage,
  signatureHeader,
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

const text = (s: string) => new TextEncoder().encode(s);

describe('signed requests', () => {
  it('acks: refuses a missing, malformed, foreign, moved, stale or replayed signature; accepts a fresh one once', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    await sendMessage(t.api, alice.token, 'bob', [{ deviceId: bob.d.keys.deviceId, body: text('m') }]);
    const [msg] = (await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages;
    const body = JSON.stringify({ ids: [msg.id] });
    const ack = (headers: Record<string, string>, raw = body, path = '/v1/messages/ack') => t.api.req('POST', path, { token: bob.token, raw, headers });
    const expectCode = async (r: Promise<{ status: number; body: { code: string } }>, status: number, code: string) => {
      const got = await r;
      expect(got.status).toBe(status);
      expect(got.body.code).toBe(code);
    };

    await expectCode(ack({}), 401, 'signature_required');
    for (const h of [
      'v1',
      'v2;t=1;n=AAAAAAAAAAAAAAAAAAAAAA;s=x',
      `v1;t=${Date.now()};n=AAAA;s=${'A'.repeat(86)}`,
      `v1;t=abc;n=${'A'.repeat(22)};s=${'A'.repeat(86)}`,
    ]) {
      await expectCode(ack({ 'blindrelay-signature': h }), 401, 'bad_signature');
    }
    // Signed by another user's device, or for another method, path or body.
    await expectCode(ack({ 'blindrelay-signature': await signatureHeader({ user: alice.u }, 'POST', '/v1/messages/ack', body) }), 401, 'bad_signature');
    await expectCode(ack({ 'blindrelay-signature': await signatureHeader({ user: bob.u }, 'PUT', '/v1/messages/ack', body) }), 401, 'bad_signature');
    await expectCode(ack({ 'blindrelay-signature': await signatureHeader({ user: bob.u }, 'POST', '/v1/messages/ack?x', body) }), 401, 'bad_signature');
    await expectCode(ack({ 'blindrelay-signature': await signatureHeader({ user: bob.u }, 'POST', '/v1/messages/ack', '{"ids":[]}') }), 401, 'bad_signature');
    // Outside the window either way: refused with the relay's time.
    for (const skew of [-(REQUEST_SIGNATURE_WINDOW_MS + 5000), REQUEST_SIGNATURE_WINDOW_MS + 5000]) {
      const r = await ack({
        'blindrelay-signature': await signatureHeader({ user: bob.u, timestamp: t.clock.now() + skew }, 'POST', '/v1/messages/ack', body),
      });
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('stale_signature');
      expect(Math.abs(r.body.serverTime - t.clock.now())).toBeLessThan(5000);
    }
    // Nothing so far deleted anything.
    expect((await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toHaveLength(1);

    // A fresh signature (even 100 s off): accepted once; the same request again is a replay.
    const good = await signatureHeader({ user: bob.u, timestamp: t.clock.now() - 100_000 }, 'POST', '/v1/messages/ack', body);
    expect((await ack({ 'blindrelay-signature': good })).status).toBe(204);
    await expectCode(ack({ 'blindrelay-signature': good }), 401, 'replayed_signature');
    expect((await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toEqual([]);
    // Once the window has passed (and its nonce may be forgotten), the old request is stale, not new.
    t.clock.advance(3 * REQUEST_SIGNATURE_WINDOW_MS);
    await expectCode(ack({ 'blindrelay-signature': good }), 401, 'stale_signature');
  });

  it('a revoked (or re-keyed) device signs nothing any more', async () => {
    const alice = await account(t.api, 'alice');
    const second = await newDevice({ user: 'alice' });
    const list = await nextList(alice.u, [alice.d, second]);
    expect(
      (
        await t.api.req('PUT', '/v1/users/alice/device-list', {
          body: { deviceList: b64(list), newDevice: { deviceId: second.keys.deviceId, prekeys: prekeyJson(second) } },
        })
      ).status,
    ).toBe(204);
    // A header signed by the second device, sent with the first device's token: not that device's key.
    const body = JSON.stringify({ ids: [] });
    const r = await t.api.req('POST', '/v1/messages/ack', {
      token: alice.token,
      raw: body,
      headers: { 'blindrelay-signature': await signatureHeader({ user: alice.u, device: second }, 'POST', '/v1/messages/ack', body) },
    });
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('bad_signature');
  });

  it('WebSocket acks: unsigned or replayed frames change nothing and keep the socket; a signed one deletes', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    await sendMessage(t.api, alice.token, 'bob', [{ deviceId: bob.d.keys.deviceId, body: text('m') }]);
    const ws = await openWs(t.url, { token: bob.token });
    const pushed = await ws.next((f) => f.type === 'message');
    ws.send({ type: 'ack', ids: [pushed.message.id] });
    expect(await ws.next((f) => f.type === 'error')).toMatchObject({ code: 'signature_required' });
    ws.send({ type: 'ack', ids: [pushed.message.id], signature: (await ackFrame(alice.u, [pushed.message.id])).signature });
    expect(await ws.next((f) => f.type === 'error')).toMatchObject({ code: 'bad_signature' });
    expect((await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toHaveLength(1);
    const frame = await ackFrame(bob.u, [pushed.message.id]);
    ws.send(frame);
    await expect.poll(async () => (await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toEqual([]);
    ws.send(frame);
    expect(await ws.next((f) => f.type === 'error')).toMatchObject({ code: 'replayed_signature' });
    ws.close();
  });

  it('file deletion needs the owner device’s signature; no body may slip past the hash', async () => {
    const alice = await account(t.api, 'alice');
    const id = b64(p.randomBytes(16));
    const path = `/v1/files/${id}`;
    expect((await t.api.req('DELETE', path, { token: alice.token })).body.code).toBe('signature_required');
    // Signed: the (unknown) file's own answer.
    expect((await t.api.req('DELETE', path, { token: alice.token, sign: { user: alice.u } })).status).toBe(404);
    // A DELETE carrying a body its signature does not cover.
    const header = await signatureHeader({ user: alice.u }, 'DELETE', path, undefined);
    const r = await t.api.req('DELETE', path, { token: alice.token, raw: '{"x":1}', headers: { 'blindrelay-signature': header } });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.status).not.toBe(404);
  });
});

describe('send marks', () => {
  async function signedMark(u: { u: { user: string }; d: { keys: P.DeviceKeys } }, mark: number) {
    return { value: mark, signature: b64(await P.signSendMark(p, u.d.keys.signing.seed, { user: u.u.user, deviceId: u.d.keys.deviceId, mark })) };
  }

  it('raises only upwards; a stale mark is 409 with the held mark and the device’s signature; the same send again passes', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const to = bob.d.keys.deviceId;
    expect((await t.api.req('GET', '/v1/send-mark', { token: alice.token })).body).toEqual({ mark: 0, signature: null });
    const send = async (mark: { value: number; signature: string } | undefined, body = 'AAAA') =>
      t.api.req('POST', '/v1/messages', { token: alice.token, body: { to: 'bob', messages: [{ deviceId: to, body }], ...(mark ? { sendMark: mark } : {}) } });

    const m1 = await signedMark(alice, 1);
    expect((await send(m1)).status).toBe(200);
    const held = (await t.api.req('GET', '/v1/send-mark', { token: alice.token })).body;
    expect(held).toEqual({ mark: 1, signature: m1.signature });
    await P.verifySendMark(p, alice.d.keys.signing.publicKey, { user: 'alice', deviceId: alice.d.keys.deviceId, mark: 1 }, unb64(held.signature));
    // The same send again (a retry): accepted.
    expect((await send(m1)).status).toBe(200);
    // The same mark with other ciphertext (an older copy of the profile): refused, nothing stored.
    const queued = (await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages.length;
    const stale = await send(m1, 'BBBB');
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ code: 'send_mark_stale', mark: 1, signature: m1.signature });
    expect((await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toHaveLength(queued);
    expect((await send(await signedMark(alice, 5))).status).toBe(200);
    expect((await send(await signedMark(alice, 3))).body).toMatchObject({ code: 'send_mark_stale', mark: 5 });
    // Only the device can raise its mark: another key's signature, or a mark of bob's, is refused.
    expect((await send(await signedMark(bob, 9))).body.code).toBe('bad_signature');
    expect((await send({ value: 9, signature: b64(new Uint8Array(64)) })).status).toBe(401);
    expect((await send({ value: 0, signature: m1.signature })).status).toBe(400);
    expect((await t.api.req('GET', '/v1/send-mark', { token: alice.token })).body.mark).toBe(5);
    // Sends without a mark (other clients) still go through.
    expect((await send(undefined, 'CCCC')).status).toBe(200);
  });
});
