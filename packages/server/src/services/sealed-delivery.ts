/**
 * Sealed sends (docs/API.md §11, PROTOCOL.md §20), independent of the transport: the HTTP route
 * (routes/sealed.ts) calls it, and so can a WebSocket send frame. Validation and storage of one
 * sealed batch to one recipient user:
 *
 * 1. shape: one entry per device, each a sealed envelope (version byte, at least the HPKE
 *    overhead) and a 32-byte token;
 * 2. budgets: the client address and each recipient device (no sender to charge);
 * 3. tokens: every presented token of a current device must be valid for it, and at least one must
 *    be: otherwise 403 `invalid_delivery_token`, the same answer for an unknown user, so a stranger
 *    learns neither the account nor its device list;
 * 4. coverage: exactly the recipient's current devices, else 409 `mismatched_devices` with the
 *    missing and stale ids (the Sesame rule of the authenticated path);
 * 5. storage, atomic (SealedRepository.enqueueSealed): list version, tokens again (a revocation
 *    may have landed meanwhile), replayed envelopes (409 `replayed`), queue caps; then the
 *    messages with no sender, and their digests for the replay window.
 *
 * Nothing about the sender is stored, logged or counted: it is not known here.
 */
import { DELIVERY_TOKEN_BYTES, deliveryTokenVerifier, SEALED_ENVELOPE_VERSION, SEALED_OVERHEAD_BYTES } from '@blindrelay/protocol';
import { deviceTopic } from '../bus/types.js';
import type { AppContext } from '../context.js';
import { encodeBase64url } from '../http/base64url.js';
import { ApiError, badRequest, conflict } from '../http/errors.js';
import type { SealedEnqueue, SealedEnqueueResult } from '../storage/sealed-types.js';
import type { SealedMessage } from '../storage/types.js';
import { itemError, type SendItemError } from './send-batch.js';

/** How long the digest of an accepted sealed envelope is kept: a replay within it is refused. */
export const SEALED_REPLAY_WINDOW_MS = 30 * 24 * 3600_000;
/** Most delivery-token verifiers kept per device (the current one and those in their grace period). */
export const MAX_DELIVERY_TOKENS_PER_DEVICE = 4;
/** After a rotation, the previous tokens stay valid this long, so contacts can learn the new one. */
export const DELIVERY_TOKEN_GRACE_MS = 7 * 24 * 3600_000;
/** Attempts when the recipient's device list changes between the coverage check and the store. */
const MAX_ATTEMPTS = 3;

export interface SealedBatchEntry {
  readonly deviceId: number;
  readonly token: Uint8Array;
  readonly body: Uint8Array;
}

export interface SealedBatch {
  readonly to: string;
  readonly messages: readonly SealedBatchEntry[];
}

export const invalidToken = () =>
  new ApiError(403, 'invalid_delivery_token', 'a delivery token is not valid for its device (unknown, rotated out, or revoked): nothing was stored');

/** One item's answer in a sealed-send frame: what `POST /v1/sealed/messages` would have answered. */
export type SealedItemResult = ({ readonly ok: true } & SealedOutcome) | ({ readonly ok: false } & SendItemError);
interface SealedOutcome {
  readonly ids: string[];
  readonly sentAt: number;
}

/** A batch past the checks that need no storage: its verifiers and digests (computed once). */
interface Checked {
  readonly batch: SealedBatch;
  readonly given: readonly number[];
  readonly verifiers: readonly Uint8Array[];
  readonly digests: readonly Uint8Array[];
}

/** Steps 1 and 2 (the client-address budget): throws ApiError. */
async function checkShape(ctx: AppContext, batch: SealedBatch, address: string): Promise<Checked> {
  const { messages } = batch;
  if (messages.length === 0) throw badRequest('messages: at least one');
  const given = messages.map((m) => m.deviceId);
  if (new Set(given).size !== given.length) throw badRequest('messages: duplicate deviceId');
  messages.forEach((m, i) => {
    if (m.token.length !== DELIVERY_TOKEN_BYTES) throw badRequest(`messages[${i}].token: must be ${DELIVERY_TOKEN_BYTES} bytes`);
    if (m.body.length <= SEALED_OVERHEAD_BYTES || m.body[0] !== SEALED_ENVELOPE_VERSION) throw badRequest(`messages[${i}].body: not a sealed envelope`);
    if (m.body.length > ctx.limits.maxMessageBytes) throw badRequest(`messages[${i}].body: too long`);
  });
  ctx.rateLimiter.takeLocal([{ action: 'sealedPerIp', subject: address }]);
  const p = ctx.primitives;
  const verifiers = await Promise.all(messages.map((m) => deliveryTokenVerifier(p, m.token)));
  const digests = await Promise.all(messages.map((m) => p.sha256(m.body)));
  return { batch, given, verifiers, digests };
}

/** Steps 2–4 against the recipient's account as read now: the store request, or throws ApiError. */
async function prepare(ctx: AppContext, c: Checked): Promise<{ enqueue: SealedEnqueue; ids: Uint8Array[] }> {
  const { to, messages } = c.batch;
  const account = await ctx.storage.accounts.get(to);
  if (!account) throw invalidToken();
  const current = new Set(account.devices.map((d) => d.deviceId));
  const checks = messages.map((m, i) => ({ deviceId: m.deviceId, verifier: c.verifiers[i] as Uint8Array })).filter((x) => current.has(x.deviceId));
  if (checks.length === 0 || (await ctx.storage.sealed.invalidTokens(to, checks, ctx.now())).length > 0) throw invalidToken();
  ctx.rateLimiter.takeLocal(checks.map((x) => ({ action: 'sealedPerRecipient' as const, subject: `${to}\u0000${x.deviceId}` })));

  const expected = account.devices.map((d) => d.deviceId);
  const givenSet = new Set(c.given);
  const missing = expected.filter((id) => !givenSet.has(id));
  const stale = c.given.filter((id) => !current.has(id)).sort((a, b) => a - b);
  if (missing.length > 0 || stale.length > 0) {
    throw new ApiError(409, 'mismatched_devices', "the messages do not cover exactly the recipient's current devices", { missing, stale });
  }
  const ids = c.given.map(() => ctx.primitives.randomBytes(16));
  const sentAt = ctx.now();
  const rows: SealedMessage[] = messages.map((m, i) => ({
    id: ids[i] as Uint8Array,
    deviceId: m.deviceId,
    body: m.body,
    verifier: c.verifiers[i] as Uint8Array,
    digest: c.digests[i] as Uint8Array,
  }));
  const enqueue: SealedEnqueue = {
    to,
    expectedListVersion: account.listVersion,
    sentAt,
    messages: rows,
    maxQueued: ctx.limits.maxQueuedPerDevice,
    digestsUntil: sentAt + SEALED_REPLAY_WINDOW_MS,
    now: sentAt,
  };
  return { enqueue, ids };
}

/** Step 5's answer: the outcome if stored, undefined for a list that changed meanwhile (retry), else throws ApiError. */
function settle(result: SealedEnqueueResult, ids: Uint8Array[], sentAt: number): { ids: Uint8Array[]; sentAt: number } | undefined {
  if (result.status === 'stale_list') return undefined;
  if (result.status === 'bad_token') throw invalidToken();
  if (result.status === 'replayed') throw new ApiError(409, 'replayed', 'a sealed envelope was already accepted for its device: nothing was stored');
  if (result.status === 'queue_full') {
    throw new ApiError(
      429,
      'queue_full',
      "a recipient device's queue is full; retry later",
      { devices: [...result.deviceIds].sort((a, b) => a - b) },
      { 'retry-after': '60' },
    );
  }
  return { ids, sentAt };
}

/** Steps 2–5 until stored (or refused), from `attempt` on. */
async function store(ctx: AppContext, c: Checked, attempt: number): Promise<{ ids: Uint8Array[]; sentAt: number }> {
  for (; attempt < MAX_ATTEMPTS; attempt++) {
    const { enqueue, ids } = await prepare(ctx, c);
    const r = settle(await ctx.storage.sealed.enqueueSealed(enqueue), ids, enqueue.sentAt);
    if (!r) continue;
    await stored(ctx, [c]);
    return r;
  }
  throw conflict("the recipient's device list kept changing; retry");
}

/** After the commit: the count, and one wake-up per recipient device. */
async function stored(ctx: AppContext, batches: readonly Checked[]): Promise<void> {
  const topics = new Set<string>();
  let n = 0;
  for (const c of batches) {
    n += c.given.length;
    for (const deviceId of c.given) topics.add(deviceTopic(c.batch.to, deviceId));
  }
  if (n > 0) ctx.metrics.messagesStored.inc(n);
  for (const topic of topics) await ctx.bus.publish(topic, { type: 'message' });
}

/** Validate and store one sealed batch; `address`: the client address key (rate limits only, never stored). */
export async function deliverSealed(ctx: AppContext, batch: SealedBatch, address: string): Promise<{ ids: Uint8Array[]; sentAt: number }> {
  return store(ctx, await checkShape(ctx, batch, address), 0);
}

/**
 * Several sealed batches (a `sealed-send` frame, docs/API.md §11a): each item exactly as
 * deliverSealed would take it (its own checks, the client-address budget charged per item as one
 * POST), a result per item in order; a refused item stores nothing and does not stop the others.
 * The items that pass the checks are stored by ONE `enqueueSealedMany` (SQLite: one group-commit
 * operation); an item whose recipient's list changed meanwhile is retried alone, as HTTP would.
 */
export async function deliverSealedMany(ctx: AppContext, batches: readonly SealedBatch[], address: string): Promise<SealedItemResult[]> {
  const results: (SealedItemResult | undefined)[] = [];
  const pending: { index: number; checked: Checked; enqueue: SealedEnqueue; ids: Uint8Array[] }[] = [];
  for (const [index, batch] of batches.entries()) {
    try {
      const checked = await checkShape(ctx, batch, address);
      pending.push({ index, checked, ...(await prepare(ctx, checked)) });
      results.push(undefined);
    } catch (err) {
      results.push(refused(ctx, err));
    }
  }
  let outcomes: SealedEnqueueResult[] | undefined;
  let failure: unknown;
  try {
    outcomes = pending.length > 0 ? await ctx.storage.sealed.enqueueSealedMany(pending.map((p) => p.enqueue)) : [];
  } catch (err) {
    failure = err;
  }
  const done: Checked[] = [];
  const retries: Promise<void>[] = [];
  for (const [k, p] of pending.entries()) {
    const outcome = outcomes?.[k];
    try {
      if (!outcome) throw failure;
      const r = settle(outcome, p.ids, p.enqueue.sentAt);
      if (r) {
        done.push(p.checked);
        results[p.index] = { ok: true, ids: r.ids.map(encodeBase64url), sentAt: r.sentAt };
        continue;
      }
      retries.push(
        store(ctx, p.checked, 1).then(
          (s) => {
            results[p.index] = { ok: true, ids: s.ids.map(encodeBase64url), sentAt: s.sentAt };
          },
          (err) => {
            results[p.index] = refused(ctx, err);
          },
        ),
      );
    } catch (err) {
      results[p.index] = refused(ctx, err);
    }
  }
  await stored(ctx, done);
  await Promise.all(retries);
  return results as SealedItemResult[];
}

/** An item's refusal as HTTP would answer it; an unexpected error is logged (it names no sender: none is known here). */
function refused(ctx: AppContext, err: unknown): SealedItemResult {
  if (!(err instanceof ApiError)) ctx.log.warn({ err }, 'sealed send item failed');
  return { ok: false, ...itemError(err) };
}
