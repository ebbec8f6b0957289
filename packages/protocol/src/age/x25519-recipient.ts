/**
 * The X25519 recipient type (age.md "The X25519 recipient type").
 *
 *     ephemeral share = X25519(ephemeral secret, basepoint)
 *     salt = ephemeral share || recipient
 *     wrap key = HKDF-SHA-256(ikm = X25519(ephemeral secret, recipient), salt, "age-encryption.org/v1/X25519")
 *     body = ChaCha20-Poly1305(wrap key, nonce = 12 × 0x00, file key)
 *
 * Encodings: recipient Bech32 with HRP `age`, identity Bech32 with HRP `AGE-SECRET-KEY-` (upper case).
 */
import { concat, equal, utf8, wipe } from '../bytes.js';
import { InvalidArgumentError, InvalidKeyError } from '../errors.js';
import type { Primitives } from '../primitives/types.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import { bech32Decode, bech32Encode } from './bech32.js';
import { AgeEncodingError, AgeHeaderError } from './errors.js';
import { FILE_KEY_BYTES } from './header.js';
import type { AgeIdentity, AgeRecipient, Stanza } from './stanza.js';

export const X25519_STANZA_TYPE = 'X25519';
export const X25519_LABEL = 'age-encryption.org/v1/X25519';
export const X25519_RECIPIENT_HRP = 'age';
export const X25519_IDENTITY_HRP = 'AGE-SECRET-KEY-';
const KEY_BYTES = 32;
/** File key (16) + Poly1305 tag (16): checked before decrypting (partitioning oracles, age.md). */
const BODY_BYTES = FILE_KEY_BYTES + 16;
const ZERO_NONCE = new Uint8Array(12);
const ZERO32 = new Uint8Array(32);

async function sharedSecret(p: Primitives, privateKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array | null> {
  let s: Uint8Array;
  try {
    s = await p.x25519(privateKey, publicKey);
  } catch {
    return null; // platforms that refuse low-order points throw instead of returning zeros
  }
  return equal(s, ZERO32) ? null : s;
}

async function wrapKey(p: Primitives, secret: Uint8Array, share: Uint8Array, recipient: Uint8Array): Promise<Uint8Array> {
  return p.hkdfSha256(secret, concat(share, recipient), utf8(X25519_LABEL), 32);
}

export class X25519Recipient implements AgeRecipient {
  readonly publicKey: Uint8Array;
  constructor(publicKey: Uint8Array) {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== KEY_BYTES) throw new InvalidArgumentError('X25519 recipient: 32-byte public key required');
    this.publicKey = publicKey.slice();
  }

  /** Parse `age1…`. */
  static parse(text: string): X25519Recipient {
    const { hrp, data } = bech32Decode(text);
    if (hrp !== X25519_RECIPIENT_HRP || data.length !== KEY_BYTES) throw new AgeEncodingError('not an age X25519 recipient');
    return new X25519Recipient(data);
  }

  toString(): string {
    return bech32Encode(X25519_RECIPIENT_HRP, this.publicKey);
  }

  async wrap(p: Primitives, fileKey: Uint8Array): Promise<Stanza[]> {
    if (fileKey.length !== FILE_KEY_BYTES) throw new InvalidArgumentError('file key must be 16 bytes');
    const ephemeral = p.randomBytes(KEY_BYTES);
    const share = await p.x25519PublicKey(ephemeral);
    const secret = await sharedSecret(p, ephemeral, this.publicKey);
    wipe(ephemeral);
    if (!secret) throw new InvalidKeyError('X25519 recipient is a low-order point');
    const key = await wrapKey(p, secret, share, this.publicKey);
    const body = await p.chacha20Poly1305Seal(key, ZERO_NONCE, fileKey);
    wipe(secret, key);
    return [{ args: [X25519_STANZA_TYPE, encodeBase64(share)], body }];
  }
}

export class X25519Identity implements AgeIdentity {
  private constructor(
    readonly privateKey: Uint8Array,
    readonly publicKey: Uint8Array,
  ) {}

  static async fromPrivateKey(p: Primitives, privateKey: Uint8Array): Promise<X25519Identity> {
    if (!(privateKey instanceof Uint8Array) || privateKey.length !== KEY_BYTES) throw new InvalidArgumentError('X25519 identity: 32-byte key required');
    return new X25519Identity(privateKey.slice(), await p.x25519PublicKey(privateKey));
  }

  /** age.md: identity = read(CSPRNG, 32). */
  static generate(p: Primitives): Promise<X25519Identity> {
    return X25519Identity.fromPrivateKey(p, p.randomBytes(KEY_BYTES));
  }

  /** Parse `AGE-SECRET-KEY-1…`. */
  static async parse(p: Primitives, text: string): Promise<X25519Identity> {
    const { hrp, data } = bech32Decode(text);
    if (hrp !== X25519_IDENTITY_HRP.toLowerCase() || data.length !== KEY_BYTES) throw new AgeEncodingError('not an age X25519 identity');
    return X25519Identity.fromPrivateKey(p, data);
  }

  toString(): string {
    return bech32Encode(X25519_IDENTITY_HRP, this.privateKey, true);
  }

  recipient(): X25519Recipient {
    return new X25519Recipient(this.publicKey);
  }

  async unwrap(p: Primitives, stanza: Stanza): Promise<Uint8Array | null> {
    if (stanza.args[0] !== X25519_STANZA_TYPE) return null;
    if (stanza.args.length !== 2) throw new AgeHeaderError('X25519 stanza must have two arguments');
    const share = decodeBase64(stanza.args[1] as string);
    if (!share || share.length !== KEY_BYTES) throw new AgeHeaderError('X25519 stanza: invalid ephemeral share');
    if (stanza.body.length !== BODY_BYTES) throw new AgeHeaderError('X25519 stanza: invalid body length');
    const secret = await sharedSecret(p, this.privateKey, share);
    // age.md: "If the shared secret is all 0x00 bytes, the identity implementation MUST abort."
    if (!secret) throw new AgeHeaderError('X25519 stanza: low-order ephemeral share');
    const key = await wrapKey(p, secret, share, this.publicKey);
    const fileKey = await p.chacha20Poly1305Open(key, ZERO_NONCE, stanza.body);
    wipe(secret, key);
    return fileKey;
  }
}
