/**
 * Known-answer test vectors for @blindrelay/protocol, from an independent reference.
 *
 *   npx tsx packages/protocol/test/vectors/generate.ts
 *
 * This file re-derives every value from the specification text, not from `src/`: it imports only
 * @noble/curves (X25519, Ed25519), @noble/hashes (HKDF, HMAC, SHA-2), @noble/post-quantum
 * (ML-KEM-768) and, for AES-256-GCM only, node:crypto. X25519 is additionally computed with the
 * RFC 7748 §5 Montgomery ladder written out below and cross-checked against noble on every call.
 * Everything is deterministic: keys come from SHA-256/SHA-512 of fixed labels, never from a RNG.
 *
 * Specifications (cited per value in the JSON `source` fields):
 * - [PQXDH]  Signal, "The PQXDH Key Agreement Protocol", revision 2: §2.1 parameters, §2.2 KDF,
 *            §3.3 sending the initial message, §3.4 receiving it.
 * - [DR]     Signal, "The Double Ratchet Algorithm", revision 3: §3.2–§3.5 (RatchetInitAlice/Bob,
 *            RatchetEncrypt/Decrypt, DHRatchet) and §5.2 recommended KDF_RK / KDF_CK / ENCRYPT.
 * - [PURBs]  Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication with
 *            PURBs", PETS 2019, §4 (Padmé).
 * - [PQXDH] §4.10 identity binding, applied as docs/PROTOCOL.md §7 specifies: both parties' user
 *            names and device ids appended to the KDF info.
 * - docs/PROTOCOL.md §3–§6 for the signed identity structures of identity.json (certificate
 *            format 2, device list format 3 with proofs of possession and an issue time, prekey
 *            signatures bound to their user and device), signed with @noble/curves' Ed25519.
 * - RFC 7748, RFC 8032, RFC 5869, RFC 4231, FIPS 180-2, McGrew & Viega "The Galois/Counter Mode of
 *   Operation (GCM)" (rev. 2005, Appendix B), libsodium's X25519 small-order blocklist.
 * Project labels and wire formats are copied (as strings and layouts, not code) from the doc comments
 * and constants of src/pqxdh.ts, src/ratchet.ts, src/message.ts, src/encoding.ts, src/padding.ts,
 * src/safety-number.ts, src/signature.ts, src/device-certificate.ts, src/device-list.ts and
 * src/prekeys.ts; each is cited where it is used.
 */
import { createCipheriv } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { extract, hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';

const OUT_DIR = dirname(fileURLToPath(import.meta.url));
const GENERATOR = 'packages/protocol/test/vectors/generate.ts';

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const hex = (b: Uint8Array): string => bytesToHex(b);
const unhex = (h: string): Uint8Array => hexToBytes(h);
const utf8 = (s: string): Uint8Array => utf8ToBytes(s);
const cat = (...parts: Uint8Array[]): Uint8Array => concatBytes(...parts);
const sameBytes = (a: Uint8Array, b: Uint8Array) => hex(a) === hex(b);

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`reference self-check failed: ${what}`);
}

/** Deterministic test material: SHA-256 (32 bytes) or SHA-512 (64 bytes) of a fixed label. */
const seed32 = (label: string) => sha256(utf8(`blindrelay test vectors/${label}`));
const seed64 = (label: string) => sha512(utf8(`blindrelay test vectors/${label}`));

/** Big-endian unsigned 32-bit integer (src/codec.ts: "Integers are unsigned big-endian"). */
function u32be(v: number): Uint8Array {
  return Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}
function u16be(v: number): Uint8Array {
  return Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
}

function writeJson(name: string, data: Record<string, unknown>): void {
  writeFileSync(join(OUT_DIR, name), `${JSON.stringify(data, null, 2)}\n`);
  console.log(`wrote ${name}`);
}

// ---------------------------------------------------------------------------------------------
// X25519, RFC 7748 §5, written out (BigInt; test use only, not constant time)
// ---------------------------------------------------------------------------------------------

const P = 2n ** 255n - 19n;
const A24 = 121665n;
const mod = (a: bigint) => ((a % P) + P) % P;

function powMod(b: bigint, e: bigint): bigint {
  let r = 1n;
  b = mod(b);
  while (e > 0n) {
    if (e & 1n) r = mod(r * b);
    b = mod(b * b);
    e >>= 1n;
  }
  return r;
}
function decodeLittleEndian(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i] as number);
  return x;
}
function encodeUCoordinate(u: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((u >> BigInt(8 * i)) & 0xffn);
  return out;
}
/** §5: "implementations of X25519 MUST mask the most significant bit in the final byte". */
function decodeUCoordinate(u: Uint8Array): bigint {
  const c = u.slice();
  c[31] = (c[31] as number) & 0x7f;
  return decodeLittleEndian(c);
}
function decodeScalar25519(k: Uint8Array): bigint {
  const c = k.slice();
  c[0] = (c[0] as number) & 248;
  c[31] = ((c[31] as number) & 127) | 64;
  return decodeLittleEndian(c);
}
/** The X25519 function of RFC 7748 §5 (Montgomery ladder with conditional swaps), no zero check. */
function x25519Ladder(kBytes: Uint8Array, uBytes: Uint8Array): Uint8Array {
  const k = decodeScalar25519(kBytes);
  const x1 = mod(decodeUCoordinate(uBytes));
  let [x2, z2, x3, z3] = [1n, 0n, x1, 1n];
  let swap = 0n;
  for (let t = 254n; t >= 0n; t--) {
    const kt = (k >> t) & 1n;
    swap ^= kt;
    if (swap) [x2, x3, z2, z3] = [x3, x2, z3, z2];
    swap = kt;
    const A = mod(x2 + z2);
    const AA = mod(A * A);
    const B = mod(x2 - z2);
    const BB = mod(B * B);
    const E = mod(AA - BB);
    const C = mod(x3 + z3);
    const D = mod(x3 - z3);
    const DA = mod(D * A);
    const CB = mod(C * B);
    x3 = mod((DA + CB) * (DA + CB));
    z3 = mod(x1 * mod((DA - CB) * (DA - CB)));
    x2 = mod(AA * BB);
    z2 = mod(E * (AA + A24 * E));
  }
  if (swap) [x2, x3, z2, z3] = [x3, x2, z3, z2];
  return encodeUCoordinate(mod(x2 * powMod(z2, P - 2n)));
}
const BASE_POINT = encodeUCoordinate(9n);
const ZERO32 = new Uint8Array(32);

/** X25519 public key, computed twice (our ladder and noble) and compared. */
function x25519Public(priv: Uint8Array): Uint8Array {
  const pub = x25519Ladder(priv, BASE_POINT);
  check(sameBytes(pub, x25519.getPublicKey(priv)), 'X25519 public key: ladder vs noble');
  return pub;
}
/** DH as the protocol uses it: X25519 plus RFC 7748 §6.1's all-zero check, cross-checked with noble. */
function dh(priv: Uint8Array, pub: Uint8Array): Uint8Array {
  const out = x25519Ladder(priv, pub);
  check(!sameBytes(out, ZERO32), 'DH produced the all-zero value');
  check(sameBytes(out, x25519.getSharedSecret(priv, pub)), 'DH: ladder vs noble');
  return out;
}
function x25519KeyPair(label: string) {
  const privateKey = seed32(label);
  return { privateKey, publicKey: x25519Public(privateKey) };
}

// ---------------------------------------------------------------------------------------------
// Project labels and constants, copied from the source files named (cite, never import)
// ---------------------------------------------------------------------------------------------

/** src/pqxdh.ts PQXDH_INFO, [PQXDH] §2.1 "info". */
const PQXDH_INFO = 'Blindrelay_PQXDH_CURVE25519_SHA-256_ML-KEM-768';
/** src/ratchet.ts KDF_RK_INFO, [DR] §5.2 KDF_RK "application-specific byte sequence". */
const KDF_RK_INFO = 'Blindrelay_DoubleRatchet_RootKey';
/** src/ratchet.ts MESSAGE_KEYS_INFO, [DR] §5.2 ENCRYPT (our AES-256-GCM variant: key || nonce). */
const MESSAGE_KEYS_INFO = 'Blindrelay_DoubleRatchet_MessageKeys';
/** [DR] §5.2 KDF_CK: "a single byte 0x01 as input to produce the message key, and a single byte 0x02 ... the next chain key". */
const MESSAGE_KEY_CONSTANT = Uint8Array.of(0x01);
const CHAIN_KEY_CONSTANT = Uint8Array.of(0x02);
/** src/encoding.ts: EncodeEC type byte ([PQXDH] §2.1) and the Ed25519 key type used by safety numbers. */
const KEY_TYPE_X25519 = 0x05;
const KEY_TYPE_ED25519 = 0x0e;
/** src/message.ts: PROTOCOL_VERSION (2: identity-bound sessions), MESSAGE_TYPE_RATCHET, MESSAGE_TYPE_PREKEY. */
const PROTOCOL_VERSION = 2;
const MESSAGE_TYPE_RATCHET = 1;
const MESSAGE_TYPE_PREKEY = 2;
/** src/safety-number.ts: SAFETY_NUMBER_ITERATIONS, FINGERPRINT_VERSION, QR_VERSION. */
const SAFETY_NUMBER_ITERATIONS = 5200;
const FINGERPRINT_VERSION = Uint8Array.of(0x00, 0x01);
const QR_VERSION = 1;

const labelHex = (s: string) => ({ ascii: s, hex: hex(utf8(s)) });

// ---------------------------------------------------------------------------------------------
// Double Ratchet KDFs, [DR] §5.2
// ---------------------------------------------------------------------------------------------

/** KDF_RK(rk, dh_out): HKDF-SHA-256, salt = rk, IKM = dh_out, info = KDF_RK_INFO, 64 bytes → (RK, CK). */
function kdfRk(rk: Uint8Array, dhOut: Uint8Array) {
  const okm = hkdf(sha256, dhOut, rk, utf8(KDF_RK_INFO), 64);
  return { rootKey: okm.slice(0, 32), chainKey: okm.slice(32, 64) };
}
/** KDF_CK(ck): HMAC-SHA-256 keyed with ck; input 0x01 → message key, 0x02 → next chain key. */
function kdfCk(ck: Uint8Array) {
  return { messageKey: hmac(sha256, ck, MESSAGE_KEY_CONSTANT), chainKey: hmac(sha256, ck, CHAIN_KEY_CONSTANT) };
}
/** ENCRYPT key schedule (our AES-GCM variant of §5.2): HKDF(mk, salt = 0^32, MESSAGE_KEYS_INFO) → 44 bytes. */
function messageKeys(mk: Uint8Array) {
  const okm = hkdf(sha256, mk, new Uint8Array(32), utf8(MESSAGE_KEYS_INFO), 44);
  return { aesKey: okm.slice(0, 32), nonce: okm.slice(32, 44) };
}

// ---------------------------------------------------------------------------------------------
// kdf-chain.json
// ---------------------------------------------------------------------------------------------

function kdfChainVectors() {
  const chains = [
    { name: 'chain-a', start: seed32('kdf-chain/a'), steps: 6 },
    { name: 'chain-b', start: seed32('kdf-chain/b'), steps: 4 },
    { name: 'chain-all-zero-start', start: new Uint8Array(32), steps: 3 },
  ];
  const vectors = chains.map(({ name, start, steps }) => {
    let ck = start;
    const out = [];
    for (let i = 0; i < steps; i++) {
      const step = kdfCk(ck);
      const { aesKey, nonce } = messageKeys(step.messageKey);
      out.push({ n: i, chainKey: hex(ck), messageKey: hex(step.messageKey), nextChainKey: hex(step.chainKey), aesKey: hex(aesKey), nonce: hex(nonce) });
      ck = step.chainKey;
    }
    return { name, startChainKey: hex(start), steps: out };
  });
  writeJson('kdf-chain.json', {
    description:
      'Symmetric-key ratchet: KDF_CK chain steps and the per-message AES-256-GCM key and nonce. Each step: (messageKey, nextChainKey) = KDF_CK(chainKey); (aesKey || nonce) = HKDF-SHA-256(IKM = messageKey, salt = 0^32, info = messageKeysInfo, L = 44).',
    source: [
      'Double Ratchet rev. 3 §5.2 KDF_CK: HMAC-SHA-256 with the chain key as key, input 0x01 for the message key, 0x02 for the next chain key',
      'Double Ratchet rev. 3 §5.2 ENCRYPT: HKDF of mk with a zero salt of hash length and an application-specific info; Blindrelay derives a 32-byte AES-256-GCM key and a 12-byte nonce (DESIGN.md "Message AEAD")',
      'label copied from src/ratchet.ts MESSAGE_KEYS_INFO',
    ],
    generator: GENERATOR,
    constants: {
      messageKeyInput: hex(MESSAGE_KEY_CONSTANT),
      chainKeyInput: hex(CHAIN_KEY_CONSTANT),
      messageKeysInfo: labelHex(MESSAGE_KEYS_INFO),
      salt: hex(new Uint8Array(32)),
    },
    vectors,
  });
}

// ---------------------------------------------------------------------------------------------
// root-step.json
// ---------------------------------------------------------------------------------------------

function rootStepVectors() {
  // A DH ratchet as two parties run it: Alice's first ratchet key against Bob's ratchet (signed prekey),
  // Bob's next ratchet key against Alice's, Alice's next against Bob's (DR §3.3 RatchetInitAlice, §3.5 DHRatchet).
  const a0 = x25519KeyPair('root-step/alice-ratchet-0');
  const b0 = x25519KeyPair('root-step/bob-ratchet-0');
  const b1 = x25519KeyPair('root-step/bob-ratchet-1');
  const a1 = x25519KeyPair('root-step/alice-ratchet-1');
  const pairs = [
    { who: 'alice', own: a0, peer: b0 },
    { who: 'bob', own: b1, peer: a0 },
    { who: 'alice', own: a1, peer: b1 },
  ];
  const initial = seed32('root-step/initial-root-key');
  let rk = initial;
  const steps = pairs.map(({ who, own, peer }) => {
    const dhOut = dh(own.privateKey, peer.publicKey);
    check(sameBytes(dhOut, dh(peer.privateKey, own.publicKey)), 'DH symmetry');
    const next = kdfRk(rk, dhOut);
    const step = {
      sender: who,
      rootKey: hex(rk),
      privateKey: hex(own.privateKey),
      publicKey: hex(own.publicKey),
      peerPrivateKey: hex(peer.privateKey),
      peerPublicKey: hex(peer.publicKey),
      dhOutput: hex(dhOut),
      nextRootKey: hex(next.rootKey),
      chainKey: hex(next.chainKey),
    };
    rk = next.rootKey;
    return step;
  });
  writeJson('root-step.json', {
    description:
      'Root-key ratchet: (nextRootKey, chainKey) = KDF_RK(rootKey, DH(privateKey, peerPublicKey)) for a chain of DH ratchet steps; each step starts from the previous nextRootKey.',
    source: [
      'Double Ratchet rev. 3 §5.2 KDF_RK: HKDF-SHA-256 with rk as salt, the DH output as input key material and an application-specific info, 64 bytes split into a 32-byte root key and a 32-byte chain key',
      'Double Ratchet rev. 3 §3.3 RatchetInitAlice and §3.5 DHRatchet (the order of the steps)',
      'RFC 7748 §5 X25519 (computed with a written-out ladder and cross-checked against @noble/curves)',
      'label copied from src/ratchet.ts KDF_RK_INFO',
    ],
    generator: GENERATOR,
    constants: { info: labelHex(KDF_RK_INFO) },
    vectors: [{ name: 'three-dh-ratchet-steps', initialRootKey: hex(initial), steps }],
  });
}

// ---------------------------------------------------------------------------------------------
// PQXDH, [PQXDH] §2.2 and §3.3, and the first messages of a session
// ---------------------------------------------------------------------------------------------

/** docs/PROTOCOL.md §2: user = u8 length || UTF-8 bytes. */
const userField = (user: string) => cat(Uint8Array.of(utf8(user).length), utf8(user));

/** A session end: a user and one of its devices ([PQXDH] §4.10 identity binding, docs/PROTOCOL.md §7). */
interface Party {
  user: string;
  deviceId: number;
}
/** binding = user_A || u32 deviceId_A || user_B || u32 deviceId_B, initiator first (src/pqxdh.ts identityBinding). */
const identityBinding = (a: Party, b: Party) => cat(userField(a.user), u32be(a.deviceId), userField(b.user), u32be(b.deviceId));
/** The KDF info: PQXDH_INFO || 0x00 || binding (src/pqxdh.ts pqxdhInfo). */
const pqxdhInfo = (binding: Uint8Array) => cat(utf8(PQXDH_INFO), Uint8Array.of(0), binding);

/** [PQXDH] §2.2: KDF(KM) = HKDF(F || KM, salt = 0^32, info), F = 32 0xFF bytes for curve25519, 32 bytes out. */
function pqxdhKdf(km: Uint8Array, binding: Uint8Array): Uint8Array {
  return hkdf(sha256, cat(new Uint8Array(32).fill(0xff), km), new Uint8Array(32), pqxdhInfo(binding), 32);
}

/** The parties of the PQXDH cases: alice's device 7 starts a session with bob's device 9. */
const ALICE: Party = { user: 'alice', deviceId: 7 };
const BOB: Party = { user: 'bob', deviceId: 9 };
const encodeEC = (pub: Uint8Array) => cat(Uint8Array.of(KEY_TYPE_X25519), pub);

/** Padmé ([PURBs] §4): E = ⌊log2 L⌋, S = ⌊log2 E⌋ + 1, lastBits = E − S, mask = 2^lastBits − 1, (L + mask) & ~mask. */
function floorLog2(x: bigint): bigint {
  let e = -1n;
  while (x > 0n) {
    x >>= 1n;
    e++;
  }
  return e;
}
function padmeReference(length: number): number {
  const L = BigInt(length);
  if (L < 2n) return length; // ⌊log2 E⌋ is undefined for E = ⌊log2 L⌋ = 0 (L = 1) and ⌊log2 0⌋ (L = 0): nothing to round
  const E = floorLog2(L);
  const S = floorLog2(E) + 1n;
  const lastBits = E - S;
  const bitMask = (1n << lastBits) - 1n;
  return Number((L + bitMask) & ~bitMask);
}
/** src/padding.ts: plaintext || 0x80 || zeros, to Padmé(L + 1) bytes (ISO/IEC 7816-4 padding). */
function pad(plaintext: Uint8Array): Uint8Array {
  const out = new Uint8Array(padmeReference(plaintext.length + 1));
  out.set(plaintext, 0);
  out[plaintext.length] = 0x80;
  return out;
}

/** AES-256-GCM, 12-byte nonce, 16-byte tag appended (node:crypto: the primitive, not our code). */
function aesGcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  c.setAAD(aad);
  return cat(c.update(plaintext), c.final(), c.getAuthTag());
}

/** src/message.ts: ratchet header = version u8 | type=1 u8 | ratchetKey[32] | pn u32 | n u32 (DR §3.1 HEADER). */
const ratchetHeader = (ratchetKey: Uint8Array, pn: number, n: number) =>
  cat(Uint8Array.of(PROTOCOL_VERSION, MESSAGE_TYPE_RATCHET), ratchetKey, u32be(pn), u32be(n));

interface PqxdhCaseInput {
  name: string;
  withOneTimePreKey: boolean;
}

function pqxdhCase({ name, withOneTimePreKey }: PqxdhCaseInput) {
  const ikA = x25519KeyPair(`pqxdh/${name}/alice-identity`);
  const ekA = x25519KeyPair(`pqxdh/${name}/alice-ephemeral`);
  const ikB = x25519KeyPair(`pqxdh/${name}/bob-identity`);
  const spkB = x25519KeyPair(`pqxdh/${name}/bob-signed-prekey`);
  const opkB = withOneTimePreKey ? x25519KeyPair(`pqxdh/${name}/bob-one-time-prekey`) : undefined;
  const kemSeed = seed64(`pqxdh/${name}/bob-pq-prekey-seed`);
  const kemRandomness = seed32(`pqxdh/${name}/kem-randomness`);
  const kem = ml_kem768.keygen(kemSeed); // FIPS 203 ML-KEM.KeyGen_internal(d, z), seed = d || z
  const enc = ml_kem768.encapsulate(kem.publicKey, kemRandomness); // FIPS 203 ML-KEM.Encaps_internal(ek, m)
  check(sameBytes(ml_kem768.decapsulate(enc.cipherText, kem.secretKey), enc.sharedSecret), 'ML-KEM round trip');

  // §3.3: DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B)
  const dh1 = dh(ikA.privateKey, spkB.publicKey);
  const dh2 = dh(ekA.privateKey, ikB.publicKey);
  const dh3 = dh(ekA.privateKey, spkB.publicKey);
  const dh4 = opkB ? dh(ekA.privateKey, opkB.publicKey) : undefined;
  // §3.4: Bob computes the same values from his side.
  check(sameBytes(dh1, dh(spkB.privateKey, ikA.publicKey)), 'DH1 responder');
  check(sameBytes(dh2, dh(ikB.privateKey, ekA.publicKey)), 'DH2 responder');
  check(sameBytes(dh3, dh(spkB.privateKey, ekA.publicKey)), 'DH3 responder');
  if (opkB && dh4) check(sameBytes(dh4, dh(opkB.privateKey, ekA.publicKey)), 'DH4 responder');
  // §3.3: SK = KDF(DH1 || DH2 || DH3 [|| DH4] || SS), bound to both (user, device) pairs (§4.10).
  const km = cat(dh1, dh2, dh3, ...(dh4 ? [dh4] : []), enc.sharedSecret);
  const binding = identityBinding(ALICE, BOB);
  const sk = pqxdhKdf(km, binding);
  // The same key material bound to another responder (a relay presenting bob's keys as mallory's,
  // review finding M1): the initiator's SK differs from the one bob derives.
  const misbound = pqxdhKdf(km, identityBinding(ALICE, { user: 'mallory', deviceId: BOB.deviceId }));
  check(!sameBytes(misbound, sk), 'another responder gives another SK');
  // §3.3: AD = EncodeEC(IK_A) || EncodeEC(IK_B)
  const ad = cat(encodeEC(ikA.publicKey), encodeEC(ikB.publicKey));

  // Failure case: a modified KEM ciphertext. ML-KEM decapsulation does not fail (FIPS 203 §6.3 implicit
  // rejection), it yields an unrelated secret, so Bob derives a different SK and the first AEAD check fails.
  const tamperedCt = enc.cipherText.slice();
  tamperedCt[0] = (tamperedCt[0] as number) ^ 0x01;
  const rejectedSecret = ml_kem768.decapsulate(tamperedCt, kem.secretKey);
  check(!sameBytes(rejectedSecret, enc.sharedSecret), 'implicit rejection gives another secret');
  const skTampered = pqxdhKdf(cat(dh1, dh2, dh3, ...(dh4 ? [dh4] : []), rejectedSecret), binding);

  return {
    keys: { ikA, ekA, ikB, spkB, opkB, kem, kemSeed, kemRandomness },
    sk,
    ad,
    json: {
      name,
      alice: {
        user: ALICE.user,
        deviceId: ALICE.deviceId,
        identityPrivateKey: hex(ikA.privateKey),
        identityPublicKey: hex(ikA.publicKey),
        ephemeralPrivateKey: hex(ekA.privateKey),
        ephemeralPublicKey: hex(ekA.publicKey),
      },
      bob: {
        user: BOB.user,
        deviceId: BOB.deviceId,
        identityPrivateKey: hex(ikB.privateKey),
        identityPublicKey: hex(ikB.publicKey),
        signedPreKeyId: 1,
        signedPreKeyPrivateKey: hex(spkB.privateKey),
        signedPreKeyPublicKey: hex(spkB.publicKey),
        oneTimePreKeyId: opkB ? 100 : null,
        oneTimePreKeyPrivateKey: opkB ? hex(opkB.privateKey) : null,
        oneTimePreKeyPublicKey: opkB ? hex(opkB.publicKey) : null,
        pqPreKeyId: 7,
        pqPreKeySeed: hex(kemSeed),
        pqPreKeyPublicKey: hex(kem.publicKey),
        pqPreKeySecretKeySha256: hex(sha256(kem.secretKey)),
      },
      kemRandomness: hex(kemRandomness),
      dh1: hex(dh1),
      dh2: hex(dh2),
      dh3: hex(dh3),
      dh4: dh4 ? hex(dh4) : null,
      kemCipherText: hex(enc.cipherText),
      kemSharedSecret: hex(enc.sharedSecret),
      keyMaterial: hex(cat(new Uint8Array(32).fill(0xff), km)),
      identityBinding: hex(binding),
      info: hex(pqxdhInfo(binding)),
      sharedSecret: hex(sk),
      misboundResponder: {
        note: "the same DH outputs and KEM secret with the binding naming responder 'mallory' (device 9): what an initiator derives for a bundle relabelled by a relay",
        identityBinding: hex(identityBinding(ALICE, { user: 'mallory', deviceId: BOB.deviceId })),
        sharedSecret: hex(misbound),
      },
      associatedData: hex(ad),
      tamperedKemCipherText: {
        note: 'kemCipherText with bit 0 of byte 0 flipped: decapsulation succeeds with the implicit-rejection secret, so the responder derives this different SK',
        kemCipherText: hex(tamperedCt),
        kemSharedSecret: hex(rejectedSecret),
        sharedSecret: hex(skTampered),
      },
    },
  };
}

type PqxdhCase = ReturnType<typeof pqxdhCase>;

/** One party of a Double Ratchet session, as DR §3.2 describes the state variables. */
interface RatchetParty {
  identity: Uint8Array;
  peerIdentity: Uint8Array;
  dhs: { privateKey: Uint8Array; publicKey: Uint8Array };
  dhr: Uint8Array | null;
  rk: Uint8Array;
  cks: Uint8Array | null;
  ckr: Uint8Array | null;
  ns: number;
  nr: number;
  pn: number;
  prefix: Uint8Array | null;
}

/** DR §3.4 RatchetEncrypt with our header, AD, padding and AEAD; returns the wire bytes and the intermediates. */
function ratchetEncrypt(s: RatchetParty, plaintext: Uint8Array) {
  if (!s.cks) throw new Error('no sending chain');
  const chainKey = s.cks;
  const { chainKey: next, messageKey } = kdfCk(s.cks);
  s.cks = next;
  const header = ratchetHeader(s.dhs.publicKey, s.pn, s.ns);
  const n = s.ns;
  s.ns += 1;
  const { aesKey, nonce } = messageKeys(messageKey);
  // DR §3.4: ENCRYPT(mk, plaintext, CONCAT(AD, header)). AD as docs/PROTOCOL.md §8.3 defines it:
  // the sender's then the receiver's EncodeEC(identity key), then the PreKeyMessage prefix while one is
  // sent, then the header. For Alice (the PQXDH initiator) the first part is exactly PQXDH §3.3's
  // AD = EncodeEC(IK_A) || EncodeEC(IK_B); for Bob's messages the two keys swap places.
  const ad = s.prefix ? cat(encodeEC(s.identity), encodeEC(s.peerIdentity), s.prefix, header) : cat(encodeEC(s.identity), encodeEC(s.peerIdentity), header);
  const padded = pad(plaintext);
  const sealed = aesGcmSeal(aesKey, nonce, padded, ad);
  const wire = s.prefix ? cat(s.prefix, header, sealed) : cat(header, sealed);
  return {
    ratchetKey: hex(s.dhs.publicKey),
    pn: s.pn,
    n,
    chainKey: hex(chainKey),
    messageKey: hex(messageKey),
    aesKey: hex(aesKey),
    nonce: hex(nonce),
    headerBytes: hex(header),
    associatedData: hex(ad),
    paddedPlaintext: hex(padded),
    sealed: hex(sealed),
    wire: hex(wire),
  };
}

/** DR §3.5 RatchetDecrypt for in-order messages: DHRatchet on a new ratchet key, then one KDF_CK step. */
function ratchetReceive(s: RatchetParty, ratchetKey: Uint8Array, n: number, nextRatchet: { privateKey: Uint8Array; publicKey: Uint8Array }) {
  if (!s.dhr || !sameBytes(s.dhr, ratchetKey)) {
    // DHRatchet(state, header)
    s.pn = s.ns;
    s.ns = 0;
    s.nr = 0;
    s.dhr = ratchetKey;
    const recv = kdfRk(s.rk, dh(s.dhs.privateKey, s.dhr));
    s.rk = recv.rootKey;
    s.ckr = recv.chainKey;
    s.dhs = nextRatchet;
    const send = kdfRk(s.rk, dh(s.dhs.privateKey, s.dhr));
    s.rk = send.rootKey;
    s.cks = send.chainKey;
    s.prefix = null; // src/session.ts: a message from the peer ends the PreKeyMessage phase
  }
  check(n === s.nr, 'in-order delivery only');
  if (!s.ckr) throw new Error('no receiving chain');
  const { chainKey, messageKey } = kdfCk(s.ckr);
  s.ckr = chainKey;
  s.nr += 1;
  return messageKey;
}

const snapshot = (s: RatchetParty) => ({
  rootKey: hex(s.rk),
  ratchetPublicKey: hex(s.dhs.publicKey),
  sendChainKey: s.cks ? hex(s.cks) : null,
  receiveChainKey: s.ckr ? hex(s.ckr) : null,
});

function sessionVector(name: string, c: PqxdhCase, script: { from: 'alice' | 'bob'; text: string }[]) {
  const { ikA, ekA, ikB, spkB, opkB } = c.keys;
  const a0 = x25519KeyPair(`session/${name}/alice-ratchet-0`);
  // Alice's device certificate (identity.json's construction): it names the initiator's user and device.
  const certificate = deviceCertificate(`session/${name}`, ALICE, ikA.publicKey).encoded;
  // src/message.ts PreKeyMessage prefix: version | type=2 | certificate (u16 length) | baseKey[32] |
  // kemCipherText[1088] | spkId u32 | hasOneTime u8 | opkId u32 (if hasOneTime) | pqId u32
  const prefix = cat(
    Uint8Array.of(PROTOCOL_VERSION, MESSAGE_TYPE_PREKEY),
    u16be(certificate.length),
    certificate,
    ekA.publicKey,
    unhex(c.json.kemCipherText),
    u32be(c.json.bob.signedPreKeyId),
    opkB ? cat(Uint8Array.of(1), u32be(c.json.bob.oneTimePreKeyId as number)) : Uint8Array.of(0),
    u32be(c.json.bob.pqPreKeyId),
  );
  // DR §3.3 RatchetInitAlice(SK, bob_dh_public_key = SPK_B): DHs = A0, RK, CKs = KDF_RK(SK, DH(A0, SPK_B)).
  const initDh = dh(a0.privateKey, spkB.publicKey);
  const init = kdfRk(c.sk, initDh);
  const alice: RatchetParty = {
    identity: ikA.publicKey,
    peerIdentity: ikB.publicKey,
    dhs: a0,
    dhr: spkB.publicKey,
    rk: init.rootKey,
    cks: init.chainKey,
    ckr: null,
    ns: 0,
    nr: 0,
    pn: 0,
    prefix,
  };
  // DR §3.3 RatchetInitBob(SK, bob_dh_key_pair = SPK_B).
  const bob: RatchetParty = {
    identity: ikB.publicKey,
    peerIdentity: ikA.publicKey,
    dhs: spkB,
    dhr: null,
    rk: c.sk,
    cks: null,
    ckr: null,
    ns: 0,
    nr: 0,
    pn: 0,
    prefix: null,
  };
  const afterInit = snapshot(alice);
  const fresh = { alice: [] as string[], bob: [] as string[] }; // ratchet private keys each party generates, in order
  let counter = 0;
  const messages = script.map(({ from, text }) => {
    const [sender, receiver, receiverName] = from === 'alice' ? [alice, bob, 'bob' as const] : [bob, alice, 'alice' as const];
    const plaintext = utf8(text);
    const m = ratchetEncrypt(sender, plaintext);
    const next = x25519KeyPair(`session/${name}/${receiverName}-ratchet-${++counter}`);
    const dhRatchetStep = !receiver.dhr || !sameBytes(receiver.dhr, sender.dhs.publicKey);
    const mk = ratchetReceive(receiver, sender.dhs.publicKey, m.n, next);
    check(hex(mk) === m.messageKey, 'receiver derives the same message key');
    if (dhRatchetStep) fresh[receiverName].push(hex(next.privateKey));
    return { from, plaintext: hex(plaintext), plaintextUtf8: text, ...m, receiverGeneratesRatchetKey: dhRatchetStep, receiverAfter: snapshot(receiver) };
  });
  return {
    name,
    pqxdhCase: c.json.name,
    certificate: hex(certificate),
    aliceRatchetPrivateKey: hex(a0.privateKey),
    aliceRatchetPublicKey: hex(a0.publicKey),
    ratchetInitDhOutput: hex(initDh),
    aliceAfterInit: afterInit,
    preKeyPrefix: hex(prefix),
    ratchetKeysGenerated: fresh,
    messages,
  };
}

function pqxdhVectors() {
  const withOpk = pqxdhCase({ name: 'with-one-time-prekey', withOneTimePreKey: true });
  const withoutOpk = pqxdhCase({ name: 'without-one-time-prekey', withOneTimePreKey: false });
  const sessions = [
    sessionVector('full-exchange', withOpk, [
      { from: 'alice', text: 'Hello Bob, this is Alice.' },
      { from: 'alice', text: 'A second message before any reply: still a PreKeyMessage, n = 1, padded to Padmé.' },
      { from: 'bob', text: 'Hi Alice!' },
      { from: 'alice', text: '' },
    ]),
    sessionVector('no-one-time-prekey', withoutOpk, [{ from: 'alice', text: 'First message without a one-time prekey.' }]),
  ];
  const lowOrder = '0100000000000000000000000000000000000000000000000000000000000000';
  writeJson('pqxdh.json', {
    description:
      'PQXDH with fixed keys, then the first messages of the session over the Double Ratchet: public keys, the DH outputs, the ML-KEM-768 ciphertext and secret, the identity binding and KDF info, SK (and the SK of the same inputs bound to another responder), AD, and the exact wire bytes. Alice is device 7 of user alice, Bob device 9 of user bob; each session certificate is a genuine format-2 certificate of the device of Alice (construction as in identity.json). Private keys are X25519 scalars as stored (clamped inside X25519). The KEM key pair is ML-KEM-768 KeyGen from the 64-byte seed d || z, encapsulation uses the 32-byte message m. In sessions, ratchetKeysGenerated lists the ratchet private keys each party generates (in order) when it performs a DH ratchet step.',
    source: [
      'PQXDH rev. 2 §2.1 (curve25519, SHA-256, ML-KEM-768, info) and §2.2 KDF(KM) = HKDF(F || KM, salt = 0^32, info), F = 32 bytes 0xFF',
      'PQXDH rev. 2 §4.10 identity binding, as docs/PROTOCOL.md §7 applies it: the KDF info is PQXDH_INFO || 0x00 || user_A || u32 deviceId_A || user_B || u32 deviceId_B (users as u8 length || UTF-8), initiator first; layout copied from src/pqxdh.ts identityBinding',
      'PQXDH rev. 2 §3.3: DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B), (CT, SS) = PQKEM-ENC(PQPK_B), SK = KDF(DH1 || DH2 || DH3 [|| DH4] || SS), AD = EncodeEC(IK_A) || EncodeEC(IK_B)',
      'PQXDH rev. 2 §3.4 (responder side, computed and checked in the reference)',
      'FIPS 203 ML-KEM-768 (via @noble/post-quantum), implicit rejection for the tampered ciphertext',
      'Double Ratchet rev. 3 §3.3 RatchetInitAlice / RatchetInitBob, §3.4 RatchetEncrypt, §3.5 RatchetDecrypt and DHRatchet, §5.2 KDFs',
      'Wire formats, AD layout and labels copied from the doc comments of src/message.ts (PreKeyMessage, RatchetMessage), src/ratchet.ts (associatedData), src/padding.ts (0x80 then zeros to Padmé(L + 1)), src/pqxdh.ts (PQXDH_INFO), src/encoding.ts (EncodeEC type byte 0x05)',
      'AES-256-GCM from node:crypto (primitive), 12-byte nonce, 16-byte tag',
    ],
    generator: GENERATOR,
    constants: { info: labelHex(PQXDH_INFO), F: hex(new Uint8Array(32).fill(0xff)), salt: hex(new Uint8Array(32)), encodeECType: KEY_TYPE_X25519 },
    cases: [withOpk.json, withoutOpk.json],
    failures: [
      { name: 'initiator: low-order signed prekey', role: 'initiator', field: 'signedPreKey', value: lowOrder, expect: 'InvalidKeyError' },
      { name: 'initiator: low-order identity key', role: 'initiator', field: 'identityKey', value: lowOrder, expect: 'InvalidKeyError' },
      { name: 'initiator: low-order one-time prekey', role: 'initiator', field: 'oneTimePreKey', value: lowOrder, expect: 'InvalidKeyError' },
      {
        name: 'initiator: non-canonical signed prekey (top bit set)',
        role: 'initiator',
        field: 'signedPreKey',
        value: hex(withOpk.keys.spkB.publicKey.map((b, i) => (i === 31 ? b | 0x80 : b))),
        expect: 'InvalidKeyError',
      },
      { name: 'responder: low-order ephemeral key', role: 'responder', field: 'ephemeralPublicKey', value: lowOrder, expect: 'DecryptError' },
      { name: 'responder: low-order initiator identity', role: 'responder', field: 'initiatorIdentity', value: lowOrder, expect: 'DecryptError' },
      {
        name: 'responder: truncated KEM ciphertext',
        role: 'responder',
        field: 'kemCipherText',
        value: withOpk.json.kemCipherText.slice(0, -2),
        expect: 'DecryptError',
      },
    ],
    sessions,
  });
}

// ---------------------------------------------------------------------------------------------
// padding.json
// ---------------------------------------------------------------------------------------------

function paddingVectors() {
  const lengths = new Set<number>();
  for (let L = 0; L <= 300; L++) lengths.add(L);
  for (let k = 9; k <= 32; k++) for (const d of [-1, 0, 1]) lengths.add(2 ** k + d);
  for (const L of [1000, 1500, 4097, 10_000, 65_535, 65_537, 100_000, 1_000_000, 1_048_576, 1_048_577, 123_456_789, 2 ** 31 + 12345, 2 ** 32 - 1]) {
    lengths.add(L);
  }
  const vectors = [...lengths]
    .filter((L) => L <= 2 ** 32 - 1)
    .sort((a, b) => a - b)
    .map((L) => ({ L, padded: padmeReference(L) }));
  for (const { L, padded } of vectors) check(padded >= L && padded - L <= Math.max(1, L / 8), `Padmé overhead for ${L}`);
  writeJson('padding.json', {
    description:
      'Padmé(L) for lengths 0 .. 2^32 - 1. E = floor(log2 L), S = floor(log2 E) + 1, lastBits = E - S, bitMask = 2^lastBits - 1, Padmé(L) = (L + bitMask) & ~bitMask. For L = 0 and L = 1 the formula is undefined (log2 0) and the length is returned unchanged (nothing to round). Blindrelay pads a plaintext of n bytes to Padmé(n + 1) bytes (0x80 then zeros), see pqxdh.json paddedPlaintext.',
    source: [
      'Nikitin, Barman, Lueks, Underwood, Hubaux, Ford: "Reducing Metadata Leakage from Encrypted Files and Communication with PURBs", PETS 2019, §4 (Padmé)',
      'use in Blindrelay: src/padding.ts doc comment',
    ],
    generator: GENERATOR,
    vectors,
  });
}

// ---------------------------------------------------------------------------------------------
// safety-number.json
// ---------------------------------------------------------------------------------------------

/**
 * As documented in src/safety-number.ts: key = 0x0e || master key; h = SHA-512(version || key || utf8(user));
 * then 5199 times h = SHA-512(h || key). Digits: the first 30 bytes, six 5-byte big-endian chunks mod 100000.
 * The halves and the QR fingerprints are in sorted order of the 32-byte fingerprints.
 */
function fingerprint(user: string, masterKey: Uint8Array): Uint8Array {
  const key = cat(Uint8Array.of(KEY_TYPE_ED25519), masterKey);
  let h = sha512(cat(FINGERPRINT_VERSION, key, utf8(user)));
  for (let i = 1; i < SAFETY_NUMBER_ITERATIONS; i++) h = sha512(cat(h, key));
  return h;
}
function fingerprintDigits(h: Uint8Array): string {
  let out = '';
  for (let i = 0; i < 30; i += 5) {
    let v = 0n;
    for (let j = 0; j < 5; j++) v = (v << 8n) | BigInt(h[i + j] as number);
    out += (v % 100000n).toString().padStart(5, '0');
  }
  return out;
}
function lexLess(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return (a[i] as number) < (b[i] as number);
  return a.length < b.length;
}

function safetyNumberVectors() {
  const users = (a: string, b: string) =>
    [a, b].map((user) => {
      const masterSeed = seed32(`safety-number/${user}/master`);
      return { user, masterSeed, masterKey: ed25519.getPublicKey(masterSeed) };
    });
  const pairs = [users('alice', 'bob'), users('carol.smith-01', 'dave_2')];
  const vectors = pairs.map(([a, b]) => {
    if (!a || !b) throw new Error('pair');
    const fa = fingerprint(a.user, a.masterKey);
    const fb = fingerprint(b.user, b.masterKey);
    const [lo, hi] = lexLess(fb.subarray(0, 32), fa.subarray(0, 32)) ? [fb, fa] : [fa, fb];
    const digits = fingerprintDigits(lo) + fingerprintDigits(hi);
    // Informational: libsignal orders the two halves by comparing the digit strings, not the hashes.
    const signalOrder = [fingerprintDigits(fa), fingerprintDigits(fb)].sort().join('');
    return {
      a: { user: a.user, masterSeed: hex(a.masterSeed), masterKey: hex(a.masterKey), fingerprint: hex(fa), digits: fingerprintDigits(fa) },
      b: { user: b.user, masterSeed: hex(b.masterSeed), masterKey: hex(b.masterKey), fingerprint: hex(fb), digits: fingerprintDigits(fb) },
      digits,
      qrPayload: hex(cat(Uint8Array.of(QR_VERSION), lo.subarray(0, 32), hi.subarray(0, 32))),
      digitStringOrderAgrees: signalOrder === digits,
    };
  });
  writeJson('safety-number.json', {
    description:
      'Safety numbers for fixed (user, Ed25519 master public key) pairs. fingerprint = SHA-512 iterated: h0 = SHA-512(0x0001 || 0x0e || masterKey || utf8(user)), h(i) = SHA-512(h(i-1) || 0x0e || masterKey), 5200 hashes in all. Each fingerprint gives 30 digits (bytes 0..29 as six 5-byte big-endian integers mod 100000, zero-padded to 5 digits). The two halves, and the two 32-byte fingerprint prefixes in the QR payload (0x01 || lo || hi), are in ascending byte order of the 32-byte prefixes. The result must not depend on the argument order. masterSeed is the Ed25519 seed the master key was derived from (RFC 8032 §5.1.5).',
    source: [
      'construction as documented in src/safety-number.ts (after libsignal fingerprint.rs, with our own version bytes and encoding)',
      'constants copied from src/safety-number.ts (SAFETY_NUMBER_ITERATIONS = 5200, FINGERPRINT_VERSION = 0x0001, QR_VERSION = 1) and src/encoding.ts (KEY_TYPE_ED25519 = 0x0e)',
    ],
    generator: GENERATOR,
    vectors,
  });
}

// ---------------------------------------------------------------------------------------------
// identity.json: certificates, device lists with proofs of possession, bound prekey signatures
// ---------------------------------------------------------------------------------------------

/** src/signature.ts SIGNATURE_LABELS: every signature is Ed25519 over label || 0x00 || body. */
const LABELS = {
  deviceCertificate: 'Blindrelay_DeviceCertificate_v2',
  deviceList: 'Blindrelay_DeviceList_v2',
  deviceProof: 'Blindrelay_DeviceProof_v1',
  signedPreKey: 'Blindrelay_SignedPreKey_v2',
  pqPreKey: 'Blindrelay_PqPreKey_v2',
} as const;
const KEY_TYPE_MLKEM768 = 0x08;
const labelled = (label: string, body: Uint8Array) => cat(utf8(label), Uint8Array.of(0), body);
const edSign = (seed: Uint8Array, label: string, body: Uint8Array) => ed25519.sign(labelled(label, body), seed);
function u64be(v: number): Uint8Array {
  const out = new Uint8Array(8);
  let x = BigInt(v);
  for (let i = 7; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}
function edKeyPair(label: string) {
  const seed = seed32(label);
  return { seed, publicKey: ed25519.getPublicKey(seed) };
}

/** docs/PROTOCOL.md §4: 0x02 | user | masterKey | u32 deviceId | signingKey | identityKey | signature (label deviceCertificate). */
function deviceCertificate(prefix: string, party: Party, identityKey: Uint8Array) {
  const master = edKeyPair(`${prefix}/${party.user}-master`);
  const signing = edKeyPair(`${prefix}/${party.user}-${party.deviceId}-signing`);
  const body = cat(Uint8Array.of(2), userField(party.user), master.publicKey, u32be(party.deviceId), signing.publicKey, identityKey);
  const signature = edSign(master.seed, LABELS.deviceCertificate, body);
  check(ed25519.verify(signature, labelled(LABELS.deviceCertificate, body), master.publicKey), 'certificate verifies');
  return { master, signing, body, signature, encoded: cat(body, signature) };
}

interface ListDevice {
  deviceId: number;
  signing: { seed: Uint8Array; publicKey: Uint8Array };
  identityKey: Uint8Array;
  fileKey: Uint8Array | null;
}
/** docs/PROTOCOL.md §5: proof body = user | u32 deviceId | masterKey | signingKey | identityKey | hasFileKey u8 | fileKey?. */
const proofBody = (user: string, masterKey: Uint8Array, d: ListDevice) =>
  cat(userField(user), u32be(d.deviceId), masterKey, d.signing.publicKey, d.identityKey, d.fileKey ? cat(Uint8Array.of(1), d.fileKey) : Uint8Array.of(0));

function identityVectors() {
  const certificate = deviceCertificate('identity', ALICE, x25519KeyPair('identity/alice-7-identity').publicKey);

  // A format-3 list of alice's with two devices: device 7 with a file key, device 12 without one.
  const master = certificate.master;
  const devices: ListDevice[] = [
    {
      deviceId: 7,
      signing: certificate.signing,
      identityKey: x25519KeyPair('identity/alice-7-identity').publicKey,
      fileKey: x25519KeyPair('identity/alice-7-file').publicKey,
    },
    { deviceId: 12, signing: edKeyPair('identity/alice-12-signing'), identityKey: x25519KeyPair('identity/alice-12-identity').publicKey, fileKey: null },
  ];
  const proofs = devices.map((d) => {
    const body = proofBody('alice', master.publicKey, d);
    const proof = edSign(d.signing.seed, LABELS.deviceProof, body);
    check(ed25519.verify(proof, labelled(LABELS.deviceProof, body), d.signing.publicKey), 'proof verifies');
    // The same device's proof does not verify for another user (the M1 relabelling).
    check(!ed25519.verify(proof, labelled(LABELS.deviceProof, proofBody('mallory', master.publicKey, d)), d.signing.publicKey), 'proof bound to its user');
    return { deviceId: d.deviceId, body: hex(body), proof: hex(proof), proofBytes: proof };
  });
  const version = 3;
  const issuedAt = Date.UTC(2026, 11, 3); // 2026-12-03T00:00:00Z
  const listBody = cat(
    Uint8Array.of(3),
    userField('alice'),
    master.publicKey,
    u64be(version),
    u64be(issuedAt),
    u16be(devices.length),
    ...devices.map((d, i) =>
      cat(
        u32be(d.deviceId),
        d.signing.publicKey,
        d.identityKey,
        d.fileKey ? cat(Uint8Array.of(1), d.fileKey) : Uint8Array.of(0),
        Uint8Array.of(1),
        proofs[i]?.proofBytes as Uint8Array,
      ),
    ),
  );
  const listSignature = edSign(master.seed, LABELS.deviceList, listBody);

  // Bob's device 9 prekeys, signed bound to (bob, 9): docs/PROTOCOL.md §3.
  const bobSigning = edKeyPair('identity/bob-9-signing');
  const spk = x25519KeyPair('identity/bob-9-signed-prekey');
  const spkBody = cat(userField(BOB.user), u32be(BOB.deviceId), u32be(1), encodeEC(spk.publicKey));
  const pq = ml_kem768.keygen(seed64('identity/bob-9-pq-prekey'));
  const pqBody = cat(userField(BOB.user), u32be(BOB.deviceId), Uint8Array.of(0), u32be(5), Uint8Array.of(KEY_TYPE_MLKEM768), pq.publicKey);
  const spkSignature = edSign(bobSigning.seed, LABELS.signedPreKey, spkBody);
  const pqSignature = edSign(bobSigning.seed, LABELS.pqPreKey, pqBody);
  // The same signed prekey presented as mallory's device 9 does not verify.
  const asMallory = cat(userField('mallory'), u32be(BOB.deviceId), u32be(1), encodeEC(spk.publicKey));
  check(!ed25519.verify(spkSignature, labelled(LABELS.signedPreKey, asMallory), bobSigning.publicKey), 'spk bound to its user');

  writeJson('identity.json', {
    description:
      'Signed identity structures, signed with fixed Ed25519 seeds (RFC 8032 signatures are deterministic, so the bytes are exact): a format-2 device certificate, a format-3 device list whose two entries carry proofs of possession and which has an issue time (ms since the epoch), and a signed prekey and an ML-KEM prekey signed bound to their user and device. Every signature is Ed25519 over label || 0x00 || body. X25519 keys are computed with the RFC 7748 ladder and noble; the ML-KEM key pair from the 64-byte seed (FIPS 203 KeyGen_internal(d, z)).',
    source: [
      'docs/PROTOCOL.md §3 (labels, prekey signature bodies), §4 (certificate format 2), §5 (device list format 3, proofs of possession, issuedAt)',
      'labels copied from src/signature.ts SIGNATURE_LABELS; layouts from the doc comments of src/device-certificate.ts, src/device-list.ts, src/prekeys.ts',
      'RFC 8032 §5.1.6 Ed25519 signing (via @noble/curves), RFC 7748 X25519, FIPS 203 ML-KEM-768 (via @noble/post-quantum)',
    ],
    generator: GENERATOR,
    labels: Object.fromEntries(Object.entries(LABELS).map(([k, v]) => [k, labelHex(v)])),
    certificate: {
      user: ALICE.user,
      deviceId: ALICE.deviceId,
      masterSeed: hex(certificate.master.seed),
      masterKey: hex(certificate.master.publicKey),
      signingSeed: hex(certificate.signing.seed),
      signingKey: hex(certificate.signing.publicKey),
      identityPrivateKey: hex(x25519KeyPair('identity/alice-7-identity').privateKey),
      identityKey: hex(x25519KeyPair('identity/alice-7-identity').publicKey),
      body: hex(certificate.body),
      signature: hex(certificate.signature),
      encoded: hex(certificate.encoded),
    },
    deviceList: {
      user: 'alice',
      masterSeed: hex(master.seed),
      masterKey: hex(master.publicKey),
      version,
      issuedAt,
      devices: devices.map((d, i) => ({
        deviceId: d.deviceId,
        signingSeed: hex(d.signing.seed),
        signingKey: hex(d.signing.publicKey),
        identityKey: hex(d.identityKey),
        fileKey: d.fileKey ? hex(d.fileKey) : null,
        proofBody: proofs[i]?.body,
        proof: proofs[i]?.proof,
      })),
      body: hex(listBody),
      signature: hex(listSignature),
      encoded: hex(cat(listBody, listSignature)),
    },
    prekeys: {
      user: BOB.user,
      deviceId: BOB.deviceId,
      signingSeed: hex(bobSigning.seed),
      signingKey: hex(bobSigning.publicKey),
      signedPreKey: { id: 1, privateKey: hex(spk.privateKey), publicKey: hex(spk.publicKey), body: hex(spkBody), signature: hex(spkSignature) },
      pqPreKey: {
        id: 5,
        lastResort: false,
        seed: hex(seed64('identity/bob-9-pq-prekey')),
        publicKey: hex(pq.publicKey),
        body: hex(pqBody),
        signature: hex(pqSignature),
      },
    },
  });
}

// ---------------------------------------------------------------------------------------------
// primitives.json: published vectors, copied by hand and checked here against noble and node:crypto
// ---------------------------------------------------------------------------------------------

const REPEAT = (byte: string, n: number) => byte.repeat(n);

function primitivesVectors() {
  const x25519Vectors = [
    {
      name: 'RFC 7748 §5.2 test vector 1',
      scalar: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
      u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
      output: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
      canonical: true,
    },
    {
      name: 'RFC 7748 §5.2 test vector 2 (input u has bit 255 set: X25519 masks it, our dh() rejects the encoding)',
      scalar: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
      u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
      output: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
      canonical: false,
    },
    {
      name: 'RFC 7748 §6.1 Alice computes the shared secret',
      scalar: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
      u: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
      output: '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
      canonical: true,
    },
    {
      name: 'RFC 7748 §6.1 Bob computes the shared secret',
      scalar: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
      u: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
      output: '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
      canonical: true,
    },
  ];
  const x25519PublicKeys = [
    {
      name: 'RFC 7748 §6.1 Alice',
      privateKey: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
      publicKey: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    },
    {
      name: 'RFC 7748 §6.1 Bob',
      privateKey: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
      publicKey: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
    },
  ];
  // RFC 7748 §5.2: k = u = 9; repeat: (k, u) = (X25519(k, u), k).
  const x25519Iterated = [
    { iterations: 1, output: '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079' },
    { iterations: 1000, output: '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51' },
  ];
  for (const v of x25519Vectors) {
    check(hex(x25519Ladder(unhex(v.scalar), unhex(v.u))) === v.output, `${v.name} (ladder)`);
    check(hex(x25519.scalarMult(unhex(v.scalar), unhex(v.u))) === v.output, `${v.name} (noble)`);
  }
  for (const v of x25519PublicKeys) check(hex(x25519Public(unhex(v.privateKey))) === v.publicKey, v.name);
  for (const v of x25519Iterated) {
    let k = BASE_POINT;
    let u = BASE_POINT;
    for (let i = 0; i < v.iterations; i++) [k, u] = [x25519.scalarMult(k, u), k];
    check(hex(k) === v.output, `RFC 7748 iterated ${v.iterations}`);
    if (v.iterations === 1) check(hex(x25519Ladder(BASE_POINT, BASE_POINT)) === v.output, 'iterated once (ladder)');
  }

  // Points whose X25519 output is all-zero for every clamped scalar. Canonical encodings: libsodium's
  // has_small_order() blocklist (src/libsodium/crypto_scalarmult/curve25519/ref10/x25519_ref10.c), which is
  // the list in D. J. Bernstein, https://cr.yp.to/ecdh.html ("Which public keys should be rejected?").
  const P_MINUS_1 = `ec${REPEAT('ff', 30)}7f`;
  const P_ = `ed${REPEAT('ff', 30)}7f`;
  const P_PLUS_1 = `ee${REPEAT('ff', 30)}7f`;
  const U8A = 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800';
  const U8B = '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157';
  const canonicalLowOrder = [
    { name: 'u = 0', u: REPEAT('00', 32) },
    { name: 'u = 1', u: `01${REPEAT('00', 31)}` },
    { name: 'order-8 point 325606250916557431795983626356110631294008115727848805560023387167927233504', u: U8A },
    { name: 'order-8 point 39382357235489614581723060781553021112529911719440698176882885853963445705823', u: U8B },
    { name: 'u = p - 1', u: P_MINUS_1 },
  ];
  const setTop = (h: string) => h.slice(0, 62) + ((Number.parseInt(h.slice(62), 16) | 0x80) >>> 0).toString(16).padStart(2, '0');
  const nonCanonicalLowOrder = [
    { name: 'u = p (decodes to 0)', u: P_ },
    { name: 'u = p + 1 (decodes to 1)', u: P_PLUS_1 },
    ...[...canonicalLowOrder, { name: 'u = p', u: P_ }, { name: 'u = p + 1', u: P_PLUS_1 }].map((v) => ({ name: `${v.name}, bit 255 set`, u: setTop(v.u) })),
  ];
  // Each one must give the all-zero output under RFC 7748 decoding (bit 255 masked, u taken mod p).
  for (const v of [...canonicalLowOrder, ...nonCanonicalLowOrder]) {
    for (const label of ['k1', 'k2', 'k3']) check(sameBytes(x25519Ladder(seed32(`low-order/${label}`), unhex(v.u)), ZERO32), `low order: ${v.name}`);
  }
  // Non-canonical encodings that are not of low order: our x25519.ts rejects them as well.
  const nonCanonicalOther = [
    { name: 'u = p + 2', u: `ef${REPEAT('ff', 30)}7f` },
    { name: 'u = 2^255 - 1', u: `${REPEAT('ff', 31)}7f` },
    { name: 'RFC 7748 §6.1 Bob public key with bit 255 set', u: setTop('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f') },
    { name: 'libsodium legacy list: 2p - 1 as a 256-bit value', u: `d9${REPEAT('ff', 31)}` },
    { name: 'libsodium legacy list: 2p as a 256-bit value', u: `da${REPEAT('ff', 31)}` },
    { name: 'libsodium legacy list: 2p + 1 as a 256-bit value', u: `db${REPEAT('ff', 31)}` },
  ];
  const badLengths = [
    { name: '31 bytes', u: REPEAT('09', 31) },
    { name: '33 bytes', u: `09${REPEAT('00', 32)}` },
    { name: 'empty', u: '' },
  ];

  const ed25519Vectors = [
    {
      name: 'RFC 8032 §7.1 TEST 1',
      secretKey: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
      publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
      message: '',
      signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    },
    {
      name: 'RFC 8032 §7.1 TEST 2',
      secretKey: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
      publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
      message: '72',
      signature: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    },
    {
      name: 'RFC 8032 §7.1 TEST 3',
      secretKey: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
      publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
      message: 'af82',
      signature: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
    },
  ];
  for (const v of ed25519Vectors) {
    check(hex(ed25519.getPublicKey(unhex(v.secretKey))) === v.publicKey, `${v.name} public key`);
    check(hex(ed25519.sign(unhex(v.message), unhex(v.secretKey))) === v.signature, `${v.name} signature`);
    check(ed25519.verify(unhex(v.signature), unhex(v.message), unhex(v.publicKey)), `${v.name} verify`);
  }

  // Ed25519 public keys every implementation must refuse (docs/PROTOCOL.md §3; review finding L1):
  // the eight points of the torsion subgroup, as the multiples of an order-8 point computed by noble,
  // and encodings RFC 8032 §5.1.3 does not allow (y >= p; x = 0 with the sign bit set), which noble's
  // strict decoding refuses. With each, the "signature" R = identity, S = 0 is the universal forgery.
  const Point = ed25519.Point;
  const order8 = Point.fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05');
  check(!order8.multiply(4n).is0() && order8.multiply(8n).is0(), 'a point of order 8');
  const smallOrder: { name: string; key: string }[] = [];
  let q = Point.ZERO;
  for (let i = 0; i < 8; i++) {
    check(q.isSmallOrder(), `torsion multiple ${i} is of small order`);
    smallOrder.push({ name: `${i} × the order-8 point`, key: hex(q.toBytes()) });
    q = q.add(order8);
  }
  check(new Set(smallOrder.map((v) => v.key)).size === 8, 'eight distinct torsion points');
  const nonCanonicalKeys = [
    { name: 'y = p (the encoding of y = 0 plus p)', key: `ed${REPEAT('ff', 30)}7f` },
    { name: 'y = p + 1 (the identity plus p)', key: `ee${REPEAT('ff', 30)}7f` },
    { name: 'y = 2^255 - 1', key: `${REPEAT('ff', 31)}7f` },
    { name: 'the identity (x = 0) with the sign bit set', key: `01${REPEAT('00', 30)}80` },
    { name: 'y = p - 1 (x = 0) with the sign bit set', key: `ec${REPEAT('ff', 31)}` },
  ];
  for (const v of nonCanonicalKeys) {
    let decoded = true;
    try {
      Point.fromBytes(unhex(v.key), false);
    } catch {
      decoded = false;
    }
    check(!decoded, `${v.name}: refused by strict decoding`);
  }
  const forgery = `01${REPEAT('00', 63)}`; // R = identity, S = 0
  for (const v of [...smallOrder, ...nonCanonicalKeys])
    check(!ed25519.verify(unhex(forgery), utf8('any message'), unhex(v.key), { zip215: false }), `${v.name}: no forgery`);
  // Signatures RFC 8032 §5.1.7 refuses under a valid key: S >= L (S + L of a genuine one), R not canonical.
  const t1 = ed25519Vectors[0] as (typeof ed25519Vectors)[number];
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  const sPlusL = (BigInt(`0x${Buffer.from(unhex(t1.signature).slice(32)).reverse().toString('hex')}`) + L).toString(16).padStart(64, '0');
  const sPlusLe = hex(unhex(sPlusL).reverse());
  const badSignatures = [
    { name: 'RFC 8032 TEST 1 with S + L (non-canonical S)', publicKey: t1.publicKey, message: t1.message, signature: t1.signature.slice(0, 64) + sPlusLe },
    { name: 'RFC 8032 TEST 1 with R = y >= p', publicKey: t1.publicKey, message: t1.message, signature: `ed${REPEAT('ff', 30)}7f${t1.signature.slice(64)}` },
  ];
  for (const v of badSignatures) check(!ed25519.verify(unhex(v.signature), unhex(v.message), unhex(v.publicKey), { zip215: false }), `${v.name}: refused`);

  const hkdfVectors = [
    {
      name: 'RFC 5869 A.1 (test case 1)',
      ikm: REPEAT('0b', 22),
      salt: '000102030405060708090a0b0c',
      info: 'f0f1f2f3f4f5f6f7f8f9',
      length: 42,
      prk: '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5',
      okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    },
    {
      name: 'RFC 5869 A.2 (test case 2, longer inputs and outputs)',
      ikm: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f',
      salt: '606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf',
      info: 'b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff',
      length: 82,
      prk: '06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244',
      okm: 'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
    },
    {
      name: 'RFC 5869 A.3 (test case 3, zero-length salt and info)',
      ikm: REPEAT('0b', 22),
      salt: '',
      info: '',
      length: 42,
      prk: '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04',
      okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    },
  ];
  for (const v of hkdfVectors) {
    check(hex(extract(sha256, unhex(v.ikm), unhex(v.salt))) === v.prk, `${v.name} PRK`);
    check(hex(hkdf(sha256, unhex(v.ikm), unhex(v.salt), unhex(v.info), v.length)) === v.okm, `${v.name} OKM`);
  }

  const hmacVectors = [
    {
      name: 'RFC 4231 §4.2 test case 1',
      key: REPEAT('0b', 20),
      data: '4869205468657265',
      mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    },
    {
      name: 'RFC 4231 §4.3 test case 2 (key "Jefe", data "what do ya want for nothing?")',
      key: '4a656665',
      data: '7768617420646f2079612077616e7420666f72206e6f7468696e673f',
      mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    },
  ];
  for (const v of hmacVectors) check(hex(hmac(sha256, unhex(v.key), unhex(v.data))) === v.mac, v.name);

  const sha512Vectors = [
    {
      name: 'FIPS 180-2 Appendix C.1 (one-block message "abc")',
      message: '616263',
      digest: 'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    },
    {
      name: 'FIPS 180-2 Appendix C.2 (multi-block message)',
      message: hex(utf8('abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu')),
      digest: '8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909',
    },
  ];
  for (const v of sha512Vectors) check(hex(sha512(unhex(v.message))) === v.digest, v.name);

  const GCM_K = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';
  const GCM_IV = 'cafebabefacedbaddecaf888';
  const aesGcmVectors = [
    {
      name: 'McGrew & Viega GCM spec, Appendix B, test case 13 (AES-256, empty plaintext, no AAD)',
      key: REPEAT('00', 32),
      nonce: REPEAT('00', 12),
      plaintext: '',
      aad: '',
      ciphertext: '',
      tag: '530f8afbc74536b9a963b4f1c4cb738b',
    },
    {
      name: 'McGrew & Viega GCM spec, Appendix B, test case 14 (AES-256, one zero block)',
      key: REPEAT('00', 32),
      nonce: REPEAT('00', 12),
      plaintext: REPEAT('00', 16),
      aad: '',
      ciphertext: 'cea7403d4d606b6e074ec5d3baf39d18',
      tag: 'd0d1c8a799996bf0265b98b5d48ab919',
    },
    {
      name: 'McGrew & Viega GCM spec, Appendix B, test case 15 (AES-256, 64-byte plaintext, no AAD)',
      key: GCM_K,
      nonce: GCM_IV,
      plaintext: 'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255',
      aad: '',
      ciphertext: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad',
      tag: 'b094dac5d93471bdec1a502270e3cc6c',
    },
    {
      name: 'McGrew & Viega GCM spec, Appendix B, test case 16 (AES-256, 60-byte plaintext, 20-byte AAD)',
      key: GCM_K,
      nonce: GCM_IV,
      plaintext: 'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
      aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
      ciphertext: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
      tag: '76fc6ece0f4e1768cddf8853bb2d551b',
    },
  ];
  for (const v of aesGcmVectors) {
    check(hex(aesGcmSeal(unhex(v.key), unhex(v.nonce), unhex(v.plaintext), unhex(v.aad))) === v.ciphertext + v.tag, v.name);
  }

  writeJson('primitives.json', {
    description:
      'Published test vectors for the primitives interface (src/primitives/types.ts), copied from the cited documents and checked by the generator against @noble/* and node:crypto. Hex strings; X25519 and Ed25519 keys little-endian as in the RFCs. x25519LowOrder and x25519NonCanonical list peer keys that src/x25519.ts must refuse (isValidX25519PublicKey false, dh() throws InvalidKeyError); canonical marks whether the encoding is the unique one for its u (below p, bit 255 clear).',
    source: [
      'RFC 7748 §5.2 (X25519 test vectors, iterated case) and §6.1 (Diffie-Hellman example)',
      'RFC 8032 §7.1 (Ed25519 TEST 1, TEST 2, TEST 3); §5.1.3 (canonical point decoding) and §5.1.7 (S < L) for ed25519NonCanonical and ed25519BadSignatures; the torsion points of ed25519SmallOrder computed with @noble/curves (multiples of an order-8 point, each checked of small order), refused with the forgery R = identity, S = 0 (review finding L1)',
      'RFC 5869 Appendix A.1–A.3 (HKDF-SHA-256 test cases 1–3)',
      'RFC 4231 §4.2–§4.3 (HMAC-SHA-256 test cases 1 and 2)',
      'FIPS 180-2 Appendix C.1 and C.2 (SHA-512 examples)',
      'D. McGrew, J. Viega, "The Galois/Counter Mode of Operation (GCM)", revised 2005, Appendix B test cases 13–16 (AES-256)',
      'X25519 small-order points: libsodium crypto_scalarmult/curve25519/ref10/x25519_ref10.c has_small_order() blocklist (compared with bit 255 ignored); D. J. Bernstein, https://cr.yp.to/ecdh.html; verified all-zero with the RFC 7748 ladder in the generator',
    ],
    generator: GENERATOR,
    x25519: x25519Vectors,
    x25519PublicKeys,
    x25519Iterated: x25519Iterated.map((v) => ({ ...v, k: hex(BASE_POINT), u: hex(BASE_POINT) })),
    x25519LowOrder: [...canonicalLowOrder.map((v) => ({ ...v, canonical: true })), ...nonCanonicalLowOrder.map((v) => ({ ...v, canonical: false }))],
    x25519NonCanonical: [...nonCanonicalOther, ...badLengths].map((v) => ({ ...v, canonical: false })),
    ed25519: ed25519Vectors,
    ed25519SmallOrder: smallOrder,
    ed25519NonCanonical: nonCanonicalKeys,
    ed25519Forgery: forgery,
    ed25519BadSignatures: badSignatures,
    hkdfSha256: hkdfVectors,
    hmacSha256: hmacVectors,
    sha512: sha512Vectors,
    aes256Gcm: aesGcmVectors,
  });
}

// ---------------------------------------------------------------------------------------------
// records.json: encrypted records and blind indexes, docs/PROTOCOL.md §19
// ---------------------------------------------------------------------------------------------

/** src/records/blind-index.ts BLIND_INDEX_LABEL and src/records/record-seal.ts RECORD_DATA_LABEL (§19.2, §19.3). */
const BLIND_INDEX_LABEL = 'Blindrelay_BlindIndex_v1';
const RECORD_DATA_LABEL = 'Blindrelay_RecordData_v1';
/** §19.3: index kind codes. */
const INDEX_KIND = { exact: 1, compound: 2, word: 3 } as const;

/** bytes16 / bytes32 of §2: a big-endian length, then the bytes. */
const lp16 = (b: Uint8Array) => cat(u16be(b.length), b);
const lp32 = (b: Uint8Array) => cat(u32be(b.length), b);

/**
 * §19.3 transformations, re-stated from the table: every one starts from NFKC; "lower" is NFKC,
 * toLowerCase, NFKC; "digits" keeps 0-9; "last4" is the last four digits left-padded with "0";
 * "first" the first code point of the lowered string; "trim" trims and collapses white space.
 */
function referenceTransform(value: string, transforms: readonly string[]): string {
  let v = value;
  if (transforms.length === 0) return v.normalize('NFKC');
  for (const t of transforms) {
    const n = v.normalize('NFKC');
    const lowered = n.toLowerCase().normalize('NFKC');
    const digitsOnly = [...n].filter((c) => c >= '0' && c <= '9').join('');
    if (t === 'nfkc') v = n;
    else if (t === 'lower') v = lowered;
    else if (t === 'trim')
      v = n
        .trim()
        .split(/\s+/u)
        .filter((x) => x !== '')
        .join(' ');
    else if (t === 'digits') v = digitsOnly;
    else if (t === 'last4') v = `0000${digitsOnly}`.slice(-4);
    else if (t === 'first') v = [...lowered][0] ?? '';
    else throw new Error(`unknown transform ${t}`);
  }
  return v;
}

/** §19.3 words: lowercase (as "lower"), maximal runs of \p{L}\p{M}\p{N}, first occurrence kept. */
function referenceWords(text: string): string[] {
  const lowered = text.normalize('NFKC').toLowerCase().normalize('NFKC');
  const out: string[] = [];
  let current = '';
  for (const c of lowered) {
    if (/^[\p{L}\p{M}\p{N}]$/u.test(c)) current += c;
    else {
      if (current !== '' && !out.includes(current)) out.push(current);
      current = '';
    }
  }
  if (current !== '' && !out.includes(current)) out.push(current);
  return out;
}

interface RefIndex {
  name: string;
  kind: keyof typeof INDEX_KIND;
  parts: { field: string; transforms: string[] }[];
  bits: number;
}

function referenceSpec(ix: RefIndex): Uint8Array {
  const parts = ix.parts.map((pt) => cat(lp16(utf8(pt.field)), Uint8Array.of(pt.transforms.length), ...pt.transforms.map((t) => lp16(utf8(t)))));
  return cat(Uint8Array.of(INDEX_KIND[ix.kind]), lp16(utf8(ix.name)), Uint8Array.of(ix.parts.length), ...parts);
}

/** §19.3 token: the first 48 bits of the HMAC, big-endian, keeping the top `bits` (BigInt, independent of the Number arithmetic in src). */
function referenceToken(mac: Uint8Array, bits: number): number {
  let v = 0n;
  for (let i = 0; i < 6; i++) v = (v << 8n) | BigInt(mac[i] as number);
  return Number(v >> BigInt(48 - bits));
}

function recordsVectors() {
  const collectionKey = seed32('records/collection key');
  const collectionId = seed32('records/collection id').slice(0, 16);
  const recordId = seed32('records/record id').slice(0, 16);
  const epoch = 3;
  const record = { name: 'Ünïcode Ｓｍｉｔｈ', ssn: '０１２-34-5678', city: 'Paris', note: 'Hello, wörld! The QUICK brown fox; the end.', amount: 1250.5 };

  const indexes: RefIndex[] = [
    { name: 'name_lower', kind: 'exact', parts: [{ field: 'name', transforms: ['lower'] }], bits: 18 },
    { name: 'ssn_last4', kind: 'exact', parts: [{ field: 'ssn', transforms: ['last4'] }], bits: 13 },
    {
      name: 'initial_city',
      kind: 'compound',
      parts: [
        { field: 'name', transforms: ['first'] },
        { field: 'city', transforms: ['lower'] },
      ],
      bits: 16,
    },
    { name: 'note_words', kind: 'word', parts: [{ field: 'note', transforms: [] }], bits: 24 },
    { name: 'amount', kind: 'exact', parts: [{ field: 'amount', transforms: [] }], bits: 48 },
  ];
  const indexVectors = indexes.map((ix) => {
    const spec = referenceSpec(ix);
    const key = hkdf(sha256, collectionKey, new Uint8Array(0), cat(utf8(BLIND_INDEX_LABEL), collectionId, spec), 32);
    let inputs: { text: string[]; bytes: Uint8Array }[];
    if (ix.kind === 'word') {
      inputs = referenceWords(String(record[ix.parts[0]?.field as keyof typeof record])).map((w) => ({ text: [w], bytes: utf8(w) }));
    } else {
      const texts = ix.parts.map((pt) => referenceTransform(String(record[pt.field as keyof typeof record]), pt.transforms));
      inputs = [{ text: texts, bytes: cat(...texts.map((t) => lp32(utf8(t)))) }];
    }
    const tokens = inputs.map(({ text, bytes }) => {
      const mac = hmac(sha256, key, bytes);
      return { transformed: text, input: hex(bytes), mac: hex(mac), token: referenceToken(mac, ix.bits) };
    });
    return { ...ix, spec: hex(spec), indexKey: hex(key), tokens };
  });

  // §19.2: the sealed record, nonces from fixed labels.
  const dataKey = hkdf(sha256, collectionKey, new Uint8Array(0), cat(utf8(RECORD_DATA_LABEL), collectionId), 32);
  const ad = (kind: number, name: string) => cat(utf8(RECORD_DATA_LABEL), Uint8Array.of(kind), collectionId, recordId, u32be(epoch), lp16(utf8(name)));
  const names = Object.keys(record);
  const nonce = (i: number) => seed32(`records/nonce ${i}`).slice(0, 12);
  const sealOne = (i: number, kind: number, name: string, plain: Uint8Array) => cat(nonce(i), aesGcmSeal(dataKey, nonce(i), pad(plain), ad(kind, name)));
  const header = cat(u16be(names.length), ...names.map((n) => lp16(utf8(n))));
  const seals = [sealOne(0, 0, '', header), ...names.map((n, i) => sealOne(i + 1, 1, n, utf8(JSON.stringify(record[n as keyof typeof record]))))];
  const sealed = cat(Uint8Array.of(0x01), u32be(epoch), ...seals.map(lp32));
  const meta = { plannedRecords: 1000 };
  const metaSealed = cat(
    Uint8Array.of(0x01),
    u32be(epoch),
    nonce(99),
    aesGcmSeal(
      dataKey,
      nonce(99),
      pad(utf8(JSON.stringify(meta))),
      cat(utf8(RECORD_DATA_LABEL), Uint8Array.of(2), collectionId, new Uint8Array(16), u32be(epoch), lp16(new Uint8Array(0))),
    ),
  );

  // Transformations and words on their own (the table of §19.3).
  const transformCases: [string, string[]][] = [
    ['Ａｂｃ ＤＥＦ', ['nfkc']],
    ['ÉCOLE Straße', ['lower']],
    ['  two   spaced\twords  ', ['trim']],
    ['+33 (0)1-２３-45', ['digits']],
    ['4111 1111 1111 1234', ['last4']],
    ['12', ['last4']],
    ['Ωmega', ['first']],
    ['', ['first']],
    ['ﬁne Ǆ', ['lower']],
  ];
  const wordCases = ['Hello, wörld! hello again', 'e-mail: ALICE@example.com', 'Ｆｕｌｌｗｉｄｔｈ　text１２', 'naïve café 東京 2026'];

  writeJson('records.json', {
    description:
      'Encrypted records and blind indexes (docs/PROTOCOL.md §19): index keys, tokens at their widths, a sealed record and sealed metadata with fixed nonces, transformations and words',
    source: [
      'docs/PROTOCOL.md §19.2 (record and metadata seal: HKDF-SHA-256 data key, AD layout, Padmé padding, AES-256-GCM) and §19.3 (index spec encoding, HKDF index key, HMAC-SHA-256 token truncated from the first 48 bits, transformations, words)',
      'RFC 5869 (HKDF), RFC 2104 / FIPS 198-1 (HMAC), UAX #15 (NFKC), ECMA-262 String.prototype.normalize / toLowerCase (Unicode default case conversion)',
    ],
    generator: GENERATOR,
    constants: { blindIndexLabel: labelHex(BLIND_INDEX_LABEL), recordDataLabel: labelHex(RECORD_DATA_LABEL) },
    collectionKey: hex(collectionKey),
    collectionId: hex(collectionId),
    recordId: hex(recordId),
    epoch,
    record,
    indexes: indexVectors,
    dataKey: hex(dataKey),
    sealedRecord: hex(sealed),
    meta,
    sealedMeta: hex(metaSealed),
    transforms: transformCases.map(([input, transforms]) => ({ input, transforms, output: referenceTransform(input, transforms) })),
    words: wordCases.map((text) => ({ text, words: referenceWords(text) })),
  });
}

kdfChainVectors();
rootStepVectors();
pqxdhVectors();
paddingVectors();
safetyNumberVectors();
identityVectors();
primitivesVectors();
recordsVectors();
