// Our side of the side-by-side protocol benchmark, measured exactly like the libsignal peer
// (peers/libsignal.ts): sessions are persisted as serialized bytes after every call and
// deserialized before the next, prekeys are looked up from a store, bundles arrive as bytes.
import { randomBytes } from 'node:crypto';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import * as P from '../../packages/protocol/test/internals.js';
import { rate } from './timing.js';

const p = createNodePrimitives();
export const name = 'blindrelay';

interface Device {
  user: string;
  master: P.SigningKeyPair;
  keys: P.DeviceKeys;
  certificate: Uint8Array;
  entry: P.DeviceEntry;
}

async function device(user: string): Promise<Device> {
  const master = await P.generateMasterKey(p);
  const keys = await P.generateDeviceKeys(p);
  const certificate = await P.issueDeviceCertificate(p, user, master, keys);
  return { user, master, keys, certificate, entry: { deviceId: keys.deviceId, signingKey: keys.signing.publicKey, identityKey: keys.identity.publicKey } };
}

/** Bob's prekey store: private records by id; one-time keys deleted when used. */
class PreKeyStore implements P.PreKeyLookup {
  readonly spk = new Map<number, P.SignedPreKeyRecord>();
  readonly opk = new Map<number, P.OneTimePreKeyRecord>();
  readonly pq = new Map<number, P.PqPreKeyRecord>();
  signedPreKey(id: number) {
    return this.spk.get(id);
  }
  oneTimePreKey(id: number) {
    return this.opk.get(id);
  }
  pqPreKey(id: number) {
    return this.pq.get(id);
  }
}

/** Untimed: `n` bundles (as wire bytes) sharing one signed prekey, each with fresh one-time keys. */
async function makeBundles(bob: Device, store: PreKeyStore, firstId: number, n: number): Promise<Uint8Array[]> {
  const spk = await P.generateSignedPreKey(p, bob.user, bob.keys, 1);
  store.spk.set(spk.id, spk);
  const out: Uint8Array[] = [];
  for (let id = firstId; id < firstId + n; id++) {
    const [opk] = (await P.generateOneTimePreKeys(p, id, 1)) as [P.OneTimePreKeyRecord];
    const pq = await P.generatePqPreKey(p, bob.user, bob.keys, id, false);
    store.opk.set(id, opk);
    store.pq.set(id, pq);
    out.push(P.encodePreKeyBundle(P.bundleFor(bob.user, bob.keys, spk, pq, opk)));
  }
  return out;
}

function check(got: Uint8Array, want: Uint8Array, full: boolean): void {
  if (got.length !== want.length || (full && !P.equal(got, want))) throw new Error('blindrelay: decrypted plaintext mismatch');
}

/** A session store holding serialized state: load → operate → save on every call. */
export class SessionStore {
  private readonly sessions = new Map<string, Uint8Array>();
  save(peer: string, state: P.SessionState): void {
    this.sessions.set(peer, P.serializeSession(state));
  }
  load(peer: string): P.SessionState {
    const bytes = this.sessions.get(peer);
    if (!bytes) throw new Error(`no session with ${peer}`);
    return P.deserializeSession(bytes);
  }
  async encrypt(peer: string, plaintext: Uint8Array): Promise<Uint8Array> {
    const r = await P.encryptMessage(p, this.load(peer), plaintext);
    this.save(peer, r.state);
    return r.message;
  }
  async decrypt(peer: string, message: Uint8Array): Promise<Uint8Array> {
    const r = await P.decryptMessage(p, this.load(peer), message);
    this.save(peer, r.state);
    return r.plaintext;
  }
}

async function setupOnce(
  alice: Device,
  aliceStore: SessionStore,
  bob: Device,
  bobPreKeys: PreKeyStore,
  bobStore: SessionStore,
  bundleBytes: Uint8Array,
  peer: string,
  pt: Uint8Array,
  full: boolean,
) {
  // Alice: process the bundle (decode, verify both prekey signatures against Bob's device entry), start the session, send.
  const bundle = P.decodePreKeyBundle(bundleBytes);
  await P.verifyPreKeyBundle(p, bundle, bob.entry, bob.user);
  aliceStore.save(peer, await P.initiateSession(p, { identity: alice.keys.identity, certificate: alice.certificate }, bundle));
  const message = await aliceStore.encrypt(peer, pt);
  if (P.messageType(message) !== P.MESSAGE_TYPE_PREKEY) throw new Error('expected a prekey message');
  // Bob: verify Alice's device certificate, run PQXDH, decrypt, delete the used one-time keys, save.
  const accepted = await P.acceptPreKeyMessage(
    p,
    { identity: bob.keys.identity, certificate: bob.certificate, preKeys: bobPreKeys },
    { user: alice.user, masterKey: alice.master.publicKey },
    message,
  );
  if (accepted.usedOneTimePreKeyId !== undefined) bobPreKeys.opk.delete(accepted.usedOneTimePreKeyId);
  if (accepted.usedPqPreKeyId !== undefined) bobPreKeys.pq.delete(accepted.usedPqPreKeyId);
  bobStore.save(peer, accepted.state);
  check(accepted.plaintext, pt, full);
}

export interface Session {
  alice: SessionStore;
  bob: SessionStore;
}

/** One established session (alice → bob), for the groups bench's pairwise fan-out. */
export async function establish(): Promise<Session> {
  const alice = await device('alice');
  const bob = await device('bob');
  const bobPreKeys = new PreKeyStore();
  const [bundle] = (await makeBundles(bob, bobPreKeys, 1, 1)) as [Uint8Array];
  const s = { alice: new SessionStore(), bob: new SessionStore() };
  const pt = new Uint8Array(randomBytes(100));
  await setupOnce(alice, s.alice, bob, bobPreKeys, s.bob, bundle, 'peer', pt, true);
  check(await s.alice.decrypt('peer', await s.bob.encrypt('peer', pt)), pt, true);
  return s;
}

export async function setupsPerSecond(durationMs: number): Promise<number> {
  const BATCH = 256;
  const alice = await device('alice');
  const bob = await device('bob');
  const pt = new Uint8Array(randomBytes(100));
  let aliceStore = new SessionStore();
  let bobStore = new SessionStore();
  let bobPreKeys = new PreKeyStore();
  let bundles: Uint8Array[] = [];
  let next = 0;
  let serial = 0;
  let timedMs = 0;
  let timedN = 0;
  let warm = 0;
  for (;;) {
    if (next === bundles.length) {
      bobPreKeys = new PreKeyStore();
      aliceStore = new SessionStore();
      bobStore = new SessionStore();
      bundles = await makeBundles(bob, bobPreKeys, 1, BATCH);
      next = 0;
    }
    const id = serial++;
    const bundle = bundles[next++] as Uint8Array;
    const t0 = performance.now();
    await setupOnce(alice, aliceStore, bob, bobPreKeys, bobStore, bundle, `peer-${id}`, pt, id === 0);
    const dt = performance.now() - t0;
    if (warm < 20) {
      warm++;
      continue;
    }
    timedMs += dt;
    timedN++;
    if (timedMs >= durationMs && timedN >= 5) return (timedN * 1000) / timedMs;
  }
}

export async function onewayPerSecond(plaintextBytes: number, durationMs: number): Promise<number> {
  const { alice, bob } = await establish();
  const pt = new Uint8Array(randomBytes(plaintextBytes));
  return rate(durationMs, async (i) => {
    const message = await alice.encrypt('peer', pt);
    if (P.messageType(message) !== P.MESSAGE_TYPE_RATCHET) throw new Error('expected a ratchet message');
    check(await bob.decrypt('peer', message), pt, i === 0);
  });
}

export async function pingpongPerSecond(plaintextBytes: number, durationMs: number): Promise<number> {
  const { alice, bob } = await establish();
  const pt = new Uint8Array(randomBytes(plaintextBytes));
  return rate(durationMs, async (i) => {
    const [from, to] = i % 2 === 0 ? [alice, bob] : [bob, alice];
    const message = await from.encrypt('peer', pt);
    if (P.messageType(message) !== P.MESSAGE_TYPE_RATCHET) throw new Error('expected a ratchet message');
    check(await to.decrypt('peer', message), pt, i < 2);
  });
}

export async function wireBytesPerMessage(plaintextBytes: number): Promise<number> {
  const { alice, bob } = await establish();
  const pt = new Uint8Array(randomBytes(plaintextBytes));
  const message = await alice.encrypt('peer', pt);
  check(await bob.decrypt('peer', message), pt, true);
  return message.length;
}

/** One real ratchet message (a RatchetMessage of an established session) of `plaintextBytes` (the sealed bench's payload). */
export async function ratchetMessage(plaintextBytes: number): Promise<Uint8Array> {
  const { alice, bob } = await establish();
  const pt = new Uint8Array(randomBytes(plaintextBytes));
  const message = await alice.encrypt('peer', pt);
  check(await bob.decrypt('peer', message), pt, true);
  return message;
}
