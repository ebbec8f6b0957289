/**
 * Primitives on WebCrypto (browsers, Deno, Node's globalThis.crypto). X25519 and Ed25519 use
 * WebCrypto where the platform implements them (Chromium, Firefox, Safari, Node 20) and fall back to
 * @noble/curves where it does not; ML-KEM-768 and Argon2id always come from @noble (no browser has
 * them).
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { concat } from '../bytes.js';
import { ed25519InputsAcceptable } from '../ed25519.js';
import { nobleArgon2id } from './argon2.js';
import { mlkem768Decapsulate, mlkem768Encapsulate, mlkem768KeyPair } from './mlkem.js';
import type { Primitives } from './types.js';

// RFC 8410 §7: PKCS#8 prefixes for raw 32-byte private keys.
const X25519_PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20];
const ED25519_PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

type Buf = Uint8Array<ArrayBuffer>;
/** A copy in a fresh ArrayBuffer, the shape WebCrypto's BufferSource expects. */
const b = (u: Uint8Array): Buf => new Uint8Array(u) as Buf;

function pkcs8(prefix: number[], key: Uint8Array): Buf {
  const out = new Uint8Array(prefix.length + key.length);
  out.set(prefix, 0);
  out.set(key, prefix.length);
  return out as Buf;
}

function fromBase64Url(s: string): Uint8Array {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export interface WebPrimitiveOptions {
  /** The WebCrypto implementation; defaults to globalThis.crypto. */
  crypto?: Crypto;
  /** Replace the CSPRNG (tests and known-answer vectors only). */
  randomBytes?: (length: number) => Uint8Array;
  /** Force the @noble/curves fallback for X25519/Ed25519 (tests of the fallback). */
  forceNobleCurves?: boolean;
}

async function supports(subtle: SubtleCrypto, name: 'X25519' | 'Ed25519', prefix: number[]): Promise<boolean> {
  try {
    const usages: KeyUsage[] = name === 'X25519' ? ['deriveBits'] : ['sign'];
    await subtle.importKey('pkcs8', pkcs8(prefix, new Uint8Array(32).fill(7)), { name }, true, usages);
    return true;
  } catch {
    return false;
  }
}

export function createWebPrimitives(options: WebPrimitiveOptions = {}): Primitives {
  const webcrypto = options.crypto ?? globalThis.crypto;
  const subtle = webcrypto.subtle;
  const randomBytes =
    options.randomBytes ??
    ((n: number) => {
      const out = new Uint8Array(n);
      // getRandomValues fills at most 65536 bytes per call.
      for (let i = 0; i < n; i += 65536) webcrypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
      return out;
    });
  let x25519Native: Promise<boolean> | undefined;
  let ed25519Native: Promise<boolean> | undefined;
  const hasX25519 = () => {
    x25519Native ??= options.forceNobleCurves ? Promise.resolve(false) : supports(subtle, 'X25519', X25519_PKCS8_PREFIX);
    return x25519Native;
  };
  const hasEd25519 = () => {
    ed25519Native ??= options.forceNobleCurves ? Promise.resolve(false) : supports(subtle, 'Ed25519', ED25519_PKCS8_PREFIX);
    return ed25519Native;
  };

  async function publicFromJwk(name: 'X25519' | 'Ed25519', prefix: number[], priv: Uint8Array, usages: KeyUsage[]) {
    const key = await subtle.importKey('pkcs8', pkcs8(prefix, priv), { name }, true, usages);
    const jwk = await subtle.exportKey('jwk', key);
    if (typeof jwk.x !== 'string') throw new Error('WebCrypto did not export a public key');
    return fromBase64Url(jwk.x);
  }

  return {
    name: options.forceNobleCurves ? 'web+noble' : 'web',
    async providers() {
      const x = (await hasX25519()) ? 'webcrypto' : '@noble/curves';
      const e = (await hasEd25519()) ? 'webcrypto' : '@noble/curves';
      return {
        mlkem768: '@noble/post-quantum',
        argon2id: '@noble/hashes',
        aesGcm: 'webcrypto',
        chacha20Poly1305: '@noble/ciphers',
        x25519: x,
        ed25519: e,
      };
    },
    randomBytes,
    async sha512(data) {
      return new Uint8Array(await subtle.digest('SHA-512', b(data)));
    },
    async sha256(data) {
      return new Uint8Array(await subtle.digest('SHA-256', b(data)));
    },
    async hmacSha256(key, data) {
      const k = await subtle.importKey('raw', b(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      return new Uint8Array(await subtle.sign('HMAC', k, b(data)));
    },
    async hkdfSha256(ikm, salt, info, length) {
      const k = await subtle.importKey('raw', b(ikm), 'HKDF', false, ['deriveBits']);
      const bits = await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: b(salt), info: b(info) }, k, length * 8);
      return new Uint8Array(bits);
    },
    async aesGcmSeal(key, nonce, plaintext, aad, headroom = 0) {
      const k = await subtle.importKey('raw', b(key), 'AES-GCM', false, ['encrypt']);
      const params = { name: 'AES-GCM', iv: b(nonce), additionalData: b(aad), tagLength: 128 };
      const input = plaintext instanceof Uint8Array ? b(plaintext) : (concat(...plaintext) as Buf);
      const sealed = new Uint8Array(await subtle.encrypt(params, k, input));
      if (headroom === 0) return sealed;
      const out = new Uint8Array(headroom + sealed.length);
      out.set(sealed, headroom);
      return out;
    },
    async aesGcmOpen(key, nonce, sealed, aad) {
      if (sealed.length < 16) return null;
      const k = await subtle.importKey('raw', b(key), 'AES-GCM', false, ['decrypt']);
      const params = { name: 'AES-GCM', iv: b(nonce), additionalData: b(aad), tagLength: 128 };
      try {
        return new Uint8Array(await subtle.decrypt(params, k, b(sealed)));
      } catch {
        return null;
      }
    },
    // WebCrypto has no ChaCha20-Poly1305 and no scrypt: @noble/ciphers and @noble/hashes.
    async chacha20Poly1305Seal(key, nonce, plaintext, aad) {
      return chacha20poly1305(key, nonce, aad).encrypt(plaintext);
    },
    async chacha20Poly1305Open(key, nonce, sealed, aad) {
      if (sealed.length < 16) return null;
      try {
        return chacha20poly1305(key, nonce, aad).decrypt(sealed);
      } catch {
        return null;
      }
    },
    chacha20Poly1305SealSync(key, nonce, plaintext) {
      const sealed = chacha20poly1305(key, nonce).encrypt(plaintext);
      return [sealed.subarray(0, plaintext.length), sealed.subarray(plaintext.length)];
    },
    chacha20Poly1305OpenSync(key, nonce, sealed) {
      if (sealed.length < 16) return null;
      try {
        return chacha20poly1305(key, nonce).decrypt(sealed);
      } catch {
        return null;
      }
    },
    async scrypt(password, salt, { N, r, p, dkLen }) {
      return scryptAsync(password, salt, { N, r, p, dkLen, maxmem: 128 * N * r * (p + 1) + 1024 * 1024 });
    },
    argon2id: nobleArgon2id,
    async x25519PublicKey(privateKey) {
      if (!(await hasX25519())) return x25519.getPublicKey(privateKey);
      return publicFromJwk('X25519', X25519_PKCS8_PREFIX, privateKey, ['deriveBits']);
    },
    async x25519(privateKey, publicKey) {
      if (!(await hasX25519())) return x25519.getSharedSecret(privateKey, publicKey);
      const priv = await subtle.importKey('pkcs8', pkcs8(X25519_PKCS8_PREFIX, privateKey), { name: 'X25519' }, false, ['deriveBits']);
      const pub = await subtle.importKey('raw', b(publicKey), { name: 'X25519' }, false, []);
      // WebCrypto rejects an all-zero result (low-order peer key) by throwing; callers check too.
      return new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: pub } as EcdhKeyDeriveParams, priv, 256));
    },
    async x25519OneShot(privateKey, peers) {
      if (!(await hasX25519())) return { publicKey: x25519.getPublicKey(privateKey), shared: peers.map((peer) => x25519.getSharedSecret(privateKey, peer)) };
      // One import (extractable, to read the public key) serves every agreement; nothing is kept.
      const priv = await subtle.importKey('pkcs8', pkcs8(X25519_PKCS8_PREFIX, privateKey), { name: 'X25519' }, true, ['deriveBits']);
      const jwk = await subtle.exportKey('jwk', priv);
      if (typeof jwk.x !== 'string') throw new Error('WebCrypto did not export a public key');
      const shared: Uint8Array[] = [];
      for (const peer of peers) {
        const pub = await subtle.importKey('raw', b(peer), { name: 'X25519' }, false, []);
        shared.push(new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: pub } as EcdhKeyDeriveParams, priv, 256)));
      }
      return { publicKey: fromBase64Url(jwk.x), shared };
    },
    async ed25519PublicKey(seed) {
      if (!(await hasEd25519())) return ed25519.getPublicKey(seed);
      return publicFromJwk('Ed25519', ED25519_PKCS8_PREFIX, seed, ['sign']);
    },
    async ed25519Sign(seed, message) {
      if (!(await hasEd25519())) return ed25519.sign(message, seed);
      const k = await subtle.importKey('pkcs8', pkcs8(ED25519_PKCS8_PREFIX, seed), { name: 'Ed25519' }, false, ['sign']);
      return new Uint8Array(await subtle.sign('Ed25519', k, b(message)));
    },
    async ed25519Verify(publicKey, message, signature) {
      // One rule on every implementation (ed25519.ts): WebCrypto on OpenSSL 3.0 would accept a small-order key.
      if (!ed25519InputsAcceptable(publicKey, signature)) return false;
      try {
        if (!(await hasEd25519())) return ed25519.verify(signature, message, publicKey, { zip215: false });
        const k = await subtle.importKey('raw', b(publicKey), { name: 'Ed25519' }, false, ['verify']);
        return await subtle.verify('Ed25519', k, b(signature), b(message));
      } catch {
        return false;
      }
    },
    mlkem768KeyPair,
    mlkem768Encapsulate,
    mlkem768Decapsulate,
  };
}
