/**
 * Primitives on node:crypto (OpenSSL): synchronous native calls under an async interface.
 * ML-KEM-768 and Argon2id are native where the runtime has them (Node ≥ 24.7, OpenSSL 3.5) and
 * come from @noble otherwise (mlkem-node.ts, argon2.ts); `providers()` says which is in use.
 */
import * as nodeCrypto from 'node:crypto';
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
  randomFillSync,
  scrypt,
  sign,
  verify,
} from 'node:crypto';
import { onWipe } from '../bytes.js';
import { ed25519InputsAcceptable } from '../ed25519.js';
import { nobleArgon2id } from './argon2.js';
import { mlkem768Decapsulate, mlkem768Encapsulate, mlkem768KeyPair, nativeMlkem768 } from './mlkem-node.js';
import type { Argon2Params, PrimitiveProviders, Primitives, ScryptParams } from './types.js';

// RFC 8410 §7 / §10: DER prefixes of OneAsymmetricKey and SubjectPublicKeyInfo for raw 32-byte keys.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

type Curve = 'X25519' | 'Ed25519';
const b64u = (k: Uint8Array) => Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('base64url');
const ZERO_X = b64u(new Uint8Array(32));

/**
 * Raw 32-byte keys become KeyObjects by the cheapest path this runtime offers, each checked once
 * at start-up against the RFC 7748 §6.1 and RFC 8032 §7.1 test vectors:
 * 1. Node ≥ 24 takes raw keys directly (`format: 'raw-private' | 'raw-public'`): ~30 µs per
 *    private key (OpenSSL derives its public key) and ~4 µs per public key here;
 * 2. Node 20 takes a JWK and derives an OKP private key from `d` alone (the `x` member is only
 *    type-checked, so private keys are imported with a placeholder `x`): ~30 µs instead of ~300 µs
 *    through OpenSSL 3.0's PKCS#8 decoders. Node 24 validates `x`, hence path 1;
 * 3. PKCS#8 DER otherwise.
 */
type Importer = (crv: Curve, key: Uint8Array) => KeyObject;
const buf = (k: Uint8Array) => Buffer.from(k.buffer, k.byteOffset, k.byteLength);
const keyType = (crv: Curve) => (crv === 'X25519' ? 'x25519' : 'ed25519');
const importPrivateRaw: Importer = (crv, d) => createPrivateKey({ key: buf(d), format: 'raw-private', asymmetricKeyType: keyType(crv) });
const importPublicRaw: Importer = (crv, x) => createPublicKey({ key: buf(x), format: 'raw-public', asymmetricKeyType: keyType(crv) });
const importPrivateJwk: Importer = (crv, d) => createPrivateKey({ key: { kty: 'OKP', crv, d: b64u(d), x: ZERO_X }, format: 'jwk' });
const importPublicJwk: Importer = (crv, x) => createPublicKey({ key: { kty: 'OKP', crv, x: b64u(x) }, format: 'jwk' });
const importPrivateDer: Importer = (crv, d) =>
  createPrivateKey({ key: Buffer.concat([crv === 'X25519' ? X25519_PKCS8_PREFIX : ED25519_PKCS8_PREFIX, d]), format: 'der', type: 'pkcs8' });

function rawPublic(key: KeyObject): Uint8Array {
  const x = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new Error('public key export failed');
  return new Uint8Array(Buffer.from(x, 'base64url'));
}

/** RFC 7748 §6.1 (Alice) and RFC 8032 §7.1 (test 1): private key → public key. */
const VECTORS: Record<Curve, readonly [string, string]> = {
  X25519: ['77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'],
  Ed25519: ['9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'],
};

function importersWork(importPrivate: Importer, importPublic: Importer): boolean {
  try {
    return (['X25519', 'Ed25519'] as const).every((crv) => {
      const [d, x] = VECTORS[crv].map((h) => Buffer.from(h, 'hex')) as [Buffer, Buffer];
      return buf(rawPublic(importPrivate(crv, d))).equals(x) && buf(rawPublic(importPublic(crv, x))).equals(x);
    });
  } catch {
    return false;
  }
}

/** Which import path this runtime uses (tests check it: a slower fallback would go unnoticed). */
export const keyImportPath: 'raw' | 'jwk' | 'der' = importersWork(importPrivateRaw, importPublicRaw)
  ? 'raw'
  : importersWork(importPrivateJwk, importPublicJwk)
    ? 'jwk'
    : 'der';
const [importPrivate, importPublic]: [Importer, Importer] =
  keyImportPath === 'raw'
    ? [importPrivateRaw, importPublicRaw]
    : keyImportPath === 'jwk'
      ? [importPrivateJwk, importPublicJwk]
      : [importPrivateDer, importPublicJwk];

/**
 * A small LRU of imported keys. Ratchet and identity keys are used several times in a row (key
 * generation, then one or two DH operations), and a peer's identity and signed prekey recur, so a
 * hit saves the import. Entries hold key material the caller's session state already holds; the
 * cache is bounded (64 entries) and per primitives instance.
 *
 * Private keys are found by a keyed hash of the raw key, SHA-256(PRIVATE_ID_KEY ‖ d) under a
 * random per-process 32-byte key, never by the key itself: a JavaScript string cannot be wiped,
 * and a cache keyed by `latin1(d)` kept every private key in the heap as an immutable string until
 * collected (review finding L6). The input has a fixed length (64 bytes), so the secret-prefix
 * construction needs no HMAC (length extension does not apply); one-shot `crypto.hash` costs
 * ~0.3 µs per lookup against ~1.6 µs for `createHmac` here, and a setup makes about ten lookups.
 * Public keys are keyed by their bytes. `wipe()` of an array a private key was imported from drops
 * that entry (a WeakMap from the array to its id; the KeyObject is freed
 * by the collector, OpenSSL clearing the key). What stays: a private key in use (identity, signed
 * prekey, current ratchet key) remains cached until evicted, as the session state holds it anyway;
 * a key imported from one array and wiped through a different copy of its bytes stays until
 * evicted. One-shot keys (PQXDH's EK) never enter the cache (`x25519OneShot`).
 */
const PRIVATE_ID_KEY = randomFillSync(new Uint8Array(32));
/** PRIVATE_ID_KEY ‖ d, hashed in one call; d's half is zeroed again right after. */
const idInput = Buffer.alloc(64);
idInput.set(PRIVATE_ID_KEY, 0);
type OneShotHash = (algorithm: string, data: Uint8Array, encoding: 'base64') => string;
const oneShotHash = (nodeCrypto as unknown as { hash?: OneShotHash }).hash;
const idPrefix = createHash('sha256').update(PRIVATE_ID_KEY);
function privateId(crv: Curve, raw: Uint8Array): string {
  if (raw.length !== 32 || !oneShotHash) return crv[0] + idPrefix.copy().update(raw).digest('base64');
  idInput.set(raw, 32);
  const id = oneShotHash('sha256', idInput, 'base64');
  idInput.fill(0, 32);
  return crv[0] + id;
}
const publicId = (crv: Curve, raw: Uint8Array) => crv[0] + buf(raw).toString('latin1');

class KeyCache {
  readonly map = new Map<string, KeyObject>();
  /** The id each array was imported under (private keys: to forget it on `wipe`). */
  private readonly sources = new WeakMap<Uint8Array, string>();
  constructor(
    private readonly max: number,
    private readonly load: Importer,
    private readonly idOf: (crv: Curve, raw: Uint8Array) => string,
    private readonly trackSources: boolean,
  ) {}
  get(crv: Curve, raw: Uint8Array): KeyObject {
    const id = this.idOf(crv, raw);
    let key = this.map.get(id);
    if (key) {
      this.map.delete(id);
    } else {
      key = this.load(crv, raw);
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as string);
    }
    this.map.set(id, key);
    if (this.trackSources && this.sources.get(raw) !== id) this.sources.set(raw, id);
    return key;
  }
  /** Drop the key imported from `raw` (this very array), if cached. */
  forget(raw: Uint8Array): void {
    const id = this.sources.get(raw);
    if (id === undefined) return;
    this.sources.delete(raw);
    this.map.delete(id);
  }
  has(crv: Curve, raw: Uint8Array): boolean {
    return this.map.has(this.idOf(crv, raw));
  }
}

/** The private-key caches of live primitives instances, told of every `wipe()`. */
const privateCaches = new Set<WeakRef<KeyCache>>();
onWipe((secret) => {
  for (const ref of privateCaches) {
    const cache = ref.deref();
    if (cache) cache.forget(secret);
    else privateCaches.delete(ref);
  }
});

/** Test-only view of an instance's caches (test/attacks/l6-key-cache.test.ts). */
const instanceCaches = new WeakMap<Primitives, { privateKeys: KeyCache; publicKeys: KeyCache }>();
export const keyCacheInspection = {
  /** The ids of the cached private keys (what the cache holds besides KeyObjects). */
  privateIds(p: Primitives): string[] {
    return [...(instanceCaches.get(p)?.privateKeys.map.keys() ?? [])];
  },
  /** Whether the private key `raw` of curve `crv` is cached. */
  hasPrivate(p: Primitives, crv: Curve, raw: Uint8Array): boolean {
    return instanceCaches.get(p)?.privateKeys.has(crv, raw) ?? false;
  },
};

/**
 * A fresh Uint8Array (not a pooled Buffer view) holding `b`'s bytes. The copy constructor keeps
 * small outputs (keys, MACs, signatures) on V8's heap; slicing the pool's ArrayBuffer would give
 * each its own off-heap store, several times the cost.
 */
/**
 * A one-shot digest: `crypto.hash` (Node ≥ 20.12 / 21.7) skips the Hash object, about 1 µs of
 * the ~3-5 a SHA-512 of a message-sized input costs through createHash (the SDK hashes every
 * received message three times: seen.ts); createHash where it is missing.
 */
const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: Uint8Array, outputEncoding: 'buffer') => Buffer }).hash;
const digest = (algorithm: 'sha512', data: Uint8Array): Buffer => (oneShot ? oneShot(algorithm, data, 'buffer') : createHash(algorithm).update(data).digest());

function own(b: Buffer): Uint8Array {
  return new Uint8Array(b);
}

/** `b` as a plain Uint8Array: a view when it owns its memory, else (a pooled Buffer) a copy. */
function view(b: Buffer): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? new Uint8Array(b.buffer) : own(b);
}

function chachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array | null {
  if (sealed.length < 16) return null;
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  if (aad) d.setAAD(aad, { plaintextLength: sealed.length - 16 });
  const body = d.update(sealed.subarray(0, sealed.length - 16));
  try {
    d.final();
  } catch {
    body.fill(0);
    return null;
  }
  return view(body);
}

function nodeScrypt(password: Uint8Array, salt: Uint8Array, { N, r, p, dkLen }: ScryptParams): Promise<Uint8Array> {
  // OpenSSL needs about 128·N·r bytes; node's default cap (32 MiB) is below age's default work factor.
  const maxmem = 128 * N * r * (p + 1) + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, dkLen, { N, r, p, maxmem }, (err, key) => (err ? reject(err) : resolve(own(key))));
  });
}

type NativeArgon2 = (
  algorithm: 'argon2id',
  parameters: { message: Uint8Array; nonce: Uint8Array; parallelism: number; tagLength: number; memory: number; passes: number },
  callback: (err: Error | null, key: ArrayBuffer) => void,
) => void;
const argon2 = (nodeCrypto as unknown as { argon2?: NativeArgon2 }).argon2;

/** RFC 9106 Argon2id on OpenSSL 3.2+ (Node ≥ 24.7), run on libuv's thread pool. */
function nodeArgon2id(password: Uint8Array, salt: Uint8Array, { m, t, p, dkLen }: Argon2Params): Promise<Uint8Array> {
  const native = argon2 as NativeArgon2;
  return new Promise((resolve, reject) => {
    native('argon2id', { message: password, nonce: salt, parallelism: p, tagLength: dkLen, memory: m, passes: t }, (err, key) =>
      err ? reject(err) : resolve(new Uint8Array(key)),
    );
  });
}

const PROVIDERS: PrimitiveProviders = Object.freeze({
  mlkem768: nativeMlkem768 ? 'node:crypto' : '@noble/post-quantum',
  argon2id: typeof argon2 === 'function' ? 'node:crypto' : '@noble/hashes',
  aesGcm: 'node:crypto',
  chacha20Poly1305: 'node:crypto',
  x25519: 'node:crypto',
  ed25519: 'node:crypto',
});

export interface NodePrimitiveOptions {
  /** Replace the CSPRNG (tests and known-answer vectors only). */
  randomBytes?: (length: number) => Uint8Array;
}

export function createNodePrimitives(options: NodePrimitiveOptions = {}): Primitives {
  const randomBytes = options.randomBytes ?? ((n: number) => randomFillSync(new Uint8Array(n)));
  const keys = new KeyCache(64, importPrivate, privateId, true);
  const publicKeys = new KeyCache(64, importPublic, publicId, false);
  privateCaches.add(new WeakRef(keys));
  const primitives: Primitives = {
    name: 'node',
    async providers() {
      return PROVIDERS;
    },
    randomBytes,
    async sha512(data) {
      return own(digest('sha512', data));
    },
    async sha256(data) {
      return own(createHash('sha256').update(data).digest());
    },
    async hmacSha256(key, data) {
      return own(createHmac('sha256', key).update(data).digest());
    },
    async hkdfSha256(ikm, salt, info, length) {
      return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
    },
    async aesGcmSeal(key, nonce, plaintext, aad, headroom = 0) {
      const parts = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
      let length = headroom + 16;
      for (const part of parts) length += part.length;
      // Every byte is written below (the headroom zeroed): no need for zero-filled memory, whose
      // fresh pages cost more than the copy for a 64 KiB message.
      const out = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
      out.fill(0, 0, headroom);
      const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      c.setAAD(aad);
      let offset = headroom;
      for (const part of parts) {
        const body = c.update(part);
        out.set(body, offset);
        offset += body.length;
      }
      const fin = c.final();
      out.set(fin, offset);
      out.set(c.getAuthTag(), offset + fin.length);
      return out;
    },
    async aesGcmOpen(key, nonce, sealed, aad) {
      if (sealed.length < 16) return null;
      const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      const body = d.update(sealed.subarray(0, sealed.length - 16));
      try {
        d.final();
      } catch {
        body.fill(0);
        return null;
      }
      // Small outputs live in Node's shared Buffer pool: copy them out. Large ones own their memory.
      return body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? new Uint8Array(body.buffer) : own(body);
    },
    chacha20Poly1305SealSync(key, nonce, plaintext) {
      const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      const body = c.update(plaintext);
      // A stream cipher: update() returned everything and final() returns nothing.
      c.final();
      return [view(body), view(c.getAuthTag())];
    },
    chacha20Poly1305OpenSync(key, nonce, sealed) {
      return chachaOpen(key, nonce, sealed);
    },
    async chacha20Poly1305Seal(key, nonce, plaintext, aad) {
      const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      if (aad) c.setAAD(aad, { plaintextLength: plaintext.length });
      const out = new Uint8Array(plaintext.length + 16);
      const body = c.update(plaintext);
      out.set(body, 0);
      const fin = c.final();
      out.set(fin, body.length);
      out.set(c.getAuthTag(), body.length + fin.length);
      return out;
    },
    async chacha20Poly1305Open(key, nonce, sealed, aad) {
      return chachaOpen(key, nonce, sealed, aad);
    },
    scrypt(password, salt, params) {
      return nodeScrypt(password, salt, params);
    },
    argon2id: PROVIDERS.argon2id === 'node:crypto' ? nodeArgon2id : nobleArgon2id,
    async x25519PublicKey(privateKey) {
      return rawPublic(keys.get('X25519', privateKey));
    },
    async x25519(privateKey, peer) {
      return own(diffieHellman({ privateKey: keys.get('X25519', privateKey), publicKey: publicKeys.get('X25519', peer) }));
    },
    async x25519OneShot(privateKey, peers) {
      // Imported once, used for every agreement, never cached: dropped with this call.
      const key = importPrivate('X25519', privateKey);
      const shared = peers.map((peer) => own(diffieHellman({ privateKey: key, publicKey: publicKeys.get('X25519', peer) })));
      return { publicKey: rawPublic(key), shared };
    },
    async ed25519PublicKey(seed) {
      return rawPublic(keys.get('Ed25519', seed));
    },
    async ed25519Sign(seed, message) {
      return own(sign(null, message, keys.get('Ed25519', seed)));
    },
    async ed25519Verify(publicKey, message, signature) {
      // One rule on every implementation (ed25519.ts): OpenSSL 3.0 alone would accept a small-order key.
      if (!ed25519InputsAcceptable(publicKey, signature)) return false;
      try {
        return verify(null, message, publicKeys.get('Ed25519', publicKey), signature);
      } catch {
        return false;
      }
    },
    mlkem768KeyPair,
    mlkem768Encapsulate,
    mlkem768Decapsulate,
  };
  instanceCaches.set(primitives, { privateKeys: keys, publicKeys });
  return primitives;
}
