/**
 * Bearer-token authentication (docs/API.md §2). The token is 32 random bytes, sent as
 * `Authorization: Bearer <base64url>` or, for browser WebSockets, as the subprotocol
 * `blindrelay.token.<base64url>`. The server stores and looks up SHA-256(token) only; the lookup
 * also requires the device to be in its user's current list, so a revoked device's tokens stop
 * working at once (they are deleted in the revocation transaction too).
 */
import { createHash } from 'node:crypto';
import { bounds } from '@blindrelay/protocol/wire';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext, AuthenticatedDevice } from '../context.js';
import { tryDecodeBase64url } from './base64url.js';
import { rememberSigningKey } from './device-key.js';
import { unauthorized } from './errors.js';

export const TOKEN_BYTES = bounds.TOKEN_BYTES;
export const TOKEN_SUBPROTOCOL_PREFIX = 'blindrelay.token.';
/** Offered next to the token subprotocol so the server can select it instead of echoing the token. */
export const API_SUBPROTOCOL = 'blindrelay.v1';
/** Selected when offered: pushes come in batches (`messages` frames, docs/API.md §12). */
export const BATCH_SUBPROTOCOL = 'blindrelay.v2';

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** The subprotocols offered in a WebSocket upgrade request. */
export function offeredSubprotocols(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const joined = Array.isArray(header) ? header.join(',') : header;
  return joined
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** The token carried by the request, if any, as bytes (undefined if absent or malformed). */
function tokenOf(request: FastifyRequest): Uint8Array | undefined | null {
  const header = request.headers.authorization;
  let text: string | undefined;
  if (header !== undefined) {
    const m = /^Bearer ([A-Za-z0-9_-]{1,128})$/i.exec(header);
    if (!m) return null;
    text = m[1];
  } else if (request.ws) {
    const offered = offeredSubprotocols(request.headers['sec-websocket-protocol']).filter((p) => p.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
    if (offered.length > 1) return null;
    text = offered[0]?.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
  }
  if (text === undefined) return undefined;
  const bytes = tryDecodeBase64url(text);
  return bytes && bytes.length === TOKEN_BYTES ? bytes : null;
}

/** An onRequest hook: sets `request.device` or answers 401. */
export function authenticate(ctx: AppContext) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const token = tokenOf(request);
    if (token === undefined) throw unauthorized('missing bearer token');
    if (token === null) throw unauthorized('malformed bearer token');
    const record = await ctx.storage.auth.findToken(sha256(token), ctx.now());
    if (!record) throw unauthorized('invalid or expired token');
    const device: AuthenticatedDevice = { user: record.user, deviceId: record.deviceId, tokenExpiresAt: record.expiresAt };
    // Its signed requests and send marks are checked against the key read with the token (device-key.ts).
    rememberSigningKey(device, record.signingKey);
    request.device = device;
  };
}

/** The authenticated device of a route that ran `authenticate`. */
export function deviceOf(request: FastifyRequest): AuthenticatedDevice {
  if (!request.device) throw unauthorized();
  return request.device;
}
