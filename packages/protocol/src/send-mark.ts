/**
 * Send marks (docs/PROTOCOL.md §13.2, docs/API.md §5a): a counter in the device's profile that
 * grows with every send, signed by the device signing key and kept by the relay as the device's
 * high-water mark. A profile restored from an older copy holds a lower mark than the relay: the
 * SDK refuses to send from it, since encrypting from an older ratchet state would reuse message
 * keys and nonces (PROTOCOL.md §9.1).
 *
 *   body = 0x01 | user | deviceId u32 | mark u64 (1 … 2^53−1)
 *
 * signed as `"Blindrelay_SendMark_v1" ‖ 0x00 ‖ body`. Only the device can raise its mark (not a
 * token thief, not the relay); the relay can show an older signed mark, never a newer one.
 */
import { Writer } from './codec.js';
import { assertUserName, isValidDeviceId } from './encoding.js';
import { InvalidArgumentError } from './errors.js';
import { writeUser } from './identity-codec.js';
import type { Primitives } from './primitives/types.js';
import { SIGNATURE_LABELS, signWithLabel, verifyWithLabel } from './signature.js';

const VERSION = 1;

export interface SendMark {
  readonly user: string;
  readonly deviceId: number;
  readonly mark: number;
}

export function encodeSendMark(m: SendMark): Uint8Array {
  assertUserName(m.user);
  if (!isValidDeviceId(m.deviceId)) throw new InvalidArgumentError('send mark: device id out of range');
  if (!Number.isSafeInteger(m.mark) || m.mark < 1) throw new InvalidArgumentError('send mark: mark must be 1 … 2^53−1');
  const w = new Writer(80).u8(VERSION);
  writeUser(w, m.user);
  return w.u32(m.deviceId).u64(m.mark).finish();
}

export function signSendMark(p: Primitives, signingSeed: Uint8Array, m: SendMark): Promise<Uint8Array> {
  return signWithLabel(p, signingSeed, SIGNATURE_LABELS.sendMark, encodeSendMark(m));
}

/** Throws SignatureError unless `signature` is the device's signature over this mark. */
export function verifySendMark(p: Primitives, signingKey: Uint8Array, m: SendMark, signature: Uint8Array): Promise<void> {
  return verifyWithLabel(p, signingKey, SIGNATURE_LABELS.sendMark, encodeSendMark(m), signature, 'send mark');
}
