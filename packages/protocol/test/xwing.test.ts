/**
 * X-Wing (draft-connolly-cfrg-xwing-kem), the KEM of MLS suite 0x0053: the draft's published
 * vector (draft-08 Appendix C, vectors/xwing-draft08.json) through the implementation this runtime
 * uses (node:crypto on Node ≥ 24.7, xwing-native.ts; @noble elsewhere) and through @noble, and the
 * native and @noble implementations against each other (encapsulation takes OpenSSL's randomness,
 * so its outputs are checked by decapsulating them with the other implementation).
 */
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { describe, expect, it } from 'vitest';
import { InvalidKeyError } from '../src/errors.js';
import { xwingDecapsulate, xwingEncapsulate, xwingProvider, xwingPublicKey } from '../src/groups/xwing.js';
import { nativeXWing } from '../src/groups/xwing-native.js';
import vector from './vectors/xwing-draft08.json' with { type: 'json' };

const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
const modern = major > 24 || (major === 24 && minor >= 7);
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const seed = (n: number) => Uint8Array.from({ length: 32 }, (_, i) => (i * 53 + n) & 0xff);

describe(`X-Wing on Node ${process.versions.node}`, () => {
  it(`runs on ${modern ? 'node:crypto' : '@noble'}`, () => {
    expect(xwingProvider).toBe(modern ? 'node:crypto' : '@noble/post-quantum');
    expect(nativeXWing !== null).toBe(modern);
  });

  it('matches the draft-08 vector: public key of the seed, shared secret of the ciphertext', () => {
    const sk = bytes(vector.sk);
    expect(hex(xwingPublicKey(sk))).toBe(vector.pk);
    expect(hex(xwingDecapsulate(bytes(vector.ct), sk))).toBe(vector.ss);
    // @noble with the vector's encapsulation seed gives the vector's ciphertext (the reference the native side is checked against).
    const e = ml_kem768_x25519.encapsulate(bytes(vector.pk), bytes(vector.eseed));
    expect([hex(e.cipherText), hex(e.sharedSecret)]).toEqual([vector.ct, vector.ss]);
  });

  it.runIf(modern)('node:crypto and @noble agree both ways', () => {
    const x = nativeXWing;
    if (!x) throw new Error('no native X-Wing');
    for (let i = 0; i < 8; i++) {
      const sk = seed(i);
      const pk = x.publicKey(sk);
      expect(hex(pk)).toBe(hex(ml_kem768_x25519.getPublicKey(sk)));
      const a = x.encapsulate(pk);
      expect(hex(ml_kem768_x25519.decapsulate(a.enc, sk))).toBe(hex(a.sharedSecret));
      const b = ml_kem768_x25519.encapsulate(pk);
      expect(hex(x.decapsulate(b.cipherText, sk))).toBe(hex(b.sharedSecret));
    }
  });

  it('refuses a public key whose ML-KEM part fails the modulus check, and wrong lengths', () => {
    const pk = xwingPublicKey(seed(1));
    const bad = pk.slice();
    bad.fill(0xff, 0, 384); // coefficients ≥ q (FIPS 203 §7.2)
    expect(() => xwingEncapsulate(bad)).toThrow(InvalidKeyError);
    expect(() => xwingEncapsulate(pk.subarray(1))).toThrow(InvalidKeyError);
    expect(() => xwingDecapsulate(new Uint8Array(1119), seed(1))).toThrow(InvalidKeyError);
  });

  it('a tampered ciphertext gives another secret (implicit rejection), not an error', () => {
    const sk = seed(2);
    const { enc, sharedSecret } = xwingEncapsulate(xwingPublicKey(sk));
    const t = enc.slice();
    t[10] = (t[10] as number) ^ 1;
    expect(hex(xwingDecapsulate(t, sk))).not.toBe(hex(sharedSecret));
    expect(hex(xwingDecapsulate(enc, sk))).toBe(hex(sharedSecret));
  });
});
