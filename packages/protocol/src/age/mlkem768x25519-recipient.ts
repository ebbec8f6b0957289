/**
 * The hybrid post-quantum recipient type (age.md "The MLKEM768-X25519 (i.e. X-Wing) hybrid
 * post-quantum recipient type", "mlkem768x25519 recipient stanza").
 *
 *     identity  = read(CSPRNG, 32)                   (the X-Wing decapsulation key, a seed)
 *     recipient = PrivateKeyToPublicKey(identity)    (the 1216-byte X-Wing encapsulation key)
 *     enc, body = SealBase(pkR = recipient, info = "age-encryption.org/mlkem768x25519", aad = "", pt = file key)
 *     stanza    = -> mlkem768x25519 <base64(enc), 1120 bytes>
 *                 <base64(body), 32 bytes>
 *
 * HPKE (RFC 9180) with KEM MLKEM768-X25519 (X-Wing, id 0x647a, draft-ietf-hpke-pq), KDF
 * HKDF-SHA256, AEAD ChaCha20Poly1305. The KEM is @noble/post-quantum's `ml_kem768_x25519` (X-Wing:
 * SHAKE256 seed expansion to ML-KEM-768 d‖z and an X25519 scalar, SHA3-256 combiner with the
 * X-Wing label); the HPKE key schedule is in hpke.ts.
 *
 * Encodings: recipient Bech32 with HRP `age1pq`, identity Bech32 with HRP `AGE-SECRET-KEY-PQ-`
 * (upper case); both past BIP-173's 90-character limit, which age does not apply.
 *
 * age.md: the same file SHOULD NOT be encrypted to both this type and non-quantum-resistant
 * recipient types; file-key.ts refuses to build such a header. Decryption still accepts one (the
 * CCTV vector `hybrid_and_x25519` succeeds).
 */
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { utf8, wipe } from '../bytes.js';
import { InvalidArgumentError, InvalidKeyError } from '../errors.js';
import type { Primitives } from '../primitives/types.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import { bech32Decode, bech32Encode } from './bech32.js';
import { AgeEncodingError, AgeHeaderError } from './errors.js';
import { FILE_KEY_BYTES } from './header.js';
import { hpkeOpenBase, hpkeSealBase } from './hpke.js';
import type { AgeIdentity, AgeRecipient, Stanza } from './stanza.js';

export const MLKEM768X25519_STANZA_TYPE = 'mlkem768x25519';
/** The HPKE `info` of the stanza. */
export const MLKEM768X25519_LABEL = 'age-encryption.org/mlkem768x25519';
export const MLKEM768X25519_RECIPIENT_HRP = 'age1pq';
export const MLKEM768X25519_IDENTITY_HRP = 'AGE-SECRET-KEY-PQ-';
/** HPKE KEM identifier of MLKEM768-X25519 (X-Wing), draft-ietf-hpke-pq. */
export const HPKE_KEM_MLKEM768_X25519 = 0x647a;
/** X-Wing: Nsk (the seed), Npk (ML-KEM-768 ek ‖ X25519 point), Nenc (ML-KEM-768 ct ‖ X25519 share). */
export const MLKEM768X25519_SEED_BYTES = 32;
export const MLKEM768X25519_PUBLIC_KEY_BYTES = 1216;
export const MLKEM768X25519_ENC_BYTES = 1120;
/** File key (16) + Poly1305 tag (16): checked before decapsulating (partitioning oracles, age.md). */
const BODY_BYTES = FILE_KEY_BYTES + 16;
const INFO = utf8(MLKEM768X25519_LABEL);
const EMPTY_AAD = new Uint8Array(0);

export class MlKem768X25519Recipient implements AgeRecipient {
  readonly publicKey: Uint8Array;
  constructor(publicKey: Uint8Array) {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== MLKEM768X25519_PUBLIC_KEY_BYTES)
      throw new InvalidArgumentError('mlkem768x25519 recipient: 1216-byte public key required');
    this.publicKey = publicKey.slice();
  }

  /** Parse `age1pq1…`. */
  static parse(text: string): MlKem768X25519Recipient {
    const { hrp, data } = bech32Decode(text);
    if (hrp !== MLKEM768X25519_RECIPIENT_HRP || data.length !== MLKEM768X25519_PUBLIC_KEY_BYTES)
      throw new AgeEncodingError('not an age mlkem768x25519 recipient');
    return new MlKem768X25519Recipient(data);
  }

  toString(): string {
    return bech32Encode(MLKEM768X25519_RECIPIENT_HRP, this.publicKey);
  }

  async wrap(p: Primitives, fileKey: Uint8Array): Promise<Stanza[]> {
    if (fileKey.length !== FILE_KEY_BYTES) throw new InvalidArgumentError('file key must be 16 bytes');
    // X-Wing Encap randomness: 32 bytes for ML-KEM-768 Encaps, 32 for the ephemeral X25519 scalar.
    const randomness = p.randomBytes(ml_kem768_x25519.lengths.msgRand as number);
    let enc: Uint8Array;
    let sharedSecret: Uint8Array;
    try {
      ({ cipherText: enc, sharedSecret } = ml_kem768_x25519.encapsulate(this.publicKey, randomness));
    } catch {
      // FIPS 203 §7.2 encapsulation key check, or a low-order X25519 point.
      throw new InvalidKeyError('mlkem768x25519 recipient: invalid public key');
    } finally {
      wipe(randomness);
    }
    try {
      const body = await hpkeSealBase(p, HPKE_KEM_MLKEM768_X25519, sharedSecret, INFO, EMPTY_AAD, fileKey);
      return [{ args: [MLKEM768X25519_STANZA_TYPE, encodeBase64(enc)], body }];
    } finally {
      wipe(sharedSecret);
    }
  }
}

export class MlKem768X25519Identity implements AgeIdentity {
  private constructor(
    /** The 32-byte X-Wing decapsulation key (seed). */
    readonly seed: Uint8Array,
    readonly publicKey: Uint8Array,
  ) {}

  static fromSeed(seed: Uint8Array): MlKem768X25519Identity {
    if (!(seed instanceof Uint8Array) || seed.length !== MLKEM768X25519_SEED_BYTES)
      throw new InvalidArgumentError('mlkem768x25519 identity: 32-byte seed required');
    return new MlKem768X25519Identity(seed.slice(), ml_kem768_x25519.getPublicKey(seed));
  }

  /** age.md: identity = read(CSPRNG, 32). */
  static generate(p: Primitives): MlKem768X25519Identity {
    const seed = p.randomBytes(MLKEM768X25519_SEED_BYTES);
    const id = MlKem768X25519Identity.fromSeed(seed);
    wipe(seed);
    return id;
  }

  /** Parse `AGE-SECRET-KEY-PQ-1…`. */
  static parse(text: string): MlKem768X25519Identity {
    const { hrp, data } = bech32Decode(text);
    if (hrp !== MLKEM768X25519_IDENTITY_HRP.toLowerCase() || data.length !== MLKEM768X25519_SEED_BYTES)
      throw new AgeEncodingError('not an age mlkem768x25519 identity');
    const id = MlKem768X25519Identity.fromSeed(data);
    wipe(data);
    return id;
  }

  toString(): string {
    return bech32Encode(MLKEM768X25519_IDENTITY_HRP, this.seed, true);
  }

  recipient(): MlKem768X25519Recipient {
    return new MlKem768X25519Recipient(this.publicKey);
  }

  /**
   * age.md: ignore stanzas of other types; reject one with other than two arguments, an `enc`
   * that is not canonical base64 of 1120 bytes, or a body that is not 32 bytes (checked before
   * decapsulating). A body that does not open is "no match" (null). An X25519 share of low order
   * (all-zero X25519 output) is rejected as malformed, as for X25519 stanzas (CCTV
   * `hybrid_low_order`, `hybrid_identity`).
   */
  async unwrap(p: Primitives, stanza: Stanza): Promise<Uint8Array | null> {
    if (stanza.args[0] !== MLKEM768X25519_STANZA_TYPE) return null;
    if (stanza.args.length !== 2) throw new AgeHeaderError('mlkem768x25519 stanza must have two arguments');
    const enc = decodeBase64(stanza.args[1] as string);
    if (!enc || enc.length !== MLKEM768X25519_ENC_BYTES) throw new AgeHeaderError('mlkem768x25519 stanza: invalid encapsulated key');
    if (stanza.body.length !== BODY_BYTES) throw new AgeHeaderError('mlkem768x25519 stanza: invalid body length');
    let sharedSecret: Uint8Array;
    try {
      // ML-KEM-768 decapsulation never fails (implicit rejection); noble throws only for a
      // low-order X25519 share, which it refuses before the scalar multiplication.
      sharedSecret = ml_kem768_x25519.decapsulate(enc, this.seed);
    } catch {
      throw new AgeHeaderError('mlkem768x25519 stanza: low-order X25519 share');
    }
    try {
      return await hpkeOpenBase(p, HPKE_KEM_MLKEM768_X25519, sharedSecret, INFO, EMPTY_AAD, stanza.body);
    } finally {
      wipe(sharedSecret);
    }
  }
}
