/**
 * The implementation of Blindrelay's MLS suite 0x0053, MLS_256_XWING_AES256GCM_SHA512_Ed25519
 * (docs/PROTOCOL.md §22), made from its parts only: SHA-512, HMAC-SHA-512, HKDF-SHA512 and AES-256-GCM
 * synchronous (mls-primitives.ts: node:crypto where it exists, @noble/hashes elsewhere; AES-GCM on
 * WebCrypto in browsers), Ed25519 (WebCrypto), X-Wing (xwing-kem.ts).
 *
 * Why synchronous: ts-mls would otherwise make one awaited WebCrypto job (key import, then
 * digest/sign/encrypt) per call, and an MLS epoch change derives a whole secret tree (RFC 9420 §9)
 * and hashes the whole ratchet tree (§7.8): ~10^4 calls per commit at 1,000 members, whose per-call
 * overhead was most of the commit's CPU (docs/DECISIONS.md).
 *
 * Why not ts-mls's defaultCryptoProvider: it reaches every suite's code through dynamic imports
 * (Ed448, P-256/384/521, ML-DSA, ChaCha20-Poly1305, @hpke/ml-kem, ...), and a bundler must then
 * keep each of those modules whole, e.g. all of @noble/curves/ed25519.js with FROST, OPRF and
 * hash-to-curve, in the web app's bundle (apps/web: about 30 KB gzipped that no suite of ours runs).
 * The parts below are the ones the default provider picks for this suite, with the same behaviour.
 */
import { mlsAes256Gcm, mlsHkdfExpand, mlsHkdfExtract, mlsHmacSha512, mlsMacEqual, mlsSha512 } from '@blindrelay/protocol/groups';
import { type AeadEncryptionContext, type AeadInterface, Aes256Gcm, CipherSuite, HkdfSha512 } from '@hpke/core';
import type { Ciphersuite, CiphersuiteImpl, Hash, Kdf, Signature } from 'ts-mls';
import type { Aead } from 'ts-mls/crypto/aead.js';
import { makeGenericHpke } from 'ts-mls/crypto/implementation/hpke.js';
import { XWingKem } from './xwing-kem.js';

type Buf = Uint8Array<ArrayBuffer>;
const b = (u: Uint8Array): Buf => (u.buffer instanceof ArrayBuffer ? (u as Buf) : new Uint8Array(u));

/** PKCS #8 of a 32-byte Ed25519 seed (RFC 8410 §7: OneAsymmetricKey, id-Ed25519 1.3.101.112). */
const PKCS8_ED25519_PREFIX = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20);
function pkcs8(seed: Uint8Array): Buf {
  const out = new Uint8Array(PKCS8_ED25519_PREFIX.length + 32);
  out.set(PKCS8_ED25519_PREFIX);
  out.set(seed, PKCS8_ED25519_PREFIX.length);
  return out;
}

/** Ed25519 (RFC 8032) through WebCrypto; a sign key is the 32-byte seed or its PKCS #8 form. */
export const ed25519Signature: Signature = {
  async sign(signKey, message) {
    const key = await crypto.subtle.importKey('pkcs8', signKey.length === 32 ? pkcs8(signKey) : b(signKey), 'Ed25519', false, ['sign']);
    return new Uint8Array(await crypto.subtle.sign('Ed25519', key, b(message)));
  },
  async verify(publicKey, message, signature) {
    const key = await crypto.subtle.importKey('raw', b(publicKey), 'Ed25519', false, ['verify']);
    return crypto.subtle.verify('Ed25519', key, b(signature), b(message));
  },
  async keygen() {
    const pair = (await crypto.subtle.generateKey('Ed25519', true, ['sign', 'verify'])) as CryptoKeyPair;
    return {
      publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)),
      signKey: new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey)),
    };
  },
};

/** AES-256-GCM (NIST SP 800-38D) through WebCrypto, as MLS uses it (RFC 9420 §5.1: AEAD with associated data). */
async function gcm(op: 'encrypt' | 'decrypt', key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey('raw', b(key), { name: 'AES-GCM' }, false, [op]);
  const params: AesGcmParams = { name: 'AES-GCM', iv: b(nonce) };
  if (aad.length > 0) params.additionalData = b(aad);
  return new Uint8Array(await crypto.subtle[op](params, k, b(data)));
}
const aes256Gcm: Aead = {
  encrypt: (key, nonce, aad, plaintext) => gcm('encrypt', key, nonce, aad, plaintext),
  decrypt: (key, nonce, aad, ciphertext) => gcm('decrypt', key, nonce, aad, ciphertext),
};

const bytes = (v: ArrayBufferLike | ArrayBufferView): Uint8Array =>
  ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
const arrayBuffer = (u: Uint8Array): ArrayBuffer => (u.byteOffset === 0 && u.byteLength === u.buffer.byteLength ? u.buffer : u.slice().buffer) as ArrayBuffer;

/** RFC 9420 §5.1 Hash and MAC (HMAC) of the suite: SHA-512. */
const SHA512_HASH: Hash = {
  digest: async (data) => mlsSha512(data),
  mac: async (key, data) => mlsHmacSha512(key, data),
  verifyMac: async (key, mac, data) => mlsMacEqual(mlsHmacSha512(key, data), mac),
};

/** RFC 9420 §5.1 KDF: HKDF-SHA512 (RFC 5869). */
const HKDF_SHA512: Kdf = {
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

/** The AEADs of ts-mls and of the HPKE (RFC 9180 §5.2), AES-256-GCM: node:crypto when there is one, else WebCrypto. */
function aeads(): [Aead, AeadInterface] {
  const gcm = mlsAes256Gcm;
  if (!gcm) return [aes256Gcm, new Aes256Gcm()];
  const aead: Aead = {
    encrypt: async (key, nonce, aad, plaintext) => gcm.seal(key, nonce, aad, plaintext),
    decrypt: async (key, nonce, aad, ciphertext) => gcm.open(key, nonce, aad, ciphertext),
  };
  const hpkeAead: AeadInterface = {
    id: new Aes256Gcm().id,
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

/** Suite 0x0053 and only it (ERR: any other suite is a programming error). */
export async function xwingSuiteImpl(cs: Ciphersuite): Promise<CiphersuiteImpl> {
  const { hash, hpke, signature } = cs;
  if (hash !== 'SHA-512' || hpke.kem !== 'X-Wing' || hpke.aead !== 'AES256GCM' || hpke.kdf !== 'HKDF-SHA512' || signature !== 'Ed25519')
    throw new Error(`xwingSuiteImpl: not MLS_256_XWING_AES256GCM_SHA512_Ed25519 (${cs.name})`);
  const [aead, hpkeAead] = aeads();
  const suite = new CipherSuite({ kem: new XWingKem(), kdf: new SyncHkdfSha512(), aead: hpkeAead });
  return {
    hash: SHA512_HASH,
    kdf: HKDF_SHA512,
    signature: ed25519Signature,
    hpke: await makeGenericHpke(hpke, aead, suite),
    rng: { randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)) },
    name: cs.name,
  };
}
