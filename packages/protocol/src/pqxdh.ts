/**
 * PQXDH key agreement (Signal's PQXDH specification, rev. 2, 2023-10-18), with our parameters
 * (§2.1): curve = curve25519, hash = SHA-256, pqkem = ML-KEM-768 (FIPS 203),
 * info = "Blindrelay_PQXDH_CURVE25519_SHA-256_ML-KEM-768".
 *
 * Deviation, on purpose: each device has a separate Ed25519 signing key (certified by the user's
 * master key) instead of one XEdDSA identity key, so IK below is the device's X25519 identity key
 * and prekey signatures are Ed25519 signatures by the device signing key (prekeys.ts).
 *
 * Identity binding (§4.10: PQXDH alone does not stop an unknown-key-share; the application must
 * bind more identifying information): the KDF's info ends with both parties' user names and
 * device ids, initiator first (`identityBinding`), so SK — and with it every key of the Double
 * Ratchet session — exists only between these two (user, device) pairs. A relay that presents
 * Alice's keys as "mallory"'s makes the initiator derive a key Alice's device never derives.
 */
import { concat, utf8, wipe } from './bytes.js';
import { Writer } from './codec.js';
import { assertUserName, encodeEC, isValidDeviceId } from './encoding.js';
import { DecryptError, InvalidArgumentError } from './errors.js';
import { writeUser } from './identity-codec.js';
import type { PreKeyBundle } from './prekeys.js';
import type { KeyPair, Primitives } from './primitives/types.js';
import { dh, ephemeralDh } from './x25519.js';

/** §2.1 info: identifies the application, curve, hash and KEM; the identity binding follows it. */
export const PQXDH_INFO = utf8('Blindrelay_PQXDH_CURVE25519_SHA-256_ML-KEM-768');

/** One end of a session: a user and one of its devices. */
export interface SessionParty {
  readonly user: string;
  readonly deviceId: number;
}

/** §4.10 identity binding: user_A | deviceId_A u32 | user_B | deviceId_B u32 (users as in PROTOCOL.md §2), initiator first. */
export function identityBinding(initiator: SessionParty, responder: SessionParty): Uint8Array {
  const w = new Writer(140);
  for (const party of [initiator, responder]) {
    assertUserName(party.user);
    if (!isValidDeviceId(party.deviceId)) throw new InvalidArgumentError('invalid device id');
    writeUser(w, party.user);
    w.u32(party.deviceId);
  }
  return w.finish();
}

/** The HKDF info of SK: PQXDH_INFO | 0x00 | identity binding. */
export const pqxdhInfo = (binding: Uint8Array): Uint8Array => concat(PQXDH_INFO, Uint8Array.of(0), binding);
/** §2.2 KDF: F is 32 0xFF bytes for curve25519, prepended to the key material. */
const F = new Uint8Array(32).fill(0xff);
/** §2.2 KDF: the HKDF salt is a zero-filled byte sequence of the hash output length. */
const SALT = new Uint8Array(32);

/** §2.2 KDF(KM) = HKDF(F || KM, salt = 0^32, info = PQXDH_INFO | 0x00 | binding), 32 bytes. */
export async function pqxdhKdf(p: Primitives, dhs: Uint8Array[], kemSecret: Uint8Array, binding: Uint8Array): Promise<Uint8Array> {
  const km = concat(F, ...dhs, kemSecret);
  const sk = await p.hkdfSha256(km, SALT, pqxdhInfo(binding), 32);
  wipe(km);
  return sk;
}

/** §3.3: AD = EncodeEC(IK_A) || EncodeEC(IK_B). */
export const pqxdhAssociatedData = (initiatorIdentity: Uint8Array, responderIdentity: Uint8Array) =>
  concat(encodeEC(initiatorIdentity), encodeEC(responderIdentity));

export interface PqxdhInitiation {
  readonly sharedSecret: Uint8Array;
  readonly ephemeralPublicKey: Uint8Array;
  readonly kemCipherText: Uint8Array;
  readonly signedPreKeyId: number;
  readonly oneTimePreKeyId: number | undefined;
  readonly pqPreKeyId: number;
}

/**
 * §3.3 Sending the initial message, run by Alice on a bundle she has already verified
 * (verifyPreKeyBundle), with `binding` = identityBinding(Alice, the bundle's user and device).
 * `ephemeral` and `kemRandomness` are injectable for known-answer tests.
 */
export async function pqxdhInitiate(
  p: Primitives,
  identity: KeyPair,
  bundle: PreKeyBundle,
  binding: Uint8Array,
  fixed: { ephemeral?: KeyPair; kemRandomness?: Uint8Array } = {},
): Promise<PqxdhInitiation> {
  const ekPrivate = fixed.ephemeral?.privateKey ?? p.randomBytes(32);
  const dh1 = await dh(p, identity.privateKey, bundle.signedPreKey.publicKey); // DH(IK_A, SPK_B)
  // DH(EK_A, IK_B), DH(EK_A, SPK_B) [, DH(EK_A, OPK_B)]: EK is used once and cached nowhere.
  const peers = [bundle.identityKey, bundle.signedPreKey.publicKey];
  if (bundle.oneTimePreKey) peers.push(bundle.oneTimePreKey.publicKey);
  const ek = await ephemeralDh(p, ekPrivate, peers);
  const { cipherText, sharedSecret: ss } = p.mlkem768Encapsulate(bundle.pqPreKey.publicKey, fixed.kemRandomness);
  const dhs = [dh1, ...ek.shared];
  const sharedSecret = await pqxdhKdf(p, dhs, ss, binding);
  wipe(...dhs, ss);
  if (!fixed.ephemeral) wipe(ekPrivate); // §3.3: Alice deletes her ephemeral private key
  return {
    sharedSecret,
    ephemeralPublicKey: ek.publicKey,
    kemCipherText: cipherText,
    signedPreKeyId: bundle.signedPreKey.id,
    oneTimePreKeyId: bundle.oneTimePreKey?.id,
    pqPreKeyId: bundle.pqPreKey.id,
  };
}

export interface PqxdhResponderKeys {
  readonly identity: KeyPair;
  readonly signedPreKeyPrivate: Uint8Array;
  readonly oneTimePreKeyPrivate: Uint8Array | undefined;
  readonly pqPreKeyPrivate: Uint8Array;
}

/**
 * §3.4 Receiving the initial message, run by Bob, with `binding` = identityBinding(the sender of
 * the verified certificate, Bob's own user and device). Any failure is a DecryptError: an
 * attacker learns nothing from which step failed. ML-KEM decapsulation never fails (implicit
 * rejection); a wrong ciphertext or binding yields a different SK and the first AEAD check fails.
 */
export async function pqxdhRespond(
  p: Primitives,
  keys: PqxdhResponderKeys,
  initiatorIdentity: Uint8Array,
  ephemeralPublicKey: Uint8Array,
  kemCipherText: Uint8Array,
  binding: Uint8Array,
): Promise<Uint8Array> {
  try {
    const dh1 = await dh(p, keys.signedPreKeyPrivate, initiatorIdentity);
    const dh2 = await dh(p, keys.identity.privateKey, ephemeralPublicKey);
    const dh3 = await dh(p, keys.signedPreKeyPrivate, ephemeralPublicKey);
    const dhs = [dh1, dh2, dh3];
    if (keys.oneTimePreKeyPrivate) dhs.push(await dh(p, keys.oneTimePreKeyPrivate, ephemeralPublicKey));
    const ss = p.mlkem768Decapsulate(kemCipherText, keys.pqPreKeyPrivate);
    const sk = await pqxdhKdf(p, dhs, ss, binding);
    wipe(...dhs, ss);
    return sk;
  } catch {
    throw new DecryptError();
  }
}
