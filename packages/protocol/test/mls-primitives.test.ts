/**
 * The synchronous MLS primitives (groups/mls-primitives.ts) give the bytes of the reference
 * implementations: HKDF-SHA512 (@noble/hashes) against node:crypto's hkdfSync (every output length
 * class: one block, several, the 255-block limit), SHA-512 / HMAC (node:crypto) against
 * @noble, AES-256-GCM against WebCrypto (and a flipped bit refused).
 */
import * as nodeCrypto from 'node:crypto';
import { hkdfSync } from 'node:crypto';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { mlsAes256Gcm, mlsHkdfExpand, mlsHkdfExtract, mlsHmacSha512, mlsMacEqual, mlsSha512 } from '../src/groups/mls-primitives.js';
import { nodeSha512 } from '../src/groups/node-sha512.js';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 7) & 0xff);

describe('MLS primitives (SHA-512 suite)', () => {
  it('HKDF-Extract then HKDF-Expand equal node:crypto HKDF-SHA512 (RFC 5869), every output length class', () => {
    for (const [saltLen, ikmLen] of [
      [0, 64],
      [64, 64],
      [64, 0],
      [13, 200],
    ] as const) {
      const salt = bytes(saltLen, 1);
      const ikm = bytes(ikmLen, 2);
      const prk = mlsHkdfExtract(salt, ikm);
      for (const len of [1, 32, 63, 64, 65, 128, 200, 255 * 64]) {
        const info = bytes(len % 50, 4);
        expect(hex(mlsHkdfExpand(prk, info, len))).toBe(hex(new Uint8Array(hkdfSync('sha512', ikm, salt, info, len))));
      }
    }
    expect(() => mlsHkdfExpand(bytes(64, 3), new Uint8Array(), 255 * 64 + 1)).toThrow();
  });

  it('SHA-512 and HMAC-SHA512 equal @noble; MACs compare in constant time', () => {
    const data = bytes(1000, 5);
    const key = bytes(64, 6);
    expect(hex(mlsSha512(data))).toBe(hex(sha512(data)));
    const mac = mlsHmacSha512(key, data);
    expect(hex(mac)).toBe(hex(hmac(sha512, key, data)));
    expect(mlsMacEqual(mac, mac.slice())).toBe(true);
    const bad = mac.slice();
    bad[0] = (bad[0] as number) ^ 1;
    expect(mlsMacEqual(mac, bad)).toBe(false);
    expect(mlsMacEqual(mac, mac.subarray(1))).toBe(false);
  });

  it("node:crypto SHA-512 in @noble's hash interface gives @noble's bytes: hash, HMAC (long keys hashed), HKDF, copies of a running state", () => {
    const h = nodeSha512(nodeCrypto);
    expect([h.outputLen, h.blockLen]).toEqual([sha512.outputLen, sha512.blockLen]);
    for (const len of [0, 1, 111, 112, 127, 128, 129, 1000]) expect(hex(h(bytes(len, 11)))).toBe(hex(sha512(bytes(len, 11))));
    for (const keyLen of [0, 64, 128, 129, 300]) {
      const key = bytes(keyLen, 12);
      const msg = bytes(77, 13);
      expect(hex(hmac(h, key, msg))).toBe(hex(hmac(sha512, key, msg)));
      const prk = extract(h, msg, key);
      expect(hex(prk)).toBe(hex(extract(sha512, msg, key)));
      expect(hex(expand(h, prk, key, 64 * 3 + 5))).toBe(hex(expand(sha512, prk, key, 64 * 3 + 5)));
    }
    const running = h.create().update(bytes(50, 14));
    const copy = running._cloneInto();
    const into = running._cloneInto(h.create().update(bytes(9, 15)));
    running.update(bytes(1, 16));
    expect(hex(copy.update(bytes(1, 16)).digest())).toBe(hex(running.digest()));
    expect(hex(into.digest())).toBe(hex(sha512(bytes(50, 14))));
    expect(() => running.update(bytes(1, 1))).toThrow();
    expect(() => into.digestInto(new Uint8Array(63))).toThrow(RangeError);
    const gone = h.create();
    gone.destroy();
    expect(() => gone.update(bytes(1, 1))).toThrow();
  });

  it('AES-256-GCM equals WebCrypto and refuses a flipped bit', async () => {
    const gcm = mlsAes256Gcm;
    if (!gcm) throw new Error('node:crypto AES-GCM missing on Node');
    const key = bytes(32, 7);
    const nonce = bytes(12, 8);
    for (const aad of [new Uint8Array(), bytes(20, 9)]) {
      const pt = bytes(100, 10);
      const sealed = gcm.seal(key, nonce, aad, pt);
      const k = await crypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
      const ref = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad }, k, pt));
      expect(hex(sealed)).toBe(hex(ref));
      expect(hex(gcm.open(key, nonce, aad, sealed))).toBe(hex(pt));
      const t = sealed.slice();
      t[5] = (t[5] as number) ^ 1;
      expect(() => gcm.open(key, nonce, aad, t)).toThrow();
    }
    expect(() => gcm.open(key, nonce, new Uint8Array(), new Uint8Array(15))).toThrow();
  });
});
