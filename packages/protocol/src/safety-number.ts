/**
 * Safety numbers: a 60-digit number and a QR payload, identical on both sides, derived from the
 * two users' master keys and names only, so they do not change when devices come and go.
 *
 * Construction follows Signal's numeric fingerprint (libsignal `fingerprint.rs`): for each user,
 * h = SHA-512(version || key || id), then 5199 times h = SHA-512(h || key); the first 30 bytes
 * give six 5-digit groups (each 5-byte big-endian chunk mod 100000). The two 30-digit halves are
 * ordered so both users see the same number.
 *
 * Not interoperable with libsignal, on purpose, in three ways: our version bytes and type-tagged
 * key encoding; the first round hashes `version || key || id` (libsignal appends the key again);
 * and the halves are ordered by comparing the first 32 bytes of the two hashes (libsignal compares
 * the digit strings), which also orders the QR payload.
 */
import { compare, concat, equal, utf8 } from './bytes.js';
import { assertUserName, KEY_TYPE_ED25519 } from './encoding.js';
import { InvalidArgumentError } from './errors.js';
import type { Primitives } from './primitives/types.js';

export const SAFETY_NUMBER_ITERATIONS = 5200;
const FINGERPRINT_VERSION = Uint8Array.of(0x00, 0x01);
const QR_VERSION = 1;

export interface UserKey {
  readonly user: string;
  readonly masterKey: Uint8Array;
}

async function fingerprint(p: Primitives, u: UserKey): Promise<Uint8Array> {
  assertUserName(u.user);
  if (u.masterKey.length !== 32) throw new InvalidArgumentError('master key must be 32 bytes');
  const key = concat(Uint8Array.of(KEY_TYPE_ED25519), u.masterKey);
  let h = await p.sha512(concat(FINGERPRINT_VERSION, key, utf8(u.user)));
  for (let i = 1; i < SAFETY_NUMBER_ITERATIONS; i++) h = await p.sha512(concat(h, key));
  return h;
}

function digits(h: Uint8Array): string {
  let out = '';
  for (let i = 0; i < 30; i += 5) {
    let v = 0;
    for (let j = 0; j < 5; j++) v = v * 256 + (h[i + j] as number);
    out += String(v % 100000).padStart(5, '0');
  }
  return out;
}

export interface SafetyNumber {
  /** 60 decimal digits; show as 12 groups of 5. */
  readonly digits: string;
  /** Bytes to encode in a QR code: version | the two 32-byte fingerprints in sorted order. */
  readonly qrPayload: Uint8Array;
}

export async function safetyNumber(p: Primitives, a: UserKey, b: UserKey): Promise<SafetyNumber> {
  const fa = await fingerprint(p, a);
  const fb = await fingerprint(p, b);
  const [lo, hi] = compare(fa.subarray(0, 32), fb.subarray(0, 32)) <= 0 ? [fa, fb] : [fb, fa];
  return { digits: digits(lo) + digits(hi), qrPayload: concat(Uint8Array.of(QR_VERSION), lo.subarray(0, 32), hi.subarray(0, 32)) };
}

/** Format as 12 groups of 5 digits separated by spaces. */
export const formatSafetyNumber = (digitsOnly: string): string => digitsOnly.replace(/(\d{5})(?=\d)/g, '$1 ');

/** Compare a number the user typed or scanned with the expected one (spaces ignored). */
export function safetyNumberMatches(expected: SafetyNumber, candidate: string | Uint8Array): boolean {
  if (typeof candidate === 'string') return equal(utf8(candidate.replace(/\s+/g, '')), utf8(expected.digits));
  return equal(candidate, expected.qrPayload);
}
