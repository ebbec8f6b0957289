/**
 * Key types generated on the device (DESIGN.md, "Keys"):
 * - the user master key (Ed25519), the user's identity, which signs device certificates and lists;
 * - per device, an Ed25519 signing key and an X25519 identity key.
 */

import { isValidDeviceId } from './encoding.js';
import { InvalidArgumentError } from './errors.js';
import type { KeyPair, Primitives } from './primitives/types.js';
import { generateX25519 } from './x25519.js';

export interface SigningKeyPair {
  /** The 32-byte Ed25519 seed (RFC 8032 private key). */
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface DeviceKeys {
  readonly deviceId: number;
  readonly signing: SigningKeyPair;
  readonly identity: KeyPair;
}

export async function generateSigningKeyPair(p: Primitives): Promise<SigningKeyPair> {
  const seed = p.randomBytes(32);
  return { seed, publicKey: await p.ed25519PublicKey(seed) };
}

/** The user's master key pair. Keep the seed secret: it is the user. */
export const generateMasterKey = generateSigningKeyPair;

/** A device's key pairs; `deviceId` defaults to a random nonzero 31-bit number. */
export async function generateDeviceKeys(p: Primitives, deviceId?: number): Promise<DeviceKeys> {
  let id = deviceId;
  if (id === undefined) {
    const r = p.randomBytes(4);
    id = (((r[0] as number) << 24) | ((r[1] as number) << 16) | ((r[2] as number) << 8) | (r[3] as number)) & 0x7fffffff;
    if (id === 0) id = 1;
  }
  if (!isValidDeviceId(id)) throw new InvalidArgumentError('device id must be an integer in 1..2^32-1');
  return { deviceId: id, signing: await generateSigningKeyPair(p), identity: await generateX25519(p) };
}
