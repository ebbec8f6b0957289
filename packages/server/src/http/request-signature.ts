/**
 * Signed requests (docs/API.md §2a): a request that destroys data — acknowledging messages (HTTP
 * and WebSocket `ack` frames), deleting a file, replacing its header, starting a new version — needs,
 * besides the bearer token, a fresh signature by the token's device signing key:
 *
 *   Blindrelay-Signature: v1;t=<ms>;n=<16-byte nonce, base64url>;s=<64-byte signature, base64url>
 *
 * over (user, device, t, nonce, method, request target, SHA-512 of the body): the protocol's
 * `Blindrelay_Request_v1` signature (PROTOCOL.md §13.1). The relay checks it against the device's
 * signing key from the current device list, refuses a timestamp more than REQUEST_SIGNATURE_WINDOW_MS
 * away from its clock (answering its time, so a client with a skewed clock can sign again), and
 * refuses a nonce it has accepted before (kept in storage until the timestamp leaves the window,
 * so every relay instance sharing the database refuses it). So a stolen token alone cannot delete
 * anything, and a captured signed request cannot be replayed, nor turned into another request.
 * Only a signature that verifies records its nonce: garbage cannot fill the nonce table.
 */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { type Primitives, SignatureError, verifyRequest } from '@blindrelay/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthenticatedDevice } from '../context.js';
import type { SignedNonce, Storage, UseNonceResult } from '../storage/types.js';
import { tryDecodeBase64url } from './base64url.js';
import { withSigningKey } from './device-key.js';
import { ApiError, badRequest } from './errors.js';

export const SIGNATURE_HEADER = 'blindrelay-signature';
/** How far a signed request's timestamp may be from the relay's clock, either way. */
export const REQUEST_SIGNATURE_WINDOW_MS = 120_000;
const HEADER_PATTERN = /^v1;t=(\d{1,16});n=([A-Za-z0-9_-]{22});s=([A-Za-z0-9_-]{86})$/;
/** The path every WebSocket ack frame is signed as: it is the HTTP ack, sent over the socket. */
export const ACK_PATH = '/v1/messages/ack';

export interface RequestSignatureDeps {
  readonly storage: Storage;
  readonly primitives: Primitives;
  readonly now: () => number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** SHA-512 of the body as received (set by `hashBody` on signed routes). */
    bodyHash?: Uint8Array;
  }
}

/** Records a verified request's nonce, or says why not (nothing written then). */
export type RecordNonce = (nonce: SignedNonce) => Promise<UseNonceResult>;

const refuse = (code: 'signature_required' | 'bad_signature' | 'replayed_signature', message: string) => new ApiError(401, code, message);

/**
 * A preParsing hook for signed routes: passes the body through while hashing it, so the signature
 * covers exactly the bytes received (before JSON parsing could normalise anything).
 */
export async function hashBody(request: FastifyRequest, _reply: FastifyReply, payload: NodeJS.ReadableStream): Promise<NodeJS.ReadableStream> {
  const hash = createHash('sha512');
  let received = 0;
  const through = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      received += chunk.length;
      (through as unknown as { receivedEncodedLength: number }).receivedEncodedLength = received;
      done(null, chunk);
    },
    flush(done) {
      request.bodyHash = new Uint8Array(hash.digest());
      done();
    },
  });
  payload.on('error', (err) => through.destroy(err));
  return payload.pipe(through);
}

/** The checks of docs/API.md §2a; throws ApiError (401, or 400 for an unexpected body) unless all pass. */
export async function checkRequestSignature(
  deps: RequestSignatureDeps,
  device: Pick<AuthenticatedDevice, 'user' | 'deviceId'>,
  request: { method: string; path: string; bodyHash: Uint8Array; header: string | string[] | undefined },
  /** Records the verified request's nonce (default: `requestNonces.use`; a WebSocket ack: with the ack itself, `mailboxes.ackSigned`). */
  record: RecordNonce = (n) => deps.storage.requestNonces.use(device.user, device.deviceId, n.nonce, n.expiresAt, n.signingKey),
): Promise<void> {
  const { header } = request;
  if (header === undefined)
    throw refuse('signature_required', 'this request deletes data: it needs a Blindrelay-Signature by the device key (docs/API.md §2a)');
  const m = typeof header === 'string' ? HEADER_PATTERN.exec(header) : null;
  const nonce = m ? tryDecodeBase64url(m[2] as string) : undefined;
  const signature = m ? tryDecodeBase64url(m[3] as string) : undefined;
  if (!m || !nonce || nonce.length !== 16 || !signature || signature.length !== 64) throw refuse('bad_signature', 'malformed Blindrelay-Signature header');
  const timestamp = Number(m[1]);
  const now = deps.now();
  if (!Number.isSafeInteger(timestamp) || Math.abs(now - timestamp) > REQUEST_SIGNATURE_WINDOW_MS) {
    throw new ApiError(401, 'stale_signature', "the signed request's time is too far from the relay's; sign it again with serverTime", { serverTime: now });
  }
  const signed = { user: device.user, deviceId: device.deviceId, timestamp, nonce, method: request.method, path: request.path, bodyHash: request.bodyHash };
  // The key: remembered per WebSocket connection; the nonce statement confirms it (device-key.ts).
  await withSigningKey(deps.storage, device, async (signingKey) => {
    if (!signingKey) throw refuse('bad_signature', 'the signing device is not in its device list');
    try {
      await verifyRequest(deps.primitives, signingKey, signed, signature);
    } catch (e) {
      // A path the protocol cannot encode (too long, not printable ASCII) cannot have been signed either.
      if (e instanceof SignatureError || (e as { code?: string }).code === 'ERR_INVALID_ARGUMENT') {
        throw refuse('bad_signature', "the request signature does not verify under the device's signing key");
      }
      throw e;
    }
    const used = await record({ nonce, expiresAt: timestamp + REQUEST_SIGNATURE_WINDOW_MS + 1, signingKey });
    if (used === 'replayed') throw refuse('replayed_signature', 'this signed request was already used; sign each request afresh');
    if (used === 'unknown_device') throw refuse('bad_signature', 'the signing device is not in its device list');
  });
}

/** For a route that ran `authenticate` and `hashBody`: the request's signature (docs/API.md §2a). */
export function requireSignature(deps: RequestSignatureDeps, request: FastifyRequest): Promise<void> {
  if (!request.device) throw new ApiError(401, 'unauthorized', 'authentication required');
  let bodyHash = request.bodyHash;
  if (!bodyHash) {
    // No body was read (none was sent, or the route has no parser for it).
    const length = request.headers['content-length'];
    if ((length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined) throw badRequest('unexpected request body');
    bodyHash = new Uint8Array(createHash('sha512').digest());
  }
  return checkRequestSignature(deps, request.device, { method: request.method, path: request.url, bodyHash, header: request.headers[SIGNATURE_HEADER] });
}

/**
 * A WebSocket `ack` frame's signature (docs/API.md §6): the frame is the HTTP ack sent over the
 * socket, so it is signed as `POST /v1/messages/ack` with the body `{"ids":[...]}` (the ids as
 * in the frame, JSON without spaces: canonical, since message ids are base64url).
 */
export function checkAckFrameSignature(
  deps: RequestSignatureDeps,
  device: Pick<AuthenticatedDevice, 'user' | 'deviceId'>,
  ids: readonly string[],
  header: string | undefined,
  record?: RecordNonce,
): Promise<void> {
  const bodyHash = new Uint8Array(createHash('sha512').update(JSON.stringify({ ids })).digest());
  return checkRequestSignature(deps, device, { method: 'POST', path: ACK_PATH, bodyHash, header }, record);
}
