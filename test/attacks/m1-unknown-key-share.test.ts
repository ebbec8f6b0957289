/**
 * Review finding M1, security-2026-12.md (poc/uks.mts): unknown-key-share. A user's master key
 * could list another user's device keys (nothing proved the device agreed), prekey signatures did
 * not name their user or device, and no user or device id entered the session keys. So Mallory
 * (with the relay) signed a list for "mallory" whose device 7 carried Alice's device keys; the
 * relay served Bob a bundle "for mallory" built from Alice's published prekeys (both signatures
 * verified); Bob's PreKeyMessage to "mallory" was accepted by Alice's device as a message from Bob
 * to her, and Alice's replies could be relabelled as Mallory's.
 *
 * The attack, replayed with the real protocol functions and then through the SDK against a real
 * relay whose answers a fetch interceptor rewrites, as the colluding relay would.
 *
 * What stops it now (docs/PROTOCOL.md §3–§7):
 * - every device-list entry carries the device's own proof of possession (its signing key over
 *   user, device id, master key and its keys): Mallory's list naming Alice's device is refused
 *   (ERR_UNPROVEN_DEVICE without a proof; ERR_BAD_SIGNATURE with Alice's proof, made for "alice"),
 *   by the SDK and by the relay's device-list upload;
 * - prekey signatures name their user and device: Alice's prekeys do not verify as mallory's;
 * - the PQXDH KDF binds both users' names and device ids (§4.10): even a client that skipped every
 *   check derives, for "mallory", a key Alice's device never derives, so nothing decrypts, and a
 *   reply of Alice's relabelled as Mallory's does not decrypt in a session with "mallory" either;
 * - the envelope names its recipient, and a receiver refuses one meant for another user.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope } from '../../packages/client/src/envelope.js';
import { Profile } from '../../packages/client/src/profile.js';
import type { ReceiveFailure } from '../../packages/client/src/receive.js';
import { currentSession, putSession } from '../../packages/client/src/sessions.js';
import { type Device, deviceApi, newUserAt, p } from '../../packages/client/test/devices.js';
import { startRelay, type TestRelay } from '../../packages/client/test/relay-fixture.js';
import * as P from '../../packages/protocol/src/index.js';
import { SIGNATURE_LABELS, signWithLabel } from '../../packages/protocol/src/signature.js';

const NOW = Date.now();

/** A format-3 list encoded by hand (docs/PROTOCOL.md §5), so an attacker's list can carry whatever proof it likes. */
async function craftedList(user: string, master: P.SigningKeyPair, version: number, entries: readonly P.DeviceEntry[]): Promise<Uint8Array> {
  const u = P.utf8(user);
  const parts: Uint8Array[] = [Uint8Array.of(3, u.length), u, master.publicKey, u64(version), u64(NOW), Uint8Array.of(0, entries.length)];
  for (const e of entries) {
    parts.push(u32(e.deviceId), e.signingKey, e.identityKey, e.fileKey ? P.concat(Uint8Array.of(1), e.fileKey) : Uint8Array.of(0));
    parts.push(e.proof ? P.concat(Uint8Array.of(1), e.proof) : Uint8Array.of(0));
  }
  const body = P.concat(...parts);
  return P.concat(body, await signWithLabel(p, master.seed, SIGNATURE_LABELS.deviceList, body));
}
const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
const u64 = (v: number) => P.concat(u32(Math.floor(v / 2 ** 32)), u32(v >>> 0));

describe('M1: unknown-key-share, with the protocol functions (poc/uks.mts)', () => {
  const trustOf = (user: string, master: P.SigningKeyPair) => ({ user, masterKey: master.publicKey });
  let masterA: P.SigningKeyPair;
  let masterB: P.SigningKeyPair;
  let masterM: P.SigningKeyPair;
  let devA: P.DeviceKeys;
  let devB: P.DeviceKeys;
  let certA: Uint8Array;
  let certB: Uint8Array;
  let spk: P.SignedPreKeyRecord;
  let pq: P.PqPreKeyRecord;
  let aliceEntry: P.DeviceEntry;
  const lookup: P.PreKeyLookup = {
    signedPreKey: (id) => (id === spk.id ? spk : undefined),
    oneTimePreKey: () => undefined,
    pqPreKey: (id) => (id === pq.id ? pq : undefined),
  };
  beforeAll(async () => {
    [masterA, masterB, masterM] = [await P.generateMasterKey(p), await P.generateMasterKey(p), await P.generateMasterKey(p)];
    [devA, devB] = [await P.generateDeviceKeys(p, 7), await P.generateDeviceKeys(p, 9)];
    certA = await P.issueDeviceCertificate(p, 'alice', masterA, devA);
    certB = await P.issueDeviceCertificate(p, 'bob', masterB, devB);
    // Alice publishes prekeys (anyone can fetch them through /bundles).
    spk = await P.generateSignedPreKey(p, 'alice', devA, 1);
    pq = await P.generatePqPreKey(p, 'alice', devA, 5, true);
    aliceEntry = await P.proveDeviceEntry(p, 'alice', masterA.publicKey, P.deviceEntryOf(devA), devA.signing.seed);
  });

  it("Mallory's list naming Alice's device keys is refused for lack of a proof of possession", async () => {
    const bare = P.deviceEntryOf(devA);
    const noProof = await P.signDeviceList(p, 'mallory', masterM, { version: 1, issuedAt: NOW }, [bare]);
    await expect(P.verifyDeviceList(p, noProof, trustOf('mallory', masterM), { now: NOW })).rejects.toMatchObject({ code: 'ERR_UNPROVEN_DEVICE' });
    // Alice's genuine proof is for "alice" under Alice's master key: it does not verify in Mallory's list.
    await expect(P.signDeviceList(p, 'mallory', masterM, { version: 1, issuedAt: NOW }, [aliceEntry])).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
    const withAlicesProof = await craftedList('mallory', masterM, 1, [aliceEntry]);
    await expect(P.verifyDeviceList(p, withAlicesProof, trustOf('mallory', masterM), { now: NOW })).rejects.toMatchObject({ code: 'ERR_BAD_SIGNATURE' });
    // Alice's own list, the control, verifies.
    await P.verifyDeviceList(p, await P.signDeviceList(p, 'alice', masterA, { version: 1, issuedAt: NOW }, [aliceEntry]), trustOf('alice', masterA), {
      now: NOW,
    });
  });

  it("a bundle relabelled 'mallory' from Alice's prekeys does not verify, even against an entry taken on trust", async () => {
    const bundle = P.decodePreKeyBundle(P.encodePreKeyBundle(P.bundleFor('mallory', devA, spk, pq)));
    await expect(P.verifyPreKeyBundle(p, bundle, P.deviceEntryOf(devA), 'mallory')).rejects.toMatchObject({ code: 'ERR_BAD_SIGNATURE' });
    // The same prekeys in Alice's own bundle verify.
    await P.verifyPreKeyBundle(p, P.bundleFor('alice', devA, spk, pq), aliceEntry, 'alice');
  });

  it("even skipping every check, Bob's message to 'mallory' does not decrypt on Alice's device, and Alice's reply is not Mallory's", async () => {
    // Bob (a client that skipped the list and bundle checks) starts a session with "mallory"'s device 7.
    const relabelled = P.decodePreKeyBundle(P.encodePreKeyBundle(P.bundleFor('mallory', devA, spk, pq)));
    const toMallory = await P.initiateSession(p, { identity: devB.identity, certificate: certB }, relabelled);
    const sent = await P.encryptMessage(p, toMallory, P.utf8('secret meant for mallory'));
    // The relay delivers it to Alice's device 7 with from = bob (uks.mts: "Alice decrypted").
    const aliceLocal = { identity: devA.identity, certificate: certA, preKeys: lookup };
    await expect(P.acceptPreKeyMessage(p, aliceLocal, trustOf('bob', masterB), sent.message)).rejects.toBeInstanceOf(P.DecryptError);

    // Alice and Bob also have their genuine session (Bob → Alice); Alice replies in it.
    const toAlice = await P.initiateSession(p, { identity: devB.identity, certificate: certB }, P.bundleFor('alice', devA, spk, pq));
    const hello = await P.encryptMessage(p, toAlice, P.utf8('hello alice'));
    const accepted = await P.acceptPreKeyMessage(p, aliceLocal, trustOf('bob', masterB), hello.message);
    expect(P.fromUtf8(accepted.plaintext)).toBe('hello alice');
    const reply = await P.encryptMessage(p, accepted.state, P.utf8('a reply from alice'));
    // The relay relabels the reply from = mallory/7: Bob's session with "mallory" cannot open it ...
    await expect(P.decryptMessage(p, sent.state, reply.message)).rejects.toBeInstanceOf(P.DecryptError);
    // ... only his session with alice can.
    expect(P.fromUtf8((await P.decryptMessage(p, hello.state, reply.message)).plaintext)).toBe('a reply from alice');
  });
});

describe('M1: through the SDK against a real relay that relabels', () => {
  let dir: string;
  let relay: TestRelay;
  let alice: Device;
  let bob: Device;
  let mallory: Device;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'br-m1-'));
    relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'relay'), logLevel: 'silent', processMetrics: false });
    alice = await newUserAt(`alice-${process.pid}`, relay.url);
    bob = await newUserAt(`bob-${process.pid}`, relay.url);
    mallory = await newUserAt(`mallory-${process.pid}`, relay.url);
  });
  afterAll(async () => {
    await relay?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const accountOf = async (d: Device) => (await Profile.open(d.storage, p)).read('account');

  /** Bob's relay: mallory's directory entry is `list`; bundles "for mallory" are alice's, relabelled. */
  function relabellingRelay(list: Uint8Array, masterKey: Uint8Array) {
    const m = mallory.client.user;
    bob.hook.fn = async (u, init, next) => {
      const path = new URL(u).pathname;
      if (path === `/v1/users/${m}`)
        return Response.json({ user: m, masterKey: Buffer.from(masterKey).toString('base64url'), deviceList: Buffer.from(list).toString('base64url') });
      if (path === `/v1/users/${m}/bundles`) {
        const real = (await (await fetch(u.replace(`/users/${m}/`, `/users/${alice.client.user}/`), init)).json()) as {
          bundles: { deviceId: number; bundle: string }[];
        };
        const bundles = real.bundles.map((b) => {
          const decoded = P.decodePreKeyBundle(new Uint8Array(Buffer.from(b.bundle, 'base64url')));
          return { deviceId: b.deviceId, bundle: Buffer.from(P.encodePreKeyBundle({ ...decoded, user: m })).toString('base64url') };
        });
        return Response.json({ ...real, user: m, bundles });
      }
      return next();
    };
  }

  it("Bob's send to 'mallory' over Alice's device keys is refused; Alice receives nothing", async () => {
    const a = await accountOf(alice);
    const m = await accountOf(mallory);
    const masterM = { seed: m.masterSeed as Uint8Array, publicKey: m.masterKey };
    const aliceKeys = { deviceId: a.deviceId, signingKey: a.signingKey, identityKey: a.identityPublic };
    // Without a proof for Alice's keys.
    relabellingRelay(await P.signDeviceList(p, m.user, masterM, { version: 9, issuedAt: Date.now() }, [aliceKeys]), m.masterKey);
    await expect(bob.client.send(m.user, 'secret meant for mallory')).rejects.toMatchObject({ code: 'ERR_UNPROVEN_DEVICE' });
    // With the proof Alice's device made for her own list, copied.
    const aliceList = P.decodeDeviceList(
      (await Profile.open(alice.storage, p).then((pr) => pr.read('contacts'))).contacts.get(a.user)?.deviceList as Uint8Array,
    );
    const alicesEntry = aliceList.devices.find((d) => d.deviceId === a.deviceId) as P.DeviceEntry;
    expect(alicesEntry.proof).toBeDefined();
    relabellingRelay(await craftedList(m.user, masterM, 10, [alicesEntry]), m.masterKey);
    await expect(bob.client.send(m.user, 'secret meant for mallory')).rejects.toMatchObject({ code: 'ERR_BAD_SIGNATURE' });
    bob.hook.fn = null;
    const failures: ReceiveFailure[] = [];
    const got: string[] = [];
    await alice.client.receive({ onMessage: (x) => void got.push(x.text), onFailure: (f) => void failures.push(f) });
    expect([got, failures]).toEqual([[], []]);
  });

  it("the relay itself refuses Mallory's list naming Alice's device without its proof", async () => {
    const a = await accountOf(alice);
    const m = await accountOf(mallory);
    const held = await mallory.client.devices();
    const own = P.decodeDeviceList((await Profile.open(mallory.storage, p).then((pr) => pr.read('contacts'))).contacts.get(m.user)?.deviceList as Uint8Array);
    const list = await P.signDeviceList(
      p,
      m.user,
      { seed: m.masterSeed as Uint8Array, publicKey: m.masterKey },
      { version: held.version + 1, issuedAt: Date.now() },
      [...own.devices, { deviceId: a.deviceId === m.deviceId ? a.deviceId + 1 : a.deviceId, signingKey: a.signingKey, identityKey: a.identityPublic }],
    );
    const r = await fetch(`${relay.url}/v1/users/${m.user}/device-list`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ deviceList: Buffer.from(list).toString('base64url') }),
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { message: string }).message).toBe('deviceList: a device new to the relay must carry its proof of possession');
    expect((await mallory.client.devices()).version).toBe(held.version);
  });

  it('a message whose envelope names another recipient is refused by the receiver (the stop-gap)', async () => {
    await bob.client.send(alice.client.user, 'hello alice');
    const got: string[] = [];
    await alice.client.receive({ onMessage: (x) => void got.push(x.text) });
    expect(got).toEqual(['hello alice']);
    // Bob's device encrypts, in its genuine session with Alice's device, an envelope meant for
    // "mallory" — what a relay delivering a message to the wrong user would have to achieve.
    const a = await accountOf(alice);
    const profile = await Profile.open(bob.storage, p);
    const body = await profile.transact(async (tx) => {
      const s = (await currentSession(tx, a.user, a.deviceId)) as P.SessionState;
      const envelope = encodeEnvelope({
        type: 'message',
        id: 'AAAAAAAAAAAAAAAAAAAAAA',
        sentAt: Date.now(),
        text: 'meant for mallory',
        recipient: mallory.client.user,
        listVersion: 1,
      });
      const r = await P.encryptMessage(p, s, envelope);
      await putSession(tx, a.user, a.deviceId, r.state);
      return r.message;
    });
    profile.close();
    await (await deviceApi(bob, relay.url)).sendMessages(a.user, [{ deviceId: a.deviceId, body }]);
    const failures: ReceiveFailure[] = [];
    const later: string[] = [];
    await alice.client.receive({ onMessage: (x) => void later.push(x.text), onFailure: (f) => void failures.push(f) });
    expect(later).toEqual([]);
    expect(failures).toEqual([expect.objectContaining({ code: 'ERR_BAD_ENVELOPE', message: expect.stringContaining(`meant for ${mallory.client.user}`) })]);
  });
});
