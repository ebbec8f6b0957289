/**
 * Issue 11, account deletion (docs/API.md §1a, PROTOCOL.md §17): deleting an account destroys
 * everything, so the relay demands more than a bearer token. The attacks, against a real relay:
 *   - a thief with a stolen bearer token (no device key, no master key);
 *   - a companion device (token and device key, but not the master key: DESIGN.md "Custody"),
 *     signing the statement with the keys it has;
 *   - another user's account presenting the victim's statement;
 *   - replays: the captured request as it was, its signed-request header with a new statement,
 *     a statement after the device list changed, and after the name was registered again (same
 *     master key, as a user restoring from a recovery backup would);
 *   - a statement outside the time window.
 * Each is refused with its typed code and leaves the account whole; then the primary deletes it,
 * and its other device's WebSocket is told (`account-deleted`, close 4003).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../../packages/protocol/src/index.js';
import { createNodePrimitives } from '../../../packages/protocol/src/primitives/node.js';
import {
  account,
  b64,
  login,
  newDevice,
  nextList,
  openWs,
  prekeyJson,
  register,
  signatureHeader,
  startTestServer,
  type TestDevice,
  type TestServer,
  type TestUser,
} from '../../../packages/server/test/helpers.js';

const p = createNodePrimitives();
const PATH = '/v1/accounts/deletion';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

/** The deletion body: `signer` (default the master key) over the statement for `user` naming `list`. */
async function statement(o: { user: string; list: Uint8Array; signer: Uint8Array; timestamp?: number }) {
  const d = { user: o.user, timestamp: o.timestamp ?? t.clock.now(), nonce: p.randomBytes(16), listDigest: await P.deviceListDigest(p, o.list) };
  const signature = await P.signAccountDeletion(p, o.signer, d);
  return { timestamp: d.timestamp, nonce: b64(d.nonce), listDigest: b64(d.listDigest), signature: b64(signature) };
}

const del = (token: string, body: unknown, signer?: { user: TestUser; device?: TestDevice }) =>
  t.api.req('POST', PATH, { token, body, ...(signer ? { sign: { ...signer, timestamp: t.clock.now() } } : {}) });

describe('K6: account deletion needs the master key, once', () => {
  let zebra: TestUser;
  let primary: TestDevice;
  let companion: TestDevice;
  let primaryToken: string;
  let companionToken: string;
  let peerToken: string;
  let peer: TestUser;
  const exists = async () => (await t.api.req('GET', `/v1/users/${zebra.user}`, { token: peerToken })).status === 200;

  beforeAll(async () => {
    const z = await account(t.api, 'zebracanary7q');
    zebra = z.u;
    primary = z.d;
    primaryToken = z.token;
    companion = await newDevice();
    const list = await nextList(zebra, [primary, companion]);
    const put = await t.api.req('PUT', `/v1/users/${zebra.user}/device-list`, {
      body: { deviceList: b64(list), newDevice: { deviceId: companion.keys.deviceId, prekeys: prekeyJson(companion) } },
    });
    expect(put.status).toBe(204);
    companionToken = await login(t.api, zebra, companion);
    const b = await account(t.api, 'bob');
    peer = b.u;
    peerToken = b.token;
  });

  it('refuses a stolen bearer token: no device signature', async () => {
    const body = await statement({ user: zebra.user, list: zebra.list, signer: zebra.master.seed });
    const r = await del(primaryToken, body);
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('signature_required');
    expect(await exists()).toBe(true);
  });

  it('refuses a companion: its device key is not the master key', async () => {
    // It signs the statement with the keys it has (its device signing key), and the request properly.
    const body = await statement({ user: zebra.user, list: zebra.list, signer: companion.keys.signing.seed });
    const r = await del(companionToken, body, { user: zebra, device: companion });
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('bad_signature');
    expect(await exists()).toBe(true);
  });

  it("refuses another user's account presenting the victim's statement (and its own master key cannot sign for the victim)", async () => {
    const victims = await statement({ user: zebra.user, list: zebra.list, signer: zebra.master.seed });
    const r = await del(peerToken, victims, { user: peer });
    // Checked against bob's own account: bob's list digest differs.
    expect(r.status).toBe(409);
    const forged = await statement({ user: zebra.user, list: peer.list, signer: peer.master.seed });
    const r2 = await del(peerToken, forged, { user: peer });
    expect(r2.status).toBe(401);
    expect(r2.body.code).toBe('bad_signature');
    expect(await exists()).toBe(true);
    expect((await t.api.req('GET', `/v1/users/${peer.user}`, { token: peerToken })).status).toBe(200);
  });

  it('refuses a statement outside the time window, and a replayed request signature', async () => {
    const old = await statement({ user: zebra.user, list: zebra.list, signer: zebra.master.seed, timestamp: t.clock.now() - 10 * 60_000 });
    const header = await signatureHeader({ user: zebra, device: primary, timestamp: t.clock.now() }, 'POST', PATH, JSON.stringify(old));
    const send = () => t.api.req('POST', PATH, { token: primaryToken, raw: JSON.stringify(old), headers: { 'blindrelay-signature': header } });
    const r = await send();
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('stale_signature');
    expect(typeof r.body.serverTime).toBe('number');
    // The request signature's nonce was used: the same request again is a replay.
    const again = await send();
    expect(again.status).toBe(401);
    expect(again.body.code).toBe('replayed_signature');
    expect(await exists()).toBe(true);
  });

  it('refuses a statement naming an older device list (signed before the list changed)', async () => {
    const before = await statement({ user: zebra.user, list: zebra.list, signer: zebra.master.seed });
    // The list moves on (re-signed, same devices).
    const list = await nextList(zebra, [primary, companion]);
    expect((await t.api.req('PUT', `/v1/users/${zebra.user}/device-list`, { body: { deviceList: b64(list) } })).status).toBe(204);
    const r = await del(primaryToken, before, { user: zebra, device: primary });
    expect(r.status).toBe(409);
    expect(await exists()).toBe(true);
  });

  it('deletes with the master key; the companion socket is told; the captured request and statement never work again', async () => {
    const ws = await openWs(t.url, { token: companionToken });
    const body = await statement({ user: zebra.user, list: zebra.list, signer: zebra.master.seed });
    const header = await signatureHeader({ user: zebra, device: primary, timestamp: t.clock.now() }, 'POST', PATH, JSON.stringify(body));
    const captured = { token: primaryToken, raw: JSON.stringify(body), headers: { 'blindrelay-signature': header } };
    const r = await t.api.req('POST', PATH, captured);
    expect(r.status, r.text).toBe(204);
    expect((await ws.next((f) => f.type === 'account-deleted')).type).toBe('account-deleted');
    expect((await ws.closed).code).toBe(4003);
    const lookup = await t.api.req('GET', `/v1/users/${zebra.user}`, { token: peerToken });
    expect(lookup.status).toBe(404);
    expect(lookup.body.code).toBe('no_such_user');

    // The captured request as it was: its token died with the account.
    expect((await t.api.req('POST', PATH, captured)).status).toBe(401);
    // The name registered again with the SAME master key (a restore), within the window: the
    // statement names the old device list, so it does not apply.
    const reborn: TestUser = { ...zebra, devices: [await newDevice({ user: zebra.user })], version: 0 };
    await nextList(reborn, reborn.devices, 1);
    await register(t.api, reborn);
    const token = await login(t.api, reborn);
    const replay = await t.api.req('POST', PATH, { token, body: JSON.parse(captured.raw), sign: { user: reborn, timestamp: t.clock.now() } });
    expect(replay.status).toBe(409);
    expect(await exists()).toBe(true);
  });
});
