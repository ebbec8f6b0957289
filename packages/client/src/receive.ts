/**
 * Receiving (docs/API.md §5–6). For each relay envelope, in one transaction per batch:
 * - skip (and ack) ciphertexts already processed (seen.ts): delivery is at least once, a retried
 *   POST may be stored twice, and a relay may replay;
 * - PreKeyMessage: the sender device must be in the sender's verified device list (fetched and
 *   verified if the device is new to us) with the keys of the message's certificate, and the
 *   certificate must be signed by the sender's pinned master key; a base key seen before that
 *   matches none of our sessions is a replay and refused; then acceptPreKeyMessage, and the
 *   one-time prekeys it used are deleted (the `prekeys` record is only read for a PreKeyMessage
 *   that starts a new session);
 * - RatchetMessage: decrypt with the current session of that device, else with a previous one
 *   (which then becomes current);
 * - decode the envelope; refuse it unless it names our user as its recipient (envelope.ts); if it
 *   says the sender's own device list is newer than the one we hold, fetch the sender's list again
 *   and flag the message (`staleSenderList`) if the relay still serves an older one;
 * - drop duplicate message ids; put the message in the profile's inbox.
 * The batch's new sessions, seen ids and inbox are written before the relay ids are acked.
 * A message that fails is reported and acked; its failure changes no session. A message refused
 * because the sender's master key changed (KeyChangedError) or its device is not (yet) in the
 * verified list (UntrustedDeviceError), or whose sender's list cannot be used yet (stale:
 * StaleDeviceListError, or naming a device without its proof of possession: UnprovenDeviceError)
 * is not lost: it is parked (record `parked`, bounded), its
 * digests are NOT marked seen, it is acked on the relay and reported with code ERR_MESSAGE_PARKED;
 * it is processed again once the sender's contact changed (a verified or accepted key, a new list).
 */
import {
  acceptPreKeyMessage,
  DecryptError,
  decodeDeviceCertificate,
  decryptMessage,
  equal,
  MESSAGE_TYPE_PREKEY,
  messageType,
  openEnvelope,
  PROTOCOL_VERSION,
  peekPreKeyMessage,
  type SessionState,
  StaleDeviceListError,
  UnprovenDeviceError,
  verifyDeviceCertificate,
} from '@blindrelay/protocol';
import { RELAY_ENVELOPE_FAULT, type RelayEnvelope } from './api.js';
import { toBase64url } from './base64url.js';
import type { Context } from './context.js';
import { isBlocked, rememberToken } from './delivery.js';
import { deviceListOf, resolveUser, senderDevice } from './directory.js';
import { decodeEnvelope, type Envelope } from './envelope.js';
import {
  EnvelopeError,
  errorInfo,
  KeyChangedError,
  NotRegisteredError,
  ProfileLockedError,
  RateLimitedError,
  RelayError,
  RevokedError,
  UnreachableError,
  UntrustedDeviceError,
} from './errors.js';
import { addBaseKey, deleteUsedPreKeys, hasBaseKey, preKeyLookup } from './prekeys.js';
import { LIMITS, type ParkedMessage, type PreKeysRecord, pushBounded, type ReceivedMessage, type Transaction } from './profile.js';
import { acceptCollectionKey } from './records/keys.js';
import { bodyDigest, labelledDigest, SeenSet } from './seen.js';
import { putSession, sessionsOf } from './sessions.js';

export interface ReceiveFailure {
  readonly serverId: string;
  readonly from: string;
  readonly fromDevice: number;
  /** ERR_MESSAGE_PARKED for a parked message (kept locally and retried; `reason` says why). */
  readonly code: string;
  readonly message: string;
  /** Set when the message was parked rather than dropped. */
  readonly parked?: boolean;
  /** For a parked message: ERR_KEY_CHANGED or ERR_UNTRUSTED_DEVICE. */
  readonly reason?: string;
}

/** The code of a ReceiveFailure for a message parked to retry later. */
export const PARKED_CODE = 'ERR_MESSAGE_PARKED';

export interface BatchResult {
  /** Relay ids to acknowledge (every envelope of the batch). */
  readonly ack: string[];
  readonly received: ReceivedMessage[];
  readonly failures: ReceiveFailure[];
  /** A PreKeyMessage consumed prekeys: check the relay's prekey count. */
  readonly usedPreKeys: boolean;
  /** Set when processing stopped early on a transient error; the rest stays queued on the relay. */
  readonly deferred?: Error | undefined;
  /** The inbox as this batch's transaction wrote it (a copy): what to hand over, without reading it back. */
  readonly inbox?: readonly ReceivedMessage[];
}

/** Errors that say nothing about the message: retry later instead of dropping it. */
export function isTransient(e: unknown): boolean {
  return (
    e instanceof UnreachableError ||
    e instanceof RateLimitedError ||
    e instanceof ProfileLockedError ||
    e instanceof NotRegisteredError ||
    e instanceof RevokedError ||
    (e instanceof RelayError && (e.status >= 500 || e.status === 401))
  );
}

/**
 * The state of `user`'s contact that decides whether a parked message from them could now be
 * accepted: pinned key, pending key change, device list version.
 */
export async function contactState(tx: Transaction, user: string): Promise<string> {
  const c = (await tx.get('contacts')).contacts.get(user);
  if (!c) return 'none';
  const version = c.deviceList ? deviceListOf(c.deviceList).version : -1;
  return `${toBase64url(c.masterKey)}|${c.keyChange ? toBase64url(c.keyChange.masterKey) : '-'}|${version}`;
}

/** Drop the oldest parked messages beyond LIMITS.parked entries or LIMITS.parkedBytes of ciphertext. */
function trimParked(list: ParkedMessage[]): void {
  let bytes = list.reduce((n, m) => n + m.body.length, 0);
  while (list.length > 0 && (list.length > LIMITS.parked || bytes > LIMITS.parkedBytes)) bytes -= (list.shift() as ParkedMessage).body.length;
}

export interface ProcessOptions {
  /** The envelopes come from the `parked` record (already acked): remove each once it has an outcome. */
  retry?: boolean;
  /**
   * Relay ids of inbox messages already handed to the application: removed from the inbox in this
   * same transaction (client.ts: their removal rides with the next batch instead of a transaction
   * of its own). Only once it committed may the caller forget them.
   */
  handed?: ReadonlySet<string>;
}

/** Process a batch of envelopes and persist the outcome; the caller acks `ack` afterwards. */
export function processEnvelopes(ctx: Context, envelopes: readonly RelayEnvelope[], options: ProcessOptions = {}): Promise<BatchResult> {
  return ctx.profile.transact(async (tx) => {
    const seen = await SeenSet.open(ctx, tx);
    const recent = await tx.get('recent');
    if (options.handed && options.handed.size > 0) dropHanded(recent, options.handed);
    const result: BatchResult = { ack: [], received: [], failures: [], usedPreKeys: false };
    let usedPreKeys = false;
    let deferred: Error | undefined;
    /** Senders whose list this batch fetched again because a message said it is newer (once each). */
    const refetched = new Set<string>();
    const unpark = async (env: RelayEnvelope) => {
      const parked = await tx.get('parked');
      const kept = parked.messages.filter((m) => m.serverId !== env.id && !equal(m.body, env.body));
      if (kept.length === parked.messages.length) return;
      parked.messages = kept;
      tx.set('parked', parked);
    };
    for (const relayEnv of envelopes) {
      let env = relayEnv;
      /** The certificate inside a sealed envelope: checked against the sender's verified list (decryptOne). */
      let sealedCertificate: Uint8Array | undefined;
      if (env.sealed && !env.fault) {
        // Sealed sender (PROTOCOL.md §20.2): the sender is inside. Opened here, then processed like
        // any message from that device; the ratchet message must decrypt under its session.
        try {
          const opened = await openEnvelope(
            ctx.p,
            { user: ctx.account.user, deviceId: ctx.account.deviceId, identityKey: ctx.account.identityPublic, identityPrivate: ctx.account.identityPrivate },
            env.body,
          );
          env = { id: env.id, from: opened.certificate.user, fromDevice: opened.certificate.deviceId, body: opened.message, sentAt: env.sentAt };
          sealedCertificate = opened.certificateBytes;
        } catch (e) {
          const info = errorInfo(e);
          result.failures.push({ serverId: env.id, from: '', fromDevice: 0, code: info.code, message: `a sealed message: ${info.message}` });
          result.ack.push(env.id);
          continue;
        }
      }
      if (env.fault) {
        // A field the relay cannot have sent honestly (api.ts parseEnvelope, review L7): counted and
        // dropped (acked when its id is well-formed), never decrypted, never parked.
        result.failures.push({ serverId: env.id, from: env.from, fromDevice: env.fromDevice, code: RELAY_ENVELOPE_FAULT, message: env.fault });
        if (env.id) result.ack.push(env.id);
        continue;
      }
      // A ciphertext processed before: pushed again (an ack that did not arrive), a retried POST
      // stored twice, or a replay. Drop it quietly. (The relay id is not kept: an honest relay
      // serves one body per id, and a dishonest one can mint new ids, so it would add nothing.)
      const body = await bodyDigest(ctx.p, env.body);
      if (seen.has(body)) {
        if (options.retry) await unpark(env);
        result.ack.push(env.id);
        continue;
      }
      try {
        const out = await decryptOne(ctx, tx, env, refetched, sealedCertificate);
        usedPreKeys ||= out.usedPreKeys;
        if (out.message) {
          const messageId = await labelledDigest(ctx.p, 'message', dedupKey(out.message));
          if (!seen.has(messageId)) {
            seen.add(messageId);
            pushBounded(recent.inbox, out.message, LIMITS.inbox);
            result.received.push(out.message);
          }
        }
        if (out.error) throw out.error;
      } catch (e) {
        if (isTransient(e)) {
          // Not the message's fault (relay unreachable, rate limited...): leave it and the rest
          // queued on the relay, unacked, for the next attempt.
          deferred = e as Error;
          break;
        }
        const info = errorInfo(e);
        const self = env.from === ctx.account.user && env.fromDevice === ctx.account.deviceId;
        if (parkable(e) && !self) {
          // Not lost, not seen: kept locally to retry once the user resolved the sender's key or list.
          const parked = await tx.get('parked');
          const again = parked.messages.some((m) => m.serverId === env.id || equal(m.body, env.body));
          parked.messages = parked.messages.filter((m) => m.serverId !== env.id && !equal(m.body, env.body));
          parked.messages.push({
            serverId: env.id,
            from: env.from,
            fromDevice: env.fromDevice,
            body: env.body,
            sentAt: env.sentAt,
            reason: info.code,
            message: info.message,
            parkedAt: ctx.now(),
            contactState: await contactState(tx, env.from),
          });
          trimParked(parked.messages);
          tx.set('parked', parked);
          if (!again) {
            result.failures.push({
              serverId: env.id,
              from: env.from,
              fromDevice: env.fromDevice,
              code: PARKED_CODE,
              message: `${info.message} (message kept; it is read again once you verify or accept the new key)`,
              parked: true,
              reason: info.code,
            });
          }
          result.ack.push(env.id);
          continue;
        }
        result.failures.push({ serverId: env.id, from: env.from, fromDevice: env.fromDevice, code: info.code, message: info.message });
      }
      if (options.retry) await unpark(env);
      seen.add(body);
      result.ack.push(env.id);
    }
    tx.set('recent', recent);
    return { ...result, usedPreKeys, deferred, inbox: recent.inbox.slice() };
  });
}

/** Remove from the inbox the messages the application already has (by relay id). */
export function dropHanded(recent: { inbox: ReceivedMessage[] }, handed: ReadonlySet<string>): boolean {
  const kept = recent.inbox.filter((m) => !handed.has(m.serverId));
  if (kept.length === recent.inbox.length) return false;
  recent.inbox = kept;
  return true;
}

const dedupKey = (m: ReceivedMessage) => `${m.from}:${m.id}`;

/** Refusals that say nothing against the message, only that its sender cannot be trusted yet: park it. */
const parkable = (e: unknown) =>
  e instanceof KeyChangedError || e instanceof UntrustedDeviceError || e instanceof StaleDeviceListError || e instanceof UnprovenDeviceError;

/** acceptPreKeyMessage consults prekeys only for a new session; an existing one never gets here. */
const NO_PREKEYS = { signedPreKey: () => undefined, oneTimePreKey: () => undefined, pqPreKey: () => undefined };

interface Decrypted {
  message?: ReceivedMessage;
  /** Decrypted (session state kept) but the plaintext is unusable. */
  error?: Error;
  usedPreKeys: boolean;
}

async function decryptOne(ctx: Context, tx: Transaction, env: RelayEnvelope, refetched: Set<string>, sealedCertificate?: Uint8Array): Promise<Decrypted> {
  const { p, account } = ctx;
  if (env.body[0] !== undefined && env.body[0] < PROTOCOL_VERSION) {
    // Sessions of protocol 1 were not bound to users and devices (docs/DECISIONS.md, 2026-12-03).
    throw new EnvelopeError(`a message of protocol version ${env.body[0]}, from a client older than this one: the sender must update and send it again`);
  }
  const type = messageType(env.body);
  if (env.from === account.user && env.fromDevice === account.deviceId) throw new UntrustedDeviceError('a message claiming to come from this very device');
  const { masterKey, entry } = await senderDevice(ctx, tx, env.from, env.fromDevice);
  if (sealedCertificate) {
    // The sealed envelope's certificate: signed by the sender's pinned master key and naming the
    // keys their verified list holds for that device (PROTOCOL.md §20.3).
    const trusted = { user: env.from, masterKey };
    const cert = await (ctx.certificates
      ? ctx.certificates.verify(p, sealedCertificate, trusted)
      : verifyDeviceCertificate(p, sealedCertificate, trusted)
    ).catch(() => undefined);
    if (!cert || cert.deviceId !== env.fromDevice || !equal(cert.signingKey, entry.signingKey) || !equal(cert.identityKey, entry.identityKey)) {
      throw new UntrustedDeviceError(`the certificate in a sealed message from ${env.from} (device ${env.fromDevice}) does not match their device list`);
    }
  }
  const candidates = await sessionsOf(tx, env.from, env.fromDevice);
  let session: SessionState;
  let plaintext: Uint8Array;
  let usedPreKeys = false;

  if (type === MESSAGE_TYPE_PREKEY) {
    const pk = peekPreKeyMessage(env.body);
    const cert = decodeDeviceCertificate(pk.certificate);
    if (
      cert.user !== env.from ||
      cert.deviceId !== env.fromDevice ||
      !equal(cert.signingKey, entry.signingKey) ||
      !equal(cert.identityKey, entry.identityKey)
    ) {
      throw new UntrustedDeviceError(`the certificate in a message from ${env.from} (device ${env.fromDevice}) does not match their device list`);
    }
    const existing = candidates.find((s) => equal(s.baseKey, pk.baseKey));
    // Only a message that starts a new session needs the base keys seen and our private prekeys.
    let fresh: { baseKey: string; prekeys: PreKeysRecord } | undefined;
    if (!existing) {
      const baseKey = await labelledDigest(p, 'baseKey', pk.baseKey);
      if (hasBaseKey(await tx.get('basekeys'), baseKey)) throw new DecryptError(); // replayed session start
      fresh = { baseKey, prekeys: await tx.get('prekeys') };
    }
    const accepted = await acceptPreKeyMessage(
      p,
      {
        identity: { privateKey: account.identityPrivate, publicKey: account.identityPublic },
        certificate: account.certificate,
        preKeys: fresh ? preKeyLookup(fresh.prekeys) : NO_PREKEYS,
      },
      { user: env.from, masterKey },
      env.body,
      existing,
    );
    session = accepted.state;
    plaintext = accepted.plaintext;
    if (accepted.newSession && fresh) {
      const basekeys = await tx.get('basekeys');
      // Kept as long as both prekeys the session was accepted with exist (prekeys.ts pruneBaseKeys).
      addBaseKey(basekeys, pk.signedPreKeyId, pk.pqPreKeyId, fresh.baseKey);
      tx.set('basekeys', basekeys);
      if (deleteUsedPreKeys(fresh.prekeys, accepted.usedOneTimePreKeyId, accepted.usedPqPreKeyId)) tx.set('prekeys', fresh.prekeys);
      usedPreKeys = true;
    }
  } else {
    if (candidates.length === 0) throw new DecryptError();
    let found: { state: SessionState; plaintext: Uint8Array } | undefined;
    for (const s of candidates) {
      if (!equal(s.remoteIdentity, entry.identityKey)) continue;
      try {
        found = await decryptMessage(p, s, env.body);
        break;
      } catch {
        // try the next session with this device
      }
    }
    if (!found) throw new DecryptError();
    session = found.state;
    plaintext = found.plaintext;
  }
  await putSession(tx, env.from, env.fromDevice, session);

  try {
    const e = decodeEnvelope(plaintext);
    if (e.type === 'sync' && env.from !== account.user) throw new EnvelopeError(`a sync message from another user (${env.from})`);
    // M1 stop-gap: the session keys already bind both users; the envelope says it in clear text too.
    if (e.recipient !== account.user) throw new EnvelopeError(`a message from ${env.from} meant for ${e.recipient}, not for us`);
    const stale = await senderListView(ctx, tx, env.from, e, refetched);
    const listed = (await tx.get('contacts')).contacts.get(env.from)?.deviceList;
    if (listed && !deviceListOf(listed).devices.some((d) => d.deviceId === env.fromDevice)) {
      // The list fetched again no longer has the sending device: it was revoked meanwhile.
      throw new UntrustedDeviceError(`device ${env.fromDevice} of ${env.from} has left their device list`);
    }
    if (e.type === 'message' && e.deliveryToken) await rememberToken(tx, env.from, env.fromDevice, e.deliveryToken);
    if (env.from !== account.user && (await isBlocked(tx, env.from))) return { usedPreKeys }; // blocked: dropped (delivery.ts)
    if (e.type === 'collection-key') {
      // A collection key (records/keys.ts): kept in the profile, never shown as a message.
      await acceptCollectionKey(tx, account.user, env.from, e);
      return { usedPreKeys };
    }
    const message: ReceivedMessage = {
      id: e.id,
      from: env.from,
      fromDevice: env.fromDevice,
      to: e.type === 'sync' ? e.to : account.user,
      text: e.text,
      sentAt: e.sentAt,
      sync: e.type === 'sync',
      serverId: env.id,
      serverSentAt: env.sentAt,
      ...(stale ? { staleSenderList: stale } : {}),
    };
    return { message, usedPreKeys };
  } catch (e) {
    return { error: e as Error, usedPreKeys };
  }
}

/**
 * Review finding M2: the sender tells which version of its own device list it holds. If ours is
 * older, fetch it again (once per sender and batch); if the relay still serves an older one, it is
 * holding back the sender's update (a frozen list: a revoked device of the sender may still be in
 * it), and the message is flagged with both versions. A fetch that fails also leaves the flag.
 */
async function senderListView(
  ctx: Context,
  tx: Transaction,
  user: string,
  e: Envelope,
  refetched: Set<string>,
): Promise<{ claimed: number; held: number } | undefined> {
  const heldVersion = async () => {
    const held = (await tx.get('contacts')).contacts.get(user)?.deviceList;
    return held ? deviceListOf(held).version : 0;
  };
  let held = await heldVersion();
  if (e.listVersion <= held) return undefined;
  if (!refetched.has(user)) {
    refetched.add(user);
    try {
      await resolveUser(ctx, tx, user, { mode: 'receive' });
    } catch {
      // Unreachable relay, a refused list...: the message stays flagged; the next fetch decides.
    }
    held = await heldVersion();
  }
  return e.listVersion > held ? { claimed: e.listVersion, held } : undefined;
}
