/**
 * The MLS cipher suite of Blindrelay groups (docs/DECISIONS.md, docs/PROTOCOL.md §22):
 * MLS_256_XWING_AES256GCM_SHA512_Ed25519 (0x0053): X-Wing KEM, AES-256-GCM, HKDF-SHA512, SHA-512,
 * Ed25519. ts-mls's default provider is used for signatures (@noble/curves Ed25519) and randomness;
 * the KEM is ours (xwing-kem.ts: X-Wing on node:crypto or @noble/post-quantum); hash, MAC, KDF and
 * AEAD, in ts-mls and in the HPKE under it, are the synchronous ones of
 * `@blindrelay/protocol/groups` mls-primitives.ts (node:crypto / @noble instead of one awaited
 * WebCrypto job per call: the secret tree and tree hash of a 1,000-member commit make ~10^4 calls).
 */
import { mlsAes256Gcm, mlsHkdfExpand, mlsHkdfExtract, mlsHmacSha512, mlsMacEqual, mlsSha512 } from '@blindrelay/protocol/groups';
import { type AeadEncryptionContext, type AeadInterface, CipherSuite, HkdfSha512 } from '@hpke/core';
import {
  type Ciphersuite,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type CryptoProvider,
  defaultCryptoProvider,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type Hash,
  type Kdf,
} from 'ts-mls';
import type { Aead } from 'ts-mls/crypto/aead.js';
import { makeAead } from 'ts-mls/crypto/implementation/default/makeAead.js';
import { makeGenericHpke } from 'ts-mls/crypto/implementation/hpke.js';
import { XWingKem } from './xwing-kem.js';

export const GROUP_SUITE_NAME: CiphersuiteName = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519';

const bytes = (v: ArrayBufferLike | ArrayBufferView): Uint8Array =>
  ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
const arrayBuffer = (b: Uint8Array): ArrayBuffer => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer : b.slice().buffer) as ArrayBuffer;

/** RFC 9420 §5.1 Hash and MAC (HMAC) of the suite: SHA-512. */
const hash: Hash = {
  digest: async (data) => mlsSha512(data),
  mac: async (key, data) => mlsHmacSha512(key, data),
  verifyMac: async (key, mac, data) => mlsMacEqual(mlsHmacSha512(key, data), mac),
};

/** RFC 9420 §5.1 KDF: HKDF-SHA512 (RFC 5869). */
const kdf: Kdf = {
  extract: async (salt, ikm) => mlsHkdfExtract(salt, ikm),
  expand: async (prk, info, len) => mlsHkdfExpand(prk, info, len),
  size: 64,
};

/** The HPKE KDF (RFC 9180 §4: LabeledExtract / LabeledExpand over HKDF-SHA512), @hpke/core's with synchronous HKDF steps. */
class SyncHkdfSha512 extends HkdfSha512 {
  override async extract(salt: ArrayBuffer, ikm: ArrayBuffer): Promise<ArrayBuffer> {
    return arrayBuffer(mlsHkdfExtract(bytes(salt), bytes(ikm)));
  }
  override async expand(prk: ArrayBuffer, info: ArrayBuffer, len: number): Promise<ArrayBuffer> {
    return arrayBuffer(mlsHkdfExpand(bytes(prk), bytes(info), len));
  }
  override async extractAndExpand(salt: ArrayBuffer, ikm: ArrayBuffer, info: ArrayBuffer, len: number): Promise<ArrayBuffer> {
    return this.expand(await this.extract(salt, ikm), info, len);
  }
}

/** The AEADs of ts-mls and of the HPKE (RFC 9180 §5.2), AES-256-GCM, on node:crypto when there is one. */
function aeads(fallback: [Aead, AeadInterface]): [Aead, AeadInterface] {
  const gcm = mlsAes256Gcm;
  if (!gcm) return fallback;
  const aead: Aead = {
    encrypt: async (key, nonce, aad, plaintext) => gcm.seal(key, nonce, aad, plaintext),
    decrypt: async (key, nonce, aad, ciphertext) => gcm.open(key, nonce, aad, ciphertext),
  };
  const hpkeAead: AeadInterface = {
    id: fallback[1].id,
    keySize: 32,
    nonceSize: 12,
    tagSize: 16,
    createEncryptionContext(key): AeadEncryptionContext {
      const k = bytes(key).slice();
      return {
        seal: async (iv, data, aad) => arrayBuffer(gcm.seal(k, bytes(iv), bytes(aad), bytes(data))),
        open: async (iv, data, aad) => arrayBuffer(gcm.open(k, bytes(iv), bytes(aad), bytes(data))),
      };
    },
  };
  return [aead, hpkeAead];
}

/** ts-mls's default provider with X-Wing's KEM replaced by XWingKem and synchronous hash, KDF and AEAD. */
export const groupCryptoProvider: CryptoProvider = {
  async getCiphersuiteImpl(cs: Ciphersuite): Promise<CiphersuiteImpl> {
    if (cs.hpke.kem !== 'X-Wing') return defaultCryptoProvider.getCiphersuiteImpl(cs);
    if (cs.hpke.kdf !== 'HKDF-SHA512' || cs.hpke.aead !== 'AES256GCM' || cs.hash !== 'SHA-512') throw new Error(`group suite: ${cs.name} is not supported`);
    const base = await defaultCryptoProvider.getCiphersuiteImpl({ ...cs, hpke: { ...cs.hpke, kem: 'DHKEM-X25519-HKDF-SHA256' } });
    const [aead, aeadInterface] = aeads(await makeAead(cs.hpke.aead));
    const suite = new CipherSuite({ kem: new XWingKem(), kdf: new SyncHkdfSha512(), aead: aeadInterface });
    return { ...base, hash, kdf, hpke: await makeGenericHpke(cs.hpke, aead, suite), name: cs.name };
  },
};

let cached: Promise<CiphersuiteImpl> | undefined;
/** The implementation of GROUP_SUITE_NAME (made once). */
export function groupSuite(): Promise<CiphersuiteImpl> {
  cached ??= getCiphersuiteImpl(getCiphersuiteFromName(GROUP_SUITE_NAME), groupCryptoProvider);
  return cached;
}

/** Any suite by name through the same provider (benchmarks, interop vectors). */
export function suiteByName(name: CiphersuiteName): Promise<CiphersuiteImpl> {
  return getCiphersuiteImpl(getCiphersuiteFromName(name), groupCryptoProvider);
}
