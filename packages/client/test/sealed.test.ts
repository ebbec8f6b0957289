/**
 * Sealed sender in the SDK against a real relay (docs/PROTOCOL.md §20, docs/API.md §11): the
 * first message goes on the authenticated path and carries the sender's delivery token; replies
 * then go sealed (no bearer token, no signature, no sender in the request) and are received with
 * the verified inner sender; a rotated-out or revoked token falls back to the authenticated path;
 * a blocked user's messages are dropped; a sealed envelope naming another sender is refused.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '@blindrelay/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Profile, type ReceivedMessage } from '../src/profile.js';
import type { ReceiveFailure } from '../src/receive.js';
import { type Device, newUserAt, p } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

let dir: string;
let server: TestRelay;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-sealed-'));
  server = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', processMetrics: false });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const accountOf = async (d: Device) => (await Profile.open(d.storage, p)).read('account');

let counter = 0;
const unique = (name: string) => `${name}-${process.pid}-${++counter}`;

/** Records the sends a device makes: path, and the headers/body the relay sees. */
function watchSends(d: Device) {
  const seen: { path: string; authorization: string | null; signature: string | null; body: string }[] = [];
  d.hook.fn = async (url, init, next) => {
    const path = new URL(url).pathname;
    if (init?.method === 'POST' && (path === '/v1/messages' || path === '/v1/sealed/messages')) {
      const h = new Headers(init.headers);
      seen.push({ path, authorization: h.get('authorization'), signature: h.get('blindrelay-signature'), body: String(init.body) });
    }
    return next();
  };
  return seen;
}

async function inbox(d: Device) {
  const messages: ReceivedMessage[] = [];
  const failures: ReceiveFailure[] = [];
  await d.client.receive({ onMessage: (m) => void messages.push(m), onFailure: (f) => void failures.push(f) });
  return { messages, failures };
}

describe('sealed sender in the SDK', () => {
  it('first contact authenticated with the token inside; replies sealed, with the verified sender shown', async () => {
    const alice = await newUserAt(unique('alice'), server.url);
    const bob = await newUserAt(unique('bob'), server.url);
    const aSends = watchSends(alice);
    const bSends = watchSends(bob);
    await alice.client.send(bob.client.user, 'hello bob');
    expect(aSends.map((s) => s.path)).toEqual(['/v1/messages']); // no token of Bob's yet: first contact
    const got = await inbox(bob);
    expect(got.failures).toEqual([]);
    expect(got.messages.map((m) => [m.from, m.text])).toEqual([[alice.client.user, 'hello bob']]);

    await bob.client.send(alice.client.user, 'hi alice');
    expect(bSends.map((s) => s.path)).toEqual(['/v1/sealed/messages']);
    const req = bSends[0] as (typeof bSends)[number];
    expect(req.authorization).toBeNull();
    expect(req.signature).toBeNull();
    expect(req.body).not.toContain(bob.client.user);
    const atAlice = await inbox(alice);
    expect(atAlice.failures).toEqual([]);
    expect(atAlice.messages).toEqual([expect.objectContaining({ from: bob.client.user, fromDevice: bob.client.deviceId, text: 'hi alice' })]);

    // Bob's reply carried his token: Alice's next sends are sealed too.
    for (const t of ['a1', 'a2']) await alice.client.send(bob.client.user, t);
    expect(aSends.map((s) => s.path)).toEqual(['/v1/messages', '/v1/sealed/messages', '/v1/sealed/messages']);
    expect((await inbox(bob)).messages.map((m) => [m.from, m.text])).toEqual([
      [alice.client.user, 'a1'],
      [alice.client.user, 'a2'],
    ]);
  });

  it('a revoked token: the relay refuses it, the SDK falls back to the authenticated path (and learns the new token)', async () => {
    const alice = await newUserAt(unique('alice'), server.url);
    const bob = await newUserAt(unique('bob'), server.url);
    await alice.client.send(bob.client.user, 'one');
    await inbox(bob);
    await bob.client.send(alice.client.user, 'two');
    await inbox(alice);
    await alice.client.rotateDeliveryToken({ revoke: true });
    const bSends = watchSends(bob);
    await bob.client.send(alice.client.user, 'three');
    expect(bSends.map((s) => s.path)).toEqual(['/v1/sealed/messages', '/v1/messages']);
    expect((await inbox(alice)).messages.map((m) => m.text)).toEqual(['three']);
    await alice.client.send(bob.client.user, 'new token inside');
    await inbox(bob);
    await bob.client.send(alice.client.user, 'four');
    expect(bSends.map((s) => s.path).slice(2)).toEqual(['/v1/sealed/messages']);
    expect((await inbox(alice)).messages.map((m) => m.text)).toEqual(['four']);
  });

  it('blocking: the blocked user falls back to the authenticated path and their messages are dropped', async () => {
    const alice = await newUserAt(unique('alice'), server.url);
    const mallory = await newUserAt(unique('mallory'), server.url);
    await alice.client.send(mallory.client.user, 'hi');
    await inbox(mallory);
    await alice.client.blockUser(mallory.client.user);
    const mSends = watchSends(mallory);
    await mallory.client.send(alice.client.user, 'spam');
    expect(mSends.map((s) => s.path)).toEqual(['/v1/sealed/messages', '/v1/messages']);
    const got = await inbox(alice);
    expect(got.messages).toEqual([]);
    await alice.client.unblockUser(mallory.client.user);
  });

  it("a sealed envelope with another sender's certificate around a stranger's ratchet message is refused, nothing shown", async () => {
    const alice = await newUserAt(unique('alice'), server.url);
    const bob = await newUserAt(unique('bob'), server.url);
    const mallory = await newUserAt(unique('mallory'), server.url);
    // Bob gets tokens from both; Mallory swaps Alice's certificate into her own sealed sends.
    await bob.client.send(alice.client.user, 'hi alice');
    await bob.client.send(mallory.client.user, 'hi mallory');
    await inbox(alice);
    await inbox(mallory);
    await alice.client.send(bob.client.user, 'from alice');
    await mallory.client.send(bob.client.user, 'from mallory');
    await inbox(bob);
    const aliceCert = (await accountOf(alice)).certificate;
    const bobAccount = await accountOf(bob);
    let forgedCount = 0;
    mallory.hook.fn = async (url, init, next) => {
      if (new URL(url).pathname !== '/v1/sealed/messages') return next();
      const body = JSON.parse(String(init?.body));
      const self = { user: bob.client.user, deviceId: bobAccount.deviceId, identityKey: bobAccount.identityPublic };
      for (const m of body.messages) {
        // Open as Bob would (the test holds Bob's key), keep Mallory's ratchet message, re-seal it under Alice's certificate.
        const opened = await P.openEnvelope(p, { ...self, identityPrivate: bobAccount.identityPrivate }, new Uint8Array(Buffer.from(m.body, 'base64url')));
        const forged = await P.sealEnvelope(p, self, aliceCert, opened.message);
        m.body = Buffer.from(forged).toString('base64url');
        forgedCount++;
      }
      return fetch(url, { ...init, body: JSON.stringify(body) });
    };
    await mallory.client.send(bob.client.user, 'I am alice');
    expect(forgedCount).toBe(1);
    const got = await inbox(bob);
    expect(got.messages).toEqual([]);
    expect(got.failures).toHaveLength(1);
    expect(got.failures[0]?.code).toBe('ERR_DECRYPT');
  });
});
