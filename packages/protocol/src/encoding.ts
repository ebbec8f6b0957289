/**
 * Type-tagged public key encodings (PQXDH rev. 2 §2.1: EncodeEC and EncodeKEM with pairwise
 * disjoint ranges). Used wherever a key is signed or hashed, never for bare storage.
 */
import { concat } from './bytes.js';
import { InvalidArgumentError } from './errors.js';
import { USER_NAME_PATTERN } from './limits.js';
import { DEVICE_ID } from './wire/bounds.js';

export const KEY_TYPE_X25519 = 0x05;
export const KEY_TYPE_MLKEM768 = 0x08;
export const KEY_TYPE_ED25519 = 0x0e;

export const encodeEC = (publicKey: Uint8Array): Uint8Array => concat(Uint8Array.of(KEY_TYPE_X25519), publicKey);
export const encodeKEM = (publicKey: Uint8Array): Uint8Array => concat(Uint8Array.of(KEY_TYPE_MLKEM768), publicKey);

export function isValidUserName(user: string): boolean {
  return typeof user === 'string' && USER_NAME_PATTERN.test(user);
}

export function assertUserName(user: string): void {
  if (!isValidUserName(user)) {
    throw new InvalidArgumentError(
      `not a user name: ${JSON.stringify(user)} (1 to 64 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit)`,
    );
  }
}

export function isValidDeviceId(id: number): boolean {
  return Number.isInteger(id) && id >= DEVICE_ID.min && id <= DEVICE_ID.max;
}
