/**
 * The SDK against a real relay (packages/server, started by relay-fixture.ts), with
 * `fetch` wrappers playing a relay that misbehaves: stale directory answers, replayed and garbage
 * messages, substituted keys and bundles.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '@blindrelay/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64url, toBase64url } from '../src/base64url.js';
import { BlindrelayClient } from '../src/client.js';
import { DIRECTORY_MAX_AGE_MS } from '../src/directory.js';
import { addBaseKey } from '../src/prekeys.js';
import { DigestList, Profile, type ReceivedMessage, sessionKey } from '../src/profile.js';
import type { ReceiveFailure } from '../src/receive.js';
import { labelledDigest } from '../src/seen.js';
import { type Device, deviceApi, environment, linkDevice, newUserAt, p, provenList } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

let dir: string;
let server: TestRelay;
let url: string;
/**
 * Some tests drain a device's one-time prekeys on purpose, as a greedy sender would; the relay's
 * default limits stop exactly that (test/attacks/relay/l3-prekey-drain.test.ts), so these relays allow it.
 */
const drainable = { rateLimits: { bundlesPerPair: false, oneTimePrekeysPerTarget: false } } as const;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-relay-'));
  server = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', processMetrics: false, ...drainable });
  url = server.url;
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const unique = (name: string) => `${name}-${process.pid}-${++counter}`;

const newUser = (name: string, servers: string | string[] = url) => newUserAt(name, servers);

async function inbox(d: Device): Promise<{ messages: ReceivedMessage[]; failures: ReceiveFailure[] }> {
  const messages: ReceivedMessage[] = [];
  const failures: ReceiveFailure[] = [];
  await d.client.receive({ onMessage: (m) => void messages.push(m), onFailure: (f) => void failures.push(f) });
  return { messages, failures };
}
const texts = async (d: Device) => (await inbox(d)).messages.map((m) => m.text);

describe('SDK against the relay', () => {
  it('two users: messages both ways, first contact pinned on receipt, matching safety numbers', async () => {
    const alice = await newUser(unique('alice'));
    const bob = await newUser(unique('bob'));
    const sent = await alice.client.send(bob.client.user, 'hello bob');
    expect(sent).toMatchObject({ to: bob.client.user, devices: 1, ownDevices: 0 });
    const got = await inbox(bob);
    expect(got.failures).toEqual([]);
    expect(got.messages).toEqual([
      expect.objectContaining({ id: sent.id, from: alice.client.user, fromDevice: alice.client.deviceId, to: bob.client.user, text: 'hello bob', sync: false }),
    ]);
    await bob.client.send(alice.client.user, 'hi alice');
    expect(await texts(alice)).toEqual(['hi alice']);
    // Ratchet keeps going both ways.
    for (let i = 0; i < 3; i++) {
      await alice.client.send(bob.client.user, `a${i}`);
      await bob.client.send(alice.client.user, `b${i}`);
    }
    expect(await texts(bob)).toEqual(['a0', 'a1', 'a2']);
    expect(await texts(alice)).toEqual(['b0', 'b1', 'b2']);
    expect(await texts(alice)).toEqual([]); // acked: nothing twice

    const a = await alice.client.safetyNumber(bob.client.user);
    const b = await bob.client.safetyNumber(alice.client.user);
    expect(a.safetyNumber).toMatch(/^\d{60}$/);
    expect(a.safetyNumber).toBe(b.safetyNumber);
    expect(a.verified).toBe(false);
    await expect(alice.client.verify(bob.client.user, '1'.repeat(60))).rejects.toMatchObject({ code: 'ERR_SAFETY_NUMBER_MISMATCH' });
    expect((await alice.client.verify(bob.client.user, b.formatted)).verified).toBe(true);
  });

  it('linked devices: fan-out, own-device sync, revocation', async () => {
    const alice = await newUser(unique('alice'));
    const bob1 = await newUser(unique('bob'));
    const bob2 = await linkDevice(bob1);
    expect(bob2.client.user).toBe(bob1.client.user);
    expect((await bob1.client.devices()).devices.map((d) => d.deviceId).sort()).toEqual([bob1.client.deviceId, bob2.client.deviceId].sort());

    expect((await alice.client.send(bob1.client.user, 'to both')).devices).toBe(2);
    expect(await texts(bob1)).toEqual(['to both']);
    expect(await texts(bob2)).toEqual(['to both']);

    const r = await bob1.client.send(alice.client.user, 'from bob1');
    expect(r).toMatchObject({ devices: 1, ownDevices: 1 });
    expect(await texts(alice)).toEqual(['from bob1']);
    const synced = (await inbox(bob2)).messages;
    expect(synced).toEqual([
      expect.objectContaining({ id: r.id, from: bob1.client.user, fromDevice: bob1.client.deviceId, to: alice.client.user, sync: true }),
    ]);

    // bob2 answers before reading anything else: sessions started from both sides meet.
    await bob2.client.send(alice.client.user, 'from bob2');
    expect(await texts(alice)).toEqual(['from bob2']);
    expect((await inbox(bob1)).messages).toEqual([expect.objectContaining({ text: 'from bob2', sync: true, fromDevice: bob2.client.deviceId })]);

    await bob1.client.revoke(bob2.client.deviceId);
    expect((await alice.client.send(bob1.client.user, 'after revoke')).devices).toBe(1);
    expect(await texts(bob1)).toEqual(['after revoke']);
    await expect(inbox(bob2)).rejects.toMatchObject({ code: 'ERR_NOT_REGISTERED' });
    await expect(bob1.client.revoke(bob1.client.deviceId)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect((await bob1.client.send(alice.client.user, 'x')).ownDevices).toBe(0);
  });

  it('409 mismatched_devices: a stale directory answer is corrected and the send retried', async () => {
    const bob1 = await newUser(unique('bob'));
    const v1 = await bob1.client.devices();
    expect(v1.version).toBe(1);
    // Capture bob's version-1 directory entry, then link a second device.
    const alice = await newUser(unique('alice'));
    let stale: string | undefined;
    alice.hook.fn = async (u, _init, next) => {
      const res = await next();
      if (u.endsWith(`/v1/users/${bob1.client.user}`)) stale = await res.clone().text();
      return res;
    };
    await alice.client.safetyNumber(bob1.client.user); // pins bob, records v1
    const bob2 = await linkDevice(bob1);
    // A fresh device of alice's that the relay (or a cache) serves the old list.
    const carol = await newUser(unique('carol'));
    let posts = 0;
    let served = false;
    carol.hook.fn = async (u, init, next) => {
      if (u.endsWith(`/v1/users/${bob1.client.user}`) && !served && stale) {
        served = true;
        return new Response(stale, { status: 200, headers: { 'content-type': 'application/json' } });
      }
      if (u.endsWith('/v1/messages') && init?.method === 'POST') posts++;
      return next();
    };
    const r = await carol.client.send(bob1.client.user, 'hi both');
    expect(served).toBe(true);
    expect(r.devices).toBe(2);
    expect(posts).toBe(2); // the first answered 409 mismatched_devices
    expect(await texts(bob1)).toEqual(['hi both']);
    expect(await texts(bob2)).toEqual(['hi both']);
  });

  it('a relay that replays messages and injects garbage: each message is delivered once, failures are reported, sessions survive', async () => {
    const alice = await newUser(unique('alice'));
    const bob = await newUser(unique('bob'));
    await alice.client.send(bob.client.user, 'one');
    await alice.client.send(bob.client.user, 'two');
    bob.hook.fn = async (u, init, next) => {
      const res = await next();
      if (!u.includes('/v1/messages?') || init?.method !== 'GET') return res;
      const body = (await res.json()) as { messages: { id: string; body: string }[] };
      const extra = body.messages.flatMap((m) => [
        { ...m, id: toBase64url(p.randomBytes(16)) }, // the same ciphertext again under a new relay id
        { ...m, id: toBase64url(p.randomBytes(16)), body: toBase64url(P.concat(fromBase64url(m.body).subarray(0, 60), p.randomBytes(40))) },
      ]);
      return new Response(JSON.stringify({ messages: [...body.messages, ...extra] }), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const got = await inbox(bob);
    expect(got.messages.map((m) => m.text)).toEqual(['one', 'two']);
    expect(got.failures.length).toBe(2); // the garbage; replays are dropped quietly
    for (const f of got.failures) expect(f.code).toMatch(/^ERR_(DECRYPT|DECODE)$/);
    bob.hook.fn = null;
    // The session is intact both ways.
    await alice.client.send(bob.client.user, 'three');
    expect(await texts(bob)).toEqual(['three']);
    await bob.client.send(alice.client.user, 'four');
    expect(await texts(alice)).toEqual(['four']);
  });

  it('a relay that substitutes a master key: sending is refused; verify with the true number does not accept the fake key', async () => {
    const alice = await newUser(unique('alice'));
    const bob = await newUser(unique('bob'));
    await bob.client.send(alice.client.user, 'pinning alice');
    const aliceView = await alice.client.safetyNumber(bob.client.user);
    // Eve's key and a list for "alice" signed by it.
    const eve = await P.generateMasterKey(p);
    const eveDevice = await P.generateDeviceKeys(p);
    const eveList = await provenList(alice.client.user, eve, 9, [eveDevice]);
    bob.hook.fn = async (u, _init, next) =>
      u.endsWith(`/v1/users/${alice.client.user}`)
        ? new Response(JSON.stringify({ user: alice.client.user, masterKey: toBase64url(eve.publicKey), deviceList: toBase64url(eveList) }), {
            status: 200,
            headers: { 'content-type': 'application/json' },
          })
        : next();
    // Bob's list of alice is older than directoryMaxAgeMs, so he fetches it again (within it he would
    // not: see 'device lists held for directoryMaxAgeMs' below).
    bob.clock.offset += DIRECTORY_MAX_AGE_MS;
    await expect(bob.client.send(alice.client.user, 'to eve?')).rejects.toMatchObject({ code: 'ERR_KEY_CHANGED', name: 'KeyChangedError' });
    const s = await bob.client.safetyNumber(alice.client.user);
    expect(s.keyChanged).toBe(true);
    expect(s.safetyNumber).toBe(aliceView.safetyNumber);
    expect(s.newSafetyNumber).not.toBe(aliceView.safetyNumber);
    // Verifying the number alice reads out confirms the OLD key; the fake one stays refused.
    await bob.client.verify(alice.client.user, aliceView.safetyNumber);
    await expect(bob.client.send(alice.client.user, 'still eve?')).rejects.toMatchObject({ code: 'ERR_KEY_CHANGED' });
    await expect(bob.client.verify(alice.client.user, s.newSafetyNumber as string)).resolves.toBeDefined();
    // ...unless the user verifies the fake number itself, which is their explicit choice. Restore:
    bob.hook.fn = null;
    await expect(bob.client.send(alice.client.user, 'x')).rejects.toMatchObject({ code: 'ERR_KEY_CHANGED' });
    await bob.client.verify(alice.client.user, aliceView.safetyNumber);
    expect((await bob.client.send(alice.client.user, 'back to alice')).devices).toBe(1);
    expect(await texts(alice)).toEqual(['pinning alice', 'back to alice']);
  });

  it('a changed master key (pinned key differs) is refused until --accept-new-key or verify', async () => {
    const alice = await newUser(unique('alice'));
    const bob = await newUser(unique('bob'));
    await bob.client.send(alice.client.user, 'first');
    const pinOther = async () => {
      const profile = await Profile.open(bob.storage, p);
      await profile.transact(async (tx) => {
        const c = await tx.get('contacts');
        const entry = c.contacts.get(alice.client.user);
        if (!entry) throw new Error('no contact');
        c.contacts.set(alice.client.user, { ...entry, masterKey: p.randomBytes(32), deviceList: null, verified: true });
        tx.set('contacts', c);
      });
    };
    await pinOther();
    await expect(bob.client.send(alice.client.user, 'refused')).rejects.toMatchObject({ code: 'ERR_KEY_CHANGED' });
    const r = await bob.client.send(alice.client.user, 'accepted', { acceptNewKey: true });
    expect(r.devices).toBe(1);
    expect((await bob.client.safetyNumber(alice.client.user)).verified).toBe(false);
    await pinOther();
    await expect(bob.client.send(alice.client.user, 'refused again')).rejects.toMatchObject({ code: 'ERR_KEY_CHANGED' });
    const aliceView = await alice.client.safetyNumber(bob.client.user);
    const v = await bob.client.verify(alice.client.user, aliceView.safetyNumber);
    expect(v).toMatchObject({ verified: true, keyChanged: false, safetyNumber: aliceView.safetyNumber });
    await bob.client.send(alice.client.user, 'verified');
    expect(await texts(alice)).toEqual(['first', 'accepted', 'verified']);
  });

  it('a substituted prekey bundle is refused before any session exists', async () => {
    const alice = await newUser(unique('alice'));
    const bob = await newUser(unique('bob'));
    alice.hook.fn = async (u, _init, next) => {
      const res = await next();
      if (!u.endsWith('/bundles')) return res;
      const body = (await res.json()) as { bundles: { bundle: string }[] };
      for (const b of body.bundles) {
        const bytes = fromBase64url(b.bundle);
        bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1; // PQ prekey signature
        b.bundle = toBase64url(bytes);
      }
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    await expect(alice.client.send(bob.client.user, 'x')).rejects.toMatchObject({ code: 'ERR_UNTRUSTED_DEVICE' });
    alice.hook.fn = null;
    await alice.client.send(bob.client.user, 'y');
    expect(await texts(bob)).toEqual(['y']);
  });

  it('fails over to the next server URL and replenishes prekeys when they run low', async () => {
    const dead = 'http://127.0.0.1:9'; // discard port: connection refused
    const alice = await newUser(unique('alice'), [dead, url]);
    const bob = await newUser(unique('bob'));
    // Drain bob's one-time prekeys as a greedy sender would.
    const api = await deviceApi(alice, url);
    for (let i = 0; i < 95; i++) await api.bundles(bob.client.user);
    expect((await (await deviceApi(bob, url)).preKeyStatus()).oneTimePreKeys).toBe(5);
    await alice.client.send(bob.client.user, 'hi');
    expect(await texts(bob)).toEqual(['hi']);
    const status = await (await deviceApi(bob, url)).preKeyStatus();
    expect(status.oneTimePreKeys).toBeGreaterThanOrEqual(90);
    expect(status.pqPreKeys).toBeGreaterThanOrEqual(90);
  });

  it('listens on the WebSocket, reconnects after the relay restarts, and answers prekeys-low pushes', async () => {
    const dataDir = join(dir, 'restart');
    let relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir, logLevel: 'silent', processMetrics: false, ...drainable });
    const port = relay.port;
    const alice = await newUser(unique('alice'), relay.url);
    const bob = await newUser(unique('bob'), relay.url);
    const got: string[] = [];
    const controller = new AbortController();
    const statuses: string[] = [];
    const listening = bob.client.listen({
      signal: controller.signal,
      minDelayMs: 50,
      maxDelayMs: 200,
      onMessage: (m) => void got.push(m.text),
      onStatus: (s) => void statuses.push(s.state),
    });
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
      expect(cond()).toBe(true);
    };
    await until(() => statuses.includes('open'));
    await alice.client.send(bob.client.user, 'pushed');
    await until(() => got.includes('pushed'));
    await relay.close();
    await until(() => statuses.includes('closed'));
    relay = await startRelay({ host: '127.0.0.1', port, dataDir, logLevel: 'silent', processMetrics: false, ...drainable });
    await alice.client.send(bob.client.user, 'after restart');
    await until(() => got.includes('after restart'));
    // Draining bob's one-time prekeys makes the relay push `prekeys-low`; the listener tops them up.
    const bobApi = await deviceApi(bob, relay.url);
    const drainer = await deviceApi(alice, relay.url);
    for (let i = 0; i < 95; i++) await drainer.bundles(bob.client.user);
    let status = await bobApi.preKeyStatus();
    for (let i = 0; i < 200 && status.oneTimePreKeys < 90; i++) {
      await new Promise((r) => setTimeout(r, 25));
      status = await bobApi.preKeyStatus();
    }
    expect(status.oneTimePreKeys).toBeGreaterThanOrEqual(90);
    expect(status.pqPreKeys).toBeGreaterThanOrEqual(90);
    controller.abort();
    await listening;
    await relay.close();
    expect(got).toEqual(['pushed', 'after restart']);
  });
});

/** A relay of the calling describe block's own (account creation is rate limited per IP); its URL once started. */
function ownRelay(name: string): () => string {
  let relay: TestRelay | undefined;
  beforeAll(async () => {
    relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, name), logLevel: 'silent', processMetrics: false });
  });
  afterAll(async () => {
    await relay?.close();
  });
  return () => (relay as TestRelay).url;
}

describe('SDK against the relay: the first send', () => {
  const url3 = ownRelay('third');

  it("a first send's overlapped lookups keep their checks: a forged list is refused, a forged own entry fails only the sync copy", async () => {
    const alice = await newUser(unique('alice'), url3());
    const bob = await newUser(unique('bob'), url3());
    const posts: string[] = [];
    const forge = (target: string, forged: (body: { user: string; masterKey: string; deviceList: string }) => Promise<void>) => {
      alice.hook.fn = async (u, init, next) => {
        if (u.endsWith('/v1/messages') && init?.method === 'POST') posts.push(u);
        const res = await next();
        if (!u.endsWith(`/v1/users/${target}`) || (init?.method ?? 'GET') !== 'GET') return res;
        const body = (await res.json()) as { user: string; masterKey: string; deviceList: string };
        await forged(body);
        return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
      };
    };
    // Bob's list with its signature broken: refused, though our own entry and the send mark were asked in parallel.
    forge(bob.client.user, async (body) => {
      const bytes = fromBase64url(body.deviceList);
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
      body.deviceList = toBase64url(bytes);
    });
    await expect(alice.client.send(bob.client.user, 'to a forged list?')).rejects.toThrow();
    expect(posts).toEqual([]);
    // Our own entry (asked for at the start) replaced by a list for "alice" signed by another key:
    // the message to bob goes out, the sync copy is refused as before.
    const eve = await P.generateMasterKey(p);
    const eveList = await provenList(alice.client.user, eve, 9, [await P.generateDeviceKeys(p)]);
    forge(alice.client.user, async (body) => {
      body.masterKey = toBase64url(eve.publicKey);
      body.deviceList = toBase64url(eveList);
    });
    const r = await alice.client.send(bob.client.user, 'to bob');
    expect(r).toMatchObject({ devices: 1, ownDevices: 0 });
    expect(r.syncError).toBeInstanceOf(Error);
    alice.hook.fn = null;
    expect(await texts(bob)).toEqual(['to bob']);
    // The forged entry was not adopted: alice's own list still verifies against her key.
    expect((await alice.client.send(bob.client.user, 'again')).syncError).toBeUndefined();
  });

  it('the lookups made side by side share one login', async () => {
    const alice = await newUser(unique('alice'), url3());
    const bob = await newUser(unique('bob'), url3());
    alice.client.close();
    const reopened = await BlindrelayClient.open(alice.env);
    const logins: string[] = [];
    alice.hook.fn = async (u, _init, next) => {
      if (u.includes('/v1/auth/')) logins.push(u.slice(u.indexOf('/v1/auth/')));
      return next();
    };
    await reopened.send(bob.client.user, 'hello');
    expect(logins).toEqual(['/v1/auth/challenge', '/v1/auth/token']);
    expect(await texts(bob)).toEqual(['hello']);
    reopened.close();
  });
});

describe('SDK against the relay: device lists held for directoryMaxAgeMs', () => {
  const url2 = ownRelay('second');

  it('sends with the device lists verified in the last directoryMaxAgeMs; a 409 refreshes them at once', async () => {
    const alice = await newUser(unique('alice'), url2());
    const bob1 = await newUser(unique('bob'), url2());
    const calls: string[] = [];
    // Requests to the relay in flight at once (the first send's lookups overlap: send.ts).
    let inFlight = 0;
    let mostInFlight = 0;
    alice.hook.fn = async (u, init, next) => {
      if (u.includes('/v1/users/') && (init?.method ?? 'GET') === 'GET') calls.push(`GET ${u.slice(u.indexOf('/v1/users/') + 10)}`);
      if (u.endsWith('/v1/messages') && init?.method === 'POST') calls.push('POST');
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      try {
        return await next();
      } finally {
        inFlight--;
      }
    };
    const [bob, me] = [`GET ${bob1.client.user}`, `GET ${alice.client.user}`];
    await alice.client.send(bob1.client.user, 'first');
    // Our own entry (for the sync copy) is asked for at the start, with bob's and the relay's send mark.
    expect(calls).toEqual([me, bob, 'POST']);
    expect(mostInFlight).toBeGreaterThanOrEqual(3);
    calls.length = 0;
    for (let i = 0; i < 2; i++) await alice.client.send(bob1.client.user, `more ${i}`);
    expect(calls).toEqual(['POST', 'POST']); // no directory fetch, no signature check
    expect(await texts(bob1)).toEqual(['first', 'more 0', 'more 1']);

    // Both link a device: the 409 to the POST for bob makes alice fetch his list at once; her own
    // is fetched because she approved a device (no sync POST yet that could answer 409).
    const bob2 = await linkDevice(bob1);
    const alice2 = await linkDevice(alice);
    calls.length = 0;
    expect(await alice.client.send(bob1.client.user, 'to all')).toMatchObject({ devices: 2, ownDevices: 1 });
    expect(calls).toEqual(['POST', bob, 'POST', me, 'POST']);
    calls.length = 0;
    await alice.client.send(bob1.client.user, 'cached');
    expect(calls).toEqual(['POST', 'POST']); // no fetch at all
    // A third device of alice's: the 409 to the sync POST makes alice fetch her own list.
    const alice3 = await linkDevice(alice);
    calls.length = 0;
    expect(await alice.client.send(bob1.client.user, 'to three')).toMatchObject({ devices: 2, ownDevices: 2 });
    expect(calls).toEqual(['POST', 'POST', me, 'POST']);
    expect(await texts(bob2)).toEqual(['to all', 'cached', 'to three']);
    expect((await inbox(alice2)).messages.map((m) => [m.text, m.sync])).toEqual([
      ['to all', true],
      ['cached', true],
      ['to three', true],
    ]);
    expect((await inbox(alice3)).messages.map((m) => m.text)).toEqual(['to three']);

    // Once the lists are older than directoryMaxAgeMs, they are fetched (and verified) again.
    alice.clock.offset += DIRECTORY_MAX_AGE_MS;
    calls.length = 0;
    await alice.client.send(bob1.client.user, 'later');
    expect(calls).toEqual([me, bob, 'POST', 'POST']);
  });

  it('a device linked by another process of the same profile gets sync copies at once', async () => {
    const alice = await newUser(unique('alice'), url2());
    const bob = await newUser(unique('bob'), url2());
    await alice.client.send(bob.client.user, 'before'); // alice holds her own list: only this device
    // A second client on the same profile (as `blindrelay device approve` next to a running app).
    const other = await BlindrelayClient.open(alice.env);
    const e = environment();
    let approval: Promise<unknown> = Promise.resolve();
    const alice2 = await BlindrelayClient.link(e.env, {
      servers: url2(),
      user: alice.client.user,
      onCode: (code, sas) => {
        approval = other.approve(code, { sas });
      },
    });
    await approval;
    expect(await alice.client.send(bob.client.user, 'after')).toMatchObject({ devices: 1, ownDevices: 1 });
    const got: ReceivedMessage[] = [];
    await alice2.receive({ onMessage: (m) => void got.push(m) });
    expect(got.map((m) => [m.text, m.sync])).toEqual([['after', true]]);
  });

  it('directoryMaxAgeMs 0 fetches both lists on every send', async () => {
    const e = environment();
    const alice = await BlindrelayClient.createAccount({ ...e.env, directoryMaxAgeMs: 0 }, { servers: url2(), user: unique('alice') });
    const bob = await newUser(unique('bob'), url2());
    let gets = 0;
    e.hook.fn = async (u, init, next) => {
      if (u.includes('/v1/users/') && (init?.method ?? 'GET') === 'GET') gets++;
      return next();
    };
    for (let i = 0; i < 3; i++) await alice.send(bob.client.user, `m${i}`);
    expect(gets).toBe(6); // bob's list and alice's own, each time
    expect(await texts(bob)).toEqual(['m0', 'm1', 'm2']);
  });

  it('a substituted master key: within directoryMaxAgeMs messages still go to the verified devices only; a 409 or the age limit reveals it', async () => {
    const alice = await newUser(unique('alice'), url2());
    const bob = await newUser(unique('bob'), url2());
    await bob.client.send(alice.client.user, 'pinning alice');
    const eve = await P.generateMasterKey(p);
    const eveDevice = await P.generateDeviceKeys(p);
    const eveList = await provenList(alice.client.user, eve, 9, [eveDevice]);
    const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    let conflict = false;
    let gets = 0;
    bob.hook.fn = async (u, init, next) => {
      if (u.endsWith(`/v1/users/${alice.client.user}`)) {
        gets++;
        return json(200, { user: alice.client.user, masterKey: toBase64url(eve.publicKey), deviceList: toBase64url(eveList) });
      }
      if (conflict && u.endsWith('/v1/messages') && init?.method === 'POST') {
        return json(409, { code: 'mismatched_devices', message: 'devices changed', missing: [eveDevice.deviceId], stale: [] });
      }
      return next();
    };
    // The list bob verified a moment ago is still used: the message is for alice's true device.
    expect((await bob.client.send(alice.client.user, 'cached')).devices).toBe(1);
    expect(gets).toBe(0);
    expect(await texts(alice)).toEqual(['pinning alice', 'cached']);
    // A relay that answers 409 makes bob fetch the list again, which reveals the new key.
    conflict = true;
    await expect(bob.client.send(alice.client.user, 'after 409')).rejects.toMatchObject({ code: 'ERR_KEY_CHANGED' });
    expect(gets).toBe(1);
    // Sticky: refused from now on, fetched every time, until verified or accepted.
    conflict = false;
    await expect(bob.client.send(alice.client.user, 'again')).rejects.toMatchObject({ code: 'ERR_KEY_CHANGED' });
    expect(await texts(alice)).toEqual([]);

    // Without a 409, the age limit: carol pins alice, then the relay substitutes the key.
    const carol = await newUser(unique('carol'), url2());
    await carol.client.send(alice.client.user, 'from carol');
    carol.hook.fn = bob.hook.fn;
    carol.clock.offset += DIRECTORY_MAX_AGE_MS - 1000;
    expect((await carol.client.send(alice.client.user, 'still cached')).devices).toBe(1);
    carol.clock.offset += 1000;
    await expect(carol.client.send(alice.client.user, 'expired')).rejects.toMatchObject({ code: 'ERR_KEY_CHANGED' });
    expect((await texts(alice)).sort()).toEqual(['from carol', 'still cached']);
  });

  it('a refreshed list that rolls back is refused', async () => {
    const bob1 = await newUser(unique('bob'), url2());
    const alice = await newUser(unique('alice'), url2());
    let stale: string | undefined;
    alice.hook.fn = async (u, _init, next) => {
      const res = await next();
      if (u.endsWith(`/v1/users/${bob1.client.user}`) && !stale) stale = await res.clone().text();
      return res;
    };
    await alice.client.send(bob1.client.user, 'v1'); // records bob's list version 1
    await linkDevice(bob1);
    alice.clock.offset += DIRECTORY_MAX_AGE_MS;
    expect((await alice.client.send(bob1.client.user, 'v2')).devices).toBe(2); // fetches version 2
    alice.hook.fn = async (u, _init, next) =>
      u.endsWith(`/v1/users/${bob1.client.user}`) ? new Response(stale, { status: 200, headers: { 'content-type': 'application/json' } }) : next();
    alice.clock.offset += DIRECTORY_MAX_AGE_MS;
    await expect(alice.client.send(bob1.client.user, 'rolled back')).rejects.toMatchObject({ code: 'ERR_ROLLBACK' });
  });
});

describe('SDK against the relay: prekey rotation, replay cache, parked messages, sender lists', () => {
  const DAY = 24 * 3600_000;
  const profileOf = (d: Device) => Profile.open(d.storage, p);
  // A relay of its own: the shared one's per-IP account limit is used up by the tests above.
  let own: TestRelay;
  let url: string;
  beforeAll(async () => {
    own = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'hardening'), logLevel: 'silent', processMetrics: false, ...drainable });
    url = own.url;
  });
  afterAll(async () => {
    await own?.close();
  });
  const newUser = (name: string) => newUserAt(name, url);

  it('rotates the signed and last-resort prekeys after 7 days, keeps replaced ones 14 days for in-flight messages, then deletes them', async () => {
    const alice = await newUser(unique('alice'));
    const bob = await newUser(unique('bob'));
    const bobApi = await deviceApi(bob, url);
    const first = await bobApi.preKeyStatus();
    // A first message built on the current prekeys, still queued when they are replaced.
    await alice.client.send(bob.client.user, 'in flight');
    bob.clock.offset += DAY;
    expect(await bob.client.rotatePreKeys()).toBe(false); // not due yet
    bob.clock.offset += 7 * DAY;
    expect(await texts(bob)).toEqual(['in flight']);
    const second = await bobApi.preKeyStatus();
    expect(second.signedPreKeyId).not.toBe(first.signedPreKeyId);
    expect(second.lastResortPqPreKeyId).not.toBe(first.lastResortPqPreKeyId);
    let keys = await (await profileOf(bob)).read('prekeys');
    expect(keys.signed.map((k) => k.id)).toEqual([first.signedPreKeyId, second.signedPreKeyId]);
    expect(keys.pq.filter((k) => k.lastResort).map((k) => k.id)).toEqual([first.lastResortPqPreKeyId, second.lastResortPqPreKeyId]);
    // New senders get the new keys.
    const carol = await newUser(unique('carol'));
    carol.clock.offset = bob.clock.offset;
    await carol.client.send(bob.client.user, 'new keys');
    expect(await texts(bob)).toEqual(['new keys']);
    // 15 days later (a receive checks too): the keys replaced 15 days ago are gone, with their base keys.
    // (Not a send to alice, as before device lists had an issue time: only bob's clock moves here,
    // so alice's list, signed at the relay's time, is 23 days old to him and refused as stale.)
    bob.clock.offset += 15 * DAY;
    await texts(bob);
    keys = await (await profileOf(bob)).read('prekeys');
    const signedIds = keys.signed.map((k) => k.id);
    expect(signedIds).not.toContain(first.signedPreKeyId);
    expect(keys.pq.some((k) => k.id === first.lastResortPqPreKeyId)).toBe(false);
    expect(signedIds).toContain((await bobApi.preKeyStatus()).signedPreKeyId);
    const groups = [...(await (await profileOf(bob)).read('basekeys')).groups.keys()];
    for (const g of groups) expect(signedIds).toContain(Number(g.split(':')[0]));
  });

  it('a replayed first message on the last-resort prekey is refused after a flood of more than 2000 new sessions', async () => {
    const alice = await newUser(unique('alice'));
    const bob = await newUser(unique('bob'));
    // No one-time prekeys left: the first message uses only the signed and the last-resort keys.
    const api = await deviceApi(alice, url);
    for (let i = 0; i < 100; i++) await api.bundles(bob.client.user);
    const status = await (await deviceApi(bob, url)).preKeyStatus();
    expect(status.oneTimePreKeys).toBe(0);
    let captured: { deviceId: number; body: string }[] = [];
    alice.hook.fn = async (u, init, next) => {
      if (u.endsWith('/v1/messages') && init?.method === 'POST') captured = (JSON.parse(String(init.body)) as { messages: typeof captured }).messages;
      return next();
    };
    await alice.client.send(bob.client.user, 'original');
    alice.hook.fn = null;
    expect(await texts(bob)).toEqual(['original']);
    // The flood (simulated in the profile: 2500 more accepted sessions on the same prekeys), and what
    // it implies: the ciphertext digests are long gone from `seen`, the session with alice replaced.
    const profile = await profileOf(bob);
    await profile.transact(async (tx) => {
      const b = await tx.get('basekeys');
      expect([...b.groups.keys()]).toContain(`${status.signedPreKeyId}:${status.lastResortPqPreKeyId}`);
      for (let i = 0; i < 2500; i++)
        addBaseKey(b, status.signedPreKeyId as number, status.lastResortPqPreKeyId as number, await labelledDigest(p, 'baseKey', `flood-${i}`));
      tx.set('basekeys', b);
      const seen = { id: p.randomBytes(16), digests: new DigestList() };
      tx.set('seen', seen);
      const recent = await tx.get('recent');
      recent.hot = new DigestList();
      recent.seenId = seen.id;
      tx.set('recent', recent);
      tx.setSession(sessionKey(alice.client.user, alice.client.deviceId), undefined);
    });
    profile.close();
    await api.sendMessages(
      bob.client.user,
      captured.map((m) => ({ deviceId: m.deviceId, body: fromBase64url(m.body) })),
    );
    const got = await inbox(bob);
    expect(got.messages).toEqual([]);
    expect(got.failures.map((f) => f.code)).toEqual(['ERR_DECRYPT']);
  });

  it('a message from a changed master key is parked (not lost, not seen) and read once the new key is verified', async () => {
    const alice = await newUser(unique('alice'));
    const bob = await newUser(unique('bob'));
    await bob.client.safetyNumber(alice.client.user); // pins alice's key, no session yet
    // Bob's pinned key for alice is another one (as after a real key change on alice's side).
    const profile = await profileOf(bob);
    await profile.transact(async (tx) => {
      const c = await tx.get('contacts');
      const entry = c.contacts.get(alice.client.user);
      if (!entry) throw new Error('no contact');
      c.contacts.set(alice.client.user, { ...entry, masterKey: p.randomBytes(32), deviceList: null, verified: true });
      tx.set('contacts', c);
    });
    profile.close();
    const sent = await alice.client.send(bob.client.user, 'second');
    const got = await inbox(bob);
    expect(got.messages).toEqual([]);
    expect(got.failures).toEqual([expect.objectContaining({ code: 'ERR_MESSAGE_PARKED', reason: 'ERR_KEY_CHANGED', parked: true, from: alice.client.user })]);
    expect(await bob.client.parked()).toEqual([expect.objectContaining({ from: alice.client.user, reason: 'ERR_KEY_CHANGED' })]);
    // Acked on the relay: nothing comes again, and nothing is reported twice.
    expect(await inbox(bob)).toEqual({ messages: [], failures: [] });
    // Verifying alice's (new to bob) number reads it.
    const aliceView = await alice.client.safetyNumber(bob.client.user);
    await bob.client.verify(alice.client.user, aliceView.safetyNumber);
    expect(await bob.client.parked()).toEqual([]);
    expect((await inbox(bob)).messages).toEqual([expect.objectContaining({ id: sent.id, text: 'second' })]);
  });

  it('a sender device list older than 10 minutes is fetched again before a message is accepted', async () => {
    const alice = await newUser(unique('alice'));
    const bob = await newUser(unique('bob'));
    await alice.client.send(bob.client.user, 'one');
    expect(await texts(bob)).toEqual(['one']);
    // From now on the relay serves another master key for alice (a substitution or a real change).
    const eve = await P.generateMasterKey(p);
    const eveDevice = await P.generateDeviceKeys(p);
    const eveList = await provenList(alice.client.user, eve, 9, [eveDevice]);
    let fetches = 0;
    bob.hook.fn = async (u, _init, next) => {
      // Bob looks alice up by name, or (holding her delivery token) through the sealed directory (API.md §11).
      if (!u.endsWith(`/v1/users/${alice.client.user}`) && !u.endsWith('/v1/sealed/directory')) return next();
      fetches++;
      return new Response(JSON.stringify({ user: alice.client.user, masterKey: toBase64url(eve.publicKey), deviceList: toBase64url(eveList) }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    };
    // Within 10 minutes the list verified at the first message is used as it is.
    bob.clock.offset += 5 * 60_000;
    await alice.client.send(bob.client.user, 'two');
    expect(await texts(bob)).toEqual(['two']);
    expect(fetches).toBe(0);
    // Older: fetched again, the changed key noticed, the message parked.
    bob.clock.offset += 6 * 60_000;
    await alice.client.send(bob.client.user, 'three');
    const got = await inbox(bob);
    expect(fetches).toBe(1);
    expect(got.messages).toEqual([]);
    expect(got.failures).toEqual([expect.objectContaining({ code: 'ERR_MESSAGE_PARKED', reason: 'ERR_KEY_CHANGED' })]);
    // The relay serves alice's real key again and bob confirms it: the parked message is read.
    bob.hook.fn = null;
    await bob.client.verify(alice.client.user, (await alice.client.safetyNumber(bob.client.user)).safetyNumber);
    expect(await texts(bob)).toEqual(['three']);
  });
});

describe('a relay that is briefly unavailable', () => {
  it('a single-URL client waits out a 503 with a short Retry-After and retries; a long one fails at once', async () => {
    const alice = await newUser(unique('alice'));
    const bob = await newUser(unique('bob'));
    let refused = 0;
    alice.hook.fn = async (u, init, next) => {
      if (u.endsWith('/v1/messages') && init?.method === 'POST' && refused === 0) {
        refused++;
        return new Response(JSON.stringify({ code: 'unavailable', message: 'database unavailable' }), { status: 503, headers: { 'retry-after': '1' } });
      }
      return next();
    };
    const started = Date.now();
    await alice.client.send(bob.client.user, 'after a 503');
    expect(refused).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(await texts(bob)).toEqual(['after a 503']);
    alice.hook.fn = async (u, init, next) =>
      u.endsWith('/v1/messages') && init?.method === 'POST' ? new Response('{}', { status: 503, headers: { 'retry-after': '120' } }) : next();
    await expect(alice.client.send(bob.client.user, 'never')).rejects.toMatchObject({ code: 'ERR_UNREACHABLE' });
  });
});
