/**
 * ML-KEM-768 (FIPS 203) on node:crypto where the runtime has it (Node ≥ 24.7 with OpenSSL 3.5:
 * `crypto.encapsulate` / `crypto.decapsulate`), @noble/post-quantum otherwise.
 *
 * Keys keep the formats the protocol already stores: the 1184-byte encapsulation key and the
 * 2400-byte expanded decapsulation key (FIPS 203 §7.1 ML-KEM.KeyGen output), so profiles and
 * prekey records are the same whichever implementation made them. The keys are handed to OpenSSL
 * as DER (RFC 9935 / draft-ietf-lamps-kyber-certificates: SubjectPublicKeyInfo with the raw
 * encapsulation key, and the PKCS#8 `expandedKey` choice for the decapsulation key).
 *
 * What stays on @noble even on Node 24, and why:
 * - key generation: OpenSSL derives keys from the 64-byte seed but Node exports only the seed,
 *   never the expanded key the protocol stores (generation is off the per-session path);
 * - encapsulation with caller-given randomness (known-answer tests): OpenSSL takes no randomness.
 */
import * as nodeCrypto from 'node:crypto';
import { mlkem768Decapsulate as nobleDecapsulate, mlkem768Encapsulate as nobleEncapsulate } from './mlkem.js';
import { type KemEncapsulation, MLKEM768_CIPHERTEXT_BYTES, MLKEM768_PRIVATE_KEY_BYTES, MLKEM768_PUBLIC_KEY_BYTES } from './types.js';

export { mlkem768KeyPair } from './mlkem.js';

// OID 2.16.840.1.101.3.4.4.2 (id-alg-ml-kem-768), NIST CSOR.
const SPKI_PREFIX = Buffer.from('308204b2300b0609608648016503040402038204a100', 'hex');
// PrivateKeyInfo { version 0, AlgorithmIdentifier, OCTET STRING { ML-KEM-768-PrivateKey ::= expandedKey OCTET STRING (2400) } }
const PKCS8_EXPANDED_PREFIX = Buffer.from('30820978020100300b06096086480165030404020482096404820960', 'hex');

type Encapsulate = (key: nodeCrypto.KeyObject) => { sharedKey: Buffer; ciphertext: Buffer };
type Decapsulate = (key: nodeCrypto.KeyObject, ciphertext: Uint8Array) => Buffer;
const api = nodeCrypto as unknown as { encapsulate?: Encapsulate; decapsulate?: Decapsulate };

const spki = (publicKey: Uint8Array) => Buffer.concat([SPKI_PREFIX, publicKey]);
const pkcs8 = (privateKey: Uint8Array) => Buffer.concat([PKCS8_EXPANDED_PREFIX, privateKey]);

/** True when this runtime's node:crypto does ML-KEM-768 (probed once: an all-zero key is a valid encapsulation key). */
function probe(): boolean {
  if (typeof api.encapsulate !== 'function' || typeof api.decapsulate !== 'function') return false;
  try {
    const key = nodeCrypto.createPublicKey({ key: spki(new Uint8Array(MLKEM768_PUBLIC_KEY_BYTES)), format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'ml-kem-768' && api.encapsulate(key).ciphertext.length === MLKEM768_CIPHERTEXT_BYTES;
  } catch {
    return false;
  }
}

export const nativeMlkem768 = probe();

const own = (b: Buffer) => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

export function mlkem768Encapsulate(publicKey: Uint8Array, randomness?: Uint8Array): KemEncapsulation {
  if (!nativeMlkem768 || randomness !== undefined || publicKey.length !== MLKEM768_PUBLIC_KEY_BYTES) return nobleEncapsulate(publicKey, randomness);
  let key: nodeCrypto.KeyObject;
  try {
    // OpenSSL runs the FIPS 203 §7.2 modulus check on import, as noble does on encapsulation.
    key = nodeCrypto.createPublicKey({ key: spki(publicKey), format: 'der', type: 'spki' });
  } catch {
    throw new Error('ML-KEM-768: invalid encapsulation key');
  }
  const { sharedKey, ciphertext } = (api.encapsulate as Encapsulate)(key);
  return { cipherText: own(ciphertext), sharedSecret: own(sharedKey) };
}

export function mlkem768Decapsulate(cipherText: Uint8Array, privateKey: Uint8Array): Uint8Array {
  if (!nativeMlkem768 || privateKey.length !== MLKEM768_PRIVATE_KEY_BYTES || cipherText.length !== MLKEM768_CIPHERTEXT_BYTES) {
    return nobleDecapsulate(cipherText, privateKey);
  }
  let key: nodeCrypto.KeyObject;
  try {
    // OpenSSL checks the expanded key's embedded H(ek) (FIPS 203 §7.3 hash check) on import.
    key = nodeCrypto.createPrivateKey({ key: pkcs8(privateKey), format: 'der', type: 'pkcs8' });
  } catch {
    throw new Error('ML-KEM-768: invalid decapsulation key');
  }
  return own((api.decapsulate as Decapsulate)(key, cipherText));
}
