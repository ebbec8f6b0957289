/** ML-KEM-768 (FIPS 203) from @noble/post-quantum: no platform offers it yet. */
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import type { KemEncapsulation, KeyPair } from './types.js';

export function mlkem768KeyPair(seed: Uint8Array): KeyPair {
  const { publicKey, secretKey } = ml_kem768.keygen(seed);
  return { publicKey, privateKey: secretKey };
}

export function mlkem768Encapsulate(publicKey: Uint8Array, randomness?: Uint8Array): KemEncapsulation {
  // noble validates the encapsulation key (FIPS 203 §7.2 modulus check) and throws if it fails.
  const { cipherText, sharedSecret } = ml_kem768.encapsulate(publicKey, randomness);
  return { cipherText, sharedSecret };
}

export function mlkem768Decapsulate(cipherText: Uint8Array, privateKey: Uint8Array): Uint8Array {
  return ml_kem768.decapsulate(cipherText, privateKey);
}
