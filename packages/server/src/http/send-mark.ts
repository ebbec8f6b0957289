/**
 * Send marks (docs/API.md §5a): every send of the SDK carries its device's next send mark, signed
 * with the device signing key (protocol send-mark.ts). The relay keeps the highest one per device
 * and refuses a send whose mark is lower — or equal, for another send — with 409
 * `send_mark_stale`, showing the mark it holds and the device's signature over it. A profile
 * restored from an older copy therefore cannot send again from ratchet states it already used,
 * and its SDK can prove to itself that the refusal is real (the relay cannot sign a mark).
 * The same send again (a retry after a lost answer) carries the same mark and is accepted.
 */

import { createHash } from 'node:crypto';
import { SignatureError, verifySendMark } from '@blindrelay/protocol';
import { shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import type { AppContext, AuthenticatedDevice } from '../context.js';
import type { RaiseSendMarkResult, SendMarkRecord } from '../storage/types.js';
import { decodeField, encodeBase64url } from './base64url.js';
import { withSigningKey } from './device-key.js';
import { ApiError } from './errors.js';
import { schemaOf } from './schemas.js';

export const SendMarkField = schemaOf(shapes.SEND_MARK_STAMP);

/** The mark as answered by GET /v1/send-mark and in a 409 send_mark_stale. */
export const SendMarkAnswer = schemaOf(shapes.SEND_MARK);

export interface SendBody {
  readonly to: string;
  readonly messages: readonly { readonly deviceId: number; readonly body: string }[];
  readonly sendMark?: Static<typeof SendMarkField>;
}

/** A send that carries a mark. */
export type MarkedSend = SendBody & { readonly sendMark: Static<typeof SendMarkField> };

/** SHA-256 of what a send carries (recipient, device ids, ciphertexts): recognises a retry of the same send. */
function sendDigest(body: SendBody): Uint8Array {
  const h = createHash('sha256').update(body.to).update('\0');
  for (const m of body.messages) h.update(`${m.deviceId}:${m.body}\n`);
  return new Uint8Array(h.digest());
}

/** A refusal of the mark itself (409 send_mark_stale, 401): a WebSocket frame's, not one item's (docs/API.md §12). */
export const isMarkRefusal = (err: unknown): boolean => err instanceof ApiError && (err.code === 'send_mark_stale' || err.statusCode === 401);

/** Raise the device's mark to the send's, or throw 409 send_mark_stale (401 if the device or signature is not valid). */
export async function raiseSendMark(ctx: AppContext, me: AuthenticatedDevice, body: MarkedSend): Promise<void> {
  await withSendMark(ctx, me, body, async (record, signingKey) => ({ mark: await ctx.storage.sendMarks.raise(me.user, me.deviceId, record, signingKey) }));
}

/**
 * The send mark's checks around `write`, which raises the mark (storage `sendMarks.raise`), or
 * raises it and stores the send in one write (`mailboxes.enqueueMarked`): the mark's signature is
 * verified under the device's signing key first, then `write` runs with that key and the record;
 * its verdict throws 401 (the device not listed with that key: after one retry with the key read
 * afresh, http/device-key.ts) or 409 send_mark_stale, and otherwise `write`'s answer is returned.
 * A refused write stores nothing (that is the storage's contract), so the retry is safe.
 */
export async function withSendMark<T extends { readonly mark: RaiseSendMarkResult }>(
  ctx: AppContext,
  me: AuthenticatedDevice,
  body: MarkedSend,
  write: (record: SendMarkRecord, signingKey: Uint8Array) => Promise<T>,
): Promise<T> {
  const mark = body.sendMark.value;
  const signature = decodeField(body.sendMark.signature, 'sendMark.signature', { exact: 64 });
  const digest = sendDigest(body);
  // The key: remembered per WebSocket connection; the raise statement confirms it (device-key.ts).
  const r = await withSigningKey(ctx.storage, me, async (signingKey) => {
    if (!signingKey) throw new ApiError(401, 'unauthorized', 'the sending device is not in its device list');
    try {
      await verifySendMark(ctx.primitives, signingKey, { user: me.user, deviceId: me.deviceId, mark }, signature);
    } catch (e) {
      if (e instanceof SignatureError) throw new ApiError(401, 'bad_signature', "the send mark's signature does not verify under the device's signing key");
      throw e;
    }
    const written = await write({ mark, signature, digest }, signingKey);
    if (written.mark.status === 'unknown_device') throw new ApiError(401, 'unauthorized', 'the sending device is not in its device list');
    return written;
  });
  if (r.mark.status === 'stale') {
    throw new ApiError(
      409,
      'send_mark_stale',
      'this send mark is not above the one this device already sent with: the profile was restored from an older copy',
      {
        mark: r.mark.current.mark,
        signature: encodeBase64url(r.mark.current.signature),
      },
    );
  }
  return r;
}

/** The device's mark as the relay holds it. */
export async function currentSendMark(ctx: AppContext, me: AuthenticatedDevice): Promise<Static<typeof SendMarkAnswer>> {
  const held = await ctx.storage.sendMarks.get(me.user, me.deviceId);
  return held ? { mark: held.mark, signature: encodeBase64url(held.signature) } : { mark: 0, signature: null };
}
