/**
 * Ed25519 input validation: the one verification rule every primitives implementation applies
 * before its platform's Ed25519 verification (docs/PROTOCOL.md §3, "Ed25519 keys and signatures").
 *
 * RFC 8032 §5.1.3 decoding, strictly: a point encoding is refused when its y coordinate is not
 * below p = 2^255 - 19, or when x = 0 and the sign bit is set (the only points with x = 0 are
 * y = 1 and y = p - 1). RFC 8032 §5.1.7 requires 0 <= S < L. On top, a public key of small order
 * (one of the eight points of the torsion subgroup) is refused: under such a key the signature
 * (R = identity, S = 0) verifies for every message on OpenSSL 3.0 and BoringSSL (the review's
 * finding L1), while OpenSSL 3.5 and @noble/curves (strict mode) refuse it. Checking here gives
 * node:crypto, WebCrypto and @noble the same answer for every such input, whatever their version.
 * The eight encodings are the multiples of the order-8 point 26e8958f…6d53fc05 (computed with
 * @noble/curves by the vector generator, packages/protocol/test/vectors/generate.ts).
 */
import { equal, fromHex } from './bytes.js';

const SMALL_ORDER = [
  '0100000000000000000000000000000000000000000000000000000000000000', // identity (y = 1)
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2 (y = p - 1)
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4 (y = 0, x = +sqrt(-1))
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4 (y = 0, x = -sqrt(-1))
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
].map(fromHex);

/** p = 2^255 - 19, little-endian. */
const P_LE = fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
/** L = 2^252 + 27742317777372353535851937790883648493 (RFC 8032 §5.1), little-endian. */
const L_LE = fromHex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');

/** `a` < `b` for little-endian integers of 32 bytes, `a` read with its top bit masked when `mask`. */
function lessThan(a: Uint8Array, b: Uint8Array, mask: boolean): boolean {
  for (let i = 31; i >= 0; i--) {
    const x = i === 31 && mask ? (a[i] as number) & 0x7f : (a[i] as number);
    const y = b[i] as number;
    if (x !== y) return x < y;
  }
  return false;
}

/** RFC 8032 §5.1.3 canonical encoding: y < p, and not x = 0 with the sign bit set. */
function isCanonicalPoint(e: Uint8Array): boolean {
  if (e.length !== 32 || !lessThan(e, P_LE, true)) return false;
  if (((e[31] as number) & 0x80) === 0) return true;
  // Sign bit set: refused for y = 1 and y = p - 1, the points whose x is 0.
  const y = e.slice();
  y[31] = (y[31] as number) & 0x7f;
  return !equal(y, SMALL_ORDER[0] as Uint8Array) && !equal(y, SMALL_ORDER[1] as Uint8Array);
}

/** A public key every implementation treats alike: canonical and not of small order. */
/** First bytes of the small-order encodings: keys starting otherwise skip the comparisons. */
const SMALL_ORDER_FIRST = new Set(SMALL_ORDER.map((k) => k[0] as number));

export function isValidEd25519PublicKey(key: Uint8Array): boolean {
  if (!(key instanceof Uint8Array) || !isCanonicalPoint(key)) return false;
  if (!SMALL_ORDER_FIRST.has(key[0] as number)) return true;
  for (const bad of SMALL_ORDER) if (equal(key, bad)) return false;
  return true;
}

/**
 * The shared part of verification (the "one rule"): a valid public key, a canonical R and
 * S < L. The platform's verification runs only on inputs that pass.
 */
export function ed25519InputsAcceptable(publicKey: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  if (!isValidEd25519PublicKey(publicKey)) return false;
  if (!isCanonicalPoint(signature.subarray(0, 32))) return false;
  return lessThan(signature.subarray(32, 64), L_LE, false);
}
