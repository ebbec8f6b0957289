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
import { ApiError, badRequest, conflict } from '../http/errors.js';
import type { SealedMessage } from '../storage/types.js';

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

/** Validate and store one sealed batch; `address`: the client address key (rate limits only, never stored). */
export async function deliverSealed(ctx: AppContext, batch: SealedBatch, address: string): Promise<{ ids: Uint8Array[]; sentAt: number }> {
  const { to, messages } = batch;
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

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const account = await ctx.storage.accounts.get(to);
    if (!account) throw invalidToken();
    const current = new Set(account.devices.map((d) => d.deviceId));
    const checks = messages.map((m, i) => ({ deviceId: m.deviceId, verifier: verifiers[i] as Uint8Array })).filter((c) => current.has(c.deviceId));
    if (checks.length === 0 || (await ctx.storage.sealed.invalidTokens(to, checks, ctx.now())).length > 0) throw invalidToken();
    ctx.rateLimiter.takeLocal(checks.map((c) => ({ action: 'sealedPerRecipient' as const, subject: `${to}\u0000${c.deviceId}` })));

    const expected = account.devices.map((d) => d.deviceId);
    const givenSet = new Set(given);
    const missing = expected.filter((id) => !givenSet.has(id));
    const stale = given.filter((id) => !current.has(id)).sort((a, b) => a - b);
    if (missing.length > 0 || stale.length > 0) {
      throw new ApiError(409, 'mismatched_devices', "the messages do not cover exactly the recipient's current devices", { missing, stale });
    }
    const ids = given.map(() => p.randomBytes(16));
    const sentAt = ctx.now();
    const rows: SealedMessage[] = messages.map((m, i) => ({
      id: ids[i] as Uint8Array,
      deviceId: m.deviceId,
      body: m.body,
      verifier: verifiers[i] as Uint8Array,
      digest: digests[i] as Uint8Array,
    }));
    const result = await ctx.storage.sealed.enqueueSealed({
      to,
      expectedListVersion: account.listVersion,
      sentAt,
      messages: rows,
      maxQueued: ctx.limits.maxQueuedPerDevice,
      digestsUntil: sentAt + SEALED_REPLAY_WINDOW_MS,
      now: sentAt,
    });
    if (result.status === 'stale_list') continue;
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
    ctx.metrics.messagesStored.inc(given.length);
    for (const deviceId of given) await ctx.bus.publish(deviceTopic(to, deviceId), { type: 'message' });
    return { ids, sentAt };
  }
  throw conflict("the recipient's device list kept changing; retry");
}
