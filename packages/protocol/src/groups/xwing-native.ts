/**
 * X-Wing (draft-connolly-cfrg-xwing-kem) on node:crypto where the runtime has ML-KEM-768 (Node ≥ 24.7
 * with OpenSSL 3.5: `crypto.encapsulate` / `crypto.decapsulate`, keys as `raw-seed` / `raw-public`).
 * The same algorithm as @noble/post-quantum's `ml_kem768_x25519` (xwing.ts), step by step:
 *
 * - §5.2 expandDecapsulationKey(sk): expanded = SHAKE256(sk, 96); the ML-KEM-768 key pair is
 *   KeyGen_internal(expanded[0:32], expanded[32:64]), i.e. FIPS 203's 64-byte seed d || z, which
 *   OpenSSL takes as the `raw-seed` form; sk_X = expanded[64:96], pk_X = X25519(sk_X, 9).
 * - §5.3 Encapsulate(pk): ML-KEM-768.Encaps(pk_M), an ephemeral X25519 key ek_X, ct_X = its public
 *   key, ss_X = X25519(ek_X, pk_X); ct = ct_M || ct_X.
 * - §5.4 Decapsulate(sk, ct): ss_M = ML-KEM-768.Decaps(sk_M, ct_M), ss_X = X25519(sk_X, ct_X).
 * - §5.3 Combiner: SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel), XWingLabel = "\.//^\".
 *
 * node:crypto is reached through `process.getBuiltinModule` (no static import), so this module
 * loads in browsers and answers `null` there, and on runtimes without ML-KEM (Node 20, 22): xwing.ts
 * then uses @noble. Not used for caller-given randomness (OpenSSL takes none): known-answer tests
 * stay on @noble.
 */
import type * as NodeCrypto from 'node:crypto';

const ML_KEM_PUBLIC = 1184;
const ML_KEM_CT = 1088;
const X25519_BYTES = 32;
const LABEL = new Uint8Array([0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c]);

export interface NativeXWing {
  /** §5.2: the 1216-byte public key of a 32-byte seed. */
  publicKey(seed: Uint8Array): Uint8Array;
  /** §5.3 with fresh randomness from OpenSSL. */
  encapsulate(publicKey: Uint8Array): { enc: Uint8Array; sharedSecret: Uint8Array };
  /** §5.4. */
  decapsulate(enc: Uint8Array, seed: Uint8Array): Uint8Array;
}

function nodeCrypto(): typeof NodeCrypto | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (typeof proc?.getBuiltinModule !== 'function') return null;
  try {
    const c = proc.getBuiltinModule('node:crypto') as typeof NodeCrypto | undefined;
    return c && typeof (c as { encapsulate?: unknown }).encapsulate === 'function' ? c : null;
  } catch {
    return null;
  }
}

type Encapsulate = (key: NodeCrypto.KeyObject) => { sharedKey: Buffer; ciphertext: Buffer };
type Decapsulate = (key: NodeCrypto.KeyObject, ciphertext: Uint8Array) => Buffer;
// `raw-seed` / `raw-public` / `raw-private` key formats (Node ≥ 24.7), not in @types/node 20's KeyFormat.
type RawInput = { key: Uint8Array; format: 'raw-seed' | 'raw-public' | 'raw-private'; asymmetricKeyType: 'ml-kem-768' | 'x25519' };

function make(c: typeof NodeCrypto): NativeXWing {
  const api = c as unknown as { encapsulate: Encapsulate; decapsulate: Decapsulate };
  const privateKey = (input: RawInput) => c.createPrivateKey(input as unknown as NodeCrypto.PrivateKeyInput);
  const publicKey = (input: RawInput) => c.createPublicKey(input as unknown as NodeCrypto.PublicKeyInput);
  const rawPublic = (k: NodeCrypto.KeyObject) => k.export({ format: 'raw-public' } as unknown as NodeCrypto.KeyExportOptions<'der'>) as Buffer;
  const expand = (seed: Uint8Array) => c.createHash('shake256', { outputLength: 96 }).update(seed).digest();
  const combine = (ssM: Uint8Array, ssX: Uint8Array, ctX: Uint8Array, pkX: Uint8Array) =>
    new Uint8Array(c.createHash('sha3-256').update(ssM).update(ssX).update(ctX).update(pkX).update(LABEL).digest());
  const x25519Dh = (priv: NodeCrypto.KeyObject, pub: Uint8Array) =>
    c.diffieHellman({ privateKey: priv, publicKey: publicKey({ key: pub, format: 'raw-public', asymmetricKeyType: 'x25519' }) });
  const keys = (seed: Uint8Array) => {
    const e = expand(seed);
    const skM = privateKey({ key: e.subarray(0, 64), format: 'raw-seed', asymmetricKeyType: 'ml-kem-768' });
    const skX = privateKey({ key: e.subarray(64, 96), format: 'raw-private', asymmetricKeyType: 'x25519' });
    return { skM, skX };
  };
  return {
    publicKey(seed) {
      const { skM, skX } = keys(seed);
      const out = new Uint8Array(ML_KEM_PUBLIC + X25519_BYTES);
      out.set(rawPublic(c.createPublicKey(skM)), 0);
      out.set(rawPublic(c.createPublicKey(skX)), ML_KEM_PUBLIC);
      return out;
    },
    encapsulate(pk) {
      const pkX = pk.subarray(ML_KEM_PUBLIC);
      // OpenSSL runs FIPS 203 §7.2's modulus check on import, as @noble does on encapsulation.
      const { sharedKey, ciphertext } = api.encapsulate(
        publicKey({ key: pk.subarray(0, ML_KEM_PUBLIC), format: 'raw-public', asymmetricKeyType: 'ml-kem-768' }),
      );
      const ek = c.generateKeyPairSync('x25519');
      const ctX = rawPublic(ek.publicKey);
      const ssX = x25519Dh(ek.privateKey, pkX);
      const enc = new Uint8Array(ML_KEM_CT + X25519_BYTES);
      enc.set(ciphertext, 0);
      enc.set(ctX, ML_KEM_CT);
      return { enc, sharedSecret: combine(sharedKey, ssX, ctX, pkX) };
    },
    decapsulate(enc, seed) {
      const { skM, skX } = keys(seed);
      const ctX = enc.subarray(ML_KEM_CT);
      const ssM = api.decapsulate(skM, enc.subarray(0, ML_KEM_CT));
      const ssX = x25519Dh(skX, ctX);
      return combine(ssM, ssX, ctX, rawPublic(c.createPublicKey(skX)));
    },
  };
}

/** Probed once: ML-KEM-768 and X25519 raw keys work on this runtime. */
function probe(): NativeXWing | null {
  const c = nodeCrypto();
  if (!c) return null;
  try {
    const x = make(c);
    const seed = new Uint8Array(32).fill(7);
    const { enc, sharedSecret } = x.encapsulate(x.publicKey(seed));
    const back = x.decapsulate(enc, seed);
    return back.length === 32 && back.every((v, i) => v === sharedSecret[i]) ? x : null;
  } catch {
    return null;
  }
}

export const nativeXWing: NativeXWing | null = probe();
