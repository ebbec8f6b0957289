/**
 * The primitives pick the fastest correct implementation at run time (primitives/node.ts): on
 * Node ≥ 24.7, ML-KEM-768 and Argon2id from node:crypto; on older Node, @noble. These tests prove which one is in use on the runtime they run
 * on (CI runs them on Node 24 and on Node 20) and that the native and @noble implementations give
 * the same bytes, on published vectors where a primitive takes no randomness of ours.
 */
import * as nodeCrypto from 'node:crypto';
import { argon2id } from '@noble/hashes/argon2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { describe, expect, it } from 'vitest';
import { nobleArgon2id } from '../src/primitives/argon2.js';
import { mlkem768Decapsulate, mlkem768Encapsulate, nativeMlkem768 } from '../src/primitives/mlkem-node.js';
import { createNodePrimitives, keyImportPath } from '../src/primitives/node.js';
import { createWebPrimitives } from '../src/primitives/web.js';

const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
/** Node 24.7 added crypto.encapsulate/decapsulate and crypto.argon2. */
const modern = major > 24 || (major === 24 && minor >= 7);
const p = createNodePrimitives();
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const seed = (n: number, len: number) => Uint8Array.from({ length: len }, (_, i) => (i * 31 + n) & 0xff);

describe(`primitives on Node ${process.versions.node}`, () => {
  it(`use ${modern ? 'node:crypto' : '@noble'} for ML-KEM-768 and Argon2id`, async () => {
    expect(await p.providers()).toEqual({
      mlkem768: modern ? 'node:crypto' : '@noble/post-quantum',
      argon2id: modern ? 'node:crypto' : '@noble/hashes',
      aesGcm: 'node:crypto',
      chacha20Poly1305: 'node:crypto',
      x25519: 'node:crypto',
      ed25519: 'node:crypto',
    });
    expect(nativeMlkem768).toBe(modern);
  });

  it(`import raw X25519/Ed25519 keys the fast way: ${major >= 24 ? 'raw formats' : 'JWK'}`, () => {
    // The PKCS#8 DER path works everywhere but costs ~10× on OpenSSL 3.0 (DECISIONS.md).
    expect(keyImportPath).toBe(major >= 24 ? 'raw' : 'jwk');
  });
});

describe('ML-KEM-768: the implementation in use agrees with @noble/post-quantum', () => {
  it('decapsulates @noble encapsulations (with fixed randomness) to the same secret, and @noble decapsulates ours', () => {
    for (let i = 0; i < 8; i++) {
      const { publicKey, secretKey } = ml_kem768.keygen(seed(i, 64));
      const fixed = ml_kem768.encapsulate(publicKey, seed(100 + i, 32));
      expect(hex(mlkem768Decapsulate(fixed.cipherText, secretKey))).toBe(hex(fixed.sharedSecret));
      const ours = mlkem768Encapsulate(publicKey);
      expect(ours.cipherText).toHaveLength(1088);
      expect(hex(ml_kem768.decapsulate(ours.cipherText, secretKey))).toBe(hex(ours.sharedSecret));
    }
  });

  it('implicit rejection (FIPS 203 §6.3): a changed ciphertext gives the same pseudorandom secret as @noble', () => {
    const { publicKey, secretKey } = ml_kem768.keygen(seed(7, 64));
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(publicKey, seed(8, 32));
    for (const at of [0, 500, 1087]) {
      const bad = cipherText.slice();
      bad[at] = (bad[at] as number) ^ 1;
      const got = mlkem768Decapsulate(bad, secretKey);
      expect(hex(got)).toBe(hex(ml_kem768.decapsulate(bad, secretKey)));
      expect(hex(got)).not.toBe(hex(sharedSecret));
    }
  });

  it('refuses an encapsulation key that fails the modulus check, and a decapsulation key that fails the hash check', () => {
    const { publicKey, secretKey } = ml_kem768.keygen(seed(9, 64));
    const badPublic = publicKey.slice();
    badPublic.fill(0xff, 0, 2); // a coefficient of 4095 ≥ q
    expect(() => mlkem768Encapsulate(badPublic)).toThrow();
    const badSecret = secretKey.slice();
    badSecret[1200] = (badSecret[1200] as number) ^ 1; // inside the embedded encapsulation key
    expect(() => mlkem768Decapsulate(ml_kem768.encapsulate(publicKey).cipherText, badSecret)).toThrow();
  });

  it('the primitives keep the key formats: the public key and the 2400-byte private key of FIPS 203 KeyGen', () => {
    const kp = p.mlkem768KeyPair(seed(3, 64));
    const noble = ml_kem768.keygen(seed(3, 64));
    expect(hex(kp.publicKey)).toBe(hex(noble.publicKey));
    expect(hex(kp.privateKey)).toBe(hex(noble.secretKey));
  });
});

describe('Argon2id', () => {
  // RFC 9106 §5.3: Argon2id, t = 3, m = 32 KiB, p = 4, with secret and associated data.
  const rfc = {
    password: new Uint8Array(32).fill(0x01),
    salt: new Uint8Array(16).fill(0x02),
    secret: new Uint8Array(8).fill(0x03),
    ad: new Uint8Array(12).fill(0x04),
    tag: '0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659',
  };

  it('RFC 9106 §5.3: @noble/hashes, and node:crypto where this Node has it', async () => {
    const noble = argon2id(rfc.password, rfc.salt, { t: 3, m: 32, p: 4, dkLen: 32, key: rfc.secret, personalization: rfc.ad });
    expect(hex(noble)).toBe(rfc.tag);
    const native = (nodeCrypto as unknown as { argon2Sync?: (a: string, o: object) => Buffer }).argon2Sync;
    expect(typeof native === 'function').toBe(modern);
    if (native) {
      const tag = native('argon2id', {
        message: rfc.password,
        nonce: rfc.salt,
        secret: rfc.secret,
        associatedData: rfc.ad,
        parallelism: 4,
        tagLength: 32,
        memory: 32,
        passes: 3,
      });
      expect(hex(tag)).toBe(rfc.tag);
    }
  });

  it('the primitive in use agrees with @noble and with the web primitives, and depends on every input', async () => {
    const pw = new TextEncoder().encode('correct horse battery staple');
    const salt = seed(1, 16);
    for (const params of [
      { m: 64, t: 1, p: 1, dkLen: 32 },
      { m: 256, t: 3, p: 4, dkLen: 32 },
      { m: 1024, t: 2, p: 2, dkLen: 64 },
    ]) {
      const ours = hex(await p.argon2id(pw, salt, params));
      expect(ours).toBe(hex(await nobleArgon2id(pw, salt, params)));
      expect(ours).toBe(hex(await createWebPrimitives().argon2id(pw, salt, params)));
      expect(hex(await p.argon2id(pw, seed(2, 16), params))).not.toBe(ours);
      expect(hex(await p.argon2id(pw, salt, { ...params, t: params.t + 1 }))).not.toBe(ours);
    }
  });
});
