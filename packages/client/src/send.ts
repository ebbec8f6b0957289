/**
 * Sending (Sesame fan-out; docs/API.md §5): one ciphertext per current device of the recipient,
 * then a `sync` copy per other device of our own user.
 *
 * Per recipient user: take the verified device list (directory.ts `listForSend`: fetched and
 * verified, or the one a fetch of the last directoryMaxAgeMs verified), create missing sessions
 * from verified prekey bundles, encrypt once per device, persist the advanced sessions BEFORE the
 * POST (a message key is never used twice, even if the POST's fate is unknown), POST. On 409
 * `mismatched_devices` the list is fetched and verified again, sessions of devices that left are
 * dropped, missing ones are created, and the send is retried (at most MAX_ATTEMPTS times); the
 * same when the relay reports a listed device as unavailable (it may have left the list). Our own
 * list is also fetched when the one held has no other device and this profile approved a new
 * device recently (directory.ts `ownLinkPending`): there is no sync POST to answer 409.
 */
import {
  type DeviceEntry,
  type DeviceList,
  decodePreKeyBundle,
  encryptMessage,
  initiateSession,
  type SessionState,
  sealEnvelope,
  verifyPreKeyBundle,
} from '@blindrelay/protocol';
import { toBase64url } from './base64url.js';
import type { Context } from './context.js';
import { forgetTokens, tokenFor, tokensFor } from './delivery.js';
import { deviceListOf, listForSend, ownLinkPending, requestOwnEntry, resolveUser, type ServedEntry } from './directory.js';
import { type Envelope, encodeEnvelope } from './envelope.js';
import { DeviceUnavailableError, InvalidDeliveryTokenError, MismatchedDevicesError, SendFailedError, UntrustedDeviceError } from './errors.js';
import type { Transaction } from './profile.js';
import { nextSendMark, requestRelayMark } from './send-mark.js';
import { currentSession, putSession } from './sessions.js';

const MAX_ATTEMPTS = 4;

export interface SendResult {
  /** The message id inside the envelope (the same on every copy). */
  readonly id: string;
  readonly to: string;
  readonly sentAt: number;
  /** Recipient devices the message was encrypted to. */
  readonly devices: number;
  /** Our other devices that got a sync copy. */
  readonly ownDevices: number;
  /** Set if the message went out but the sync copy to our other devices failed. */
  readonly syncError?: Error;
}

export interface SendOptions {
  /** Pin a changed master key of the recipient without verifying it. */
  acceptNewKey?: boolean;
}

export async function sendText(ctx: Context, to: string, text: string, options: SendOptions = {}): Promise<SendResult> {
  const id = toBase64url(ctx.p.randomBytes(16));
  const sentAt = ctx.now();
  const self = ctx.account.user;
  return ctx.profile.transact(async (tx) => {
    // The lookups a first send needs go out together (DECISIONS.md, "The first send's requests
    // overlap"): our own directory entry (for the sync copy) and the relay's send mark are asked
    // now and checked where they were checked before; the recipient's list and the registration
    // of our delivery token run side by side. Every check stays, in its place.
    const ownEntry = requestOwnEntry(ctx);
    const relayMark = requestRelayMark(ctx);
    // The two side by side share these records: loaded once first, so both use the same copy.
    await tx.get('contacts');
    await tx.get('delivery');
    const [target, deliveryToken] = await settledPair(
      to === self ? ownList(ctx, tx, ownEntry) : listForSend(ctx, tx, to, { acceptNewKey: options.acceptNewKey ?? false }).then((r) => r.list),
      // Our delivery token rides along (inside the encryption) so the recipient can seal its replies.
      tokenFor(ctx, tx, to),
    );
    // The envelope names its recipient and the version of our own list we hold (envelope.ts).
    const message = encodeEnvelope({
      type: 'message',
      id,
      sentAt,
      text,
      recipient: to,
      listVersion: await ownListVersion(ctx, tx),
      ...(deliveryToken ? { deliveryToken } : {}),
    });
    const devices = await deliver(ctx, tx, to, target, message, relayMark);
    if (to === self) return { id, to, sentAt, devices, ownDevices: devices };
    try {
      const own = await ownList(ctx, tx, ownEntry);
      if (!hasOtherDevice(ctx, own)) return { id, to, sentAt, devices, ownDevices: 0 };
      const sync = encodeEnvelope({ type: 'sync', id, sentAt, text, to, recipient: self, listVersion: await ownListVersion(ctx, tx) });
      const ownDevices = await deliver(ctx, tx, self, own, sync, relayMark);
      return { id, to, sentAt, devices, ownDevices };
    } catch (e) {
      return { id, to, sentAt, devices, ownDevices: 0, syncError: e as Error };
    }
  });
}

/**
 * Both results, once both settled (the first error, in argument order, if any): nothing of a
 * transaction is left running when it ends.
 */
async function settledPair<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}

export const hasOtherDevice = (ctx: Context, list: DeviceList) => list.devices.some((d) => d.deviceId !== ctx.account.deviceId);

/** The version of our own device list this device holds (1 if it holds none yet). */
export async function ownListVersion(ctx: Context, tx: Transaction): Promise<number> {
  const held = (await tx.get('contacts')).contacts.get(ctx.account.user)?.deviceList;
  return held ? deviceListOf(held).version : 1;
}

/**
 * Our own device list for sending. When the list held has no other device there is no sync POST,
 * hence no 409 to tell us of a device linked since; only our devices can approve one, so it is
 * fetched while an approval by this profile is recent (directory.ts `ownLinkPending`). `served`: our
 * directory entry as requested earlier in this transaction (directory.ts `requestOwnEntry`).
 */
export async function ownList(ctx: Context, tx: Transaction, served?: Promise<ServedEntry>): Promise<DeviceList> {
  const own = await listForSend(ctx, tx, ctx.account.user, served ? { served } : {});
  if (own.fetched || hasOtherDevice(ctx, own.list) || !(await ownLinkPending(ctx, tx))) return own.list;
  return (await resolveUser(ctx, tx, ctx.account.user, { mode: 'send' })).list;
}

/** Encrypt `plaintext` to every current device of `user` (but this one) and post it. */
async function deliver(
  ctx: Context,
  tx: Transaction,
  user: string,
  initial: DeviceList,
  plaintext: Uint8Array,
  relayMark?: ReturnType<typeof requestRelayMark>,
): Promise<number> {
  const { p, account } = ctx;
  let list = initial;
  for (let attempt = 1; ; attempt++) {
    const targets = list.devices.filter((d) => !(user === account.user && d.deviceId === account.deviceId));
    if (targets.length === 0) return 0; // a note to self with no other device of ours
    const sessions = new Map<number, SessionState>();
    for (const d of targets) {
      const s = await currentSession(tx, user, d.deviceId);
      if (s) sessions.set(d.deviceId, s);
    }
    const missing = targets.filter((d) => !sessions.has(d.deviceId));
    if (missing.length > 0) {
      const res = await ctx.api.bundles(
        user,
        missing.map((d) => d.deviceId),
      );
      const unavailable = missing.filter((d) => res.unavailable.includes(d.deviceId)).map((d) => d.deviceId);
      if (unavailable.length > 0) {
        // The relay also lists ids that are no longer current devices: our list may be stale.
        if (attempt >= MAX_ATTEMPTS) throw new DeviceUnavailableError(user, unavailable);
        list = (await resolveUser(ctx, tx, user, { mode: 'send' })).list;
        continue;
      }
      const local = { identity: { privateKey: account.identityPrivate, publicKey: account.identityPublic }, certificate: account.certificate };
      for (const entry of missing) {
        const served = res.bundles.find((b) => b.deviceId === entry.deviceId);
        if (!served) throw new SendFailedError(`the relay sent no prekey bundle for device ${entry.deviceId} of ${user}`);
        const bundle = decodePreKeyBundle(served.bundle);
        // PQXDH rev. 2 §3.3: the bundle must be the listed device's, with valid prekey signatures.
        await verifyPreKeyBundle(p, bundle, entry, user).catch((e) => {
          throw new UntrustedDeviceError(`prekey bundle of device ${entry.deviceId} of ${user} does not verify: ${(e as Error).message}`);
        });
        sessions.set(entry.deviceId, await initiateSession(p, local, bundle));
      }
    }
    const messages: { deviceId: number; body: Uint8Array }[] = [];
    for (const d of targets) {
      const r = await encryptMessage(p, sessions.get(d.deviceId) as SessionState, plaintext);
      await putSession(tx, user, d.deviceId, r.state);
      messages.push({ deviceId: d.deviceId, body: r.message });
    }
    // Write-ahead: the advanced sessions, and the send mark that refuses an older copy of them
    // (send-mark.ts), are on disk before the ciphertext leaves.
    const mark = await nextSendMark(ctx, tx, relayMark);
    // Sealed when we hold a delivery token of every target device (never to our own devices).
    const tokens =
      user === account.user || ctx.sealedSends === false
        ? undefined
        : await tokensFor(
            tx,
            user,
            messages.map((m) => m.deviceId),
          );
    const sealed = tokens ? await sealAll(ctx, user, targets, messages, tokens) : undefined;
    await tx.flush();
    try {
      if (sealed) {
        try {
          await ctx.api.sendSealed(user, sealed);
          return targets.length;
        } catch (e) {
          // A token rotated out or revoked: forget them all and send these same ratchet messages
          // on the authenticated path (the first-contact path: docs/API.md §11).
          if (!(e instanceof InvalidDeliveryTokenError)) throw e;
          await forgetTokens(tx, user);
          await tx.flush();
        }
      }
      await ctx.api.sendMessages(user, messages, mark);
      return targets.length;
    } catch (e) {
      if (!(e instanceof MismatchedDevicesError) || attempt >= MAX_ATTEMPTS) throw e;
      // Never drop sessions on the relay's word: refreshing the verified list prunes the sessions
      // of devices that really left (resolveUser → pruneSessions); a relay lying about `stale`
      // only earns a refetch.
      list = (await resolveUser(ctx, tx, user, { mode: 'send' })).list;
    }
  }
}

/** One sealed envelope per target device around its ratchet message (docs/PROTOCOL.md §20.2). */
export async function sealAll(
  ctx: Context,
  user: string,
  targets: readonly DeviceEntry[],
  messages: readonly { deviceId: number; body: Uint8Array }[],
  tokens: Map<number, Uint8Array>,
): Promise<{ deviceId: number; token: Uint8Array; body: Uint8Array }[]> {
  const out: { deviceId: number; token: Uint8Array; body: Uint8Array }[] = [];
  for (const m of messages) {
    const entry = targets.find((d) => d.deviceId === m.deviceId) as DeviceEntry;
    const body = await sealEnvelope(ctx.p, { user, deviceId: m.deviceId, identityKey: entry.identityKey }, ctx.account.certificate, m.body);
    out.push({ deviceId: m.deviceId, token: tokens.get(m.deviceId) as Uint8Array, body });
  }
  return out;
}

/**
 * Send a control envelope (not a text message: a collection key, records/keys.ts) to every current
 * device of `to` but this one, built for the recipient user and our list version. Returns the
 * number of devices it went to. Nothing goes into anyone's inbox.
 */
export async function sendControl(ctx: Context, to: string, build: (recipient: string, listVersion: number) => Envelope): Promise<number> {
  const self = ctx.account.user;
  return ctx.profile.transact(async (tx) => {
    const target = to === self ? await ownList(ctx, tx) : (await listForSend(ctx, tx, to, { acceptNewKey: false })).list;
    if (to === self && !hasOtherDevice(ctx, target)) return 0;
    return deliver(ctx, tx, to, target, encodeEnvelope(build(to, await ownListVersion(ctx, tx))));
  });
}
