/**
 * Account deletion statements (docs/PROTOCOL.md §17): the user's master key authorises the relay
 * to destroy everything it holds for the user. A bearer token or a device key is not enough: only
 * the holder of the master key (the primary device: DESIGN.md "Custody") can sign it.
 *
 *   0x01 | user | timestamp u64 (ms) | nonce[16] | SHA-256(the user's current signed device list)[32]
 *
 * signed as `"Blindrelay_AccountDeletion_v1" ‖ 0x00 ‖ that` (signature.ts) by the master key.
 * The relay accepts it only within a window around its clock, only while the digest names the
 * device list it holds (so a statement is used up by the deletion it causes, and never applies to
 * an account registered later under the same name), and only with the device's signed-request
 * header (§13.1) whose nonce it records.
 */
import { Writer } from './codec.js';
import { assertUserName } from './encoding.js';
import { InvalidArgumentError } from './errors.js';
import { writeUser } from './identity-codec.js';
import type { Primitives } from './primitives/types.js';
import { SIGNATURE_LABELS, signWithLabel, verifyWithLabel } from './signature.js';

const VERSION = 1;
export const ACCOUNT_DELETION_NONCE_BYTES = 16;
export const DEVICE_LIST_DIGEST_BYTES = 32;

export interface AccountDeletion {
  readonly user: string;
  /** The signer's clock, milliseconds since the epoch. */
  readonly timestamp: number;
  /** 16 random bytes. */
  readonly nonce: Uint8Array;
  /** `deviceListDigest` of the user's current signed device list, as the relay serves it. */
  readonly listDigest: Uint8Array;
}

/** SHA-256 of the exact signed device-list bytes (what the relay stores and serves). */
export function deviceListDigest(p: Primitives, signedList: Uint8Array): Promise<Uint8Array> {
  return p.sha256(signedList);
}

/** The canonical bytes the master key signs; InvalidArgumentError for out-of-range fields. */
export function encodeAccountDeletion(d: AccountDeletion): Uint8Array {
  assertUserName(d.user);
  if (!Number.isSafeInteger(d.timestamp) || d.timestamp < 0) throw new InvalidArgumentError('account deletion: timestamp out of range');
  if (!(d.nonce instanceof Uint8Array) || d.nonce.length !== ACCOUNT_DELETION_NONCE_BYTES)
    throw new InvalidArgumentError('account deletion: nonce must be 16 bytes');
  if (!(d.listDigest instanceof Uint8Array) || d.listDigest.length !== DEVICE_LIST_DIGEST_BYTES)
    throw new InvalidArgumentError('account deletion: device-list digest must be 32 bytes');
  const w = new Writer(128).u8(VERSION);
  writeUser(w, d.user);
  w.u64(d.timestamp).fixed(d.nonce, ACCOUNT_DELETION_NONCE_BYTES);
  return w.fixed(d.listDigest, DEVICE_LIST_DIGEST_BYTES).finish();
}

/** The master key's signature over the statement (`masterSeed`: the master key's private seed). */
export function signAccountDeletion(p: Primitives, masterSeed: Uint8Array, d: AccountDeletion): Promise<Uint8Array> {
  return signWithLabel(p, masterSeed, SIGNATURE_LABELS.accountDeletion, encodeAccountDeletion(d));
}

/** Throws SignatureError unless `signature` is the master key's over this statement. */
export function verifyAccountDeletion(p: Primitives, masterKey: Uint8Array, d: AccountDeletion, signature: Uint8Array): Promise<void> {
  return verifyWithLabel(p, masterKey, SIGNATURE_LABELS.accountDeletion, encodeAccountDeletion(d), signature, 'account deletion');
}
