/**
 * Storing one send (docs/API.md §5): one ciphertext per current device of the recipient. The
 * rules every transport applies the same way — `POST /v1/messages` (routes/messages.ts) and the
 * WebSocket `send` frame (ws/send-frames.ts, docs/API.md §12): rate limits, duplicate devices,
 * size limits, the send mark (§5a), Sesame coverage (409 `mismatched_devices`), the queue cap
 * (429 `queue_full`), then the wake-up of each recipient device. Throws ApiError; stores nothing
 * on a refusal.
 */
import type { Static } from '@sinclair/typebox';
import { deviceTopic } from '../bus/types.js';
import type { AppContext, AuthenticatedDevice } from '../context.js';
import { decodeField, encodeBase64url } from '../http/base64url.js';
import { ApiError, badRequest, conflict, noSuchUser } from '../http/errors.js';
import { type MarkedSend, raiseSendMark, type SendMarkField, withSendMark } from '../http/send-mark.js';
import type { Enqueue, EnqueueResult } from '../storage/types.js';
import { type RecipientList, RecipientLists } from './recipient-lists.js';

export interface SendRequest {
  readonly to: string;
  readonly messages: readonly { readonly deviceId: number; readonly body: string }[];
  readonly sendMark?: Static<typeof SendMarkField> | undefined;
}

export interface SendOutcome {
  readonly ids: string[];
  readonly sentAt: number;
}

/** Attempts when the recipient's device list changes between the coverage check and the store. */
export const MAX_ATTEMPTS = 3;

type AccountLookup = (user: string) => ReturnType<AppContext['storage']['accounts']['get']>;

/**
 * The checks of one send that need no storage, in the order the relay makes them: the lookup-miss
 * block, the rate limits (charged here), duplicate devices, the bodies' encoding and sizes.
 * Returns the decoded bodies; throws ApiError.
 */
export function checkSend(ctx: AppContext, me: AuthenticatedDevice, address: string, send: SendRequest): Uint8Array[] {
  const { to } = send;
  ctx.lookupMisses.check(me, address);
  // Mailbox flooding: each sender has its own budget per recipient (own-device sync is free),
  // so one flooder is refused long before the queue cap while other senders get through.
  ctx.rateLimiter.takeLocal([
    { action: 'messagesPerDevice', subject: `${me.user}\u0000${me.deviceId}` },
    ...(to === me.user ? [] : [{ action: 'messagesPerPair' as const, subject: `${me.user}\u0000${to}` }]),
  ]);
  const given = send.messages.map((m) => m.deviceId);
  if (new Set(given).size !== given.length) throw badRequest('messages: duplicate deviceId');
  return send.messages.map((m, i) => decodeField(m.body, `messages[${i}].body`, { min: 1, max: ctx.limits.maxMessageBytes }));
}

/**
 * What to store for one send checked against the recipient's `account` (undefined: no such user,
 * charged to the lookup-miss budget, 404): Sesame coverage (409), then the queue request with
 * fresh message ids (16 random bytes each, from `newId`). Throws ApiError.
 */
export async function toEnqueue(
  ctx: AppContext,
  me: AuthenticatedDevice,
  address: string,
  send: SendRequest,
  bodies: readonly Uint8Array[],
  account: RecipientList | undefined,
  newId: () => Uint8Array = () => ctx.primitives.randomBytes(16),
): Promise<{ request: Enqueue; ids: Uint8Array[] }> {
  const { to } = send;
  if (!account) {
    await ctx.lookupMisses.miss(me, address);
    throw noSuchUser('unknown recipient');
  }
  // Sesame: exactly the recipient's current devices, minus the sender's own device.
  const given = send.messages.map((m) => m.deviceId);
  const expected = account.devices.map((d) => d.deviceId).filter((id) => !(to === me.user && id === me.deviceId));
  const givenSet = new Set(given);
  const expectedSet = new Set(expected);
  const missing = expected.filter((id) => !givenSet.has(id));
  const stale = given.filter((id) => !expectedSet.has(id)).sort((a, b) => a - b);
  if (missing.length > 0 || stale.length > 0) {
    throw new ApiError(409, 'mismatched_devices', "the messages do not cover exactly the recipient's current devices", { missing, stale });
  }
  const ids = given.map(() => newId());
  const request: Enqueue = {
    to,
    expectedListVersion: account.listVersion,
    fromUser: me.user,
    fromDevice: me.deviceId,
    sentAt: ctx.now(),
    messages: given.map((deviceId, i) => ({ id: ids[i] as Uint8Array, deviceId, body: bodies[i] as Uint8Array })),
    maxQueued: ctx.limits.maxQueuedPerDevice,
  };
  return { request, ids };
}

/** The refusal of a send the store found a full queue for (429). */
export function queueFull(deviceIds: readonly number[]): ApiError {
  return new ApiError(
    429,
    'queue_full',
    "a recipient device's queue is full; retry later",
    { devices: [...deviceIds].sort((a, b) => a - b) },
    { 'retry-after': '60' },
  );
}

/**
 * Check and store one send of device `me` (connecting from `address`, for the lookup-miss budget).
 * The recipient's list as this device's HTTP sends last read it (services/recipient-lists.ts);
 * one that changed before the store (`stale_list`) is read again from storage.
 */
export async function sendMessages(ctx: AppContext, me: AuthenticatedDevice, address: string, send: SendRequest): Promise<SendOutcome> {
  const bodies = checkSend(ctx, me, address, send);
  const lists = RecipientLists.ofSender(ctx.storage, me);
  const { sendMark } = send;
  const mark = sendMark && { to: send.to, messages: send.messages, sendMark };
  // Before anything is stored: a send from an older copy of the profile is refused (§5a); where
  // the store raises the mark with the send (one write), storeChecked does it.
  const folded = mark && ctx.storage.mailboxes.enqueueMarked ? mark : undefined;
  if (mark && !folded) await raiseSendMark(ctx, me, mark);
  const prepare = () => lists.check(send.to, (list) => toEnqueue(ctx, me, address, send, bodies, list));
  return storeChecked(ctx, me, address, send, bodies, prepare, (user) => lists.read(user), folded);
}

/**
 * One send that passed checkSend: checked against the recipient's list by `prepare` (toEnqueue),
 * stored, its recipients woken; a list that changed after it was read (`stale_list`: nothing
 * stored) goes to storeSend, which reads lists with `reread`.
 *
 * With `mark`, the store raises the send mark with the send in one write (`mailboxes.enqueueMarked`:
 * one PostgreSQL statement where raising first took two round trips and two commits); `mark` is what
 * the mark covers (its digest; a WebSocket frame's covers the whole frame, send-batch.ts). The
 * answers are those of raising first: a stale mark (or a device no longer listed) refuses the send
 * with nothing stored; a send refused before the store (404, 409 `mismatched_devices`) raises the
 * mark on its own before that refusal is answered, so a stale mark still wins (only the
 * lookup-miss budget is charged first). Without `mark`, the caller has dealt with any mark.
 */
export async function storeChecked(
  ctx: AppContext,
  me: AuthenticatedDevice,
  address: string,
  send: SendRequest,
  bodies: readonly Uint8Array[],
  prepare: () => Promise<{ request: Enqueue; ids: Uint8Array[] }>,
  reread: AccountLookup,
  mark?: MarkedSend,
): Promise<SendOutcome> {
  const enqueueMarked = ctx.storage.mailboxes.enqueueMarked?.bind(ctx.storage.mailboxes);
  if (mark && !enqueueMarked) throw new Error('storeChecked: this store does not raise send marks with the send');
  let prepared: { request: Enqueue; ids: Uint8Array[] };
  try {
    prepared = await prepare();
  } catch (err) {
    if (mark) await raiseSendMark(ctx, me, mark);
    throw err;
  }
  const { request, ids } = prepared;
  let stored: EnqueueResult | undefined;
  if (mark && enqueueMarked) {
    stored = (await withSendMark(ctx, me, mark, (record, signingKey) => enqueueMarked(request, { record, signingKey }))).stored;
    if (!stored) throw new Error('enqueueMarked accepted the mark but answered no store verdict');
  } else stored = await ctx.storage.mailboxes.enqueue(request);
  if (stored.status === 'stale_list') return storeSend(ctx, me, address, send, bodies, MAX_ATTEMPTS - 1, reread);
  if (stored.status === 'queue_full') throw queueFull(stored.deviceIds);
  return wakeRecipients(ctx, request, ids);
}

/**
 * The storing part of sendMessages, for a send that passed checkSend (and its send mark): up to
 * `attempts` reads of the recipient's list and stores, then the wake-up of each recipient device.
 */
export async function storeSend(
  ctx: AppContext,
  me: AuthenticatedDevice,
  address: string,
  send: SendRequest,
  bodies: readonly Uint8Array[],
  attempts: number,
  lookup?: AccountLookup,
): Promise<SendOutcome> {
  const { to } = send;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const account = attempt === 0 && lookup ? await lookup(to) : await ctx.storage.accounts.get(to);
    const { request, ids } = await toEnqueue(ctx, me, address, send, bodies, account);
    const result = await ctx.storage.mailboxes.enqueue(request);
    if (result.status === 'stale_list') continue;
    if (result.status === 'queue_full') throw queueFull(result.deviceIds);
    return wakeRecipients(ctx, request, ids);
  }
  throw conflict("the recipient's device list kept changing; retry");
}

/** After a send was stored: counted, each recipient device woken (after the commit), the answer. */
async function wakeRecipients(ctx: AppContext, request: Enqueue, ids: readonly Uint8Array[]): Promise<SendOutcome> {
  ctx.metrics.messagesStored.inc(ids.length);
  for (const m of request.messages) await ctx.bus.publish(deviceTopic(request.to, m.deviceId), { type: 'message' });
  return { ids: ids.map(encodeBase64url), sentAt: request.sentAt };
}
