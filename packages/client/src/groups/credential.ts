/**
 * The MLS credential of a device (docs/PROTOCOL.md §22.2). Every device is one leaf. Its
 * credential is a BasicCredential (RFC 9420 §5.3) whose identity names the device,
 * `"blindrelay-device-v1" 0x00 user 0x00 deviceId(decimal)`, and its leaf's signature key
 * (RFC 9420 §7.2 LeafNode.signature_key) IS the device's Ed25519 signing key, the one its user's
 * master key certifies in the signed device list. So a leaf is trusted exactly when that list,
 * verified against the user's pinned master key, holds that device with that signing key: the
 * AuthenticationService (RFC 9420 §5.3.1) below asks `verify` that question for every leaf a
 * member sees (in commits, Welcomes and ratchet trees).
 */
import { utf8 } from '@blindrelay/protocol';
import type { AuthenticationService, Credential } from 'ts-mls';
import { GroupError } from './errors.js';

const PREFIX = 'blindrelay-device-v1';
const USER_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface DeviceRef {
  readonly user: string;
  readonly deviceId: number;
}

export function deviceCredential(device: DeviceRef): Credential {
  return { credentialType: 'basic', identity: utf8(`${PREFIX}\u0000${device.user}\u0000${device.deviceId}`) };
}

/** The device a credential names, or GroupError ERR_GROUP_UNTRUSTED_MEMBER. */
export function deviceOfCredential(credential: Credential): DeviceRef {
  if (credential.credentialType !== 'basic') throw new GroupError('ERR_GROUP_UNTRUSTED_MEMBER', 'group member: not a device credential');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(credential.identity);
  } catch {
    throw new GroupError('ERR_GROUP_UNTRUSTED_MEMBER', 'group member: not a device credential');
  }
  const parts = text.split('\u0000');
  const [prefix, user, id] = parts;
  if (parts.length !== 3 || prefix !== PREFIX || !user || !USER_PATTERN.test(user) || !id || !/^[1-9][0-9]{0,9}$/.test(id) || Number(id) > 0xffffffff)
    throw new GroupError('ERR_GROUP_UNTRUSTED_MEMBER', 'group member: not a device credential');
  return { user, deviceId: Number(id) };
}

/**
 * Answers whether `signingKey` is the current signing key of `device` in its user's verified
 * device list (the SDK resolves the list against the pinned master key, directory.ts).
 */
export type DeviceVerifier = (device: DeviceRef, signingKey: Uint8Array) => Promise<boolean>;

export function deviceAuthService(verify: DeviceVerifier): AuthenticationService {
  return {
    async validateCredential(credential, signaturePublicKey) {
      let device: DeviceRef;
      try {
        device = deviceOfCredential(credential);
      } catch {
        return false;
      }
      return verify(device, signaturePublicKey);
    },
  };
}
