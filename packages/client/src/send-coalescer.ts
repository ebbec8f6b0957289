/**
 * Coalesced sends (docs/PROTOCOL.md §21): concurrent `send` calls of one client are encrypted in
 * ONE profile transaction, written in ONE group commit, and go out as `send` frames over the open
 * WebSocket (send-channel.ts), answered per item. Durability is that of the one-by-one path
 * (send.ts): every ratchet state that produced a ciphertext, and the send mark of its frame, are on
 * disk (tx.flush) before the frame leaves; the profile lock is held until the relay answered, so
 * send marks reach the relay in order.
 *
 * A send to a user whose delivery tokens we hold goes sealed (PROTOCOL.md §20), as on the
 * one-by-one path, but batched too: its sealed envelopes go as items of `sealed-send` frames on the
 * separate unauthenticated socket (sealed-channel.ts; HTTP when the relay has none), never on the
 * authenticated one; its sync copy to our own devices goes in the authenticated frame. A sealed
 * item refused for its token (403) makes us forget that user's tokens and send the same ratchet
 * messages on the authenticated path, as send.ts does.
 *
 * A send that needs more than the sessions at hand — a note to self, a device without a session
 * yet (prekey bundles), a list that cannot be resolved — or that the relay answers with 409
 * `mismatched_devices` goes through the one-by-one path afterwards (it fetches lists and bundles
 * and retries), so the rules are the same. The 409'd ciphertexts were never stored: their message
 * keys are simply skipped (the receiver's ratchet handles gaps, Double Ratchet rev. 3 §3.5).
 */
import { type DeviceList, encryptMessage } from '@blindrelay/protocol';
import { toBase64url } from './base64url.js';
import type { Context } from './context.js';
import { forgetTokens, tokenFor, tokensFor } from './delivery.js';
import { listForSend } from './directory.js';
import { encodeEnvelope } from './envelope.js';
import { InvalidDeliveryTokenError, MismatchedDevicesError, relayError } from './errors.js';
import type { Transaction } from './profile.js';
import type { SealedChannel, SealedItem } from './sealed-channel.js';
import { hasOtherDevice, ownList, ownListVersion, type SendOptions, type SendResult, sealAll, sendText } from './send.js';
import { itemChars, MAX_SEND_FRAME_CHARS, type SendChannel, type SentAnswer } from './send-channel.js';
import { nextSendMark } from './send-mark.js';
import { currentSession, putSession } from './sessions.js';

/** True if this profile holds sessions with some device of `user` (sessionKey `user/deviceId`). */
async function hasSessionWith(tx: Transaction, user: string): Promise<boolean> {
  return (await tx.sessionKeys()).some((key) => key.startsWith(`${user}/`));
}

/** Sends per batch (one transaction). */
const MAX_BATCH = 256;

interface Pending {
  readonly to: string;
  readonly text: string;
  readonly options: SendOptions;
  readonly resolve: (r: SendResult) => void;
  readonly reject: (e: unknown) => void;
}

/** One item of a prepared send: on the authenticated frame, or sealed (then `sealed` and its ratchet messages). */
interface PreparedItem {
  readonly item: { readonly to: string; readonly messages: { deviceId: number; body: string }[] };
  devices: number;
  readonly sync: boolean;
  sealed?: SealedItem;
  /** The ratchet messages inside the sealed envelopes (sent authenticated if a token is refused). */
  raw?: { deviceId: number; body: Uint8Array }[];
  /** Its fate once answered (undefined: no answer, e.g. the frame failed as a whole). */
  outcome?: { ok: true } | { ok: false; error: Error };
}

/** A send encrypted for the fast path: its frame items (the recipient's, then the sync copy's). */
interface Prepared {
  readonly pending: Pending;
  readonly id: string;
  readonly sentAt: number;
  readonly items: PreparedItem[];
  /** Too big for a frame: none of it went out; the one-by-one path sends it (over HTTP). */
  oversized?: boolean;
}

const b64 = (bytes: Uint8Array) => toBase64url(bytes);

export class SendCoalescer {
  readonly #queue: Pending[] = [];
  #running = false;

  constructor(
    private readonly ctx: Context,
    private readonly channel: SendChannel,
    private readonly sealed: SealedChannel,
  ) {}

  send(to: string, text: string, options: SendOptions = {}): Promise<SendResult> {
    return new Promise<SendResult>((resolve, reject) => {
      this.#queue.push({ to, text, options, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        let slow: Pending[];
        try {
          slow = await this.#batch(batch);
        } catch (e) {
          for (const p of batch) p.reject(e);
          continue;
        }
        // The one-by-one path, after the batch was answered (send marks stay in order).
        for (const p of slow) await sendText(this.ctx, p.to, p.text, p.options).then(p.resolve, p.reject);
      }
    } finally {
      this.#running = false;
    }
  }

  /** Encrypt, persist and send what the sessions at hand allow; returns the sends for the one-by-one path. */
  #batch(batch: Pending[]): Promise<Pending[]> {
    const { ctx } = this;
    return ctx.profile.transact(async (tx) => {
      const slow: Pending[] = [];
      const prepared: Prepared[] = [];
      const self = ctx.account.user;
      let own: DeviceList | undefined;
      let listVersion: number | undefined;
      /** Per recipient, what every send to them in this batch shares (one transaction: it cannot change). */
      const recipients = new Map<string, { target: DeviceList; tokens: Map<number, Uint8Array> | undefined; deliveryToken: string | undefined }>();
      /** Per recipient: sessions with some device of theirs (hasSessionWith, once per batch: sessions only advance in it). */
      const withSession = new Map<string, boolean>();
      const recipient = async (p: Pending) => {
        const key = `${p.options.acceptNewKey ? 1 : 0}${p.to}`;
        let r = recipients.get(key);
        if (!r) {
          const target = (await listForSend(ctx, tx, p.to, { acceptNewKey: p.options.acceptNewKey ?? false })).list;
          // Sealed when we hold a delivery token of every target device, as send.ts decides.
          const tokens =
            ctx.sealedSends === false
              ? undefined
              : await tokensFor(
                  tx,
                  p.to,
                  target.devices.map((d) => d.deviceId),
                );
          // Our delivery token rides inside the encryption, as on the one-by-one path (delivery.ts).
          r = { target, tokens, deliveryToken: await tokenFor(ctx, tx, p.to) };
          recipients.set(key, r);
        }
        return r;
      };
      // Message ids from one random draw for the whole batch (one call into the CSPRNG, not one per send).
      const idBytes = ctx.p.randomBytes(16 * batch.length);
      for (const [k, p] of batch.entries()) {
        if (p.to === self) {
          slow.push(p);
          continue;
        }
        // No session with any device of the recipient: the batch would find one missing after its
        // lookups and leave the send to the one-by-one path anyway; it goes there before them
        // (sendText makes its lookups side by side).
        let has = withSession.get(p.to);
        if (has === undefined) {
          has = await hasSessionWith(tx, p.to);
          withSession.set(p.to, has);
        }
        if (!has) {
          slow.push(p);
          continue;
        }
        try {
          const { target, tokens, deliveryToken } = await recipient(p);
          own ??= await ownList(ctx, tx);
          listVersion ??= await ownListVersion(ctx, tx);
          const id = toBase64url(idBytes.subarray(16 * k, 16 * k + 16));
          const sentAt = ctx.now();
          const parts: { user: string; list: DeviceList; plaintext: Uint8Array; sync: boolean }[] = [
            {
              user: p.to,
              list: target,
              plaintext: encodeEnvelope({
                type: 'message',
                id,
                sentAt,
                text: p.text,
                recipient: p.to,
                listVersion,
                ...(deliveryToken ? { deliveryToken } : {}),
              }),
              sync: false,
            },
          ];
          if (hasOtherDevice(ctx, own)) {
            const sync = encodeEnvelope({ type: 'sync', id, sentAt, text: p.text, to: p.to, recipient: self, listVersion });
            parts.push({ user: self, list: own, plaintext: sync, sync: true });
          }
          // Every target device needs a session already; a new one needs prekey bundles: one by one.
          const sessions = [];
          for (const part of parts) {
            for (const d of part.list.devices) {
              if (part.user === self && d.deviceId === ctx.account.deviceId) continue;
              const s = await currentSession(tx, part.user, d.deviceId);
              if (!s) break;
              sessions.push({ part, deviceId: d.deviceId, state: s });
            }
          }
          const expected = parts.reduce(
            (n, part) => n + part.list.devices.filter((d) => !(part.user === self && d.deviceId === ctx.account.deviceId)).length,
            0,
          );
          if (sessions.length !== expected || parts[0]?.list.devices.length === 0) {
            slow.push(p);
            continue;
          }
          const items: PreparedItem[] = parts.map((part) => ({ item: { to: part.user, messages: [] }, devices: 0, sync: part.sync }));
          const main = items[0] as PreparedItem;
          if (tokens) main.raw = [];
          for (const s of sessions) {
            const r = await encryptMessage(ctx.p, s.state, s.part.plaintext);
            await putSession(tx, s.part.user, s.deviceId, r.state);
            const entry = items[parts.indexOf(s.part)] as PreparedItem;
            if (entry === main && main.raw) main.raw.push({ deviceId: s.deviceId, body: r.message });
            else entry.item.messages.push({ deviceId: s.deviceId, body: b64(r.message) });
            entry.devices++;
          }
          // Sealed: one sealed envelope per device around its ratchet message (PROTOCOL.md §20.2).
          if (tokens && main.raw) main.sealed = { to: p.to, messages: await sealAll(ctx, p.to, target.devices, main.raw, tokens) };
          prepared.push({ pending: p, id, sentAt, items: items.filter((i) => i.devices > 0) });
        } catch {
          // Resolving the list failed (a changed key, unreachable...): the one-by-one path reports it.
          slow.push(p);
        }
      }
      if (prepared.length === 0) return slow;
      // Authenticated frames below the relay's frame limit; one send mark per frame. Sealed items
      // go on the sealed channel, which makes its own frames (or HTTP requests).
      const frames: PreparedItem[][] = [[]];
      let chars = 0;
      for (const p of prepared) {
        const plain = p.items.filter((i) => !i.sealed);
        if (plain.length === 0) continue;
        const size = plain.reduce((n, i) => n + itemChars(i.item) + 1, 0);
        if (size + 300 > MAX_SEND_FRAME_CHARS) {
          p.oversized = true; // over HTTP, one by one (its ciphertexts are dropped unsent)
          continue;
        }
        if (chars + size + 300 > MAX_SEND_FRAME_CHARS) {
          frames.push([]);
          chars = 0;
        }
        (frames[frames.length - 1] as PreparedItem[]).push(...plain);
        chars += size;
      }
      const marks = [];
      for (const frame of frames) marks.push(frame.length > 0 ? await nextSendMark(ctx, tx) : undefined);
      // Write-ahead: the advanced sessions and the marks are on disk before any frame leaves.
      await tx.flush();
      const sealedItems = prepared.filter((p) => !p.oversized).flatMap((p) => p.items.filter((i) => i.sealed));
      // The sealed frames and the authenticated ones go out side by side (send marks only on the latter, in order).
      await Promise.all([
        this.#sendSealed(sealedItems),
        (async () => {
          for (const [i, frame] of frames.entries()) {
            const mark = marks[i];
            if (!mark || frame.length === 0) continue;
            const answer = await this.channel
              .request(
                frame.map((x) => x.item),
                { value: mark.value, signature: b64(mark.signature) },
              )
              .catch((e: unknown) => e as Error);
            settleFrame(frame, answer);
          }
        })(),
      ]);
      await this.#resendRefused(tx, sealedItems);
      for (const p of prepared) this.#settle(p, slow);
      return slow;
    });
  }

  /** The sealed items over the sealed channel (its frames, or HTTP); each item's outcome. */
  async #sendSealed(items: PreparedItem[]): Promise<void> {
    if (items.length === 0) return;
    const outcomes = await this.sealed.send(items.map((i) => i.sealed as SealedItem));
    for (const [k, item] of items.entries()) {
      const o = outcomes[k];
      item.outcome = o?.ok ? { ok: true } : { ok: false, error: o?.error ?? new Error('missing result') };
    }
  }

  /**
   * A sealed item refused for a delivery token (rotated out, revoked): that user's tokens are
   * forgotten and the same ratchet messages go on the authenticated path under a new send mark, as
   * send.ts does. Only once every frame of the batch was answered: the new mark is above theirs,
   * and marks must reach the relay in order.
   */
  async #resendRefused(tx: Transaction, items: PreparedItem[]): Promise<void> {
    for (const item of items) {
      if (item.outcome?.ok !== false || !(item.outcome.error instanceof InvalidDeliveryTokenError)) continue;
      const to = item.item.to;
      await forgetTokens(tx, to);
      const mark = await nextSendMark(this.ctx, tx);
      await tx.flush();
      item.outcome = await this.ctx.api.sendMessages(to, item.raw ?? [], mark).then(
        () => ({ ok: true as const }),
        (error: Error) => ({ ok: false as const, error }),
      );
    }
  }

  #settle(p: Prepared, slow: Pending[]): void {
    if (p.oversized) {
      slow.push(p.pending);
      return;
    }
    const main = p.items[0];
    const outcome = main?.outcome ?? { ok: false as const, error: new Error('missing result') };
    if (!outcome.ok) {
      // A device list changed under us: the one-by-one path fetches it again and retries.
      if (outcome.error instanceof MismatchedDevicesError) slow.push(p.pending);
      else p.pending.reject(outcome.error);
      return;
    }
    const devices = main?.devices ?? 0;
    const sync = p.items.find((i) => i.sync);
    const syncError = sync?.outcome && !sync.outcome.ok ? sync.outcome.error : undefined;
    const ownDevices = sync?.outcome?.ok ? sync.devices : 0;
    p.pending.resolve({ id: p.id, to: p.pending.to, sentAt: p.sentAt, devices, ownDevices, ...(syncError ? { syncError } : {}) });
  }
}

/** Each item's outcome from the answer to its authenticated frame. */
function settleFrame(frame: PreparedItem[], answer: SentAnswer | Error): void {
  if (answer instanceof Error) {
    for (const i of frame) i.outcome = { ok: false, error: answer };
    return;
  }
  if ('error' in answer) {
    // The whole frame refused (send_mark_stale: client.ts explains it as ProfileRolledBackError).
    const error = relayError(answer.error.status, answer.error.body);
    for (const i of frame) i.outcome = { ok: false, error };
    return;
  }
  for (const [k, i] of frame.entries()) {
    const r = answer.results[k];
    i.outcome = !r ? { ok: false, error: new Error('missing result') } : r.ok ? { ok: true } : { ok: false, error: relayError(r.status, r.body) };
  }
}
