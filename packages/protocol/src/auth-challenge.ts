/**
 * Device authentication to the relay (docs/API.md §2): the device signs the server's random
 * challenge, bound to its user name and device id, with its Ed25519 signing key. No passwords.
 */
import { Writer } from './codec.js';
import { assertUserName } from './encoding.js';
import { writeUser } from './identity-codec.js';
import type { Primitives } from './primitives/types.js';
import { SIGNATURE_LABELS, signWithLabel, verifyWithLabel } from './signature.js';

export const AUTH_CHALLENGE_BYTES = 32;

function body(challenge: Uint8Array, user: string, deviceId: number): Uint8Array {
  assertUserName(user);
  const w = new Writer(128).fixed(challenge, AUTH_CHALLENGE_BYTES);
  writeUser(w, user);
  return w.u32(deviceId).finish();
}

export function signAuthChallenge(p: Primitives, signingSeed: Uint8Array, challenge: Uint8Array, user: string, deviceId: number): Promise<Uint8Array> {
  return signWithLabel(p, signingSeed, SIGNATURE_LABELS.authChallenge, body(challenge, user, deviceId));
}

/** Throws SignatureError unless `signature` is the device's signature over this challenge. */
export function verifyAuthChallenge(
  p: Primitives,
  signingKey: Uint8Array,
  challenge: Uint8Array,
  user: string,
  deviceId: number,
  signature: Uint8Array,
): Promise<void> {
  return verifyWithLabel(p, signingKey, SIGNATURE_LABELS.authChallenge, body(challenge, user, deviceId), signature, 'auth challenge');
}
