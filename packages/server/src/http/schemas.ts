/**
 * TypeBox schemas shared by the routes (docs/API.md). Objects are closed
 * (`additionalProperties: false`), strings have length bounds, binary fields are base64url with
 * exact or bounded lengths. The OpenAPI document is generated from these.
 *
 * The fields and answers the SDK reads are not written here but built from the wire contract's
 * shapes (`@blindrelay/protocol/wire`, `shapes`; `schemaOf`), the same data the SDK checks the
 * answers against: one definition of each bound for both ends (structure review, change 1).
 */
import { BASE64URL_PATTERN, bounds, encodedLength, RELAY_ERRORS, RELAY_WIRE_CODES, type RelayWireCode, type Shape, shapes } from '@blindrelay/protocol/wire';
import {
  type TArray,
  type TBoolean,
  type TInteger,
  type TLiteral,
  type TNull,
  type TObject,
  type TOptional,
  type TProperties,
  type TSchema,
  type TString,
  type TTuple,
  type TUnion,
  Type,
} from '@sinclair/typebox';

/** A closed object: unknown properties are a 400. */
export const Obj = <T extends TProperties>(properties: T, options: { description?: string } = {}): TObject<T> =>
  Type.Object(properties, { additionalProperties: false, ...options });

/** base64url (no padding) of exactly `bytes` bytes. */
export const B64Fixed = (bytes: number, description: string) => {
  const n = encodedLength(bytes);
  return Type.String({ minLength: n, maxLength: n, pattern: BASE64URL_PATTERN, description: `${description} (${bytes} bytes, base64url)` });
};

/** base64url (no padding) of `minBytes` … `maxBytes` bytes. */
export const B64Range = (minBytes: number, maxBytes: number, description: string) =>
  Type.String({
    minLength: encodedLength(minBytes),
    maxLength: encodedLength(maxBytes),
    pattern: BASE64URL_PATTERN,
    description: `${description} (${minBytes}…${maxBytes} bytes, base64url)`,
  });

type SchemaProps<P extends shapes.Properties> = {
  -readonly [K in keyof P]: P[K] extends shapes.OptionalShape<infer I> ? TOptional<SchemaOf<I>> : SchemaOf<P[K]>;
};
/** The TypeBox type of a wire shape (so a route's `Static<...>` is what the SDK reads). */
export type SchemaOf<S> = S extends shapes.IntShape
  ? TInteger
  : S extends shapes.TextShape | shapes.BytesShape
    ? TString
    : S extends shapes.BoolShape
      ? TBoolean
      : S extends shapes.TrueShape
        ? TLiteral<true>
        : S extends shapes.ChoiceShape<infer V>
          ? TUnion<TLiteral<V>[]>
          : S extends shapes.ListShape<infer I>
            ? TArray<SchemaOf<I>>
            : S extends shapes.TupleShape<readonly [infer A extends Shape, infer B extends Shape]>
              ? TTuple<[SchemaOf<A>, SchemaOf<B>]>
              : S extends shapes.NullableShape<infer I>
                ? TUnion<[SchemaOf<I>, TNull]>
                : S extends shapes.RecordShape<infer P>
                  ? TObject<SchemaProps<P>>
                  : TSchema;

const opts = (description: string | undefined) => (description === undefined ? {} : { description });

/** What the fields mean, for /openapi.json (kept out of the wire shapes, which the browser bundle carries). */
const DESCRIPTIONS = new Map<Shape, string>([
  [shapes.USER, 'user name'],
  [shapes.DEVICE, 'device id (u32, nonzero)'],
  [shapes.PREKEY, 'prekey id (u32)'],
  [shapes.MILLIS, 'milliseconds since the Unix epoch'],
  [shapes.ED25519_KEY, 'Ed25519 public key'],
  [shapes.X25519_KEY, 'X25519 public key'],
  [shapes.SIGNATURE, 'Ed25519 signature'],
  [shapes.MLKEM_KEY, 'ML-KEM-768 public key'],
  [shapes.MESSAGE_ID, 'message id'],
  [shapes.FILE_ID, 'file id'],
  [shapes.MESSAGE_BODY, 'ciphertext'],
  [shapes.DEVICE_LIST, 'signed device list, PROTOCOL.md §5'],
  [shapes.ROTATION, 'master-key rotation statement signed by the old and the new master key, PROTOCOL.md §16.4'],
  [shapes.FILE_HEADER, 'age v1 header: stanzas and MAC (age.md "Header")'],
  [shapes.FILE_META, 'encrypted file metadata (opaque)'],
  [shapes.FILE_VERSION, 'file version'],
  [shapes.REVISION, 'file revision'],
  [shapes.SEALED_FLAG, 'a sealed message (docs/API.md §11): no from/fromDevice; the sender is inside the body'],
  [shapes.PREKEY_BUNDLE, 'PreKeyBundle, PROTOCOL.md §6'],
  [shapes.FILE_READERS, 'users other than the owner who may read the file'],
  [shapes.FILE_SEAL, "the owner's seal of the current version (docs/PROTOCOL.md §15.4), once complete (absent for versions stored before seals)"],
  [shapes.CURRENT_HEADER, 'age header of the current version'],
  [shapes.CURRENT_META, 'encrypted metadata'],
  [shapes.PENDING_HEADER, 'age header of the pending version'],
  [shapes.PENDING_META, 'encrypted metadata of the pending version'],
  [shapes.PENDING_VERSION, 'the replacement being uploaded (owner only)'],
  [shapes.FILE_INFO, 'a file and its current version (docs/API.md §8)'],
  [shapes.SEND_MARK_VALUE, '0: the device never sent with a mark'],
  [shapes.CHALLENGE, 'challenge'],
  [shapes.BEARER_TOKEN, 'bearer token'],
  [shapes.CHANNEL_ID, 'provisioning channel id'],
  [shapes.PROVISIONING_ENVELOPE, 'sealed provisioning envelope, PROTOCOL.md §12'],
  [shapes.DELETION_NONCE, 'random nonce'],
  [shapes.DEVICE_LIST_DIGEST, 'SHA-256 of the signed device list the relay serves for the user'],
  [shapes.CHANNEL_REQUEST, 'empty object (or no body), or the user to join'],
  [shapes.BACKUP_BLOB, 'encrypted backup (docs/PROTOCOL.md §18)'],
  [shapes.WRAPPED_BACKUP_KEY, 'wrapped backup key (docs/PROTOCOL.md §18)'],
  [shapes.BACKUP_GENERATION, 'backup generation'],
  [shapes.ACCESS_SECRET, 'access secret derived from the recovery code'],
  [shapes.ACCESS_SECRET_HASH, 'SHA-256 of the access secret derived from the recovery code'],
  [shapes.OPAQUE_LOGIN_ID, 'login id'],
  [shapes.EXPECTED_GENERATION, '0: no backup yet'],
  [shapes.OPAQUE_REGISTRATION_REQUEST, 'OPAQUE registration request'],
  [shapes.OPAQUE_REGISTRATION_RESPONSE, 'OPAQUE registration response'],
  [shapes.OPAQUE_REGISTRATION_RECORD, 'OPAQUE registration record'],
  [shapes.OPAQUE_KE1, 'OPAQUE KE1'],
  [shapes.OPAQUE_KE2, 'OPAQUE KE2'],
  [shapes.OPAQUE_KE3, 'OPAQUE KE3'],
  [shapes.COLLECTION_ID, 'collection id (16 random bytes chosen by its creator)'],
  [shapes.RECORD_ID, 'record id (16 random bytes chosen by its writer)'],
  [shapes.EPOCH, 'key epoch (PROTOCOL.md §19.1)'],
  [shapes.COLLECTION_REVISION, 'collection revision'],
  [shapes.COLLECTION_META, 'sealed collection metadata (PROTOCOL.md §19.2)'],
  [shapes.SEALED_RECORD, 'sealed record (PROTOCOL.md §19.2)'],
  [shapes.COLLECTION_MEMBERS, 'members other than the owner'],
  [shapes.MEMBER_ADD, 'true: add the member; false: remove (then re-key)'],
  [shapes.GROUP_ID, 'group id (16 random bytes chosen by its creator; the MLS group_id)'],
  [shapes.KEY_PACKAGE, 'MLSMessage(KeyPackage) (RFC 9420 §10)'],
  [shapes.WRITTEN_EPOCH, 'the group epoch after the write'],
  [shapes.INBOX_SEQ, 'inbox position'],
  [shapes.GROUP_ITEM_MESSAGE, 'MLSMessage'],
  [shapes.GROUP_COMMIT, 'MLSMessage(PrivateMessage) carrying a Commit (RFC 9420 §12.4)'],
  [shapes.GROUP_WELCOME, 'MLSMessage(Welcome) for the added devices (§12.4.3.1)'],
  [shapes.GROUP_APPLICATION, 'MLSMessage(PrivateMessage): application data or a proposal'],
  [shapes.NEW_FILE_ID, 'the new file id, 16 random bytes chosen by the client (the owner signs it); default: chosen by the relay'],
  [shapes.PAYLOAD_SIZE, 'age payload bytes (16-byte nonce + STREAM chunks)'],
  [shapes.LEAVE_FLAG, "a self-removal proposal: the sender user's devices stop receiving"],
  [shapes.PREKEY_UPLOAD, 'prekeys of one device (docs/API.md §1); signatures per PROTOCOL.md §3'],
  [shapes.NEXT_SEND_MARK, "the device's next send mark"],
  [shapes.SEND_MARK_STAMP, 'the send mark of this send, signed by the device (docs/API.md §5a)'],
  [shapes.DEVICE_CIPHERTEXTS, 'one entry per recipient device'],
  [shapes.DELIVERY_TOKEN, "the recipient device's delivery token"],
  [shapes.SEALED_CIPHERTEXTS, 'one sealed envelope per current device of the recipient'],
  [shapes.INDEX_POSITION, 'index position'],
  [shapes.POSTING_TOKEN, 'truncated token'],
  [shapes.POSTING, '[index, token]'],
  [shapes.QUERY_ALTERNATIVES, 'alternatives (one per key epoch), each an AND of postings'],
  [shapes.BUNDLE_DEVICES, 'a subset of the current devices; default all'],
  [shapes.DELIVERY_TOKEN_VERIFIER, 'SHA-256("blindrelay/delivery-token/v1" || token) of the new current token'],
  [shapes.DELIVERY_TOKEN_MODE, 'rotate: the previous tokens stay valid for 7 days; revoke: they stop now'],
  [shapes.HELD_DELIVERY_TOKEN, "a delivery token of one of the user's devices"],
]);
/** What the relay assumes when an optional field is absent, for /openapi.json (the routes apply it). */
const DEFAULTS = new Map<Shape, unknown>([[shapes.RECORD_QUERY_LIMIT, bounds.DEFAULT_RECORD_QUERY]]);
/** The relay's schema of a wire shape: the bounds the SDK checks, as JSON Schema (and so in /openapi.json). */
export function schemaOf<S extends Shape>(shape: S): SchemaOf<S> {
  return build(shape) as SchemaOf<S>;
}

function build(s: Shape): TSchema {
  const description = s.kind === 'nullable' ? undefined : (s.description ?? DESCRIPTIONS.get(s));
  switch (s.kind) {
    case 'int':
      return Type.Integer({
        minimum: s.min,
        ...(s.max === undefined ? {} : { maximum: s.max }),
        ...(DEFAULTS.has(s) ? { default: DEFAULTS.get(s) } : {}),
        ...opts(description),
      });
    case 'text':
      return Type.String({ minLength: s.minLength, maxLength: s.maxLength, pattern: s.pattern, ...opts(description) });
    case 'bytes':
      return s.minBytes === s.maxBytes ? B64Fixed(s.minBytes, description ?? 'bytes') : B64Range(s.minBytes, s.maxBytes, description ?? 'bytes');
    case 'bool':
      return Type.Boolean(opts(description));
    case 'true':
      return Type.Literal(true, opts(description));
    case 'choice':
      return Type.Union(
        s.values.map((v) => Type.Literal(v)),
        opts(description),
      );
    case 'list':
      return Type.Array(build(s.items), {
        ...(s.minItems === undefined ? {} : { minItems: s.minItems }),
        ...(s.maxItems === undefined ? {} : { maxItems: s.maxItems }),
        ...(s.unique ? { uniqueItems: true } : {}),
        ...opts(description),
      });
    case 'tuple':
      // TypeBox's Tuple: JSON Schema draft-07's array form (`items: [...]`, `additionalItems: false`,
      // minItems = maxItems = its length), which the relay's validator checks (http/validation.ts).
      return Type.Tuple(s.items.map(build), opts(description));
    case 'nullable':
      return Type.Union([build(s.of), Type.Null()]);
    case 'record': {
      const props: TProperties = {};
      for (const [name, p] of Object.entries(s.props)) props[name] = p.kind === 'optional' ? Type.Optional(build(p.of)) : build(p);
      return Obj(props, opts(description));
    }
  }
}

export const User = schemaOf(shapes.USER);
export const DeviceId = schemaOf(shapes.DEVICE);
export const PrekeyId = schemaOf(shapes.PREKEY);
export const Millis = schemaOf(shapes.MILLIS);

export const Ed25519Key = schemaOf(shapes.ED25519_KEY);
export const X25519Key = schemaOf(shapes.X25519_KEY);
export const Signature = schemaOf(shapes.SIGNATURE);
export const MlKemKey = schemaOf(shapes.MLKEM_KEY);
export const Challenge = schemaOf(shapes.CHALLENGE);
export const Token = schemaOf(shapes.BEARER_TOKEN);
export const ChannelId = schemaOf(shapes.CHANNEL_ID);
export const MessageId = schemaOf(shapes.MESSAGE_ID);
export const DeviceList = schemaOf(shapes.DEVICE_LIST);
export const MessageBody = schemaOf(shapes.MESSAGE_BODY);
export const FileId = schemaOf(shapes.FILE_ID);
export const FileHeader = schemaOf(shapes.FILE_HEADER);
export const FileMeta = schemaOf(shapes.FILE_META);
export const FileVersionNumber = schemaOf(shapes.FILE_VERSION);
export const Revision = schemaOf(shapes.REVISION);
export const SealedEnvelope = schemaOf(shapes.PROVISIONING_ENVELOPE);

export const PrekeyUpload = schemaOf(shapes.PREKEY_UPLOAD);

export const MessageEnvelope = schemaOf(shapes.MESSAGE_ENVELOPE);

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
