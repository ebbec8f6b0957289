/**
 * A batch of sends from one device (docs/API.md §12), independent of the transport: the WebSocket
 * `send` frame calls it once per frame (ws/send-frames.ts); a sealed-sender transport can call it
 * the same way. Each item goes through sendMessages (the rules of `POST /v1/messages`) and gets
 * its own result: a refused item (409 coverage, 429, 404...) stores nothing and does not stop the
 * others. One send mark covers the whole batch: the SDK writes the ratchet states of every item
 * ahead of the frame, under one mark (docs/PROTOCOL.md §21); it is checked (and raised) before any
 * item is stored, and a stale mark refuses the whole batch.
 *
 * The items are checked one by one, then all those that passed are stored by ONE
 * `mailboxes.enqueueMany` (the SQLite store: one group-commit operation, so one savepoint and one
 * share of an fsync for the whole frame), and each recipient device gets one wake-up per frame.
 */
import type { Static } from '@sinclair/typebox';
import { deviceTopic } from '../bus/types.js';
import type { AppContext, AuthenticatedDevice } from '../context.js';
import { encodeBase64url } from '../http/base64url.js';
import { ApiError } from '../http/errors.js';
import { isMarkRefusal, type MarkedSend, raiseSendMark, type SendMarkField } from '../http/send-mark.js';
import { StorageUnavailableError } from '../storage/errors.js';
import type { Enqueue, EnqueueResult } from '../storage/types.js';
import { RecipientLists } from './recipient-lists.js';
import { checkSend, MAX_ATTEMPTS, queueFull, type SendOutcome, type SendRequest, storeChecked, storeSend, toEnqueue } from './send-messages.js';

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
  // The digest that recognises a retry of the same batch covers every item (http/send-mark.ts).
  const mark = batch.sendMark && {
    to: batch.items.map((i) => i.to).join(','),
    messages: batch.items.flatMap((item) => item.messages.map((m) => ({ deviceId: m.deviceId, body: `${item.to}:${m.body}` }))),
    sendMark: batch.sendMark,
  };
  // Each recipient's list as this connection last read it (checked again by the store, recipient-lists.ts).
  const lists = new RecipientLists(ctx.storage, me);
  // One item under a mark, on a store that raises the mark and stores in one write (PostgreSQL):
  // one round trip for both (send-messages.ts storeChecked). The answers are the same.
  const only = batch.items.length === 1 ? batch.items[0] : undefined;
  if (mark && only && ctx.storage.mailboxes.enqueueMarked) return [await sendMarkedItem(ctx, me, address, only, mark, lists)];
  if (mark) await raiseSendMark(ctx, me, mark);
  // Every item checked first (in order, as HTTP would one by one), then the accepted ones stored
  // in ONE storage call (services/send-messages.ts for the rules).
  const results: (SendItemResult | undefined)[] = [];
  const pending: { index: number; bodies: Uint8Array[]; request: Enqueue; ids: Uint8Array[] }[] = [];
  let messages = 0;
  for (const item of batch.items) messages += item.messages.length;
  const newId = idSource(ctx, messages);
  for (const [index, item] of batch.items.entries()) {
    try {
      const bodies = checkSend(ctx, me, address, item);
      const { request, ids } = await lists.check(item.to, (list) => toEnqueue(ctx, me, address, item, bodies, list, newId));
      pending.push({ index, bodies, request, ids });
      results.push(undefined);
    } catch (err) {
      results.push(refusal(ctx, err));
    }
  }
  let stored: EnqueueResult[] | undefined;
  let failure: unknown;
  try {
    stored = pending.length > 0 ? await ctx.storage.mailboxes.enqueueMany(pending.map((p) => p.request)) : [];
  } catch (err) {
    failure = err;
  }
  const wake = new Set<string>();
  const retries: Promise<void>[] = [];
  let count = 0;
  for (const [k, p] of pending.entries()) {
    const r = stored?.[k];
    if (!r) results[p.index] = refusal(ctx, failure);
    else if (r.status === 'stored') {
      for (const m of p.request.messages) wake.add(deviceTopic(p.request.to, m.deviceId));
      count += p.ids.length;
      results[p.index] = { ok: true, ids: p.ids.map(encodeBase64url), sentAt: p.request.sentAt };
    } else if (r.status === 'queue_full') results[p.index] = refusal(ctx, queueFull(r.deviceIds));
    else {
      // The recipient's list changed since it was read: that item alone, as HTTP would retry it.
      const item = batch.items[p.index] as (typeof batch.items)[number];
      retries.push(
        storeSend(ctx, me, address, item, p.bodies, MAX_ATTEMPTS - 1, (user) => lists.read(user)).then(
          (outcome) => {
            results[p.index] = { ok: true, ...outcome };
          },
          (err) => {
            results[p.index] = refusal(ctx, err);
          },
        ),
      );
    }
  }
  if (count > 0) ctx.metrics.messagesStored.inc(count);
  // One wake-up per recipient device, after the commit (the hub pushes everything new at once).
  for (const topic of wake) await ctx.bus.publish(topic, { type: 'message' });
  await Promise.all(retries);
  return results as SendItemResult[];
}

/**
 * A frame's one item under the frame's mark. A refusal of the mark throws (the whole frame), as
 * when the mark is raised first; a refusal of the item (checkSend, toEnqueue, the store) is its
 * result, after the mark was raised on its own (send-messages.ts storeChecked).
 */
async function sendMarkedItem(
  ctx: AppContext,
  me: AuthenticatedDevice,
  address: string,
  item: SendBatch['items'][number],
  mark: MarkedSend,
  lists: RecipientLists,
): Promise<SendItemResult> {
  let bodies: Uint8Array[];
  try {
    bodies = checkSend(ctx, me, address, item);
  } catch (err) {
    await raiseSendMark(ctx, me, mark);
    return refusal(ctx, err);
  }
  const prepare = () => lists.check(item.to, (list) => toEnqueue(ctx, me, address, item, bodies, list));
  try {
    return { ok: true, ...(await storeChecked(ctx, me, address, item, bodies, prepare, (user) => lists.read(user), mark)) };
  } catch (err) {
    if (isMarkRefusal(err)) throw err;
    return refusal(ctx, err);
  }
}

/**
 * Message ids for a whole frame from one call of the random source (one system CSPRNG call
 * instead of one per message, which cost ~7 % of the relay's time under the capacity load): 16
 * random bytes each, copied out into its own buffer; past `count`, one call per id again.
 */
function idSource(ctx: AppContext, count: number): () => Uint8Array {
  const pool = ctx.primitives.randomBytes(16 * count);
  let at = 0;
  return () => {
    if (at + 16 > pool.length) return ctx.primitives.randomBytes(16);
    const id = pool.slice(at, at + 16);
    at += 16;
    return id;
  };
}

function refusal(ctx: AppContext, err: unknown): SendItemResult {
  if (!(err instanceof ApiError)) ctx.log.warn({ err }, 'websocket send item failed');
  return { ok: false, ...itemError(err) };
}
