/**
 * The SDK against a real relay (packages/server, started in-process as a test fixture), with
 * `fetch` wrappers playing a relay that misbehaves: stale directory answers, replayed and garbage
 * messages, substituted keys and bundles.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '@blindrelay/protocol';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { type RunningServer, startServer } from '@blindrelay/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayApi } from '../src/api.js';
import { fromBase64url, toBase64url } from '../src/base64url.js';
import { BlindrelayClient, type ClientEnvironment } from '../src/client.js';
import { nodeSocketFactory } from '../src/node.js';
import { Profile, type ReceivedMessage } from '../src/profile.js';
import type { ReceiveFailure } from '../src/receive.js';
import { MemoryStorage } from '../src/storage/memory.js';

const p = createNodePrimitives();
let dir: string;
let server: RunningServer;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-relay-'));
  server = await startServer({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', processMetrics: false });
  url = server.url;
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const unique = (name: string) => `${name}-${process.pid}-${++counter}`;

type FetchHook = (url: string, init: RequestInit | undefined, next: () => Promise<Response>) => Promise<Response>;
interface Device {
  client: BlindrelayClient;
  env: ClientEnvironment;
  storage: MemoryStorage;
  /** Replace to intercept this device's HTTP calls. */
  hook: { fn: FetchHook | null };
}

function environment(storage = new MemoryStorage()) {
  const hook: Device['hook'] = { fn: null };
  const wrapped: typeof fetch = (input, init) => {
    const next = () => fetch(input, init);
    return hook.fn ? hook.fn(String(input), init, next) : next();
  };
  const env: ClientEnvironment = { primitives: p, storage, fetch: wrapped, socket: nodeSocketFactory };
  return { env, storage, hook };
}

async function newUser(name: string, servers: string | string[] = url): Promise<Device> {
  const e = environment();
  const client = await BlindrelayClient.createAccount(e.env, { servers, user: name, deviceName: 'first' });
  return { client, ...e };
}

async function linkDevice(existing: Device): Promise<Device> {
  const e = environment();
  let approval: Promise<unknown> = Promise.resolve();
  const client = await BlindrelayClient.link(e.env, {
    servers: url,
    user: existing.client.user,
    onCode: (code) => {
      approval = existing.client.approve(code);
    },
  });
  await approval;
  return { client, ...e };
}

/** A bare API client with a device's credentials (to act as that device outside the SDK). */
async function deviceApi(d: Device, server: string): Promise<RelayApi> {
  const a = await (await Profile.open(d.storage, p)).read('account');
  return new RelayApi({
    servers: [server],
    credentials: { user: a.user, deviceId: a.deviceId, signChallenge: (c) => P.signAuthChallenge(p, a.signingSeed, c, a.user, a.deviceId) },
  });
}

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
    const eveList = await P.signDeviceList(p, alice.client.user, eve, 9, [
      { deviceId: eveDevice.deviceId, signingKey: eveDevice.signing.publicKey, identityKey: eveDevice.identity.publicKey },
    ]);
    bob.hook.fn = async (u, _init, next) =>
      u.endsWith(`/v1/users/${alice.client.user}`)
        ? new Response(JSON.stringify({ user: alice.client.user, masterKey: toBase64url(eve.publicKey), deviceList: toBase64url(eveList) }), {
            status: 200,
            headers: { 'content-type': 'application/json' },
          })
        : next();
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
    let relay = await startServer({ host: '127.0.0.1', port: 0, dataDir, logLevel: 'silent', processMetrics: false });
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
    relay = await startServer({ host: '127.0.0.1', port, dataDir, logLevel: 'silent', processMetrics: false });
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
