/**
 * X-Wing (draft-connolly-cfrg-xwing-kem: ML-KEM-768 + X25519) for MLS cipher suite 0x0053
 * (MLS_256_XWING_AES256GCM_SHA512_Ed25519). @noble/post-quantum's `ml_kem768_x25519` is X-Wing
 * (the same one our age recipients use, age/mlkem768x25519-recipient.ts); this file only adds
 * the HPKE view of it (X-Wing §5.6 "Use in HPKE"). The client wraps it as an @hpke/core KEM.
 * Where node:crypto has ML-KEM-768 (Node ≥ 24.7) the same algorithm runs there (xwing-native.ts):
 * ~20x less CPU per encapsulation, which is what an MLS commit spends (docs/DECISIONS.md).
 */
import { shake256 } from '@noble/hashes/sha3.js';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { InvalidKeyError } from '../errors.js';
import { nativeXWing } from './xwing-native.js';

/** HPKE KEM id of X-Wing (X-Wing §5.6). */
export const XWING_KEM_ID = 0x647a;
/** X-Wing §5.6: Nsecret, Nenc, Npk, Nsk (the private key is the 32-byte seed). */
export const XWING_SIZES = { secret: 32, enc: 1120, publicKey: 1216, privateKey: 32 } as const;

/** GenerateKeyPairDerand(seed): the public key of a 32-byte seed (X-Wing §5.2). */
export function xwingPublicKey(seed: Uint8Array): Uint8Array {
  if (seed.length !== XWING_SIZES.privateKey) throw new InvalidKeyError('X-Wing: bad private key length');
  return nativeXWing ? nativeXWing.publicKey(seed) : ml_kem768_x25519.getPublicKey(seed);
}

/** X-Wing §5.6: DeriveKeyPair(ikm) = GenerateKeyPairDerand(SHAKE256(ikm, 32)); returns the seed. */
export function xwingDeriveSeed(ikm: Uint8Array): Uint8Array {
  return shake256(ikm, { dkLen: XWING_SIZES.privateKey });
}

/** Encapsulate (X-Wing §5.3) to a 1216-byte public key with fresh randomness. */
export function xwingEncapsulate(publicKey: Uint8Array): { enc: Uint8Array; sharedSecret: Uint8Array } {
  if (publicKey.length !== XWING_SIZES.publicKey) throw new InvalidKeyError('X-Wing: bad public key length');
  try {
    if (nativeXWing) return nativeXWing.encapsulate(publicKey);
    const { cipherText, sharedSecret } = ml_kem768_x25519.encapsulate(publicKey);
    return { enc: cipherText, sharedSecret };
  } catch {
    // FIPS 203 §7.2 modulus check, or an X25519 share of small order.
    throw new InvalidKeyError('X-Wing: invalid public key');
  }
}

/** Decapsulate (X-Wing §5.4). */
export function xwingDecapsulate(enc: Uint8Array, seed: Uint8Array): Uint8Array {
  if (enc.length !== XWING_SIZES.enc) throw new InvalidKeyError('X-Wing: bad encapsulation length');
  if (seed.length !== XWING_SIZES.privateKey) throw new InvalidKeyError('X-Wing: bad private key length');
  try {
    return nativeXWing ? nativeXWing.decapsulate(enc, seed) : ml_kem768_x25519.decapsulate(enc, seed);
  } catch {
    throw new InvalidKeyError('X-Wing: invalid encapsulation');
  }
}

/** Which implementation runs X-Wing on this runtime (tests, benchmarks). */
export const xwingProvider: 'node:crypto' | '@noble/post-quantum' = nativeXWing ? 'node:crypto' : '@noble/post-quantum';
