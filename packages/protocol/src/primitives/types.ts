/**
 * The primitives interface: every cryptographic primitive the protocol uses, and nothing else.
 *
 * Two implementations: `node.ts` (node:crypto) and `web.ts` (WebCrypto, @noble where the platform
 * lacks a primitive). The protocol code above this interface is ours; the primitives never are
 * (DESIGN.md, "Primitive policy"). All randomness comes from `randomBytes`, which callers may
 * replace (deterministic tests, known-answer vectors).
 */

export interface KeyPair {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface KemEncapsulation {
  readonly cipherText: Uint8Array;
  readonly sharedSecret: Uint8Array;
}

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly dkLen: number;
}

export interface Argon2Params {
  /** Memory in KiB. */
  readonly m: number;
  /** Passes. */
  readonly t: number;
  /** Lanes. */
  readonly p: number;
  readonly dkLen: number;
}

/** Which implementation serves each family of primitives on this runtime (tests, diagnostics). */
export interface PrimitiveProviders {
  readonly mlkem768: 'node:crypto' | '@noble/post-quantum';
  readonly argon2id: 'node:crypto' | '@noble/hashes';
  readonly aesGcm: 'node:crypto' | 'webcrypto';
  readonly chacha20Poly1305: 'node:crypto' | '@noble/ciphers';
  readonly x25519: 'node:crypto' | 'webcrypto' | '@noble/curves';
  readonly ed25519: 'node:crypto' | 'webcrypto' | '@noble/curves';
}

export interface Primitives {
  readonly name: string;
  /** The implementation picked at run time for each primitive family. */
  providers(): Promise<PrimitiveProviders>;
  randomBytes(length: number): Uint8Array;

  sha512(data: Uint8Array): Promise<Uint8Array>;
  /** FIPS 180-4 SHA-256 (the stored-file payload digest, file-seal.ts). */
  sha256(data: Uint8Array): Promise<Uint8Array>;
  hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array>;
  /** RFC 5869 HKDF with SHA-256. */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array>;

  /**
   * AES-256-GCM with a 12-byte nonce and a full 16-byte tag appended to the ciphertext. The
   * plaintext may be given in parts (encrypted as their concatenation). The result starts with
   * `headroom` zero bytes the caller may fill (a message header), then ciphertext || tag, so a
   * wire message is built without another copy.
   */
  aesGcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[], aad: Uint8Array, headroom?: number): Promise<Uint8Array>;
  /** Returns null when authentication fails. */
  aesGcmOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array | null>;

  /**
   * RFC 8439 ChaCha20-Poly1305 with a 12-byte nonce and the 16-byte tag appended (age payload
   * STREAM and stanza bodies, C2SP age.md).
   */
  chacha20Poly1305Seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array>;
  /** Returns null when authentication fails. */
  chacha20Poly1305Open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Promise<Uint8Array | null>;
  /**
   * Optional synchronous ChaCha20-Poly1305 (no associated data) for bulk data, the age payload's
   * 64 KiB chunks, where an await per chunk shows. Same bytes as `chacha20Poly1305Seal`, returned as
   * ciphertext and tag apart so that neither is copied to join them (a vectored write takes both).
   */
  chacha20Poly1305SealSync?(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): [ciphertext: Uint8Array, tag: Uint8Array];
  /** Synchronous `chacha20Poly1305Open` (no associated data); null when authentication fails. */
  chacha20Poly1305OpenSync?(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | null;
  /** RFC 7914 scrypt (age passphrase stanzas); `N` is the cost itself, a power of two. */
  scrypt(password: Uint8Array, salt: Uint8Array, params: ScryptParams): Promise<Uint8Array>;
  /** RFC 9106 Argon2id, version 0x13 (profile encryption at rest). */
  argon2id(password: Uint8Array, salt: Uint8Array, params: Argon2Params): Promise<Uint8Array>;

  /** X25519 public key for a 32-byte private scalar (RFC 7748 §5, clamping inside). */
  x25519PublicKey(privateKey: Uint8Array): Promise<Uint8Array>;
  /** X25519 function; the caller validates the peer key and the all-zero output (x25519.ts). */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array>;
  /**
   * A one-shot key's public key and its X25519 with each of `peers`, in order, the private key
   * kept nowhere after the call (no key cache): PQXDH's ephemeral key (§3.3). The caller
   * validates the peer keys and the outputs, as for `x25519`.
   */
  x25519OneShot(privateKey: Uint8Array, peers: readonly Uint8Array[]): Promise<{ publicKey: Uint8Array; shared: Uint8Array[] }>;

  /** Ed25519 public key for a 32-byte seed (RFC 8032 §5.1.5). */
  ed25519PublicKey(seed: Uint8Array): Promise<Uint8Array>;
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array>;
  /**
   * RFC 8032 §5.1.7 verification, after the same input rule on every implementation (ed25519.ts:
   * canonical A and R, A not of small order, S < L): false for anything else.
   */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;

  /** ML-KEM-768 (FIPS 203): key pair from a 64-byte seed (d || z). */
  mlkem768KeyPair(seed: Uint8Array): KeyPair;
  /** Encapsulate to `publicKey`; `randomness` (32 bytes) only for known-answer tests. */
  mlkem768Encapsulate(publicKey: Uint8Array, randomness?: Uint8Array): KemEncapsulation;
  mlkem768Decapsulate(cipherText: Uint8Array, privateKey: Uint8Array): Uint8Array;
}

export const X25519_KEY_BYTES = 32;
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SEED_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
/** FIPS 203 §8, table 3: ML-KEM-768 sizes. */
export const MLKEM768_PUBLIC_KEY_BYTES = 1184;
export const MLKEM768_PRIVATE_KEY_BYTES = 2400;
export const MLKEM768_CIPHERTEXT_BYTES = 1088;
export const MLKEM768_SEED_BYTES = 64;
export const AES_GCM_TAG_BYTES = 16;
