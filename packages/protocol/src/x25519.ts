/**
 * X25519 key validation and Diffie-Hellman with the checks the protocol requires.
 *
 * RFC 7748 §5 lets implementations accept any 32-byte string; we are stricter and reject
 * (a) non-canonical encodings: the unused top bit set, or u >= p = 2^255 - 19;
 * (b) the canonical encodings of the points of small order (u = 0, 1, the two points of order 8,
 *     and p - 1), whose shared secret does not depend on our private key;
 * and, as RFC 7748 §6.1 recommends, an all-zero shared secret.
 */
import { equal, fromHex } from './bytes.js';
import { InvalidKeyError } from './errors.js';
import type { KeyPair, Primitives } from './primitives/types.js';

const P_LE = fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map(fromHex);
const ZERO32 = new Uint8Array(32);

/** True when the little-endian integer `a` is >= the little-endian integer `b`. */
function geLE(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = a.length - 1; i >= 0; i--) {
    if ((a[i] as number) !== (b[i] as number)) return (a[i] as number) > (b[i] as number);
  }
  return true;
}

export function isValidX25519PublicKey(key: Uint8Array): boolean {
  if (key.length !== 32) return false;
  if (((key[31] as number) & 0x80) !== 0) return false;
  if (geLE(key, P_LE)) return false;
  for (const bad of LOW_ORDER) if (equal(key, bad)) return false;
  return true;
}

export function assertX25519PublicKey(key: Uint8Array, what: string): void {
  if (!isValidX25519PublicKey(key)) throw new InvalidKeyError(`${what}: not a valid X25519 public key`);
}

/** DH(priv, pub) after validating `pub`; throws InvalidKeyError on a bad key or an all-zero result. */
export async function dh(p: Primitives, privateKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array> {
  assertX25519PublicKey(publicKey, 'peer key');
  let out: Uint8Array;
  try {
    out = await p.x25519(privateKey, publicKey);
  } catch {
    throw new InvalidKeyError('X25519 failed');
  }
  if (equal(out, ZERO32)) throw new InvalidKeyError('X25519 produced the all-zero secret');
  return out;
}

export async function generateX25519(p: Primitives): Promise<KeyPair> {
  const privateKey = p.randomBytes(32);
  return { privateKey, publicKey: await p.x25519PublicKey(privateKey) };
}

/**
 * A one-shot key's public key and its DH with each peer key, every peer validated first and an
 * all-zero result refused as in `dh`. The private key goes through `x25519OneShot`, so no
 * primitives cache keeps it (PQXDH rev. 2 §3.3: "Alice deletes her ephemeral private key").
 */
export async function ephemeralDh(
  p: Primitives,
  privateKey: Uint8Array,
  peers: readonly Uint8Array[],
): Promise<{ publicKey: Uint8Array; shared: Uint8Array[] }> {
  for (const peer of peers) assertX25519PublicKey(peer, 'peer key');
  let out: { publicKey: Uint8Array; shared: Uint8Array[] };
  try {
    out = await p.x25519OneShot(privateKey, peers);
  } catch {
    throw new InvalidKeyError('X25519 failed');
  }
  if (out.shared.some((s) => equal(s, ZERO32))) throw new InvalidKeyError('X25519 produced the all-zero secret');
  return out;
}
