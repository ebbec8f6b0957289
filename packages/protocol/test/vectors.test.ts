/**
 * Known-answer tests: our implementation against the JSON vectors in test/vectors/, which come from
 * published documents (primitives.json) or from the independent reference in test/vectors/generate.ts.
 * Every vector runs with every primitives implementation (node, web, web+noble).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { KeyPair, Primitives } from '../src/primitives/types.js';
import { SIGNATURE_LABELS } from '../src/signature.js';
import { allPrimitives } from './helpers.js';
import * as P from './internals.js';

// ---------------------------------------------------------------------------------------------
// Loading (a missing or malformed file fails the whole suite; the counts are asserted below)
// ---------------------------------------------------------------------------------------------

const VECTOR_DIR = join(dirname(fileURLToPath(import.meta.url)), 'vectors');

interface VectorFile {
  description: string;
  source: string[];
}

function load<T extends VectorFile>(name: string): T {
  const data = JSON.parse(readFileSync(join(VECTOR_DIR, name), 'utf8')) as T;
  if (typeof data.description !== 'string' || !Array.isArray(data.source) || data.source.length === 0) {
    throw new Error(`${name}: missing description or source`);
  }
  return data;
}

interface Label {
  ascii: string;
  hex: string;
}

interface KdfChainFile extends VectorFile {
  constants: { messageKeysInfo: Label };
  vectors: {
    name: string;
    startChainKey: string;
    steps: { n: number; chainKey: string; messageKey: string; nextChainKey: string; aesKey: string; nonce: string }[];
  }[];
}

interface RootStepFile extends VectorFile {
  constants: { info: Label };
  vectors: {
    name: string;
    initialRootKey: string;
    steps: {
      rootKey: string;
      privateKey: string;
      publicKey: string;
      peerPrivateKey: string;
      peerPublicKey: string;
      dhOutput: string;
      nextRootKey: string;
      chainKey: string;
    }[];
  }[];
}

interface PqxdhCase {
  name: string;
  alice: { user: string; deviceId: number; identityPrivateKey: string; identityPublicKey: string; ephemeralPrivateKey: string; ephemeralPublicKey: string };
  bob: {
    user: string;
    deviceId: number;
    identityPrivateKey: string;
    identityPublicKey: string;
    signedPreKeyId: number;
    signedPreKeyPrivateKey: string;
    signedPreKeyPublicKey: string;
    oneTimePreKeyId: number | null;
    oneTimePreKeyPrivateKey: string | null;
    oneTimePreKeyPublicKey: string | null;
    pqPreKeyId: number;
    pqPreKeySeed: string;
    pqPreKeyPublicKey: string;
    pqPreKeySecretKeySha256: string;
  };
  kemRandomness: string;
  dh1: string;
  dh2: string;
  dh3: string;
  dh4: string | null;
  kemCipherText: string;
  kemSharedSecret: string;
  keyMaterial: string;
  identityBinding: string;
  info: string;
  sharedSecret: string;
  misboundResponder: { identityBinding: string; sharedSecret: string };
  associatedData: string;
  tamperedKemCipherText: { kemCipherText: string; kemSharedSecret: string; sharedSecret: string };
}

interface PartySnapshot {
  rootKey: string;
  ratchetPublicKey: string;
  sendChainKey: string | null;
  receiveChainKey: string | null;
}

interface SessionMessage {
  from: 'alice' | 'bob';
  plaintext: string;
  ratchetKey: string;
  pn: number;
  n: number;
  messageKey: string;
  aesKey: string;
  nonce: string;
  headerBytes: string;
  associatedData: string;
  paddedPlaintext: string;
  sealed: string;
  wire: string;
  receiverGeneratesRatchetKey: boolean;
  receiverAfter: PartySnapshot;
}

interface PqxdhFile extends VectorFile {
  constants: { info: Label };
  cases: PqxdhCase[];
  failures: { name: string; role: 'initiator' | 'responder'; field: string; value: string; expect: 'InvalidKeyError' | 'DecryptError' }[];
  sessions: {
    name: string;
    pqxdhCase: string;
    certificate: string;
    aliceRatchetPrivateKey: string;
    aliceRatchetPublicKey: string;
    ratchetInitDhOutput: string;
    aliceAfterInit: PartySnapshot;
    preKeyPrefix: string;
    ratchetKeysGenerated: { alice: string[]; bob: string[] };
    messages: SessionMessage[];
  }[];
}

interface PaddingFile extends VectorFile {
  vectors: { L: number; padded: number }[];
}

interface SafetyUser {
  user: string;
  masterSeed: string;
  masterKey: string;
  digits: string;
}
interface SafetyNumberFile extends VectorFile {
  vectors: { a: SafetyUser; b: SafetyUser; digits: string; qrPayload: string }[];
}

interface Named {
  name: string;
}
interface PrimitivesFile extends VectorFile {
  x25519: (Named & { scalar: string; u: string; output: string; canonical: boolean })[];
  x25519PublicKeys: (Named & { privateKey: string; publicKey: string })[];
  x25519Iterated: { iterations: number; k: string; u: string; output: string }[];
  x25519LowOrder: (Named & { u: string; canonical: boolean })[];
  x25519NonCanonical: (Named & { u: string })[];
  ed25519: (Named & { secretKey: string; publicKey: string; message: string; signature: string })[];
  ed25519SmallOrder: (Named & { key: string })[];
  ed25519NonCanonical: (Named & { key: string })[];
  ed25519Forgery: string;
  ed25519BadSignatures: (Named & { publicKey: string; message: string; signature: string })[];
  hkdfSha256: (Named & { ikm: string; salt: string; info: string; length: number; okm: string })[];
  hmacSha256: (Named & { key: string; data: string; mac: string })[];
  sha512: (Named & { message: string; digest: string })[];
  aes256Gcm: (Named & { key: string; nonce: string; plaintext: string; aad: string; ciphertext: string; tag: string })[];
}

interface IdentityFile extends VectorFile {
  labels: Record<'deviceCertificate' | 'deviceList' | 'deviceProof' | 'signedPreKey' | 'pqPreKey', Label>;
  certificate: {
    user: string;
    deviceId: number;
    masterSeed: string;
    masterKey: string;
    signingSeed: string;
    signingKey: string;
    identityPrivateKey: string;
    identityKey: string;
    encoded: string;
  };
  deviceList: {
    user: string;
    masterSeed: string;
    masterKey: string;
    version: number;
    issuedAt: number;
    devices: { deviceId: number; signingSeed: string; signingKey: string; identityKey: string; fileKey: string | null; proof: string }[];
    encoded: string;
  };
  prekeys: {
    user: string;
    deviceId: number;
    signingKey: string;
    signedPreKey: { id: number; publicKey: string; signature: string };
    pqPreKey: { id: number; lastResort: boolean; publicKey: string; signature: string };
  };
}

const kdfChain = load<KdfChainFile>('kdf-chain.json');
const identity = load<IdentityFile>('identity.json');
const rootStep = load<RootStepFile>('root-step.json');
const pqxdh = load<PqxdhFile>('pqxdh.json');
const padding = load<PaddingFile>('padding.json');
const safety = load<SafetyNumberFile>('safety-number.json');
const primitives = load<PrimitivesFile>('primitives.json');

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const h = (s: string): Uint8Array => P.fromHex(s);
const hx = (b: Uint8Array): string => P.toHex(b);
/** A copy of `b` with one bit flipped (bit 0 of byte `at`). */
function flip(b: Uint8Array, at = 0): Uint8Array {
  const out = b.slice();
  out[at] = (out[at] as number) ^ 0x01;
  return out;
}
const pair = (privateKey: string, publicKey: string): KeyPair => ({ privateKey: h(privateKey), publicKey: h(publicKey) });

/**
 * `p` whose randomBytes hands out the given values in order and fails on any other call; `left()`
 * tells how many were not used.
 */
function withFixedRandom(p: Primitives, values: string[]): Primitives & { left(): number } {
  const queue = values.map(h);
  return {
    ...p,
    randomBytes(length: number): Uint8Array {
      const next = queue.shift();
      if (!next || next.length !== length) throw new Error(`unexpected randomBytes(${length})`);
      return next;
    },
    left: () => queue.length,
  };
}

/**
 * Bob's bundle for a PQXDH case. The signatures are placeholders: pqxdhInitiate/initiateSession run
 * on a bundle the caller has already verified (verifyPreKeyBundle) and do not look at them.
 */
function bundleFor(c: PqxdhCase, overrides: Partial<Record<'identityKey' | 'signedPreKey' | 'oneTimePreKey', Uint8Array>> = {}): P.PreKeyBundle {
  const base = {
    user: c.bob.user,
    deviceId: c.bob.deviceId,
    signingKey: new Uint8Array(32),
    identityKey: overrides.identityKey ?? h(c.bob.identityPublicKey),
    signedPreKey: { id: c.bob.signedPreKeyId, publicKey: overrides.signedPreKey ?? h(c.bob.signedPreKeyPublicKey), signature: new Uint8Array(64) },
    pqPreKey: { id: c.bob.pqPreKeyId, lastResort: false, publicKey: h(c.bob.pqPreKeyPublicKey), signature: new Uint8Array(64) },
  };
  if (c.bob.oneTimePreKeyId === null || c.bob.oneTimePreKeyPublicKey === null) return base;
  return { ...base, oneTimePreKey: { id: c.bob.oneTimePreKeyId, publicKey: overrides.oneTimePreKey ?? h(c.bob.oneTimePreKeyPublicKey) } };
}

function responderKeys(p: Primitives, c: PqxdhCase): P.PqxdhResponderKeys {
  return {
    identity: pair(c.bob.identityPrivateKey, c.bob.identityPublicKey),
    signedPreKeyPrivate: h(c.bob.signedPreKeyPrivateKey),
    oneTimePreKeyPrivate: c.bob.oneTimePreKeyPrivateKey === null ? undefined : h(c.bob.oneTimePreKeyPrivateKey),
    pqPreKeyPrivate: p.mlkem768KeyPair(h(c.bob.pqPreKeySeed)).privateKey,
  };
}

/** The case's identity binding (PQXDH §4.10, docs/PROTOCOL.md §7): alice's device, then bob's. */
const bindingOf = (c: PqxdhCase) => P.identityBinding({ user: c.alice.user, deviceId: c.alice.deviceId }, { user: c.bob.user, deviceId: c.bob.deviceId });

function caseNamed(name: string): PqxdhCase {
  const c = pqxdh.cases.find((x) => x.name === name);
  if (!c) throw new Error(`no PQXDH case ${name}`);
  return c;
}

function expectSnapshot(s: P.SessionState, want: PartySnapshot): void {
  expect(hx(s.rootKey)).toBe(want.rootKey);
  expect(hx(s.ratchet.publicKey)).toBe(want.ratchetPublicKey);
  expect(s.send ? hx(s.send.key) : null).toBe(want.sendChainKey);
  expect(s.recv ? hx(s.recv.key) : null).toBe(want.receiveChainKey);
}

// ---------------------------------------------------------------------------------------------
// The files themselves: present, described, and as large as expected
// ---------------------------------------------------------------------------------------------

describe('test vector files', () => {
  it('are all present with the expected number of vectors', () => {
    expect(kdfChain.vectors).toHaveLength(3);
    expect(kdfChain.vectors.reduce((n, v) => n + v.steps.length, 0)).toBe(13);
    expect(rootStep.vectors).toHaveLength(1);
    expect(rootStep.vectors[0]?.steps).toHaveLength(3);
    expect(pqxdh.cases).toHaveLength(2);
    expect(pqxdh.failures).toHaveLength(7);
    expect(pqxdh.sessions).toHaveLength(2);
    expect(pqxdh.sessions.reduce((n, s) => n + s.messages.length, 0)).toBe(5);
    expect(padding.vectors).toHaveLength(378);
    expect(safety.vectors).toHaveLength(2);
    expect(primitives.x25519).toHaveLength(4);
    expect(primitives.x25519PublicKeys).toHaveLength(2);
    expect(primitives.x25519Iterated).toHaveLength(2);
    expect(primitives.x25519LowOrder).toHaveLength(14);
    expect(primitives.x25519LowOrder.filter((v) => v.canonical)).toHaveLength(5);
    expect(primitives.x25519NonCanonical).toHaveLength(9);
    expect(primitives.ed25519).toHaveLength(3);
    expect(primitives.ed25519SmallOrder).toHaveLength(8);
    expect(primitives.ed25519NonCanonical).toHaveLength(5);
    expect(primitives.ed25519BadSignatures).toHaveLength(2);
    expect(identity.deviceList.devices).toHaveLength(2);
    expect(primitives.hkdfSha256).toHaveLength(3);
    expect(primitives.hmacSha256).toHaveLength(2);
    expect(primitives.sha512).toHaveLength(2);
    expect(primitives.aes256Gcm).toHaveLength(4);
  });

  it('use the labels our code uses', () => {
    expect(hx(P.MESSAGE_KEYS_INFO)).toBe(kdfChain.constants.messageKeysInfo.hex);
    expect(hx(P.KDF_RK_INFO)).toBe(rootStep.constants.info.hex);
    expect(hx(P.PQXDH_INFO)).toBe(pqxdh.constants.info.hex);
    for (const [key, label] of Object.entries(identity.labels)) expect(SIGNATURE_LABELS[key as keyof typeof identity.labels], key).toBe(label.ascii);
  });

  it('chain consecutive steps', () => {
    for (const v of kdfChain.vectors) {
      expect(v.steps[0]?.chainKey).toBe(v.startChainKey);
      for (let i = 1; i < v.steps.length; i++) expect(v.steps[i]?.chainKey).toBe(v.steps[i - 1]?.nextChainKey);
    }
    for (const v of rootStep.vectors) {
      expect(v.steps[0]?.rootKey).toBe(v.initialRootKey);
      for (let i = 1; i < v.steps.length; i++) expect(v.steps[i]?.rootKey).toBe(v.steps[i - 1]?.nextRootKey);
    }
  });
});

describe.each(allPrimitives.map((p) => [p.name, p] as const))('known-answer vectors with %s primitives', (_name, p) => {
  // -------------------------------------------------------------------------------------------
  describe('kdf-chain.json (Double Ratchet §5.2 KDF_CK and message keys)', () => {
    it.each(kdfChain.vectors.map((v) => [v.name, v] as const))('%s', async (_n, v) => {
      for (const step of v.steps) {
        const out = await P.kdfCk(p, h(step.chainKey));
        expect(hx(out.messageKey)).toBe(step.messageKey);
        expect(hx(out.chainKey)).toBe(step.nextChainKey);
        const keys = await P.messageKeys(p, h(step.messageKey));
        expect(hx(keys.key)).toBe(step.aesKey);
        expect(hx(keys.nonce)).toBe(step.nonce);
      }
    });

    it('a flipped bit in the chain key or message key changes every output', async () => {
      const step = kdfChain.vectors[0]?.steps[0];
      if (!step) throw new Error('no step');
      const out = await P.kdfCk(p, flip(h(step.chainKey)));
      expect(hx(out.messageKey)).not.toBe(step.messageKey);
      expect(hx(out.chainKey)).not.toBe(step.nextChainKey);
      const keys = await P.messageKeys(p, flip(h(step.messageKey), 31));
      expect(hx(keys.key)).not.toBe(step.aesKey);
      expect(hx(keys.nonce)).not.toBe(step.nonce);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('root-step.json (Double Ratchet §5.2 KDF_RK)', () => {
    it.each(rootStep.vectors.map((v) => [v.name, v] as const))('%s', async (_n, v) => {
      for (const step of v.steps) {
        expect(hx(await p.x25519PublicKey(h(step.privateKey)))).toBe(step.publicKey);
        expect(hx(await p.x25519PublicKey(h(step.peerPrivateKey)))).toBe(step.peerPublicKey);
        expect(hx(await P.dh(p, h(step.privateKey), h(step.peerPublicKey)))).toBe(step.dhOutput);
        expect(hx(await P.dh(p, h(step.peerPrivateKey), h(step.publicKey)))).toBe(step.dhOutput);
        const out = await P.kdfRk(p, h(step.rootKey), h(step.dhOutput));
        expect(hx(out.rootKey)).toBe(step.nextRootKey);
        expect(hx(out.chainKey)).toBe(step.chainKey);
      }
    });

    it('a flipped bit in the root key or DH output changes both outputs', async () => {
      const step = rootStep.vectors[0]?.steps[0];
      if (!step) throw new Error('no step');
      for (const out of [await P.kdfRk(p, flip(h(step.rootKey)), h(step.dhOutput)), await P.kdfRk(p, h(step.rootKey), flip(h(step.dhOutput), 17))]) {
        expect(hx(out.rootKey)).not.toBe(step.nextRootKey);
        expect(hx(out.chainKey)).not.toBe(step.chainKey);
      }
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('pqxdh.json (PQXDH rev. 2 §2.2, §3.3, §3.4)', () => {
    it.each(pqxdh.cases.map((c) => [c.name, c] as const))('%s: keys, DH outputs, KEM, SK and AD', async (_n, c) => {
      expect(hx(await p.x25519PublicKey(h(c.alice.identityPrivateKey)))).toBe(c.alice.identityPublicKey);
      expect(hx(await p.x25519PublicKey(h(c.alice.ephemeralPrivateKey)))).toBe(c.alice.ephemeralPublicKey);
      expect(hx(await p.x25519PublicKey(h(c.bob.identityPrivateKey)))).toBe(c.bob.identityPublicKey);
      expect(hx(await p.x25519PublicKey(h(c.bob.signedPreKeyPrivateKey)))).toBe(c.bob.signedPreKeyPublicKey);
      if (c.bob.oneTimePreKeyPrivateKey !== null) {
        expect(hx(await p.x25519PublicKey(h(c.bob.oneTimePreKeyPrivateKey)))).toBe(c.bob.oneTimePreKeyPublicKey);
      }
      const kem = p.mlkem768KeyPair(h(c.bob.pqPreKeySeed));
      expect(hx(kem.publicKey)).toBe(c.bob.pqPreKeyPublicKey);
      expect(createHash('sha256').update(kem.privateKey).digest('hex')).toBe(c.bob.pqPreKeySecretKeySha256);
      const enc = p.mlkem768Encapsulate(kem.publicKey, h(c.kemRandomness));
      expect(hx(enc.cipherText)).toBe(c.kemCipherText);
      expect(hx(enc.sharedSecret)).toBe(c.kemSharedSecret);
      expect(hx(p.mlkem768Decapsulate(h(c.kemCipherText), kem.privateKey))).toBe(c.kemSharedSecret);

      expect(hx(await P.dh(p, h(c.alice.identityPrivateKey), h(c.bob.signedPreKeyPublicKey)))).toBe(c.dh1);
      expect(hx(await P.dh(p, h(c.alice.ephemeralPrivateKey), h(c.bob.identityPublicKey)))).toBe(c.dh2);
      expect(hx(await P.dh(p, h(c.alice.ephemeralPrivateKey), h(c.bob.signedPreKeyPublicKey)))).toBe(c.dh3);
      if (c.bob.oneTimePreKeyPublicKey !== null) {
        expect(hx(await P.dh(p, h(c.alice.ephemeralPrivateKey), h(c.bob.oneTimePreKeyPublicKey)))).toBe(c.dh4);
      }
      const dhs = [c.dh1, c.dh2, c.dh3, ...(c.dh4 === null ? [] : [c.dh4])].map(h);
      expect(hx(bindingOf(c))).toBe(c.identityBinding);
      expect(hx(P.pqxdhInfo(bindingOf(c)))).toBe(c.info);
      expect(hx(await P.pqxdhKdf(p, dhs, h(c.kemSharedSecret), bindingOf(c)))).toBe(c.sharedSecret);
      // The same inputs bound to a responder named "mallory" (a relabelled bundle, M1): another SK.
      const misbound = P.identityBinding({ user: c.alice.user, deviceId: c.alice.deviceId }, { user: 'mallory', deviceId: c.bob.deviceId });
      expect(hx(misbound)).toBe(c.misboundResponder.identityBinding);
      expect(hx(await P.pqxdhKdf(p, dhs, h(c.kemSharedSecret), misbound))).toBe(c.misboundResponder.sharedSecret);
      expect(hx(P.pqxdhAssociatedData(h(c.alice.identityPublicKey), h(c.bob.identityPublicKey)))).toBe(c.associatedData);
    });

    it.each(pqxdh.cases.map((c) => [c.name, c] as const))('%s: pqxdhInitiate and pqxdhRespond agree with the reference', async (_n, c) => {
      const init = await P.pqxdhInitiate(p, pair(c.alice.identityPrivateKey, c.alice.identityPublicKey), bundleFor(c), bindingOf(c), {
        ephemeral: pair(c.alice.ephemeralPrivateKey, c.alice.ephemeralPublicKey),
        kemRandomness: h(c.kemRandomness),
      });
      expect(hx(init.sharedSecret)).toBe(c.sharedSecret);
      expect(hx(init.ephemeralPublicKey)).toBe(c.alice.ephemeralPublicKey);
      expect(hx(init.kemCipherText)).toBe(c.kemCipherText);
      expect(init.signedPreKeyId).toBe(c.bob.signedPreKeyId);
      expect(init.oneTimePreKeyId).toBe(c.bob.oneTimePreKeyId ?? undefined);
      expect(init.pqPreKeyId).toBe(c.bob.pqPreKeyId);
      const sk = await P.pqxdhRespond(p, responderKeys(p, c), h(c.alice.identityPublicKey), h(c.alice.ephemeralPublicKey), h(c.kemCipherText), bindingOf(c));
      expect(hx(sk)).toBe(c.sharedSecret);
    });

    it.each(pqxdh.cases.map((c) => [c.name, c] as const))('%s: a tampered KEM ciphertext yields the implicit-rejection SK', async (_n, c) => {
      const t = c.tamperedKemCipherText;
      expect(hx(p.mlkem768Decapsulate(h(t.kemCipherText), responderKeys(p, c).pqPreKeyPrivate))).toBe(t.kemSharedSecret);
      const sk = await P.pqxdhRespond(p, responderKeys(p, c), h(c.alice.identityPublicKey), h(c.alice.ephemeralPublicKey), h(t.kemCipherText), bindingOf(c));
      expect(hx(sk)).toBe(t.sharedSecret);
      expect(hx(sk)).not.toBe(c.sharedSecret);
    });

    it('a flipped bit in any KDF input changes SK', async () => {
      const c = caseNamed('with-one-time-prekey');
      const dhs = [c.dh1, c.dh2, c.dh3, c.dh4 ?? ''].map(h);
      const binding = bindingOf(c);
      expect(hx(await P.pqxdhKdf(p, dhs, h(c.kemSharedSecret), binding))).toBe(c.sharedSecret);
      expect(hx(await P.pqxdhKdf(p, dhs, flip(h(c.kemSharedSecret)), binding))).not.toBe(c.sharedSecret);
      for (let i = 0; i < dhs.length; i++) {
        const changed = dhs.map((d, j) => (j === i ? flip(d, 5) : d));
        expect(hx(await P.pqxdhKdf(p, changed, h(c.kemSharedSecret), binding))).not.toBe(c.sharedSecret);
      }
      // Leaving out DH4 is not the same as the no-OPK case of the same keys.
      expect(hx(await P.pqxdhKdf(p, dhs.slice(0, 3), h(c.kemSharedSecret), binding))).not.toBe(c.sharedSecret);
      // Any other party in the binding (either user, either device id, or the roles swapped).
      const a = { user: c.alice.user, deviceId: c.alice.deviceId };
      const b = { user: c.bob.user, deviceId: c.bob.deviceId };
      for (const other of [
        P.identityBinding(b, a),
        P.identityBinding({ ...a, user: 'alicf' }, b),
        P.identityBinding({ ...a, deviceId: a.deviceId + 1 }, b),
        P.identityBinding(a, { ...b, user: 'boc' }),
        P.identityBinding(a, { ...b, deviceId: b.deviceId + 1 }),
      ]) {
        expect(hx(await P.pqxdhKdf(p, dhs, h(c.kemSharedSecret), other))).not.toBe(c.sharedSecret);
      }
    });

    it.each(pqxdh.failures.map((f) => [f.name, f] as const))('failure: %s', async (_n, f) => {
      const c = caseNamed('with-one-time-prekey');
      const value = h(f.value);
      const run =
        f.role === 'initiator'
          ? P.pqxdhInitiate(p, pair(c.alice.identityPrivateKey, c.alice.identityPublicKey), bundleFor(c, { [f.field]: value }), bindingOf(c), {
              ephemeral: pair(c.alice.ephemeralPrivateKey, c.alice.ephemeralPublicKey),
              kemRandomness: h(c.kemRandomness),
            })
          : P.pqxdhRespond(
              p,
              responderKeys(p, c),
              f.field === 'initiatorIdentity' ? value : h(c.alice.identityPublicKey),
              f.field === 'ephemeralPublicKey' ? value : h(c.alice.ephemeralPublicKey),
              f.field === 'kemCipherText' ? value : h(c.kemCipherText),
              bindingOf(c),
            );
      await expect(run).rejects.toBeInstanceOf(f.expect === 'InvalidKeyError' ? P.InvalidKeyError : P.DecryptError);
    });

    it.each(pqxdh.sessions.map((s) => [s.name, s] as const))('session %s: RatchetInit, wire bytes of every message, both directions', async (_n, s) => {
      const c = caseNamed(s.pqxdhCase);
      const pa = withFixedRandom(p, s.ratchetKeysGenerated.alice);
      const pb = withFixedRandom(p, s.ratchetKeysGenerated.bob);
      const aliceIdentity = pair(c.alice.identityPrivateKey, c.alice.identityPublicKey);
      expect(hx(await p.x25519PublicKey(h(s.aliceRatchetPrivateKey)))).toBe(s.aliceRatchetPublicKey);
      expect(hx(await P.dh(p, h(s.aliceRatchetPrivateKey), h(c.bob.signedPreKeyPublicKey)))).toBe(s.ratchetInitDhOutput);

      // Double Ratchet §3.3 RatchetInitAlice, SK from PQXDH, Bob's signed prekey as his ratchet key.
      let alice = await P.initiateSession(pa, { identity: aliceIdentity, certificate: h(s.certificate) }, bundleFor(c), {
        ephemeral: pair(c.alice.ephemeralPrivateKey, c.alice.ephemeralPublicKey),
        kemRandomness: h(c.kemRandomness),
        ratchet: pair(s.aliceRatchetPrivateKey, s.aliceRatchetPublicKey),
      });
      expectSnapshot(alice, s.aliceAfterInit);
      expect(alice.pendingPreKey && hx(alice.pendingPreKey)).toBe(s.preKeyPrefix);

      // §3.3 RatchetInitBob, from the SK our pqxdhRespond derives (the state acceptPreKeyMessage builds
      // after checking the sender's certificate, which is outside these vectors).
      const sk = await P.pqxdhRespond(p, responderKeys(p, c), h(c.alice.identityPublicKey), h(c.alice.ephemeralPublicKey), h(c.kemCipherText), bindingOf(c));
      expect(hx(sk)).toBe(c.sharedSecret);
      let bob: P.SessionState = {
        localIdentity: h(c.bob.identityPublicKey),
        remoteIdentity: h(c.alice.identityPublicKey),
        baseKey: h(c.alice.ephemeralPublicKey),
        rootKey: sk,
        ratchet: pair(c.bob.signedPreKeyPrivateKey, c.bob.signedPreKeyPublicKey),
        remoteRatchet: null,
        send: null,
        recv: null,
        pn: 0,
        skipped: new Map(),
        pendingPreKey: null,
      };

      for (const m of s.messages) {
        const fromAlice = m.from === 'alice';
        const sent = await P.encryptMessage(fromAlice ? pa : pb, fromAlice ? alice : bob, h(m.plaintext));
        expect(hx(sent.message)).toBe(m.wire);
        expect(P.messageType(sent.message)).toBe(m.wire.startsWith('0202') ? P.MESSAGE_TYPE_PREKEY : P.MESSAGE_TYPE_RATCHET);
        if (fromAlice) alice = sent.state;
        else bob = sent.state;

        const receiver = fromAlice ? bob : alice;
        // Failure cases first: a flipped bit in the header (pn, n) or in the sealed body (first byte, tag)
        // is a DecryptError. These use the unwrapped primitives: a failed attempt may generate (and drop)
        // a ratchet key, which must not consume the fixed keys queued for the real receive below.
        const sealedAt = m.wire.length / 2 - m.sealed.length / 2;
        const headerAt = sealedAt - m.headerBytes.length / 2;
        for (const at of [headerAt + 34, headerAt + 41, sealedAt, m.wire.length / 2 - 1]) {
          await expect(P.decryptMessage(p, receiver, flip(sent.message, at))).rejects.toBeInstanceOf(P.DecryptError);
        }
        const r = await P.decryptMessage(fromAlice ? pb : pa, receiver, sent.message);
        expect(hx(r.plaintext)).toBe(m.plaintext);
        expectSnapshot(r.state, m.receiverAfter);
        if (fromAlice) bob = r.state;
        else alice = r.state;
      }
      expect(pa.left()).toBe(0);
      expect(pb.left()).toBe(0);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('identity.json (docs/PROTOCOL.md §3–§5)', () => {
    const c = identity.certificate;
    const l = identity.deviceList;
    const k = identity.prekeys;
    const master = (seed: string, publicKey: string) => ({ seed: h(seed), publicKey: h(publicKey) });

    it('certificate format 2: decodes, verifies, and issueDeviceCertificate writes the same bytes', async () => {
      const cert = await P.verifyDeviceCertificate(p, h(c.encoded), { user: c.user, masterKey: h(c.masterKey) });
      expect([cert.user, cert.deviceId, hx(cert.signingKey), hx(cert.identityKey)]).toEqual([c.user, c.deviceId, c.signingKey, c.identityKey]);
      const device = { deviceId: c.deviceId, signing: master(c.signingSeed, c.signingKey), identity: pair(c.identityPrivateKey, c.identityKey) };
      expect(hx(await P.issueDeviceCertificate(p, c.user, master(c.masterSeed, c.masterKey), device))).toBe(c.encoded);
      await expect(
        P.verifyDeviceCertificate(p, flip(h(c.encoded), h(c.encoded).length - 1), { user: c.user, masterKey: h(c.masterKey) }),
      ).rejects.toBeInstanceOf(P.SignatureError);
    });

    it('device list format 3: verifies at its issue time, proofs included; signDeviceList writes the same bytes', async () => {
      const trusted = { user: l.user, masterKey: h(l.masterKey) };
      const list = await P.verifyDeviceList(p, h(l.encoded), trusted, { now: l.issuedAt });
      expect(list.version).toBe(l.version);
      expect(list.issuedAt).toBe(l.issuedAt);
      expect(list.devices.map((d) => [d.deviceId, hx(d.proof as Uint8Array)])).toEqual(l.devices.map((d) => [d.deviceId, d.proof]));
      const entries = await Promise.all(
        l.devices.map((d) => {
          const entry = { deviceId: d.deviceId, signingKey: h(d.signingKey), identityKey: h(d.identityKey), ...(d.fileKey ? { fileKey: h(d.fileKey) } : {}) };
          return P.proveDeviceEntry(p, l.user, h(l.masterKey), entry, h(d.signingSeed));
        }),
      );
      expect(entries.map((e) => hx(e.proof as Uint8Array))).toEqual(l.devices.map((d) => d.proof));
      expect(hx(await P.signDeviceList(p, l.user, master(l.masterSeed, l.masterKey), { version: l.version, issuedAt: l.issuedAt }, entries))).toBe(l.encoded);
      // The bound, both ways; and a proof is not another user's.
      await expect(P.verifyDeviceList(p, h(l.encoded), trusted, { now: l.issuedAt + P.DEVICE_LIST_MAX_AGE_MS + 1 })).rejects.toBeInstanceOf(
        P.StaleDeviceListError,
      );
      await expect(P.verifyDeviceList(p, h(l.encoded), trusted, { now: l.issuedAt - P.DEVICE_LIST_MAX_SKEW_MS - 1 })).rejects.toBeInstanceOf(
        P.StaleDeviceListError,
      );
      await expect(P.verifyDeviceProof(p, 'mallory', h(l.masterKey), entries[0] as P.DeviceEntry)).rejects.toBeInstanceOf(P.SignatureError);
    });

    it('prekey signatures bound to (user, device): verify for their owner only', async () => {
      const owner = { user: k.user, deviceId: k.deviceId, signingKey: h(k.signingKey) };
      const spk = { id: k.signedPreKey.id, publicKey: h(k.signedPreKey.publicKey), signature: h(k.signedPreKey.signature) };
      const pq = { id: k.pqPreKey.id, lastResort: k.pqPreKey.lastResort, publicKey: h(k.pqPreKey.publicKey), signature: h(k.pqPreKey.signature) };
      await P.verifySignedPreKey(p, owner, spk);
      await P.verifyPqPreKey(p, owner, pq);
      for (const other of [
        { ...owner, user: 'mallory' },
        { ...owner, deviceId: owner.deviceId + 1 },
      ]) {
        await expect(P.verifySignedPreKey(p, other, spk)).rejects.toBeInstanceOf(P.SignatureError);
        await expect(P.verifyPqPreKey(p, other, pq)).rejects.toBeInstanceOf(P.SignatureError);
      }
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('padding.json (Padmé)', () => {
    it('padme(L) matches the PURBs formula for every listed L', () => {
      const wrong = padding.vectors.filter((v) => P.padme(v.L) !== v.padded).map((v) => `${v.L}: got ${P.padme(v.L)}, want ${v.padded}`);
      expect(wrong).toEqual([]);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('safety-number.json', () => {
    it.each(safety.vectors.map((v) => [`${v.a.user} / ${v.b.user}`, v] as const))('%s', async (_n, v) => {
      expect(hx(await p.ed25519PublicKey(h(v.a.masterSeed)))).toBe(v.a.masterKey);
      expect(hx(await p.ed25519PublicKey(h(v.b.masterSeed)))).toBe(v.b.masterKey);
      const a = { user: v.a.user, masterKey: h(v.a.masterKey) };
      const b = { user: v.b.user, masterKey: h(v.b.masterKey) };
      for (const n of [await P.safetyNumber(p, a, b), await P.safetyNumber(p, b, a)]) {
        expect(n.digits).toBe(v.digits);
        expect(hx(n.qrPayload)).toBe(v.qrPayload);
      }
    });

    it('a flipped bit in a master key or a changed user name changes the number', async () => {
      const v = safety.vectors[0];
      if (!v) throw new Error('no vector');
      const a = { user: v.a.user, masterKey: h(v.a.masterKey) };
      const b = { user: v.b.user, masterKey: h(v.b.masterKey) };
      const changed = [
        await P.safetyNumber(p, { ...a, masterKey: flip(a.masterKey, 31) }, b),
        await P.safetyNumber(p, a, { ...b, masterKey: flip(b.masterKey) }),
        await P.safetyNumber(p, { ...a, user: `${a.user}x` }, b),
      ];
      for (const n of changed) {
        expect(n.digits).not.toBe(v.digits);
        expect(hx(n.qrPayload)).not.toBe(v.qrPayload);
      }
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('primitives.json (published vectors)', () => {
    it('X25519: RFC 7748 §5.2 and §6.1', async () => {
      for (const v of primitives.x25519) {
        expect(hx(await p.x25519(h(v.scalar), h(v.u))), v.name).toBe(v.output);
        // dh() adds the protocol's checks: canonical keys give the RFC output, others are refused.
        if (v.canonical) expect(hx(await P.dh(p, h(v.scalar), h(v.u))), v.name).toBe(v.output);
        else await expect(P.dh(p, h(v.scalar), h(v.u)), v.name).rejects.toBeInstanceOf(P.InvalidKeyError);
        expect(P.isValidX25519PublicKey(h(v.u)), v.name).toBe(v.canonical);
      }
      for (const v of primitives.x25519PublicKeys) expect(hx(await p.x25519PublicKey(h(v.privateKey))), v.name).toBe(v.publicKey);
    });

    it('X25519: RFC 7748 §5.2 iterated', async () => {
      for (const v of primitives.x25519Iterated) {
        let k = h(v.k);
        let u = h(v.u);
        for (let i = 0; i < v.iterations; i++) [k, u] = [await p.x25519(k, u), k];
        expect(hx(k), `${v.iterations} iterations`).toBe(v.output);
      }
    });

    it('X25519: low-order points are rejected, canonical or not', async () => {
      const priv = h(primitives.x25519PublicKeys[0]?.privateKey ?? '');
      for (const v of primitives.x25519LowOrder) {
        expect(P.isValidX25519PublicKey(h(v.u)), v.name).toBe(false);
        await expect(P.dh(p, priv, h(v.u)), v.name).rejects.toBeInstanceOf(P.InvalidKeyError);
      }
      // The control: a valid key is accepted by the same calls.
      const good = h(primitives.x25519PublicKeys[1]?.publicKey ?? '');
      expect(P.isValidX25519PublicKey(good)).toBe(true);
      expect(hx(await P.dh(p, priv, good))).toBe(primitives.x25519[2]?.output);
    });

    it('X25519: other non-canonical encodings and wrong lengths are rejected', async () => {
      const priv = h(primitives.x25519PublicKeys[0]?.privateKey ?? '');
      for (const v of primitives.x25519NonCanonical) {
        expect(P.isValidX25519PublicKey(h(v.u)), v.name).toBe(false);
        await expect(P.dh(p, priv, h(v.u)), v.name).rejects.toBeInstanceOf(P.InvalidKeyError);
      }
    });

    it('Ed25519: RFC 8032 §7.1 TEST 1-3, and flipped bits fail verification', async () => {
      for (const v of primitives.ed25519) {
        expect(hx(await p.ed25519PublicKey(h(v.secretKey))), v.name).toBe(v.publicKey);
        expect(hx(await p.ed25519Sign(h(v.secretKey), h(v.message))), v.name).toBe(v.signature);
        expect(await p.ed25519Verify(h(v.publicKey), h(v.message), h(v.signature)), v.name).toBe(true);
        expect(await p.ed25519Verify(h(v.publicKey), h(`${v.message}00`), h(v.signature)), v.name).toBe(false);
        expect(await p.ed25519Verify(h(v.publicKey), h(v.message), flip(h(v.signature), 0)), v.name).toBe(false);
        expect(await p.ed25519Verify(h(v.publicKey), h(v.message), flip(h(v.signature), 40)), v.name).toBe(false);
        expect(await p.ed25519Verify(flip(h(v.publicKey), 1), h(v.message), h(v.signature)), v.name).toBe(false);
      }
    });

    it('Ed25519: small-order and non-canonical keys, and non-canonical signatures, are refused alike (L1)', async () => {
      const message = P.utf8('any message at all');
      for (const v of [...primitives.ed25519SmallOrder, ...primitives.ed25519NonCanonical]) {
        expect(P.isValidEd25519PublicKey(h(v.key)), v.name).toBe(false);
        expect(await p.ed25519Verify(h(v.key), message, h(primitives.ed25519Forgery)), v.name).toBe(false);
      }
      for (const v of primitives.ed25519BadSignatures) expect(await p.ed25519Verify(h(v.publicKey), h(v.message), h(v.signature)), v.name).toBe(false);
      // The control: the RFC keys are valid and their signatures verify.
      for (const v of primitives.ed25519) {
        expect(P.isValidEd25519PublicKey(h(v.publicKey)), v.name).toBe(true);
        expect(await p.ed25519Verify(h(v.publicKey), h(v.message), h(v.signature)), v.name).toBe(true);
      }
    });

    it('HKDF-SHA-256: RFC 5869 A.1-A.3', async () => {
      for (const v of primitives.hkdfSha256) {
        expect(hx(await p.hkdfSha256(h(v.ikm), h(v.salt), h(v.info), v.length)), v.name).toBe(v.okm);
        expect(hx(await p.hkdfSha256(flip(h(v.ikm)), h(v.salt), h(v.info), v.length)), v.name).not.toBe(v.okm);
      }
    });

    it('HMAC-SHA-256: RFC 4231 test cases 1 and 2', async () => {
      for (const v of primitives.hmacSha256) {
        expect(hx(await p.hmacSha256(h(v.key), h(v.data))), v.name).toBe(v.mac);
        expect(hx(await p.hmacSha256(flip(h(v.key)), h(v.data))), v.name).not.toBe(v.mac);
      }
    });

    it('SHA-512: FIPS 180-2 examples', async () => {
      for (const v of primitives.sha512) expect(hx(await p.sha512(h(v.message))), v.name).toBe(v.digest);
    });

    it('AES-256-GCM: McGrew-Viega test cases 13-16, and tampering fails to open', async () => {
      for (const v of primitives.aes256Gcm) {
        const [key, nonce, aad] = [h(v.key), h(v.nonce), h(v.aad)];
        const sealed = await p.aesGcmSeal(key, nonce, h(v.plaintext), aad);
        expect(hx(sealed), v.name).toBe(v.ciphertext + v.tag);
        expect(hx((await p.aesGcmOpen(key, nonce, sealed, aad)) ?? new Uint8Array([0xff])), v.name).toBe(v.plaintext);
        expect(await p.aesGcmOpen(key, nonce, flip(sealed, sealed.length - 1), aad), v.name).toBeNull();
        expect(await p.aesGcmOpen(key, flip(nonce), sealed, aad), v.name).toBeNull();
        expect(await p.aesGcmOpen(flip(key), nonce, sealed, aad), v.name).toBeNull();
        expect(await p.aesGcmOpen(key, nonce, sealed, P.concat(aad, Uint8Array.of(0))), v.name).toBeNull();
        if (sealed.length > 16) expect(await p.aesGcmOpen(key, nonce, flip(sealed), aad), v.name).toBeNull();
      }
    });
  });
});
