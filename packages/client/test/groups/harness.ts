/**
 * In-process MLS devices for the group tests: real ts-mls states, real X-Wing suite, an in-memory
 * "verified device list" as the DeviceVerifier, and an ordered log standing in for the relay.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import type { CiphersuiteImpl, ClientState } from 'ts-mls';
import type { DeviceRef, DeviceVerifier } from '../../src/groups/credential.js';
import { type DeviceKeys, type NewKeyPackage, newKeyPackage } from '../../src/groups/group-state.js';

export interface TestDevice {
  readonly keys: DeviceKeys;
  state?: ClientState;
  /** KeyPackages handed out and not yet used, by reference. */
  pending: NewKeyPackage[];
}

export const key = (d: DeviceRef) => `${d.user}/${d.deviceId}`;

/** The verified device lists of every user, as one map: device -> signing key. */
export class Directory {
  readonly lists = new Map<string, Uint8Array>();
  readonly verify: DeviceVerifier = async (device, signingKey) => {
    const known = this.lists.get(key(device));
    return known !== undefined && known.length === signingKey.length && known.every((v, i) => v === signingKey[i]);
  };
  device(user: string, deviceId: number): TestDevice {
    const { secretKey, publicKey } = ed25519.keygen();
    this.lists.set(key({ user, deviceId }), publicKey);
    return { keys: { user, deviceId, signingSeed: secretKey, signingKey: publicKey }, pending: [] };
  }
}

export async function keyPackageOf(d: TestDevice, cs: CiphersuiteImpl): Promise<NewKeyPackage> {
  const kp = await newKeyPackage(d.keys, cs);
  d.pending.push(kp);
  return kp;
}
