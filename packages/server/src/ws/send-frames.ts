/**
 * The WebSocket `send` frame (docs/API.md §12, docs/PROTOCOL.md §21): a batch of sends from the
 * connection's device, answered by one `sent` frame with a result per item, in order.
 *
 *   → {"type":"send","id":"<client's id>","items":[{"to":USER,"messages":[{"deviceId":N,"body":B64}]}...],
 *      "sendMark":{"value":N,"signature":B64}}
 *   ← {"type":"sent","id":"<same id>","results":[{"ok":true,"ids":[...],"sentAt":MS} | {"ok":false,"status":409,"code":"mismatched_devices",...}]}
 *   ← {"type":"sent","id":"<same id>","error":{"status":409,"code":"send_mark_stale",...}}   (nothing stored)
 *
 * Parsing and the reply shape are here; the rules are services/send-batch.ts (the same as HTTP).
 */
import { shapes } from '@blindrelay/protocol/wire';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { LIMITS } from '../config.js';
import type { AppContext, AuthenticatedDevice } from '../context.js';
import { Obj, schemaOf, User } from '../http/schemas.js';
import { SendMarkField } from '../http/send-mark.js';
import { itemError, sendBatch } from '../services/send-batch.js';

/** Items per send frame (each item is one send to one user: up to maxRecipients devices). */
export const MAX_SEND_ITEMS = 256;

const DeviceCiphertext = schemaOf(shapes.DEVICE_CIPHERTEXT);

export const SendFrame = Obj({
  type: Type.Literal('send'),
  /** Chosen by the client to match the answer; echoed as is. */
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
  items: Type.Array(
    Obj({
      to: User,
      messages: Type.Array(DeviceCiphertext, { minItems: 1, maxItems: LIMITS.maxRecipients }),
    }),
    { minItems: 1, maxItems: MAX_SEND_ITEMS },
  ),
  sendMark: Type.Optional(SendMarkField),
});
export type SendFrame = Static<typeof SendFrame>;
const checkSend = TypeCompiler.Compile(SendFrame);

export const isSendFrame = (frame: unknown): frame is SendFrame => checkSend.Check(frame);

/** What a connection does with a well-formed send frame: the reply frame. */
export type SendFrameHandler = (frame: SendFrame) => Promise<unknown>;

export function sendFrameHandler(ctx: AppContext, me: AuthenticatedDevice, address: string): SendFrameHandler {
  return async (frame) => {
    try {
      const results = await sendBatch(ctx, me, address, { items: frame.items, sendMark: frame.sendMark });
      return { type: 'sent', id: frame.id, results };
    } catch (err) {
      return { type: 'sent', id: frame.id, error: itemError(err) };
    }
  };
}
