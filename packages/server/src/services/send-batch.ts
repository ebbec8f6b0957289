/**
 * A batch of sends from one device (docs/API.md §12), independent of the transport: the WebSocket
 * `send` frame calls it once per frame (ws/send-frames.ts); a sealed-sender transport can call it
 * the same way. Each item goes through sendMessages (the rules of `POST /v1/messages`) and gets
 * its own result: a refused item (409 coverage, 429, 404...) stores nothing and does not stop the
 * others. One send mark covers the whole batch: the SDK writes the ratchet states of every item
 * ahead of the frame, under one mark (docs/PROTOCOL.md §21); it is checked (and raised) before any
 * item is stored, and a stale mark refuses the whole batch.
 *
 * The items are stored concurrently, so the SQLite store's group commit (storage/sqlite/
 * group-commit.ts) puts them in one transaction and one fsync.
 */
import type { Static } from '@sinclair/typebox';
import type { AppContext, AuthenticatedDevice } from '../context.js';
import { ApiError } from '../http/errors.js';
import { raiseSendMark, type SendMarkField } from '../http/send-mark.js';
import { StorageUnavailableError } from '../storage/errors.js';
import { type SendOutcome, type SendRequest, sendMessages } from './send-messages.js';

export interface SendBatch {
  readonly items: readonly Omit<SendRequest, 'sendMark'>[];
  readonly sendMark?: Static<typeof SendMarkField> | undefined;
}

/** One item's refusal: the status and body `POST /v1/messages` would have answered. */
export interface SendItemError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly [extra: string]: unknown;
}

export type SendItemResult = ({ readonly ok: true } & SendOutcome) | ({ readonly ok: false } & SendItemError);

/** The error body of `err` as the HTTP route would answer it (never the error's own text unless it is an ApiError). */
export function itemError(err: unknown): SendItemError {
  if (err instanceof ApiError) return { status: err.statusCode, code: err.code, message: err.message, ...err.extra };
  if (err instanceof StorageUnavailableError) return { status: 503, code: 'unavailable', message: 'storage temporarily unavailable; retry' };
  return { status: 500, code: 'internal', message: 'internal error' };
}

/** Throws ApiError for a refusal of the whole batch (send mark); otherwise one result per item, in order. */
export async function sendBatch(ctx: AppContext, me: AuthenticatedDevice, address: string, batch: SendBatch): Promise<SendItemResult[]> {
  if (batch.sendMark) {
    // The digest that recognises a retry of the same batch covers every item (http/send-mark.ts).
    const all = batch.items.flatMap((item) => item.messages.map((m) => ({ deviceId: m.deviceId, body: `${item.to}:${m.body}` })));
    await raiseSendMark(ctx, me, { to: batch.items.map((i) => i.to).join(','), messages: all, sendMark: batch.sendMark });
  }
  // One read of each recipient's account for the whole batch.
  const accounts = new Map<string, ReturnType<AppContext['storage']['accounts']['get']>>();
  const lookup = (user: string) => {
    let a = accounts.get(user);
    if (!a) {
      a = ctx.storage.accounts.get(user);
      accounts.set(user, a);
    }
    return a;
  };
  return Promise.all(
    batch.items.map(async (item): Promise<SendItemResult> => {
      try {
        return { ok: true, ...(await sendMessages(ctx, me, address, item, lookup)) };
      } catch (err) {
        if (!(err instanceof ApiError)) ctx.log.warn({ err }, 'websocket send item failed');
        return { ok: false, ...itemError(err) };
      }
    }),
  );
}
