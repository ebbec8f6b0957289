/**
 * Signed requests (docs/PROTOCOL.md §13.1, docs/API.md §2a): a relay request that destroys data
 * (acknowledging messages, deleting or re-keying a file) carries the device signing key's
 * signature over what it does, so a stolen bearer token alone cannot do it. In the manner of
 * DPoP (RFC 9449) and HTTP message signatures (RFC 9421 §2.2 request components), with our own
 * canonical encoding:
 *
 *   0x01 | user | deviceId u32 | timestamp u64 (ms) | nonce[16]
 *        | method (u8 length, A-Z) | path (u16 length, printable ASCII) | SHA-512(body)[64]
 *
 * signed as `"Blindrelay_Request_v1" ‖ 0x00 ‖ that` (signature.ts). `path` is the request target
 * as sent (path and query, starting with `/`); a request without a body hashes the empty string.
 * The relay checks the timestamp against its clock and refuses a nonce it has seen (replay).
 */
import { utf8 } from './bytes.js';
import { Writer } from './codec.js';
import { assertUserName, isValidDeviceId } from './encoding.js';
import { InvalidArgumentError } from './errors.js';
import { writeUser } from './identity-codec.js';
import type { Primitives } from './primitives/types.js';
import { SIGNATURE_LABELS, signWithLabel, verifyWithLabel } from './signature.js';

const VERSION = 1;
export const REQUEST_NONCE_BYTES = 16;
export const REQUEST_BODY_HASH_BYTES = 64;
/** Longest request target a signature covers (the relay's paths are far shorter). */
export const MAX_SIGNED_PATH_BYTES = 2048;
const METHOD = /^[A-Z]{1,16}$/;
const PATH = /^\/[\x21-\x7e]*$/;

export interface SignedRequest {
  readonly user: string;
  readonly deviceId: number;
  /** The signer's clock, milliseconds since the epoch. */
  readonly timestamp: number;
  /** 16 random bytes, never reused (the relay's replay check). */
  readonly nonce: Uint8Array;
  /** `POST`, `DELETE`, ... */
  readonly method: string;
  /** The request target as sent: path and query. */
  readonly path: string;
  /** `requestBodyHash` of the body as sent. */
  readonly bodyHash: Uint8Array;
}

/** SHA-512 of the request body (of zero bytes when there is none). */
export function requestBodyHash(p: Primitives, body: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
  return p.sha512(body);
}

/** The canonical bytes a request signature covers; InvalidArgumentError for out-of-range fields. */
export function encodeSignedRequest(r: SignedRequest): Uint8Array {
  assertUserName(r.user);
  if (!isValidDeviceId(r.deviceId)) throw new InvalidArgumentError('signed request: device id out of range');
  if (!Number.isSafeInteger(r.timestamp) || r.timestamp < 0) throw new InvalidArgumentError('signed request: timestamp out of range');
  if (!(r.nonce instanceof Uint8Array) || r.nonce.length !== REQUEST_NONCE_BYTES) throw new InvalidArgumentError('signed request: nonce must be 16 bytes');
  if (!METHOD.test(r.method)) throw new InvalidArgumentError('signed request: method must be 1-16 upper-case letters');
  if (r.path.length > MAX_SIGNED_PATH_BYTES || !PATH.test(r.path))
    throw new InvalidArgumentError('signed request: path must be printable ASCII starting with /');
  if (!(r.bodyHash instanceof Uint8Array) || r.bodyHash.length !== REQUEST_BODY_HASH_BYTES)
    throw new InvalidArgumentError('signed request: body hash must be 64 bytes');
  const w = new Writer(160 + r.path.length).u8(VERSION);
  writeUser(w, r.user);
  w.u32(r.deviceId).u64(r.timestamp).fixed(r.nonce, REQUEST_NONCE_BYTES);
  const method = utf8(r.method);
  w.u8(method.length).fixed(method, method.length);
  w.bytes16(utf8(r.path));
  return w.fixed(r.bodyHash, REQUEST_BODY_HASH_BYTES).finish();
}

export function signRequest(p: Primitives, signingSeed: Uint8Array, r: SignedRequest): Promise<Uint8Array> {
  return signWithLabel(p, signingSeed, SIGNATURE_LABELS.request, encodeSignedRequest(r));
}

/** Throws SignatureError unless `signature` is the device signing key's over this request. */
export function verifyRequest(p: Primitives, signingKey: Uint8Array, r: SignedRequest, signature: Uint8Array): Promise<void> {
  return verifyWithLabel(p, signingKey, SIGNATURE_LABELS.request, encodeSignedRequest(r), signature, 'request signature');
}
