/**
 * Adversarial inspection of the server's logs (first version): run every flow at debug level with
 * logs captured to a file, then search the file for every secret and payload the clients used,
 * in base64url, base64 and hex. None may appear.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '@blindrelay/protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { account, ackFrame, b64, login, newDevice, nextList, openWs, p, prekeyJson, sendMessage, startTestServer, type TestServer, unb64 } from './helpers.js';

let t: TestServer;
let dir: string;
let logFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'blindrelay-logs-'));
  logFile = join(dir, 'server.log');
  t = await startTestServer({ logLevel: 'debug', logDestination: logFile });
});
afterAll(async () => {
  await t.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

function variants(bytes: Uint8Array): string[] {
  const buf = Buffer.from(bytes);
  return [buf.toString('base64url'), buf.toString('base64').replace(/=+$/, ''), buf.toString('hex')].filter((v) => v.length >= 12);
}

it('logs at debug level contain no token, signature, key, challenge, envelope or message body', async () => {
  const secrets: { what: string; bytes: Uint8Array }[] = [];
  const alice = await account(t.api, 'alice');
  const bob = await account(t.api, 'bob');
  for (const who of [alice, bob]) {
    secrets.push({ what: 'token', bytes: unb64(who.token) });
    secrets.push({ what: 'master key', bytes: who.u.master.publicKey });
    secrets.push({ what: 'device list', bytes: who.u.list.slice(-64) });
    secrets.push({ what: 'signing key', bytes: who.d.keys.signing.publicKey });
    secrets.push({ what: 'spk signature', bytes: who.d.spk.signature });
    secrets.push({ what: 'opk', bytes: who.d.opks[0]!.publicKey });
    secrets.push({ what: 'pq key', bytes: who.d.pqs[0]!.publicKey.slice(0, 64) });
  }

  // Authentication by hand, to keep the challenge and signature.
  const c = await t.api.req('POST', '/v1/auth/challenge', { body: { user: 'alice', deviceId: alice.d.keys.deviceId } });
  const sig = await P.signAuthChallenge(p, alice.d.keys.signing.seed, unb64(c.body.challenge), 'alice', alice.d.keys.deviceId);
  const tok = await t.api.req('POST', '/v1/auth/token', {
    body: { user: 'alice', deviceId: alice.d.keys.deviceId, challenge: c.body.challenge, signature: b64(sig) },
  });
  secrets.push({ what: 'challenge', bytes: unb64(c.body.challenge) }, { what: 'auth signature', bytes: sig }, { what: 'token', bytes: unb64(tok.body.token) });
  // A replay (401) and a bad signature (401) are logged too.
  await t.api.req('POST', '/v1/auth/token', { body: { user: 'alice', deviceId: alice.d.keys.deviceId, challenge: c.body.challenge, signature: b64(sig) } });

  // Messages through HTTP and WebSocket (header and subprotocol authentication).
  const canary = new TextEncoder().encode('CANARY-message-body-7f3e9a1c-do-not-log');
  secrets.push({ what: 'message body', bytes: canary });
  const wsHeader = await openWs(t.url, { token: bob.token });
  const wsProto = await openWs(t.url, { subprotocols: [`blindrelay.token.${alice.token}`] });
  const sent = await sendMessage(t.api, alice.token, 'bob', [{ deviceId: bob.d.keys.deviceId, body: canary }]);
  expect(sent.status).toBe(200);
  const pushed = await wsHeader.next((f) => f.type === 'message');
  wsHeader.send(await ackFrame(bob.u, [pushed.message.id]));
  wsHeader.send(`{"type":"ack","ids":["${b64(canary)}"]}`);
  await wsHeader.next((f) => f.type === 'error');
  await sendMessage(t.api, alice.token, 'bob', [{ deviceId: bob.d.keys.deviceId, body: canary }]);
  await t.api.req('GET', '/v1/messages', { token: bob.token });
  // Failed requests carrying secrets: token in the query string, bad bearer, malformed JSON with the body inside.
  await t.api.req('GET', `/v1/messages?token=${bob.token}`);
  await t.api.req('GET', '/v1/messages', { headers: { authorization: `Bearer ${bob.token}x` } });
  await t.api.req('POST', '/v1/messages', { token: alice.token, raw: `{"to":"bob","messages":[{"deviceId":1,"body":"${b64(canary)}"` });
  await t.api.req('POST', '/v1/messages', { token: alice.token, body: { to: 'bob', messages: [{ deviceId: 1, body: b64(canary) }] } });

  // Bundles, prekeys, device list change with revocation, provisioning.
  await t.api.req('POST', '/v1/users/bob/bundles', { token: alice.token, body: {} });
  const d2 = await newDevice();
  const v2 = await nextList(bob.u, [bob.d, d2]);
  await t.api.req('PUT', '/v1/users/bob/device-list', { body: { deviceList: b64(v2), newDevice: { deviceId: d2.keys.deviceId, prekeys: prekeyJson(d2) } } });
  const token2 = await login(t.api, bob.u, d2);
  secrets.push({ what: 'token', bytes: unb64(token2) }, { what: 'new device key', bytes: d2.keys.identity.publicKey });
  await t.api.req('PUT', '/v1/users/bob/device-list', { body: { deviceList: b64(await nextList(bob.u, [bob.d])) } });
  const envelope = new TextEncoder().encode('CANARY-sealed-envelope-0b8d2c');
  secrets.push({ what: 'envelope', bytes: envelope });
  const ch = await t.api.req('POST', '/v1/provisioning');
  secrets.push({ what: 'channel id', bytes: unb64(ch.body.channelId) });
  await t.api.req('PUT', `/v1/provisioning/${ch.body.channelId}`, { token: alice.token, body: { envelope: b64(envelope) } });
  await t.api.req('GET', `/v1/provisioning/${ch.body.channelId}`);
  wsProto.close();
  wsHeader.close();
  await t.close();

  const log = readFileSync(logFile, 'utf8');
  const lines = log.trim().split('\n');
  expect(lines.length).toBeGreaterThan(30);
  expect(lines.some((l) => JSON.parse(l).level === 'debug')).toBe(true); // debug lines were written
  expect(log).toContain('"route":"/v1/messages"');
  expect(log).toContain('"route":"/v1/users/:user/bundles"');
  for (const s of secrets) for (const v of variants(s.bytes)) expect(log.includes(v), `${s.what} found in the log`).toBe(false);
  expect(log).not.toContain('CANARY');
  expect(log.toLowerCase()).not.toContain('bearer');
  expect(log).not.toContain('blindrelay.token.');
  // User names and device ids are not logged either.
  for (const name of ['"alice"', '"bob"', String(alice.d.keys.deviceId), String(bob.d.keys.deviceId)]) expect(log).not.toContain(name);
  expect(statSync(logFile).mode & 0o777).toBe(0o600);
});
