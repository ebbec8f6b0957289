/**
 * The message envelope: what the SDK puts inside every encrypted message (the protocol only ever
 * sees opaque plaintext bytes). Documented in packages/client/README.md, "Message envelope".
 *
 * UTF-8 JSON, one object, at most MAX_ENVELOPE_BYTES:
 *   {"v":2,"type":"message","id":"<22 chars>","sentAt":<ms>,"text":"...","recipient":"<user>","listVersion":<n>}
 *   {"v":2,"type":"sync","id":"<22 chars>","sentAt":<ms>,"text":"...","to":"<user>","recipient":"<our user>","listVersion":<n>}
 * - `v`      format version; anything else is rejected (a newer client must bump it). 2 added
 *            `recipient` and `listVersion`; version 1 is refused.
 * - `type`   `message`: a message to the recipient user; `sync`: a copy of a message this user
 *            sent from another of their devices, to `to` (Sesame own-device fan-out).
 * - `id`     16 random bytes, base64url: chosen by the sender, the same on every copy, used by
 *            receivers to drop duplicates (delivery is at least once).
 * - `sentAt` the sender's clock, ms since the epoch (informational: not authenticated time).
 * - `recipient` the user the sender encrypted this for (for a sync copy: our own user). A
 *            receiver refuses a message whose recipient is not itself: a relay cannot deliver a
 *            message meant for one user to another (review finding M1; the session keys bind
 *            both users too, PROTOCOL.md §7).
 * - `listVersion` the version of the sender's own signed device list the sender holds. A
 *            receiver holding an older list of the sender fetches it again, and flags the message
 *            if the relay still serves an older one (review finding M2, receive.ts).
 * - `deliveryToken` (optional, `message` only) the sending device's delivery token, 32 bytes
 *            base64url (docs/PROTOCOL.md §20.1): the receiver may seal its sends to that device.
 * Unknown extra members are ignored, so later versions can add optional fields.
 */
import { fromUtf8, isValidUserName, MAX_PLAINTEXT_BYTES, utf8 } from '@blindrelay/protocol';
import { EnvelopeError, MessageTooLargeError } from './errors.js';

export const ENVELOPE_VERSION = 2;
/**
 * The whole encoded envelope: the protocol's plaintext limit (1 MiB, limits.ts), so a message of
 * 1,000,000 bytes of text fits (docs/DECISIONS.md, "Messages up to 1 MB"; until 2026-12-03 this
 * was 512 KiB, text 256 KiB: an older receiver refuses larger messages as `ERR_BAD_ENVELOPE`).
 */
export const MAX_ENVELOPE_BYTES = MAX_PLAINTEXT_BYTES;
/**
 * Text of one message, in UTF-8 bytes (1 MB). JSON escaping (2 bytes for a newline or quote, 6
 * for another control character) and the other fields must also fit in MAX_ENVELOPE_BYTES.
 */
export const MAX_TEXT_BYTES = 1_000_000;
const ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

interface EnvelopeBase {
  readonly id: string;
  readonly sentAt: number;
  readonly text: string;
  /** The user this copy was encrypted for. */
  readonly recipient: string;
  /** The version of the sender's own device list, as the sender holds it. */
  readonly listVersion: number;
  /** The sending device's delivery token (base64url, 32 bytes), for sealed replies. */
  readonly deliveryToken?: string;
}
export interface MessageEnvelope extends EnvelopeBase {
  readonly type: 'message';
}
export interface SyncEnvelope extends EnvelopeBase {
  readonly type: 'sync';
  /** The conversation partner: the user the original message was sent to. */
  readonly to: string;
}
/**
 * A collection key (docs/PROTOCOL.md §19.1, packages/client/src/records/): sent by a collection's
 * owner to its members' devices and by any device to its own user's other devices. `text` is "".
 */
export interface CollectionKeyEnvelope extends EnvelopeBase {
  readonly type: 'collection-key';
  /** The collection id, 16 bytes base64url. */
  readonly collection: string;
  readonly owner: string;
  /** The owner's name for the collection (1 to 128 characters). */
  readonly name: string;
  readonly epoch: number;
  /** The 32-byte collection key of that epoch, base64url. */
  readonly key: string;
}
export type Envelope = MessageEnvelope | SyncEnvelope | CollectionKeyEnvelope;
const COLLECTION_ID = /^[A-Za-z0-9_-]{21}[AQgw]$/;
const COLLECTION_KEY = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

function check(e: Envelope, sending = false): void {
  if (typeof e.id !== 'string' || !ID_PATTERN.test(e.id)) throw new EnvelopeError('envelope: bad id');
  if (!Number.isSafeInteger(e.sentAt) || e.sentAt < 0) throw new EnvelopeError('envelope: bad sentAt');
  if (typeof e.text !== 'string') throw new EnvelopeError('envelope: text must be a string');
  // UTF-8 takes at most 3 bytes per UTF-16 code unit: only a long text needs encoding to be measured.
  const textBytes = e.text.length * 3 <= MAX_TEXT_BYTES ? 0 : utf8(e.text).length;
  if (sending && textBytes > MAX_TEXT_BYTES) {
    throw new MessageTooLargeError(`the message is too large: ${textBytes} bytes of text, at most ${MAX_TEXT_BYTES} (1 MB)`);
  }
  if (textBytes > MAX_TEXT_BYTES) throw new EnvelopeError(`envelope: text longer than ${MAX_TEXT_BYTES} bytes`);
  if (!isValidUserName(e.recipient)) throw new EnvelopeError('envelope: bad recipient');
  if (!Number.isSafeInteger(e.listVersion) || e.listVersion < 1) throw new EnvelopeError('envelope: bad listVersion');
  if (e.deliveryToken !== undefined && (typeof e.deliveryToken !== 'string' || !COLLECTION_KEY.test(e.deliveryToken)))
    throw new EnvelopeError('envelope: bad delivery token');
  if (e.type === 'sync') {
    if (!isValidUserName(e.to)) throw new EnvelopeError('envelope: bad conversation partner');
  } else if (e.type === 'collection-key') {
    if (typeof e.collection !== 'string' || !COLLECTION_ID.test(e.collection)) throw new EnvelopeError('envelope: bad collection id');
    if (!isValidUserName(e.owner)) throw new EnvelopeError('envelope: bad collection owner');
    if (typeof e.name !== 'string' || e.name.length === 0 || e.name.length > 128) throw new EnvelopeError('envelope: bad collection name');
    if (!Number.isInteger(e.epoch) || e.epoch < 0 || e.epoch > 0xffffffff) throw new EnvelopeError('envelope: bad collection epoch');
    if (typeof e.key !== 'string' || !COLLECTION_KEY.test(e.key)) throw new EnvelopeError('envelope: bad collection key');
  } else if (e.type !== 'message') {
    throw new EnvelopeError('envelope: unknown type');
  }
}

export function encodeEnvelope(e: Envelope): Uint8Array {
  check(e, true);
  const base = { v: ENVELOPE_VERSION, type: e.type, id: e.id, sentAt: e.sentAt, text: e.text };
  const tail = { recipient: e.recipient, listVersion: e.listVersion, ...(e.deliveryToken !== undefined ? { deliveryToken: e.deliveryToken } : {}) };
  const obj =
    e.type === 'sync'
      ? { ...base, to: e.to, ...tail }
      : e.type === 'collection-key'
        ? { ...base, collection: e.collection, owner: e.owner, name: e.name, epoch: e.epoch, key: e.key, ...tail }
        : { ...base, ...tail };
  const bytes = utf8(JSON.stringify(obj));
  // Checked here (by size, with sizes in the message) so a sender hears it before anything is encrypted.
  if (bytes.length > MAX_ENVELOPE_BYTES)
    throw new MessageTooLargeError(`the message is too large: ${bytes.length} bytes once encoded, at most ${MAX_ENVELOPE_BYTES}`);
  return bytes;
}

/** Decode and validate; throws EnvelopeError on anything else. */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (!(bytes instanceof Uint8Array)) throw new EnvelopeError('envelope: not bytes');
  if (bytes.length > MAX_ENVELOPE_BYTES) throw new EnvelopeError('envelope: too large');
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new EnvelopeError('envelope: not UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new EnvelopeError('envelope: not an object');
  const o = value as Record<string, unknown>;
  if (o.v !== ENVELOPE_VERSION) throw new EnvelopeError('envelope: unsupported version');
  const base = {
    id: o.id as string,
    sentAt: o.sentAt as number,
    text: o.text as string,
    recipient: o.recipient as string,
    listVersion: o.listVersion as number,
    ...(o.deliveryToken !== undefined ? { deliveryToken: o.deliveryToken as string } : {}),
  };
  let e: Envelope;
  if (o.type === 'message') e = { type: 'message', ...base };
  else if (o.type === 'sync') e = { type: 'sync', ...base, to: o.to as string };
  else if (o.type === 'collection-key')
    e = {
      type: 'collection-key',
      ...base,
      collection: o.collection as string,
      owner: o.owner as string,
      name: o.name as string,
      epoch: o.epoch as number,
      key: o.key as string,
    };
  else throw new EnvelopeError('envelope: unknown type');
  check(e);
  return e;
}
