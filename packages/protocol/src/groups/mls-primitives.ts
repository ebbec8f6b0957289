/**
 * Synchronous SHA-512, HMAC-SHA-512, HKDF-SHA-512 and AES-256-GCM for MLS suite 0x0053 (RFC 9420
 * §5.1: the suite's Hash, MAC = HMAC, KDF = HKDF; AEAD of the HPKE and of message protection).
 *
 * Why: ts-mls's default provider runs each of these through WebCrypto, one awaited job per call
 * (key import, then sign/digest/encrypt). An MLS epoch change derives a whole secret tree eagerly
 * (RFC 9420 §9: 2N-1 nodes, ~4N HKDF-Expand calls in ts-mls 1.6.4) and a commit hashes the whole
 * ratchet tree (§7.8), so at 1,000 members a commit made some 10,000 WebCrypto calls whose per-call
 * overhead, not the hashing, was most of its CPU (docs/DECISIONS.md). Same primitives, same bytes:
 * node:crypto where it exists (reached through `process.getBuiltinModule`, so this module also
 * loads in browsers), @noble/hashes otherwise; HKDF from @noble/hashes everywhere, over node:crypto's
 * SHA-512 where it exists (node-sha512.ts). AES-GCM has no synchronous browser implementation here: `aes`
 * is null there and the caller keeps WebCrypto.
 */
import type * as NodeCrypto from 'node:crypto';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { nodeSha512 } from './node-sha512.js';

function nodeCrypto(): typeof NodeCrypto | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (typeof proc?.getBuiltinModule !== 'function') return null;
  try {
    return (proc.getBuiltinModule('node:crypto') as typeof NodeCrypto | undefined) ?? null;
  } catch {
    return null;
  }
}

const c = nodeCrypto();
/** The SHA-512 under @noble's HKDF: node:crypto's where it exists, else @noble's own. */
const kdfHash = c ? nodeSha512(c) : sha512;
/** A copy that owns its memory (node:crypto may hand out slices of a shared pool). */
const own = (b: Buffer) => new Uint8Array(b);

/** SHA-512 (FIPS 180-4). */
export const mlsSha512: (data: Uint8Array) => Uint8Array = c ? (data) => own(c.createHash('sha512').update(data).digest()) : (data) => sha512(data);

/** HMAC-SHA-512 (RFC 2104). */
export const mlsHmacSha512: (key: Uint8Array, data: Uint8Array) => Uint8Array = c
  ? (key, data) => own(c.createHmac('sha512', key).update(data).digest())
  : (key, data) => hmac(sha512, key, data);

/** Constant-time comparison of two MACs (different lengths: false). */
export function mlsMacEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if (c) return c.timingSafeEqual(a, b);
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}

/**
 * HKDF-Extract and HKDF-Expand with SHA-512 (RFC 5869 §2.2, §2.3), from @noble/hashes on every
 * runtime. node:crypto offers HKDF only as Extract-then-Expand (`hkdfSync`) and MLS expands given
 * secrets (RFC 9420 §8 ExpandWithLabel); composing the two steps from node:crypto's HMAC would make
 * HKDF our own code, which the primitive policy (../shared/DESIGN.md) rules out. On Node, @noble's
 * HKDF runs over node:crypto's SHA-512 (node-sha512.ts), which only supplies the hash
 * (docs/DECISIONS.md, "MLS commit cost at 1,000 members, continued").
 */
export function mlsHkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return extract(kdfHash, ikm, salt.length === 0 ? undefined : salt);
}

export function mlsHkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return expand(kdfHash, prk, info, length);
}

export interface SyncAesGcm {
  /** ciphertext || 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Throws when authentication fails. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
}

type GcmCipher = NodeCrypto.CipherGCM;
type GcmDecipher = NodeCrypto.DecipherGCM;

/** AES-256-GCM (NIST SP 800-38D) with a 12-byte nonce and a 16-byte tag, on node:crypto; null elsewhere. */
export const mlsAes256Gcm: SyncAesGcm | null = c
  ? {
      seal(key, nonce, aad, plaintext) {
        const cipher = c.createCipheriv('aes-256-gcm', key, nonce) as GcmCipher;
        if (aad.length > 0) cipher.setAAD(aad);
        const head = cipher.update(plaintext);
        const tail = cipher.final();
        const tag = cipher.getAuthTag();
        const out = new Uint8Array(head.length + tail.length + tag.length);
        out.set(head, 0);
        out.set(tail, head.length);
        out.set(tag, head.length + tail.length);
        return out;
      },
      open(key, nonce, aad, sealed) {
        if (sealed.length < 16) throw new Error('AES-GCM: ciphertext too short');
        const decipher = c.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 }) as GcmDecipher;
        decipher.setAuthTag(sealed.subarray(sealed.length - 16));
        if (aad.length > 0) decipher.setAAD(aad);
        const head = decipher.update(sealed.subarray(0, sealed.length - 16));
        const tail = decipher.final();
        if (tail.length === 0) return own(head);
        const out = new Uint8Array(head.length + tail.length);
        out.set(head, 0);
        out.set(tail, head.length);
        return out;
      },
    }
  : null;
