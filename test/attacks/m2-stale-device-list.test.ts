/**
 * Review finding M2, security-2026-12.md: device lists had no freshness. The rollback check ran
 * only against a list already held, so on first contact a relay could serve any list the master
 * key ever signed (one still naming a stolen, since revoked, device), and it could freeze a
 * contact's list forever by serving the same bytes again: Bob revokes his stolen laptop, and
 * Alice, whose relay keeps serving her the old list, goes on encrypting to it indefinitely. Peers
 * never told each other which list version they held, so nobody noticed.
 *
 * The attack, through the SDK against a real relay, with a fetch interceptor playing the hostile
 * relay for Alice: (1) an old list of Bob's, validly signed by his master key, served on first
 * contact; (2) Bob revokes a device and Alice's view of his list is frozen at the version before,
 * the relay also delivering to the revoked device what Alice encrypts for it.
 *
 * What stops it now (docs/PROTOCOL.md §5.1, packages/client/src/envelope.ts, receive.ts):
 * - a device list carries its issue time; a client refuses one issued more than
 *   DEVICE_LIST_MAX_AGE_MS (14 days) ago (ERR_STALE_DEVICE_LIST), also when reusing a list it holds,
 *   and a user's own devices re-sign theirs every 7 days: an old list is refused on first contact,
 *   and a frozen one at most 14 days after it was signed, so a revoked device stops receiving
 *   within the bound even from a peer that never saw the revocation;
 * - every envelope carries the version of the sender's own list: Alice, holding an older one,
 *   fetches Bob's list again, and when the relay still serves the older one the message is flagged
 *   (`staleSenderList: { claimed, held }`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlindrelayClient } from '../../packages/client/src/client.js';
import { Profile, type ReceivedMessage } from '../../packages/client/src/profile.js';
import { type Device, environment, linkDevice, newUserAt, p } from '../../packages/client/test/devices.js';
import { startRelay, type TestRelay } from '../../packages/client/test/relay-fixture.js';
import * as P from '../../packages/protocol/src/index.js';

const DAY = 86_400_000;

let dir: string;
let relay: TestRelay;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-m2-'));
  relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'relay'), logLevel: 'silent', processMetrics: false });
});
afterAll(async () => {
  await relay?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const unique = (name: string) => `${name}-${process.pid}-${++counter}`;
const accountOf = async (d: Device) => (await Profile.open(d.storage, p)).read('account');
/** The device list `d` holds for `user` (its profile's contact record). */
async function heldList(d: Device, user: string): Promise<P.DeviceList> {
  const bytes = (await (await Profile.open(d.storage, p)).read('contacts')).contacts.get(user)?.deviceList;
  if (!bytes) throw new Error(`no list of ${user}`);
  return P.decodeDeviceList(bytes);
}
/** `d`'s relay answers GET /v1/users/`user` with `list` (and the true master key). */
function serveList(d: Device, user: string, masterKey: Uint8Array, list: () => Uint8Array) {
  d.hook.fn = async (u, init, next) => {
    if ((init?.method ?? 'GET') === 'GET' && new URL(u).pathname === `/v1/users/${user}`) {
      return Response.json({ user, masterKey: Buffer.from(masterKey).toString('base64url'), deviceList: Buffer.from(list()).toString('base64url') });
    }
    return next();
  };
}
async function inbox(d: Device): Promise<ReceivedMessage[]> {
  const out: ReceivedMessage[] = [];
  await d.client.receive({ onMessage: (m) => void out.push(m) });
  return out;
}

describe('M2: stale and frozen device lists', () => {
  it('an old list on first contact is refused once older than the bound; one within it is used', async () => {
    const alice = await newUserAt(unique('alice'), relay.url);
    const bob = await newUserAt(unique('bob'), relay.url);
    const b = await accountOf(bob);
    const current = await heldList(bob, b.user);
    // Bob's master key once signed this list, naming his device and a laptop stolen since.
    const stolen = await P.generateDeviceKeys(p);
    const stolenEntry = await P.proveDeviceEntry(p, b.user, b.masterKey, P.deviceEntryOf(stolen), stolen.signing.seed);
    const master = { seed: b.masterSeed as Uint8Array, publicKey: b.masterKey };
    const old = await P.signDeviceList(p, b.user, master, { version: current.version, issuedAt: Date.now() - 20 * DAY }, [...current.devices, stolenEntry]);
    serveList(alice, b.user, b.masterKey, () => old);
    await expect(alice.client.send(b.user, 'to the stolen laptop?')).rejects.toMatchObject({ code: 'ERR_STALE_DEVICE_LIST' });
    // Within the bound the same master key's list is accepted (13 days old, naming Bob's device only).
    const recent = await P.signDeviceList(p, b.user, master, { version: current.version, issuedAt: Date.now() - 13 * DAY }, current.devices);
    serveList(alice, b.user, b.masterKey, () => recent);
    expect(await alice.client.send(b.user, 'hello bob')).toMatchObject({ devices: 1 });
    alice.hook.fn = null;
    expect((await inbox(bob)).map((m) => m.text)).toEqual(['hello bob']);
  });

  it('a frozen list: the sender’s list version is noticed, and the revoked device stops receiving within the bound', async () => {
    const alice = await newUserAt(unique('alice'), relay.url);
    const bob = await newUserAt(unique('bob'), relay.url);
    const laptop = await linkDevice(bob); // to be stolen and revoked
    const b = await accountOf(bob);
    const l = await accountOf(laptop);
    await alice.client.send(b.user, 'to both of bob’s devices');
    const frozen = (await heldList(alice, b.user)).encoded;
    expect(P.decodeDeviceList(frozen).devices.map((d) => d.deviceId)).toContain(l.deviceId);
    expect((await inbox(bob)).map((m) => m.text)).toEqual(['to both of bob’s devices']);

    // Bob revokes the laptop; Alice's relay keeps serving her the list from before, and delivers
    // to the laptop what she encrypts for it (the real relay no longer has it: it is only forwarded
    // the other copies, while the laptop's is captured here, as a relay handing it to the thief).
    await bob.client.revoke(l.deviceId);
    const revoked = await heldList(bob, b.user);
    expect(revoked.version).toBeGreaterThan(P.decodeDeviceList(frozen).version);
    const toLaptop: string[] = [];
    alice.hook.fn = async (u, init, next) => {
      const path = new URL(u).pathname;
      if ((init?.method ?? 'GET') === 'GET' && path === `/v1/users/${b.user}`) {
        return Response.json({
          user: b.user,
          masterKey: Buffer.from(b.masterKey).toString('base64url'),
          deviceList: Buffer.from(frozen).toString('base64url'),
        });
      }
      if (init?.method === 'POST' && path === '/v1/messages') {
        const body = JSON.parse(String(init.body)) as { to: string; messages: { deviceId: number; body: string }[] };
        if (body.to === b.user) {
          for (const m of body.messages) if (m.deviceId === l.deviceId) toLaptop.push(m.body);
          const rest = { ...body, messages: body.messages.filter((m) => m.deviceId !== l.deviceId) };
          return fetch(u, { ...init, body: JSON.stringify(rest) });
        }
      }
      return next();
    };

    // Bob writes from his phone: his envelope says his list is at the new version.
    await bob.client.send(alice.client.user, 'I revoked my stolen laptop');
    alice.clock.offset += 61_000; // past directoryMaxAgeMs: Alice's next send fetches Bob's list again
    const got = await inbox(alice);
    expect(got.map((m) => [m.text, m.staleSenderList])).toEqual([
      ['I revoked my stolen laptop', { claimed: revoked.version, held: P.decodeDeviceList(frozen).version }],
    ]);

    // Within the bound Alice still encrypts to the laptop (what the freeze buys the relay) ...
    await alice.client.send(b.user, 'within the bound');
    expect(toLaptop).toHaveLength(1);
    expect((await inbox(bob)).map((m) => m.text)).toEqual(['within the bound']);
    // ... and once the frozen list is older than the bound, she refuses to send on it at all.
    alice.clock.offset += P.DEVICE_LIST_MAX_AGE_MS;
    await expect(alice.client.send(b.user, 'after the bound')).rejects.toMatchObject({ code: 'ERR_STALE_DEVICE_LIST' });
    expect(toLaptop).toHaveLength(1);
  });

  it("a user's own devices re-sign their list before peers would refuse it", async () => {
    // An account whose list was signed 8 days ago (its device's clock set back while registering:
    // the relay accepts a list up to the bound old), then used today.
    const e = environment();
    e.clock.offset = -8 * DAY;
    const client = await BlindrelayClient.createAccount(e.env, { servers: relay.url, user: unique('carol') });
    e.clock.offset = 0;
    const carol: Device = { client, ...e };
    const c = await accountOf(carol);
    const before = await heldList(carol, c.user);
    expect(Date.now() - before.issuedAt).toBeGreaterThan(P.DEVICE_LIST_REFRESH_MS);
    await inbox(carol); // receive: re-signs the list older than half the bound
    const after = await heldList(carol, c.user);
    expect(after.version).toBe(before.version + 1);
    expect(Math.abs(Date.now() - after.issuedAt)).toBeLessThan(60_000);
    expect(after.devices.map((d) => d.deviceId)).toEqual(before.devices.map((d) => d.deviceId));
    // Peers get the new one from the relay, and a message reaches carol.
    const dave = await newUserAt(unique('dave'), relay.url);
    await dave.client.send(c.user, 'fresh');
    expect((await heldList(dave, c.user)).version).toBe(after.version);
    expect((await inbox(carol)).map((m) => m.text)).toEqual(['fresh']);
  });
});
