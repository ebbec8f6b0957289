// libsignal peer for the side-by-side protocol benchmark.
//
// Uses only the public API of @signalapp/libsignal-client. Every store keeps
// serialized bytes and deserializes on every read, so each protocol call pays
// the full "load record -> ratchet -> save record" cost, as ours does.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  CiphertextMessageType,
  type Direction,
  IdentityChange,
  IdentityKeyPair,
  IdentityKeyStore,
  KEMKeyPair,
  KyberPreKeyRecord,
  KyberPreKeyStore,
  PreKeyBundle,
  PreKeyRecord,
  PreKeySignalMessage,
  PreKeyStore,
  PrivateKey,
  ProtocolAddress,
  PublicKey,
  processPreKeyBundle,
  SenderCertificate,
  ServerCertificate,
  SessionRecord,
  SessionStore,
  SignalMessage,
  SignedPreKeyRecord,
  SignedPreKeyStore,
  sealedSenderDecryptToUsmc,
  sealedSenderEncrypt,
  signalDecrypt,
  signalDecryptPreKey,
  signalEncrypt,
  UnidentifiedSenderMessageContent,
} from '@signalapp/libsignal-client';
import { rate } from './timing.js';

const pkg = createRequire(import.meta.url)('@signalapp/libsignal-client/package.json') as {
  version: string;
};
export const peerName = `@signalapp/libsignal-client@${pkg.version}`;

// ---------------------------------------------------------------- stores

class MemSessionStore extends SessionStore {
  readonly sessions = new Map<string, Uint8Array<ArrayBuffer>>();
  async saveSession(name: ProtocolAddress, record: SessionRecord): Promise<void> {
    this.sessions.set(name.toString(), record.serialize());
  }
  async getSession(name: ProtocolAddress): Promise<SessionRecord | null> {
    const bytes = this.sessions.get(name.toString());
    return bytes ? SessionRecord.deserialize(bytes) : null;
  }
  async getExistingSessions(addresses: ProtocolAddress[]): Promise<SessionRecord[]> {
    return addresses.map((a) => {
      const bytes = this.sessions.get(a.toString());
      if (!bytes) throw new Error(`no session for ${a.toString()}`);
      return SessionRecord.deserialize(bytes);
    });
  }
}

class MemIdentityStore extends IdentityKeyStore {
  readonly identities = new Map<string, Uint8Array<ArrayBuffer>>();
  constructor(
    readonly pair: IdentityKeyPair,
    readonly registrationId: number,
  ) {
    super();
  }
  async getIdentityKey(): Promise<PrivateKey> {
    return this.pair.privateKey;
  }
  // The base class recomputes the public key (a scalar multiplication) on every
  // call; a real app keeps the pair, so return it directly.
  override async getIdentityKeyPair(): Promise<IdentityKeyPair> {
    return this.pair;
  }
  async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }
  async saveIdentity(name: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
    const prev = this.identities.get(name.toString());
    const bytes = key.serialize();
    this.identities.set(name.toString(), bytes);
    return prev && !Buffer.from(prev).equals(bytes) ? IdentityChange.ReplacedExisting : IdentityChange.NewOrUnchanged;
  }
  async isTrustedIdentity(name: ProtocolAddress, key: PublicKey, _d: Direction): Promise<boolean> {
    const prev = this.identities.get(name.toString()); // trust on first use
    return !prev || PublicKey.deserialize(prev).equals(key);
  }
  async getIdentity(name: ProtocolAddress): Promise<PublicKey | null> {
    const bytes = this.identities.get(name.toString());
    return bytes ? PublicKey.deserialize(bytes) : null;
  }
}

class MemPreKeyStore extends PreKeyStore {
  readonly keys = new Map<number, Uint8Array<ArrayBuffer>>();
  async savePreKey(id: number, record: PreKeyRecord): Promise<void> {
    this.keys.set(id, record.serialize());
  }
  async getPreKey(id: number): Promise<PreKeyRecord> {
    const bytes = this.keys.get(id);
    if (!bytes) throw new Error(`no prekey ${id}`);
    return PreKeyRecord.deserialize(bytes);
  }
  async removePreKey(id: number): Promise<void> {
    this.keys.delete(id);
  }
}

class MemSignedPreKeyStore extends SignedPreKeyStore {
  readonly keys = new Map<number, Uint8Array<ArrayBuffer>>();
  async saveSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void> {
    this.keys.set(id, record.serialize());
  }
  async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> {
    const bytes = this.keys.get(id);
    if (!bytes) throw new Error(`no signed prekey ${id}`);
    return SignedPreKeyRecord.deserialize(bytes);
  }
}

class MemKyberPreKeyStore extends KyberPreKeyStore {
  readonly keys = new Map<number, Uint8Array<ArrayBuffer>>();
  async saveKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> {
    this.keys.set(id, record.serialize());
  }
  async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
    const bytes = this.keys.get(id);
    if (!bytes) throw new Error(`no kyber prekey ${id}`);
    return KyberPreKeyRecord.deserialize(bytes);
  }
  // Our Kyber prekeys are one-time keys: consume them.
  async markKyberPreKeyUsed(id: number, _signedPreKeyId: number, _baseKey: PublicKey): Promise<void> {
    this.keys.delete(id);
  }
}

// ---------------------------------------------------------------- parties

class Party {
  readonly identity: MemIdentityStore;
  readonly sessions = new MemSessionStore();
  readonly preKeys = new MemPreKeyStore();
  readonly signedPreKeys = new MemSignedPreKeyStore();
  readonly kyberPreKeys = new MemKyberPreKeyStore();
  constructor(registrationId: number) {
    this.identity = new MemIdentityStore(IdentityKeyPair.generate(), registrationId);
  }
  async encrypt(to: ProtocolAddress, from: ProtocolAddress, pt: Uint8Array<ArrayBuffer>) {
    return signalEncrypt(pt, to, from, this.sessions, this.identity);
  }
  async decrypt(from: ProtocolAddress, to: ProtocolAddress, wire: Uint8Array<ArrayBuffer>) {
    return signalDecrypt(SignalMessage.deserialize(wire), from, to, this.sessions, this.identity);
  }
  async decryptPreKey(from: ProtocolAddress, to: ProtocolAddress, wire: Uint8Array<ArrayBuffer>) {
    const msg = PreKeySignalMessage.deserialize(wire);
    return signalDecryptPreKey(msg, from, to, this.sessions, this.identity, this.preKeys, this.signedPreKeys, this.kyberPreKeys);
  }
}

/** Bob (untimed): generate and store `n` one-time EC + Kyber prekeys sharing one signed prekey. */
async function makeBundles(bob: Party, firstId: number, n: number): Promise<PreKeyBundle[]> {
  const idKey = bob.identity.pair;
  const spkPriv = PrivateKey.generate();
  const spkPub = spkPriv.getPublicKey();
  const spkSig = idKey.privateKey.sign(spkPub.serialize());
  await bob.signedPreKeys.saveSignedPreKey(1, SignedPreKeyRecord.new(1, Date.now(), spkPub, spkPriv, spkSig));
  const bundles: PreKeyBundle[] = [];
  for (let id = firstId; id < firstId + n; id++) {
    const pk = PrivateKey.generate();
    await bob.preKeys.savePreKey(id, PreKeyRecord.new(id, pk.getPublicKey(), pk));
    const kem = KEMKeyPair.generate();
    const kemSig = idKey.privateKey.sign(kem.getPublicKey().serialize());
    await bob.kyberPreKeys.saveKyberPreKey(id, KyberPreKeyRecord.new(id, Date.now(), kem, kemSig));
    bundles.push(PreKeyBundle.new(bob.identity.registrationId, 1, id, pk.getPublicKey(), 1, spkPub, spkSig, idKey.publicKey, id, kem.getPublicKey(), kemSig));
  }
  return bundles;
}

const addr = (name: string) => ProtocolAddress.new(name, 1);

function check(got: Uint8Array, want: Uint8Array, full: boolean): void {
  if (got.length !== want.length || (full && !Buffer.from(got).equals(Buffer.from(want)))) {
    throw new Error('libsignal peer: decrypted plaintext mismatch');
  }
}

/** Full setup: Alice processes the bundle, sends a PreKeySignalMessage, Bob decrypts it. */
async function setupOnce(
  alice: Party,
  bob: Party,
  aliceAddr: ProtocolAddress,
  bobAddr: ProtocolAddress,
  bundle: PreKeyBundle,
  pt: Uint8Array<ArrayBuffer>,
  full: boolean,
): Promise<void> {
  await processPreKeyBundle(bundle, bobAddr, aliceAddr, alice.sessions, alice.identity);
  const ct = await alice.encrypt(bobAddr, aliceAddr, pt);
  if (ct.type() !== CiphertextMessageType.PreKey) throw new Error('expected a PreKey message');
  check(await bob.decryptPreKey(aliceAddr, bobAddr, ct.serialize()), pt, full);
}

interface Session {
  alice: Party;
  bob: Party;
  aliceAddr: ProtocolAddress;
  bobAddr: ProtocolAddress;
}

/** A fully established session: setup done and Bob has replied once. */
async function establish(): Promise<Session> {
  const alice = new Party(1111);
  const bob = new Party(2222);
  const aliceAddr = addr('alice');
  const bobAddr = addr('bob');
  const [bundle] = await makeBundles(bob, 1, 1);
  const pt = new Uint8Array(randomBytes(100));
  await setupOnce(alice, bob, aliceAddr, bobAddr, bundle as PreKeyBundle, pt, true);
  const reply = await bob.encrypt(aliceAddr, bobAddr, pt);
  if (reply.type() !== CiphertextMessageType.Whisper) throw new Error('expected a Whisper reply');
  check(await alice.decrypt(bobAddr, aliceAddr, reply.serialize()), pt, true);
  return { alice, bob, aliceAddr, bobAddr };
}

// ---------------------------------------------------------------- exports

export async function setupsPerSecond(durationMs: number): Promise<number> {
  const BATCH = 256;
  const alice = new Party(1111);
  let bob = new Party(2222);
  const pt = new Uint8Array(randomBytes(100));
  let bundles: PreKeyBundle[] = [];
  let next = 0; // index into the current batch
  let serial = 0; // unique per setup -> fresh addresses -> fresh sessions
  let timedMs = 0;
  let timedN = 0;
  let warm = 0;
  for (;;) {
    if (next === bundles.length) {
      // Untimed: fresh Bob stores + a new batch of bundles; drop Alice's old sessions.
      bob = new Party(2222);
      alice.sessions.sessions.clear();
      alice.identity.identities.clear();
      bundles = await makeBundles(bob, 1, BATCH);
      next = 0;
    }
    const id = serial++;
    const aliceAddr = addr(`alice-${id}`);
    const bobAddr = addr(`bob-${id}`);
    const bundle = bundles[next++] as PreKeyBundle;
    const t0 = performance.now();
    await setupOnce(alice, bob, aliceAddr, bobAddr, bundle, pt, id === 0);
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
  const { alice, bob, aliceAddr, bobAddr } = await establish();
  const pt = new Uint8Array(randomBytes(plaintextBytes));
  return rate(durationMs, async (i) => {
    const ct = await alice.encrypt(bobAddr, aliceAddr, pt);
    if (ct.type() !== CiphertextMessageType.Whisper) throw new Error('expected a Whisper message');
    check(await bob.decrypt(aliceAddr, bobAddr, ct.serialize()), pt, i === 0);
  });
}

export async function pingpongPerSecond(plaintextBytes: number, durationMs: number): Promise<number> {
  const { alice, bob, aliceAddr, bobAddr } = await establish();
  const pt = new Uint8Array(randomBytes(plaintextBytes));
  return rate(durationMs, async (i) => {
    const [from, to, fromAddr, toAddr] = i % 2 === 0 ? [alice, bob, aliceAddr, bobAddr] : [bob, alice, bobAddr, aliceAddr];
    const ct = await from.encrypt(toAddr, fromAddr, pt);
    if (ct.type() !== CiphertextMessageType.Whisper) throw new Error('expected a Whisper message');
    check(await to.decrypt(fromAddr, toAddr, ct.serialize()), pt, i < 2);
  });
}

export async function wireBytesPerMessage(plaintextBytes: number): Promise<number> {
  const { alice, bob, aliceAddr, bobAddr } = await establish();
  const pt = new Uint8Array(randomBytes(plaintextBytes));
  const ct = await alice.encrypt(bobAddr, aliceAddr, pt);
  if (ct.type() !== CiphertextMessageType.Whisper) throw new Error('expected a Whisper message');
  const wire = ct.serialize();
  check(await bob.decrypt(aliceAddr, bobAddr, wire), pt, true);
  return wire.length;
}

/**
 * libsignal's sealed sender (v1, one recipient): the outer layer alone, around one Whisper message
 * of an established session with a sender certificate (server certificate under a trust root).
 * `sealedSenderEncrypt` + `sealedSenderDecryptToUsmc` per iteration; also the sealed size.
 */
export async function sealedSenderOuter(plaintextBytes: number, durationMs: number): Promise<{ perSecond: number; bytes: number }> {
  const { alice, bob, aliceAddr, bobAddr } = await establish();
  const trustRoot = PrivateKey.generate();
  const serverKey = PrivateKey.generate();
  const serverCert = ServerCertificate.new(1, serverKey.getPublicKey(), trustRoot);
  const senderCert = SenderCertificate.new(
    '9d0652a3-dcc3-4d11-975f-74d61598733f',
    null,
    1,
    alice.identity.pair.publicKey,
    Date.now() + 86_400_000,
    serverCert,
    serverKey,
  );
  const ct = await alice.encrypt(bobAddr, aliceAddr, new Uint8Array(randomBytes(plaintextBytes)));
  const usmc = UnidentifiedSenderMessageContent.new(ct, senderCert, 0, null);
  let bytes = 0;
  const perSecond = await rate(durationMs, async () => {
    const sealed = await sealedSenderEncrypt(usmc, bobAddr, alice.identity);
    bytes = sealed.length;
    const opened = await sealedSenderDecryptToUsmc(sealed, bob.identity);
    if (opened.contents().length !== ct.serialize().length) throw new Error('libsignal peer: sealed sender round trip mismatch');
  });
  return { perSecond, bytes };
}

// ---------------------------------------------------------------- self-check

if (import.meta.url === `file://${process.argv[1]}`) {
  const fmt = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: 1 });
  console.log(peerName);
  console.log(`setups/s          ${fmt(await setupsPerSecond(1500))}`);
  console.log(`one-way msg/s     ${fmt(await onewayPerSecond(100, 1500))}`);
  console.log(`ping-pong msg/s   ${fmt(await pingpongPerSecond(100, 1500))}`);
  console.log(`wire bytes/msg    ${await wireBytesPerMessage(100)}`);
  const big = await onewayPerSecond(65536, 1500);
  console.log(`one-way 64 KiB    ${fmt((big * 65536) / 1e6)} MB/s`);
}
