/**
 * TypeBox schemas shared by the routes (docs/API.md). Objects are closed
 * (`additionalProperties: false`), strings have length bounds, binary fields are base64url with
 * exact or bounded lengths. The OpenAPI document is generated from these.
 */
import { RELAY_ERRORS, RELAY_WIRE_CODES, type RelayWireCode } from '@blindrelay/protocol/wire';
import { type TObject, type TProperties, type TSchema, Type } from '@sinclair/typebox';
import { LIMITS } from '../config.js';
import { encodedLength } from './base64url.js';

const B64_PATTERN = '^[A-Za-z0-9_-]*$';

/** A closed object: unknown properties are a 400. */
export const Obj = <T extends TProperties>(properties: T, options: { description?: string } = {}): TObject<T> =>
  Type.Object(properties, { additionalProperties: false, ...options });

/** base64url (no padding) of exactly `bytes` bytes. */
export const B64Fixed = (bytes: number, description: string) => {
  const n = encodedLength(bytes);
  return Type.String({ minLength: n, maxLength: n, pattern: B64_PATTERN, description: `${description} (${bytes} bytes, base64url)` });
};

/** base64url (no padding) of `minBytes` … `maxBytes` bytes. */
export const B64Range = (minBytes: number, maxBytes: number, description: string) =>
  Type.String({
    minLength: encodedLength(minBytes),
    maxLength: encodedLength(maxBytes),
    pattern: B64_PATTERN,
    description: `${description} (${minBytes}…${maxBytes} bytes, base64url)`,
  });

export const User = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9._-]{0,63}$', description: 'user name' });
export const DeviceId = Type.Integer({ minimum: 1, maximum: 0xffffffff, description: 'device id (u32, nonzero)' });
export const PrekeyId = Type.Integer({ minimum: 0, maximum: 0xffffffff, description: 'prekey id (u32)' });
export const Millis = Type.Integer({ minimum: 0, description: 'milliseconds since the Unix epoch' });

export const Ed25519Key = B64Fixed(32, 'Ed25519 public key');
export const X25519Key = B64Fixed(32, 'X25519 public key');
export const Signature = B64Fixed(64, 'Ed25519 signature');
export const MlKemKey = B64Fixed(1184, 'ML-KEM-768 public key');
export const Challenge = B64Fixed(32, 'challenge');
export const Token = B64Fixed(32, 'bearer token');
export const ChannelId = B64Fixed(16, 'provisioning channel id');
export const MessageId = B64Fixed(16, 'message id');
export const DeviceList = B64Range(1, LIMITS.maxDeviceListBytes, 'signed device list, PROTOCOL.md §5');
export const MessageBody = B64Range(1, LIMITS.maxMessageBytes, 'ciphertext');
export const FileId = B64Fixed(16, 'file id');
export const FileHeader = B64Range(1, LIMITS.maxFileHeaderBytes, 'age v1 header: stanzas and MAC (age.md "Header")');
export const FileMeta = B64Range(1, LIMITS.maxFileMetaBytes, 'encrypted file metadata (opaque)');
export const FileVersionNumber = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'file version' });
export const Revision = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'file revision' });
export const SealedEnvelope = B64Range(1, LIMITS.maxEnvelopeBytes, 'sealed provisioning envelope, PROTOCOL.md §12');

export const SignedPreKey = Obj({ id: PrekeyId, publicKey: X25519Key, signature: Signature });
export const OneTimePreKey = Obj({ id: PrekeyId, publicKey: X25519Key });
export const PqPreKey = Obj({ id: PrekeyId, publicKey: MlKemKey, signature: Signature });

export const PrekeyUpload = Obj(
  {
    signedPreKey: Type.Optional(SignedPreKey),
    oneTimePreKeys: Type.Optional(Type.Array(OneTimePreKey, { maxItems: LIMITS.maxPrekeysPerUpload })),
    pqPreKeys: Type.Optional(Type.Array(PqPreKey, { maxItems: LIMITS.maxPrekeysPerUpload })),
    lastResortPqPreKey: Type.Optional(PqPreKey),
  },
  { description: 'prekeys of one device (docs/API.md §1); signatures per PROTOCOL.md §3' },
);

export const MessageEnvelope = Obj({
  id: MessageId,
  from: Type.Optional(User),
  fromDevice: Type.Optional(DeviceId),
  sealed: Type.Optional(Type.Literal(true, { description: 'a sealed message (docs/API.md §11): no from/fromDevice; the sender is inside the body' })),
  body: Type.String({ description: 'ciphertext (base64url)' }),
  sentAt: Millis,
});

export const ErrorBody = Obj(
  {
    code: Type.String({ description: 'stable error code', enum: RELAY_WIRE_CODES }),
    message: Type.String({ description: 'human-readable; never echoes submitted values' }),
    missing: Type.Optional(Type.Array(DeviceId, { description: 'mismatched_devices: current devices the send did not cover' })),
    stale: Type.Optional(Type.Array(DeviceId, { description: 'mismatched_devices: covered devices that are not current' })),
    devices: Type.Optional(Type.Array(DeviceId, { description: 'queue_full: devices whose queue is full' })),
    quotaBytes: Type.Optional(Type.Integer({ description: 'quota_exceeded: the per-user quota' })),
    usedBytes: Type.Optional(Type.Integer({ description: 'quota_exceeded: payload bytes the user stores now' })),
    received: Type.Optional(Type.Integer({ description: 'offset_mismatch: payload bytes stored so far (resume there)' })),
    serverTime: Type.Optional(Type.Integer({ description: "stale_signature: the relay's clock (ms), to sign again with" })),
    mark: Type.Optional(Type.Integer({ description: 'send_mark_stale: the send mark the relay holds for this device' })),
    signature: Type.Optional(Type.String({ description: "send_mark_stale: the device's signature over that mark (base64url)" })),
    epoch: Type.Optional(Type.Integer({ description: "conflict (records, §10): the collection's current key epoch" })),
    revision: Type.Optional(Type.Integer({ description: "conflict (records, §10): the collection's current revision" })),
  },
  { description: 'error' },
);

/** What a code means where its name does not say it all (the codes and statuses: the wire contract). */
const CODE_NOTES: Partial<Record<RelayWireCode, string>> = {
  bad_request: 'schema, JSON or decoding error',
  signature_required: 'signed requests, §2a',
  bad_signature: 'signed requests, §2a',
  stale_signature: 'signed requests, §2a',
  replayed_signature: 'signed requests, §2a',
  no_such_user: 'a user name that is not, or no longer, an account',
  offset_mismatch: 'files',
  version_changed: 'files',
  send_mark_stale: 'messages, §5a',
  quota_exceeded: 'files',
  rate_limited: 'Retry-After header',
};

/** The codes of one status, from the wire contract (`@blindrelay/protocol/wire`). */
function errorDescription(status: number): string {
  const codes = RELAY_WIRE_CODES.filter((c) => RELAY_ERRORS[c].status === status);
  return codes.length ? codes.map((c) => (CODE_NOTES[c] ? `${c} (${CODE_NOTES[c]})` : c)).join(', ') : 'error';
}

/** Error responses for the given statuses, plus the ones any route can return. */
export function errors(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const s of [400, 413, 415, ...statuses].sort((a, b) => a - b)) {
    out[s] = { ...ErrorBody, description: errorDescription(s) };
  }
  return out;
}

export const NoContent = Type.Null({ description: 'no content' });
export const EmptyQuery = Obj({});
export const EmptyBody = Obj({}, { description: 'empty object (or no body)' });

/** OpenAPI security requirement for routes that take `Authorization: Bearer <token>`. */
export const BEARER = [{ bearerAuth: [] as string[] }];
