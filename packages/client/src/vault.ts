/**
 * Encryption at rest (packages/client/README.md, "Profile store").
 *
 * With a passphrase, every profile file except the header is sealed with AES-256-GCM under a key
 * derived from the passphrase with Argon2id (RFC 9106):
 *   key    = Argon2id(passphrase UTF-8, salt = 16 random bytes, m, t, p, 32 bytes)
 *   file   = "BRV1" | nonce[12] (random per write) | AES-256-GCM(key, nonce, record, ad = "BRV1" ‖ 0x00 ‖ file name)
 * The associated data binds each ciphertext to its file name, so files cannot be swapped. The
 * header stores the Argon2id parameters, the salt and a check value (a sealed constant), so a wrong
 * passphrase is detected before anything is read or written. Random 96-bit nonces are fine for the
 * number of writes a profile sees (NIST SP 800-38D §8.3: up to 2^32 per key).
 * Without a passphrase the files hold plain JSON and rely on file permissions (0600, dir 0700).
 */

import { concat, type Primitives, utf8, wipe } from '@blindrelay/protocol';
import { ProfileCorruptError, WrongPassphraseError } from './errors.js';

/**
 * Argon2id parameters for new profiles: m = 64 MiB, t = 3, p = 4, RFC 9106 §4's second
 * recommended option. Measured on this project's 2-core machines (2026-12-03): 0.12-0.15 s with
 * Node 24's native Argon2id (OpenSSL 3.5, lanes on threads), 1.2 s with @noble/hashes (pure JS:
 * browsers and Node 20). The previous default (m = 64 MiB, t = 1, p = 1) was chosen for the
 * 0.5 s budget per command under @noble on Node 20 (0.31-0.36 s). Parameters are stored in each
 * profile's header, so older profiles keep theirs.
 */
export const DEFAULT_KDF = Object.freeze({ algorithm: 'argon2id' as const, m: 65536, t: 3, p: 4 });
/** Bounds accepted when reading a header (a corrupt header must not make us allocate 4 GiB). */
const MAX_M = 1 << 21;
const MAX_T = 20;

export interface KdfParams {
  readonly algorithm: 'argon2id';
  /** Memory in KiB. */
  readonly m: number;
  /** Passes. */
  readonly t: number;
  /** Lanes. */
  readonly p: number;
}

const MAGIC = utf8('BRV1');
const NONCE_BYTES = 12;
const CHECK_NAME = 'passphrase-check';
const CHECK_VALUE = utf8('blindrelay profile key check v1');

export function checkKdfParams(k: KdfParams): void {
  const ok =
    k.algorithm === 'argon2id' &&
    Number.isInteger(k.m) &&
    Number.isInteger(k.t) &&
    Number.isInteger(k.p) &&
    k.p >= 1 &&
    k.p <= 16 &&
    k.m >= 8 * k.p &&
    k.m <= MAX_M &&
    k.t >= 1 &&
    k.t <= MAX_T;
  if (!ok) throw new ProfileCorruptError('profile header: unsupported key derivation parameters');
}

export async function deriveKey(p: Primitives, passphrase: string, salt: Uint8Array, k: KdfParams): Promise<Uint8Array> {
  checkKdfParams(k);
  const pw = utf8(passphrase.normalize('NFC'));
  try {
    return await p.argon2id(pw, salt, { m: k.m, t: k.t, p: k.p, dkLen: 32 });
  } finally {
    wipe(pw);
  }
}

/** Seals and opens profile files under one key. */
export class Vault {
  readonly #p: Primitives;
  readonly #key: Uint8Array;
  constructor(p: Primitives, key: Uint8Array) {
    this.#p = p;
    this.#key = key;
  }

  async seal(name: string, plaintext: Uint8Array): Promise<Uint8Array> {
    const nonce = this.#p.randomBytes(NONCE_BYTES);
    const sealed = await this.#p.aesGcmSeal(this.#key, nonce, plaintext, ad(name), MAGIC.length + NONCE_BYTES);
    sealed.set(MAGIC, 0);
    sealed.set(nonce, MAGIC.length);
    return sealed;
  }

  /** Returns null if the bytes do not authenticate under this key and name. */
  async open(name: string, bytes: Uint8Array): Promise<Uint8Array | null> {
    if (bytes.length < MAGIC.length + NONCE_BYTES + 16) return null;
    for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return null;
    const nonce = bytes.subarray(MAGIC.length, MAGIC.length + NONCE_BYTES);
    return this.#p.aesGcmOpen(this.#key, nonce, bytes.subarray(MAGIC.length + NONCE_BYTES), ad(name));
  }

  makeCheck(): Promise<Uint8Array> {
    return this.seal(CHECK_NAME, CHECK_VALUE);
  }

  /** Throws WrongPassphraseError unless `check` was made under this key. */
  async verifyCheck(check: Uint8Array): Promise<void> {
    const opened = await this.open(CHECK_NAME, check);
    if (!opened) throw new WrongPassphraseError();
  }

  wipe(): void {
    wipe(this.#key);
  }
}

const ad = (name: string) => concat(MAGIC, Uint8Array.of(0), utf8(name));
