/**
 * The device's `Blindrelay-Signature` for requests that destroy data (docs/API.md §2a; the
 * protocol's signed-request encoding, PROTOCOL.md §13.1): a fresh 16-byte nonce per request,
 * the caller's timestamp (the relay's clock when it told us ours is off), SHA-512 of the exact
 * body bytes, signed with the device signing key.
 *
 *   Blindrelay-Signature: v1;t=<ms>;n=<nonce, base64url>;s=<signature, base64url>
 */
import { type Primitives, requestBodyHash, signRequest } from '@blindrelay/protocol';
import { toBase64url } from './base64url.js';

export interface RequestSigner {
  readonly user: string;
  readonly deviceId: number;
  readonly signingSeed: Uint8Array;
}

export function formatSignatureHeader(timestamp: number, nonce: Uint8Array, signature: Uint8Array): string {
  return `v1;t=${timestamp};n=${toBase64url(nonce)};s=${toBase64url(signature)}`;
}

/** The header value for one request; sign every attempt afresh (the relay refuses a nonce twice). */
export async function signatureHeader(
  p: Primitives,
  signer: RequestSigner,
  method: string,
  path: string,
  body: Uint8Array,
  timestamp: number,
): Promise<string> {
  const nonce = p.randomBytes(16);
  const bodyHash = await requestBodyHash(p, body);
  const ts = Math.round(timestamp);
  const signature = await signRequest(p, signer.signingSeed, { user: signer.user, deviceId: signer.deviceId, timestamp: ts, nonce, method, path, bodyHash });
  return formatSignatureHeader(ts, nonce, signature);
}
