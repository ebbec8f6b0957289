/**
 * Coalesced sends (docs/PROTOCOL.md §21): concurrent `send` calls of one client are encrypted in
 * ONE profile transaction, written in ONE group commit, and go out as `send` frames over the open
 * WebSocket (send-channel.ts), answered per item. Durability is that of the one-by-one path
 * (send.ts): every ratchet state that produced a ciphertext, and the send mark of its frame, are on
 * disk (tx.flush) before the frame leaves; the profile lock is held until the relay answered, so
 * send marks reach the relay in order.
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
import { tokenFor, tokensFor } from './delivery.js';
import { listForSend } from './directory.js';
import { encodeEnvelope } from './envelope.js';
import { MismatchedDevicesError, relayError } from './errors.js';
import type { Transaction } from './profile.js';
import { hasOtherDevice, ownList, ownListVersion, type SendOptions, type SendResult, sendText } from './send.js';
import { itemChars, MAX_SEND_FRAME_CHARS, type SendChannel, type SendFrameItem, type SentAnswer } from './send-channel.js';
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

/** A send encrypted for the fast path: its frame items (the recipient's, then the sync copy's). */
interface Prepared {
  readonly pending: Pending;
  readonly id: string;
  readonly sentAt: number;
  readonly items: { item: SendFrameItem; devices: number; sync: boolean }[];
}

const b64 = (bytes: Uint8Array) => toBase64url(bytes);

export class SendCoalescer {
  readonly #queue: Pending[] = [];
  #running = false;

  constructor(
    private readonly ctx: Context,
    private readonly channel: SendChannel,
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
      const recipients = new Map<string, { target: DeviceList; sealed: boolean; deliveryToken: string | undefined }>();
      /** Per recipient: sessions with some device of theirs (hasSessionWith, once per batch: sessions only advance in it). */
      const withSession = new Map<string, boolean>();
      const recipient = async (p: Pending) => {
        const key = `${p.options.acceptNewKey ? 1 : 0}${p.to}`;
        let r = recipients.get(key);
        if (!r) {
          const target = (await listForSend(ctx, tx, p.to, { acceptNewKey: p.options.acceptNewKey ?? false })).list;
          const sealed =
            ctx.sealedSends !== false &&
            (await tokensFor(
              tx,
              p.to,
              target.devices.map((d) => d.deviceId),
            )) !== undefined;
          // Our delivery token rides inside the encryption, as on the one-by-one path (delivery.ts).
          r = { target, sealed, deliveryToken: sealed ? undefined : await tokenFor(ctx, tx, p.to) };
          recipients.set(key, r);
        }
        return r;
      };
      for (const p of batch) {
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
          const { target, sealed, deliveryToken } = await recipient(p);
          // Sealed sender (PROTOCOL.md §20) must not ride this authenticated socket: one by one, sealed.
          if (sealed) {
            slow.push(p);
            continue;
          }
          own ??= await ownList(ctx, tx);
          listVersion ??= await ownListVersion(ctx, tx);
          const id = toBase64url(ctx.p.randomBytes(16));
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
          const items = parts.map((part) => ({ item: { to: part.user, messages: [] as { deviceId: number; body: string }[] }, devices: 0, sync: part.sync }));
          for (const s of sessions) {
            const r = await encryptMessage(ctx.p, s.state, s.part.plaintext);
            await putSession(tx, s.part.user, s.deviceId, r.state);
            const entry = items[parts.indexOf(s.part)] as (typeof items)[number];
            entry.item.messages.push({ deviceId: s.deviceId, body: b64(r.message) });
            entry.devices++;
          }
          prepared.push({ pending: p, id, sentAt, items: items.filter((i) => i.devices > 0) });
        } catch {
          // Resolving the list failed (a changed key, unreachable...): the one-by-one path reports it.
          slow.push(p);
        }
      }
      if (prepared.length === 0) return slow;
      // Frames below the relay's frame limit; one send mark per frame.
      const frames: Prepared[][] = [[]];
      let chars = 0;
      for (const p of prepared) {
        const size = p.items.reduce((n, i) => n + itemChars(i.item) + 1, 0);
        if (size + 300 > MAX_SEND_FRAME_CHARS) {
          slow.push(p.pending); // too big for a frame: over HTTP (its ciphertexts are dropped unsent)
          continue;
        }
        if (chars + size + 300 > MAX_SEND_FRAME_CHARS) {
          frames.push([]);
          chars = 0;
        }
        (frames[frames.length - 1] as Prepared[]).push(p);
        chars += size;
      }
      const marks = [];
      for (const frame of frames) marks.push(frame.length > 0 ? await nextSendMark(ctx, tx) : undefined);
      // Write-ahead: the advanced sessions and the marks are on disk before any frame leaves.
      await tx.flush();
      for (const [i, frame] of frames.entries()) {
        const mark = marks[i];
        if (!mark || frame.length === 0) continue;
        const answer = await this.channel
          .request(
            frame.flatMap((p) => p.items.map((i) => i.item)),
            { value: mark.value, signature: b64(mark.signature) },
          )
          .catch((e: unknown) => e as Error);
        this.#settle(frame, answer, slow);
      }
      return slow;
    });
  }

  #settle(frame: Prepared[], answer: SentAnswer | Error, slow: Pending[]): void {
    if (answer instanceof Error) {
      for (const p of frame) p.pending.reject(answer);
      return;
    }
    if ('error' in answer) {
      // The whole frame refused (send_mark_stale: client.ts explains it as ProfileRolledBackError).
      const e = relayError(answer.error.status, answer.error.body);
      for (const p of frame) p.pending.reject(e);
      return;
    }
    let k = 0;
    for (const p of frame) {
      const results = p.items.map(() => answer.results[k++]);
      const main = results[0];
      if (!main || !main.ok) {
        const e = main ? relayError(main.status, main.body) : new Error('missing result');
        // A device list changed under us: the one-by-one path fetches it again and retries.
        if (e instanceof MismatchedDevicesError) slow.push(p.pending);
        else p.pending.reject(e);
        continue;
      }
      const devices = p.items[0]?.devices ?? 0;
      const syncIndex = p.items.findIndex((i) => i.sync);
      const sync = syncIndex >= 0 ? results[syncIndex] : undefined;
      const syncError = sync && !sync.ok ? relayError(sync.status, sync.body) : undefined;
      const ownDevices = syncIndex >= 0 && sync?.ok ? (p.items[syncIndex]?.devices ?? 0) : 0;
      p.pending.resolve({ id: p.id, to: p.pending.to, sentAt: p.sentAt, devices, ownDevices, ...(syncError ? { syncError } : {}) });
    }
  }
}
