/**
 * PQXDH key agreement (Signal's PQXDH specification, rev. 2, 2023-10-18), with our parameters
 * (§2.1): curve = curve25519, hash = SHA-256, pqkem = ML-KEM-768 (FIPS 203),
 * info = "Blindrelay_PQXDH_CURVE25519_SHA-256_ML-KEM-768".
 *
 * Deviation, on purpose: each device has a separate Ed25519 signing key (certified by the user's
 * master key) instead of one XEdDSA identity key, so IK below is the device's X25519 identity key
 * and prekey signatures are Ed25519 signatures by the device signing key (prekeys.ts).
 */
import { concat, utf8, wipe } from './bytes.js';
import { encodeEC } from './encoding.js';
import { DecryptError } from './errors.js';
import type { PreKeyBundle } from './prekeys.js';
import type { KeyPair, Primitives } from './primitives/types.js';
import { dh, generateX25519 } from './x25519.js';

/** §2.1 info: identifies the application, curve, hash and KEM. */
export const PQXDH_INFO = utf8('Blindrelay_PQXDH_CURVE25519_SHA-256_ML-KEM-768');
/** §2.2 KDF: F is 32 0xFF bytes for curve25519, prepended to the key material. */
const F = new Uint8Array(32).fill(0xff);
/** §2.2 KDF: the HKDF salt is a zero-filled byte sequence of the hash output length. */
const SALT = new Uint8Array(32);

/** §2.2 KDF(KM) = HKDF(F || KM, salt = 0^32, info = PQXDH_INFO), 32 bytes. */
export async function pqxdhKdf(p: Primitives, dhs: Uint8Array[], kemSecret: Uint8Array): Promise<Uint8Array> {
  const km = concat(F, ...dhs, kemSecret);
  const sk = await p.hkdfSha256(km, SALT, PQXDH_INFO, 32);
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
 * (verifyPreKeyBundle). `ephemeral` and `kemRandomness` are injectable for known-answer tests.
 */
export async function pqxdhInitiate(
  p: Primitives,
  identity: KeyPair,
  bundle: PreKeyBundle,
  fixed: { ephemeral?: KeyPair; kemRandomness?: Uint8Array } = {},
): Promise<PqxdhInitiation> {
  const ek = fixed.ephemeral ?? (await generateX25519(p));
  const { cipherText, sharedSecret: ss } = p.mlkem768Encapsulate(bundle.pqPreKey.publicKey, fixed.kemRandomness);
  const dh1 = await dh(p, identity.privateKey, bundle.signedPreKey.publicKey); // DH(IK_A, SPK_B)
  const dh2 = await dh(p, ek.privateKey, bundle.identityKey); // DH(EK_A, IK_B)
  const dh3 = await dh(p, ek.privateKey, bundle.signedPreKey.publicKey); // DH(EK_A, SPK_B)
  const dhs = [dh1, dh2, dh3];
  if (bundle.oneTimePreKey) dhs.push(await dh(p, ek.privateKey, bundle.oneTimePreKey.publicKey)); // DH(EK_A, OPK_B)
  const sharedSecret = await pqxdhKdf(p, dhs, ss);
  wipe(...dhs, ss);
  if (!fixed.ephemeral) wipe(ek.privateKey); // §3.3: Alice deletes her ephemeral private key
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
 * §3.4 Receiving the initial message, run by Bob. Any failure is a DecryptError: an attacker
 * learns nothing from which step failed. ML-KEM decapsulation never fails (implicit rejection);
 * a wrong ciphertext yields a different secret and the first message's AEAD check fails.
 */
export async function pqxdhRespond(
  p: Primitives,
  keys: PqxdhResponderKeys,
  initiatorIdentity: Uint8Array,
  ephemeralPublicKey: Uint8Array,
  kemCipherText: Uint8Array,
): Promise<Uint8Array> {
  try {
    const dh1 = await dh(p, keys.signedPreKeyPrivate, initiatorIdentity);
    const dh2 = await dh(p, keys.identity.privateKey, ephemeralPublicKey);
    const dh3 = await dh(p, keys.signedPreKeyPrivate, ephemeralPublicKey);
    const dhs = [dh1, dh2, dh3];
    if (keys.oneTimePreKeyPrivate) dhs.push(await dh(p, keys.oneTimePreKeyPrivate, ephemeralPublicKey));
    const ss = p.mlkem768Decapsulate(kemCipherText, keys.pqPreKeyPrivate);
    const sk = await pqxdhKdf(p, dhs, ss);
    wipe(...dhs, ss);
    return sk;
  } catch {
    throw new DecryptError();
  }
}
