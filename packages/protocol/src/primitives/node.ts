/**
 * Primitives on node:crypto (OpenSSL). Raw 32-byte keys are wrapped in their fixed PKCS#8 / SPKI
 * DER prefixes (RFC 8410) so the hot paths stay synchronous native calls.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  randomFillSync,
  sign,
  verify,
} from 'node:crypto';
import { mlkem768Decapsulate, mlkem768Encapsulate, mlkem768KeyPair } from './mlkem.js';
import type { Primitives } from './types.js';

// RFC 8410 §7 / §10: DER prefixes of OneAsymmetricKey and SubjectPublicKeyInfo for raw 32-byte keys.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function der(prefix: Buffer, key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(prefix.length + key.length);
  prefix.copy(out, 0);
  out.set(key, prefix.length);
  return out;
}

const privateX25519 = (k: Uint8Array) => createPrivateKey({ key: der(X25519_PKCS8_PREFIX, k), format: 'der', type: 'pkcs8' });
const publicX25519 = (k: Uint8Array) => createPublicKey({ key: der(X25519_SPKI_PREFIX, k), format: 'der', type: 'spki' });
const privateEd25519 = (k: Uint8Array) => createPrivateKey({ key: der(ED25519_PKCS8_PREFIX, k), format: 'der', type: 'pkcs8' });
const publicEd25519 = (k: Uint8Array) => createPublicKey({ key: der(ED25519_SPKI_PREFIX, k), format: 'der', type: 'spki' });

/** A fresh Uint8Array (not a pooled Buffer view) holding `b`'s bytes. */
function own(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function lastBytes(b: Buffer, n: number): Uint8Array {
  return own(b.subarray(b.length - n));
}

export interface NodePrimitiveOptions {
  /** Replace the CSPRNG (tests and known-answer vectors only). */
  randomBytes?: (length: number) => Uint8Array;
}

export function createNodePrimitives(options: NodePrimitiveOptions = {}): Primitives {
  const randomBytes = options.randomBytes ?? ((n: number) => randomFillSync(new Uint8Array(n)));
  return {
    name: 'node',
    randomBytes,
    async sha512(data) {
      return own(createHash('sha512').update(data).digest());
    },
    async hmacSha256(key, data) {
      return own(createHmac('sha256', key).update(data).digest());
    },
    async hkdfSha256(ikm, salt, info, length) {
      return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
    },
    async aesGcmSeal(key, nonce, plaintext, aad) {
      const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      c.setAAD(aad);
      const out = new Uint8Array(plaintext.length + 16);
      const body = c.update(plaintext);
      out.set(body, 0);
      const fin = c.final();
      out.set(fin, body.length);
      out.set(c.getAuthTag(), body.length + fin.length);
      return out;
    },
    async aesGcmOpen(key, nonce, sealed, aad) {
      if (sealed.length < 16) return null;
      const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      const out = new Uint8Array(sealed.length - 16);
      const body = d.update(sealed.subarray(0, sealed.length - 16));
      out.set(body, 0);
      try {
        d.final();
      } catch {
        out.fill(0);
        return null;
      }
      return out;
    },
    async x25519PublicKey(privateKey) {
      return lastBytes(createPublicKey(privateX25519(privateKey)).export({ format: 'der', type: 'spki' }), 32);
    },
    async x25519(privateKey, publicKey) {
      return own(diffieHellman({ privateKey: privateX25519(privateKey), publicKey: publicX25519(publicKey) }));
    },
    async ed25519PublicKey(seed) {
      return lastBytes(createPublicKey(privateEd25519(seed)).export({ format: 'der', type: 'spki' }), 32);
    },
    async ed25519Sign(seed, message) {
      return own(sign(null, message, privateEd25519(seed)));
    },
    async ed25519Verify(publicKey, message, signature) {
      if (publicKey.length !== 32 || signature.length !== 64) return false;
      try {
        return verify(null, message, publicEd25519(publicKey), signature);
      } catch {
        return false;
      }
    },
    mlkem768KeyPair,
    mlkem768Encapsulate,
    mlkem768Decapsulate,
  };
}
