/**
 * The shapes of the relay's JSON answers (docs/API.md), written once as plain data: the relay
 * builds its TypeBox schemas (and so its `/openapi.json`) from them (server/src/http/schemas.ts
 * `schemaOf`), and the SDK checks every answer against them (`wireFault`, client/src/api.ts).
 * No TypeBox here: a shape is a small object, the checker a few lines, so the browser bundle pays
 * for the shapes it uses and nothing else (../shared/reviews/structure-2026-12.md, change 1).
 *
 * What a check means: integers are safe integers within their bounds; texts are strings within
 * their lengths that match their pattern; bytes are canonical unpadded base64url (RFC 4648 §5)
 * whose decoded length is within bounds; lists are arrays of `minItems` … `maxItems` items
 * (distinct ones when `unique`: no two of the same JSON text); tuples are arrays of exactly their
 * items, each of its own shape; records are objects whose declared properties all pass (optional
 * ones may be absent). Properties a record does not declare are ignored (a newer relay may add
 * some; the relay's own schemas are closed).
 */
import { encodedLength, tryFromBase64url } from './base64url.js';
import {
  BACKUP_SECRET_BYTES,
  CHALLENGE_BYTES,
  CHANNEL_ID_BYTES,
  COLLECTION_ID_BYTES,
  DELETION_NONCE_BYTES,
  DELIVERY_TOKEN_BYTES,
  DEVICE_ID,
  DIGEST_BYTES,
  FILE_ID_BYTES,
  FILE_SEAL_BYTES,
  GROUP_ID_BYTES,
  KEY_BYTES,
  MAX_ACK_IDS,
  MAX_BACKUP_BYTES,
  MAX_CLAIM_DEVICES,
  MAX_COLLECTION_MEMBERS,
  MAX_COLLECTION_META_BYTES,
  MAX_DEVICE_LIST_BYTES,
  MAX_EPOCH,
  MAX_FETCH_MESSAGES,
  MAX_FILE_HEADER_BYTES,
  MAX_FILE_META_BYTES,
  MAX_FILE_PAGE,
  MAX_FILE_READERS,
  MAX_GROUP_INBOX,
  MAX_GROUP_MEMBERS,
  MAX_HANDSHAKE_BYTES,
  MAX_INDEX_POSITION,
  MAX_KEY_PACKAGE_BYTES,
  MAX_KEY_PACKAGES_PER_UPLOAD,
  MAX_MESSAGE_BYTES,
  MAX_POSTING_TOKEN,
  MAX_POSTINGS_PER_RECORD,
  MAX_PREKEY_BUNDLE_BYTES,
  MAX_PREKEYS_PER_UPLOAD,
  MAX_PROVISIONING_ENVELOPE_BYTES,
  MAX_QUERY_ALTERNATIVES,
  MAX_QUERY_POSTINGS,
  MAX_RECIPIENTS,
  MAX_RECORD_BYTES,
  MAX_RECORD_PAGE,
  MAX_ROTATION_BYTES,
  MESSAGE_ID_BYTES,
  OPAQUE_BYTES,
  PREKEY_ID,
  RECORD_ID_BYTES,
  TOKEN_BYTES,
  USER_NAME,
  WRAPPED_KEY_BYTES,
} from './bounds.js';

export interface IntShape {
  readonly kind: 'int';
  readonly min: number;
  /** Absent: any safe integer from `min` up. */
  readonly max?: number;
  readonly description?: string;
}
export interface TextShape {
  readonly kind: 'text';
  readonly minLength: number;
  readonly maxLength: number;
  readonly pattern: string;
  readonly description?: string;
}
/** Binary data as canonical unpadded base64url of `minBytes` … `maxBytes` bytes. */
export interface BytesShape {
  readonly kind: 'bytes';
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly description?: string;
}
export interface BoolShape {
  readonly kind: 'bool';
  readonly description?: string;
}
/** The literal `true` (a flag that is present or absent). */
export interface TrueShape {
  readonly kind: 'true';
  readonly description?: string;
}
/** One of a few fixed texts. */
export interface ChoiceShape<V extends string = string> {
  readonly kind: 'choice';
  readonly values: readonly V[];
  readonly description?: string;
}
export interface ListShape<I extends Shape = Shape> {
  readonly kind: 'list';
  readonly items: I;
  /** Absent: 0. */
  readonly minItems?: number;
  readonly maxItems?: number;
  /** No item twice (JSON Schema `uniqueItems`); items compared by their JSON text. */
  readonly unique?: boolean;
  readonly description?: string;
}
/** A fixed-length array whose items each have their own shape (`[index, token]`). */
export interface TupleShape<I extends readonly Shape[] = readonly Shape[]> {
  readonly kind: 'tuple';
  readonly items: I;
  readonly description?: string;
}
export interface NullableShape<I extends Shape = Shape> {
  readonly kind: 'nullable';
  readonly of: I;
}
/** A record property that may be absent. */
export interface OptionalShape<I extends Shape = Shape> {
  readonly kind: 'optional';
  readonly of: I;
}
export type Properties = { readonly [name: string]: Shape | OptionalShape };
export interface RecordShape<P extends Properties = Properties> {
  readonly kind: 'record';
  readonly props: P;
  readonly description?: string;
}
export type Shape = IntShape | TextShape | BytesShape | BoolShape | TrueShape | ChoiceShape | ListShape | TupleShape | NullableShape | RecordShape;

type OptionalKeys<P extends Properties> = { [K in keyof P]: P[K] extends OptionalShape ? K : never }[keyof P];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** The JSON value a shape describes (bytes as their base64url text). */
export type WireValue<S> = S extends IntShape
  ? number
  : S extends TextShape | BytesShape
    ? string
    : S extends BoolShape
      ? boolean
      : S extends TrueShape
        ? true
        : S extends ChoiceShape<infer V>
          ? V
          : S extends ListShape<infer I>
            ? WireValue<I>[]
            : S extends TupleShape<infer I>
              ? { -readonly [K in keyof I]: WireValue<I[K]> }
              : S extends NullableShape<infer I>
                ? WireValue<I> | null
                : S extends RecordShape<infer P>
                  ? Simplify<
                      { [K in Exclude<keyof P, OptionalKeys<P>>]: WireValue<P[K]> } & {
                        [K in OptionalKeys<P>]?: P[K] extends OptionalShape<infer I> ? WireValue<I> : never;
                      }
                    >
                  : unknown;

// (No descriptions: the relay adds them to its schemas; they would ride in every browser bundle.)
export const int = (min: number, max?: number): IntShape => (max === undefined ? { kind: 'int', min } : { kind: 'int', min, max });
export const text = (bounds: { minLength: number; maxLength: number; pattern: string }): TextShape => ({ kind: 'text', ...bounds });
export const bytes = (minBytes: number, maxBytes: number): BytesShape => ({ kind: 'bytes', minBytes, maxBytes });
export const bool = (): BoolShape => ({ kind: 'bool' });
export const flag = (): TrueShape => ({ kind: 'true' });
export const choice = <const V extends string>(values: readonly V[]): ChoiceShape<V> => ({ kind: 'choice', values });
/** A list of at most `maxItems` (absent: any number) and at least `minItems` (absent: 0) items. */
export const list = <I extends Shape>(items: I, maxItems?: number, minItems?: number): ListShape<I> => ({
  kind: 'list',
  items,
  ...(minItems === undefined ? {} : { minItems }),
  ...(maxItems === undefined ? {} : { maxItems }),
});
/** A list of distinct items (no item twice), at most `maxItems`. */
export const uniqueList = <I extends Shape>(items: I, maxItems?: number): ListShape<I> => ({ ...list(items, maxItems), unique: true });
export const tuple = <const I extends readonly Shape[]>(...items: I): TupleShape<I> => ({ kind: 'tuple', items });
export const nullable = <I extends Shape>(of: I): NullableShape<I> => ({ kind: 'nullable', of });
export const optional = <I extends Shape>(of: I): OptionalShape<I> => ({ kind: 'optional', of });
export const record = <P extends Properties>(props: P): RecordShape<P> => ({ kind: 'record', props });

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Where `value` breaks `shape`: the path of the first faulty field (`messages.3.from`; '' for the
 * value itself), or undefined when it conforms. Never throws; never quotes the value.
 */
export function wireFault(shape: Shape, value: unknown, path = ''): string | undefined {
  const here = path || '(value)';
  switch (shape.kind) {
    case 'int':
      return Number.isSafeInteger(value) && (value as number) >= shape.min && (shape.max === undefined || (value as number) <= shape.max) ? undefined : here;
    case 'text':
      return typeof value === 'string' && value.length >= shape.minLength && value.length <= shape.maxLength && new RegExp(shape.pattern).test(value)
        ? undefined
        : here;
    case 'bytes':
      return decodeBytes(shape, value) ? undefined : here;
    case 'bool':
      return typeof value === 'boolean' ? undefined : here;
    case 'true':
      return value === true ? undefined : here;
    case 'choice':
      return typeof value === 'string' && shape.values.includes(value) ? undefined : here;
    case 'nullable':
      return value === null ? undefined : wireFault(shape.of, value, path);
    case 'list': {
      if (!Array.isArray(value) || value.length < (shape.minItems ?? 0) || (shape.maxItems !== undefined && value.length > shape.maxItems)) return here;
      if (shape.unique && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) return here;
      for (let i = 0; i < value.length; i++) {
        const fault = wireFault(shape.items, value[i], path ? `${path}.${i}` : String(i));
        if (fault !== undefined) return fault;
      }
      return undefined;
    }
    case 'tuple': {
      if (!Array.isArray(value) || value.length !== shape.items.length) return here;
      for (let i = 0; i < value.length; i++) {
        const fault = wireFault(shape.items[i] as Shape, value[i], path ? `${path}.${i}` : String(i));
        if (fault !== undefined) return fault;
      }
      return undefined;
    }
    case 'record': {
      if (!isRecord(value)) return here;
      for (const [name, prop] of Object.entries(shape.props)) {
        const v = value[name];
        const at = path ? `${path}.${name}` : name;
        const fault = prop.kind === 'optional' ? (v === undefined ? undefined : wireFault(prop.of, v, at)) : wireFault(prop, v, at);
        if (fault !== undefined) return fault;
      }
      return undefined;
    }
  }
}

/** The bytes of a base64url field, or undefined when it is not canonical base64url of `minBytes` … `maxBytes` bytes. */
export function decodeBytes(shape: BytesShape, value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string' || value.length > encodedLength(shape.maxBytes)) return undefined;
  const decoded = tryFromBase64url(value);
  return decoded && decoded.length >= shape.minBytes && decoded.length <= shape.maxBytes ? decoded : undefined;
}

/** Whether `value` conforms to `shape` (a type guard: the SDK reads the fields without casts). */
export const conforms = <S extends Shape>(shape: S, value: unknown): value is WireValue<S> => wireFault(shape, value) === undefined;

// The fields the relay's routes share (docs/API.md "Conventions"). No descriptions here (they would
// ride in every browser bundle): the relay adds them to its schemas (server/src/http/schemas.ts).
export const USER = /* @__PURE__ */ text(USER_NAME);
export const DEVICE = /* @__PURE__ */ int(DEVICE_ID.min, DEVICE_ID.max);
export const PREKEY = /* @__PURE__ */ int(PREKEY_ID.min, PREKEY_ID.max);
export const MILLIS = /* @__PURE__ */ int(0);
export const COUNT = /* @__PURE__ */ int(0);
export const ED25519_KEY = /* @__PURE__ */ bytes(KEY_BYTES.ed25519, KEY_BYTES.ed25519);
export const X25519_KEY = /* @__PURE__ */ bytes(KEY_BYTES.x25519, KEY_BYTES.x25519);
export const SIGNATURE = /* @__PURE__ */ bytes(KEY_BYTES.signature, KEY_BYTES.signature);
export const MLKEM_KEY = /* @__PURE__ */ bytes(KEY_BYTES.mlkem768, KEY_BYTES.mlkem768);
export const MESSAGE_ID = /* @__PURE__ */ bytes(MESSAGE_ID_BYTES, MESSAGE_ID_BYTES);
export const FILE_ID = /* @__PURE__ */ bytes(FILE_ID_BYTES, FILE_ID_BYTES);
export const MESSAGE_BODY = /* @__PURE__ */ bytes(1, MAX_MESSAGE_BYTES);
export const DEVICE_LIST = /* @__PURE__ */ bytes(1, MAX_DEVICE_LIST_BYTES);
export const ROTATION = /* @__PURE__ */ bytes(1, MAX_ROTATION_BYTES);
export const FILE_HEADER = /* @__PURE__ */ bytes(1, MAX_FILE_HEADER_BYTES);
export const FILE_META = /* @__PURE__ */ bytes(1, MAX_FILE_META_BYTES);
export const FILE_VERSION = /* @__PURE__ */ int(1, Number.MAX_SAFE_INTEGER);
export const REVISION = /* @__PURE__ */ int(1, Number.MAX_SAFE_INTEGER);
export const SEALED_FLAG = /* @__PURE__ */ flag();
export const PREKEY_BUNDLE = /* @__PURE__ */ bytes(1, MAX_PREKEY_BUNDLE_BYTES);
export const FILE_READERS = /* @__PURE__ */ list(USER, MAX_FILE_READERS);
export const FILE_SEAL = /* @__PURE__ */ bytes(FILE_SEAL_BYTES, FILE_SEAL_BYTES);
export const CURRENT_HEADER = /* @__PURE__ */ bytes(1, MAX_FILE_HEADER_BYTES);
export const CURRENT_META = /* @__PURE__ */ bytes(1, MAX_FILE_META_BYTES);
export const PENDING_HEADER = /* @__PURE__ */ bytes(1, MAX_FILE_HEADER_BYTES);
export const PENDING_META = /* @__PURE__ */ bytes(1, MAX_FILE_META_BYTES);
export const SEND_MARK_VALUE = /* @__PURE__ */ int(0, Number.MAX_SAFE_INTEGER);
const BYTE_COUNT = /* @__PURE__ */ int(0, Number.MAX_SAFE_INTEGER);

/** GET /v1/messages, each message (docs/API.md §5; a sealed one, §11, names no sender). */
export const MESSAGE_ENVELOPE = /* @__PURE__ */ record({
  id: MESSAGE_ID,
  from: optional(USER),
  fromDevice: optional(DEVICE),
  sealed: optional(SEALED_FLAG),
  body: MESSAGE_BODY,
  sentAt: MILLIS,
});
/** POST /v1/messages and POST /v1/sealed/messages: the ids given to the stored envelopes. */
export const SEND_RESULT = /* @__PURE__ */ record({ ids: list(MESSAGE_ID), sentAt: MILLIS });

/** GET /v1/users/:user (docs/API.md §4), and the sealed directory lookup (§11). */
export const USER_KEYS = /* @__PURE__ */ record({ user: USER, masterKey: ED25519_KEY, deviceList: DEVICE_LIST, rotation: optional(ROTATION) });

/** POST /v1/users/:user/bundles (docs/API.md §3). */
export const PREKEY_BUNDLES = /* @__PURE__ */ record({
  user: USER,
  deviceListVersion: int(1),
  bundles: list(record({ deviceId: DEVICE, bundle: PREKEY_BUNDLE })),
  unavailable: list(DEVICE),
});
/** GET /v1/prekeys/status (docs/API.md §3). */
export const PREKEY_STATUS = /* @__PURE__ */ record({
  oneTimePreKeys: COUNT,
  pqPreKeys: COUNT,
  signedPreKeyId: nullable(PREKEY),
  lastResortPqPreKeyId: nullable(PREKEY),
});

/** The replacement version being uploaded (owner only). */
export const PENDING_VERSION = /* @__PURE__ */ record({
  version: FILE_VERSION,
  payloadSize: BYTE_COUNT,
  received: BYTE_COUNT,
  header: PENDING_HEADER,
  meta: PENDING_META,
});
/** A file as the relay describes it (docs/API.md §8): GET /v1/files/:id and each of GET /v1/files. */
export const FILE_INFO = /* @__PURE__ */ record({
  id: FILE_ID,
  owner: USER,
  readers: FILE_READERS,
  revision: REVISION,
  version: FILE_VERSION,
  header: CURRENT_HEADER,
  meta: CURRENT_META,
  payloadSize: BYTE_COUNT,
  received: BYTE_COUNT,
  complete: bool(),
  seal: optional(FILE_SEAL),
  createdAt: MILLIS,
  updatedAt: MILLIS,
  pending: optional(PENDING_VERSION),
});
/** GET /v1/files: one page of files. */
export const FILE_PAGE = /* @__PURE__ */ record({ files: list(FILE_INFO, MAX_FILE_PAGE), next: nullable(FILE_ID) });
/** GET /v1/messages: at most `limit` (≤ 500) messages. */
export const MESSAGE_PAGE = /* @__PURE__ */ record({ messages: list(MESSAGE_ENVELOPE, MAX_FETCH_MESSAGES) });
/** GET /v1/send-mark (docs/API.md §5a). */
export const SEND_MARK = /* @__PURE__ */ record({ mark: SEND_MARK_VALUE, signature: nullable(SIGNATURE) });
/** POST /v1/files (201): the new file. */
export const FILE_CREATED = /* @__PURE__ */ record({ id: FILE_ID, version: FILE_VERSION, revision: REVISION });
/** POST /v1/files/:id/versions (201): the new version. */
export const FILE_VERSION_CREATED = /* @__PURE__ */ record({ version: FILE_VERSION, revision: REVISION });
/** PUT /v1/files/:id/header: the file's new revision. */
export const FILE_REVISED = /* @__PURE__ */ record({ revision: REVISION });
/** PUT …/payload: what the relay holds of the version now. */
export const PAYLOAD_PROGRESS = /* @__PURE__ */ record({ received: int(0), complete: bool() });

// ---- accounts, authentication, provisioning (docs/API.md §1, §1a, §2, §7) ----------------------
export const CHALLENGE = /* @__PURE__ */ bytes(CHALLENGE_BYTES, CHALLENGE_BYTES);
export const BEARER_TOKEN = /* @__PURE__ */ bytes(TOKEN_BYTES, TOKEN_BYTES);
export const CHANNEL_ID = /* @__PURE__ */ bytes(CHANNEL_ID_BYTES, CHANNEL_ID_BYTES);
export const PROVISIONING_ENVELOPE = /* @__PURE__ */ bytes(1, MAX_PROVISIONING_ENVELOPE_BYTES);
export const DELETION_NONCE = /* @__PURE__ */ bytes(DELETION_NONCE_BYTES, DELETION_NONCE_BYTES);
export const DEVICE_LIST_DIGEST = /* @__PURE__ */ bytes(DIGEST_BYTES, DIGEST_BYTES);

/** POST /v1/accounts (201): the new account and its first device. */
export const ACCOUNT_CREATED = /* @__PURE__ */ record({ user: USER, deviceId: DEVICE });
/** POST /v1/auth/challenge: the challenge to sign, and until when it may be answered. */
export const AUTH_CHALLENGE = /* @__PURE__ */ record({ challenge: CHALLENGE, expiresAt: MILLIS });
/** POST /v1/auth/token: the bearer token, and until when it is good. */
export const AUTH_TOKEN = /* @__PURE__ */ record({ token: BEARER_TOKEN, expiresAt: MILLIS });
/** POST /v1/provisioning: the new channel, and until when it is open. */
export const CHANNEL = /* @__PURE__ */ record({ channelId: CHANNEL_ID, expiresAt: MILLIS });
/** GET /v1/provisioning/:channelId (200): the sealed envelope posted to the channel. */
export const CHANNEL_ENVELOPE = /* @__PURE__ */ record({ envelope: PROVISIONING_ENVELOPE });

// ---- request bodies: the relay's body schemas are built from these, the SDK's bodies typed by them
// (`WireValue<typeof shapes.X>`; types only on the SDK side, so none of these ride in the browser bundle).

/** POST /v1/auth/challenge. */
export const CHALLENGE_REQUEST = /* @__PURE__ */ record({ user: USER, deviceId: DEVICE });
/** POST /v1/auth/token: the challenge signed with the device key (PROTOCOL.md §2). */
export const TOKEN_REQUEST = /* @__PURE__ */ record({ user: USER, deviceId: DEVICE, challenge: CHALLENGE, signature: SIGNATURE });
/** POST /v1/accounts/deletion: the master key's deletion statement (PROTOCOL.md §17). */
export const ACCOUNT_DELETION_REQUEST = /* @__PURE__ */ record({
  timestamp: MILLIS,
  nonce: DELETION_NONCE,
  listDigest: DEVICE_LIST_DIGEST,
  signature: SIGNATURE,
});
/** POST /v1/provisioning: empty, or the user to join. */
export const CHANNEL_REQUEST = /* @__PURE__ */ record({ user: optional(USER) });
/** PUT /v1/provisioning/:channelId. */
export const CHANNEL_PUT_REQUEST = /* @__PURE__ */ record({ envelope: PROVISIONING_ENVELOPE });

// ---- backups (docs/API.md §9) -------------------------------------------------------------------
export const BACKUP_KIND = /* @__PURE__ */ choice(['code', 'passphrase']);
export const BACKUP_BLOB = /* @__PURE__ */ bytes(1, MAX_BACKUP_BYTES);
export const WRAPPED_BACKUP_KEY = /* @__PURE__ */ bytes(WRAPPED_KEY_BYTES, WRAPPED_KEY_BYTES);
export const BACKUP_GENERATION = /* @__PURE__ */ int(1, Number.MAX_SAFE_INTEGER);
export const ACCESS_SECRET = /* @__PURE__ */ bytes(BACKUP_SECRET_BYTES, BACKUP_SECRET_BYTES);
export const ACCESS_SECRET_HASH = /* @__PURE__ */ bytes(BACKUP_SECRET_BYTES, BACKUP_SECRET_BYTES);
export const EXPECTED_GENERATION = /* @__PURE__ */ int(0, Number.MAX_SAFE_INTEGER);
export const OPAQUE_LOGIN_ID = /* @__PURE__ */ bytes(BACKUP_SECRET_BYTES, BACKUP_SECRET_BYTES);
export const OPAQUE_REGISTRATION_REQUEST = /* @__PURE__ */ bytes(OPAQUE_BYTES.registrationRequest, OPAQUE_BYTES.registrationRequest);
export const OPAQUE_REGISTRATION_RESPONSE = /* @__PURE__ */ bytes(OPAQUE_BYTES.registrationResponse, OPAQUE_BYTES.registrationResponse);
export const OPAQUE_REGISTRATION_RECORD = /* @__PURE__ */ bytes(OPAQUE_BYTES.registrationRecord, OPAQUE_BYTES.registrationRecord);
export const OPAQUE_KE1 = /* @__PURE__ */ bytes(OPAQUE_BYTES.ke1, OPAQUE_BYTES.ke1);
export const OPAQUE_KE2 = /* @__PURE__ */ bytes(OPAQUE_BYTES.ke2, OPAQUE_BYTES.ke2);
export const OPAQUE_KE3 = /* @__PURE__ */ bytes(OPAQUE_BYTES.ke3, OPAQUE_BYTES.ke3);

/** GET /v1/backup: the caller's backup, without its contents. */
export const BACKUP_STATUS = /* @__PURE__ */ record({
  kind: BACKUP_KIND,
  generation: BACKUP_GENERATION,
  size: int(0),
  updatedAt: MILLIS,
  failedAttempts: int(0),
  maxAttempts: int(1),
  locked: bool(),
});
/** POST /v1/backups/:user/code and …/login/finish: the backup, released once the secret is proved. */
export const BACKUP_RELEASED = /* @__PURE__ */ record({
  kind: BACKUP_KIND,
  wrappedKey: WRAPPED_BACKUP_KEY,
  blob: BACKUP_BLOB,
  generation: BACKUP_GENERATION,
  masterKey: ED25519_KEY,
  deviceList: DEVICE_LIST,
});
/** PUT /v1/backup and PUT /v1/backup/blob: the backup's new generation. */
export const BACKUP_STORED = /* @__PURE__ */ record({ generation: BACKUP_GENERATION });
/** POST /v1/backup/registration (RFC 9807 §5.2). */
export const OPAQUE_REGISTRATION = /* @__PURE__ */ record({ registrationResponse: OPAQUE_REGISTRATION_RESPONSE });
/** POST /v1/backups/:user/login (RFC 9807 §6): KE2, and the id to finish with. */
export const OPAQUE_LOGIN = /* @__PURE__ */ record({ loginId: OPAQUE_LOGIN_ID, loginResponse: OPAQUE_KE2 });

/** PUT /v1/backup: a code backup carries `codeHash`, a passphrase backup its OPAQUE `registrationRecord`. */
export const BACKUP_PUT_REQUEST = /* @__PURE__ */ record({
  kind: BACKUP_KIND,
  wrappedKey: WRAPPED_BACKUP_KEY,
  codeHash: optional(ACCESS_SECRET_HASH),
  registrationRecord: optional(OPAQUE_REGISTRATION_RECORD),
  blob: BACKUP_BLOB,
  expectedGeneration: optional(EXPECTED_GENERATION),
});
/** PUT /v1/backup/blob: compare-and-set on the generation. */
export const BACKUP_BLOB_REQUEST = /* @__PURE__ */ record({ blob: BACKUP_BLOB, expectedGeneration: BACKUP_GENERATION });
/** POST /v1/backups/:user/code. */
export const BACKUP_CODE_REQUEST = /* @__PURE__ */ record({ accessSecret: ACCESS_SECRET });
/** POST /v1/backup/registration. */
export const OPAQUE_REGISTRATION_START = /* @__PURE__ */ record({ registrationRequest: OPAQUE_REGISTRATION_REQUEST });
/** POST /v1/backups/:user/login. */
export const OPAQUE_LOGIN_START = /* @__PURE__ */ record({ startLoginRequest: OPAQUE_KE1 });
/** POST /v1/backups/:user/login/finish. */
export const OPAQUE_LOGIN_FINISH = /* @__PURE__ */ record({ loginId: OPAQUE_LOGIN_ID, finishLoginRequest: OPAQUE_KE3 });

// ---- collections and records (docs/API.md §10) -------------------------------------------------
export const COLLECTION_ID = /* @__PURE__ */ bytes(COLLECTION_ID_BYTES, COLLECTION_ID_BYTES);
export const RECORD_ID = /* @__PURE__ */ bytes(RECORD_ID_BYTES, RECORD_ID_BYTES);
export const EPOCH = /* @__PURE__ */ int(0, MAX_EPOCH);
export const COLLECTION_REVISION = /* @__PURE__ */ int(1, Number.MAX_SAFE_INTEGER);
export const COLLECTION_META = /* @__PURE__ */ bytes(1, MAX_COLLECTION_META_BYTES);
export const SEALED_RECORD = /* @__PURE__ */ bytes(1, MAX_RECORD_BYTES);
export const COLLECTION_MEMBERS = /* @__PURE__ */ list(USER, MAX_COLLECTION_MEMBERS);
export const MEMBER_ADD = /* @__PURE__ */ bool();

/** GET /v1/collections/:id and each of GET /v1/collections. */
export const COLLECTION_INFO = /* @__PURE__ */ record({
  id: COLLECTION_ID,
  owner: USER,
  members: COLLECTION_MEMBERS,
  epoch: EPOCH,
  revision: COLLECTION_REVISION,
  meta: COLLECTION_META,
  recordCount: COUNT,
  createdAt: MILLIS,
  updatedAt: MILLIS,
});
/** GET /v1/collections. */
export const COLLECTION_LIST = /* @__PURE__ */ record({ collections: list(COLLECTION_INFO) });
/** POST /v1/collections (201). */
export const COLLECTION_CREATED = /* @__PURE__ */ record({ id: COLLECTION_ID, revision: COLLECTION_REVISION });
/** PUT /v1/collections/:id and POST …/members: the collection's new revision. */
export const COLLECTION_REVISED = /* @__PURE__ */ record({ revision: COLLECTION_REVISION });
/** PUT …/records/:record. */
export const RECORD_STORED = /* @__PURE__ */ record({ created: bool() });
/** GET …/records/:record, and each record of a page. */
export const SEALED_RECORD_INFO = /* @__PURE__ */ record({ id: RECORD_ID, epoch: EPOCH, body: SEALED_RECORD, updatedAt: MILLIS });
/** GET …/records and POST …/query: one page, and where the next starts. */
export const RECORD_PAGE = /* @__PURE__ */ record({ records: list(SEALED_RECORD_INFO, MAX_RECORD_PAGE), next: nullable(RECORD_ID) });

/** POST /v1/collections. */
export const COLLECTION_CREATE_REQUEST = /* @__PURE__ */ record({
  id: COLLECTION_ID,
  epoch: optional(EPOCH),
  meta: COLLECTION_META,
  members: optional(COLLECTION_MEMBERS),
});
/** PUT /v1/collections/:id (compare-and-set on the revision). */
export const COLLECTION_UPDATE_REQUEST = /* @__PURE__ */ record({ expectedRevision: COLLECTION_REVISION, epoch: EPOCH, meta: COLLECTION_META });
/** POST /v1/collections/:id/members. */
export const COLLECTION_MEMBER_REQUEST = /* @__PURE__ */ record({ expectedRevision: COLLECTION_REVISION, user: USER, add: MEMBER_ADD });

// ---- MLS groups (docs/API.md §13) --------------------------------------------------------------
export const GROUP_ID = /* @__PURE__ */ bytes(GROUP_ID_BYTES, GROUP_ID_BYTES);
export const KEY_PACKAGE = /* @__PURE__ */ bytes(1, MAX_KEY_PACKAGE_BYTES);
export const GROUP_EPOCH = /* @__PURE__ */ int(0);
export const WRITTEN_EPOCH = /* @__PURE__ */ int(0);
export const INBOX_SEQ = /* @__PURE__ */ int(0, Number.MAX_SAFE_INTEGER);
export const GROUP_ITEM_KIND = /* @__PURE__ */ choice(['application', 'proposal', 'commit', 'welcome']);
/** An inbox item: an application message or proposal (≤ the message limit) or a commit or Welcome (≤ the handshake limit). */
export const GROUP_ITEM_MESSAGE = /* @__PURE__ */ bytes(1, MAX_HANDSHAKE_BYTES);
export const GROUP_COMMIT = /* @__PURE__ */ bytes(1, MAX_HANDSHAKE_BYTES);
export const GROUP_WELCOME = /* @__PURE__ */ bytes(1, MAX_HANDSHAKE_BYTES);
export const GROUP_APPLICATION = /* @__PURE__ */ bytes(1, MAX_MESSAGE_BYTES);
export const LEAVE_FLAG = /* @__PURE__ */ bool();
export const GROUP_DEVICE = /* @__PURE__ */ record({ user: USER, deviceId: DEVICE });
export const GROUP_DEVICES = /* @__PURE__ */ list(GROUP_DEVICE, MAX_GROUP_MEMBERS);

/** GET /v1/groups/:id, POST /v1/groups (201) and each of GET /v1/groups. */
export const GROUP_INFO = /* @__PURE__ */ record({ id: GROUP_ID, epoch: GROUP_EPOCH, members: GROUP_DEVICES });
/** GET /v1/groups. */
export const GROUP_LIST = /* @__PURE__ */ record({ groups: list(GROUP_INFO) });
/** PUT /v1/groups/key-packages: the one-time KeyPackages the relay holds for this device. */
export const KEY_PACKAGES_HELD = /* @__PURE__ */ record({ oneTime: COUNT });
/** POST /v1/groups/key-packages/claim. */
export const KEY_PACKAGES_CLAIMED = /* @__PURE__ */ record({ keyPackages: list(record({ deviceId: DEVICE, keyPackage: KEY_PACKAGE })) });
/** POST …/commits and …/messages: the group epoch after the write. */
export const GROUP_WRITTEN = /* @__PURE__ */ record({ epoch: WRITTEN_EPOCH });
/** GET /v1/groups/inbox. */
export const GROUP_INBOX = /* @__PURE__ */ record({
  messages: list(
    record({ seq: INBOX_SEQ, group: GROUP_ID, kind: GROUP_ITEM_KIND, epoch: GROUP_EPOCH, message: GROUP_ITEM_MESSAGE, sentAt: MILLIS }),
    MAX_GROUP_INBOX,
  ),
});

/** PUT /v1/groups/key-packages. */
export const KEY_PACKAGES_REQUEST = /* @__PURE__ */ record({ keyPackages: list(KEY_PACKAGE, MAX_KEY_PACKAGES_PER_UPLOAD), lastResort: optional(KEY_PACKAGE) });
/** POST /v1/groups/key-packages/claim. */
export const CLAIM_REQUEST = /* @__PURE__ */ record({ user: USER, devices: optional(list(DEVICE, MAX_CLAIM_DEVICES)) });
/** POST /v1/groups. */
export const GROUP_CREATE_REQUEST = /* @__PURE__ */ record({ id: GROUP_ID });
/** POST /v1/groups/:id/commits (RFC 9420 §12.4). */
export const COMMIT_REQUEST = /* @__PURE__ */ record({ commit: GROUP_COMMIT, welcome: optional(GROUP_WELCOME), members: GROUP_DEVICES, added: GROUP_DEVICES });
/** POST /v1/groups/:id/messages. */
export const GROUP_MESSAGE_REQUEST = /* @__PURE__ */ record({ message: GROUP_APPLICATION, leave: optional(LEAVE_FLAG) });
/** POST /v1/groups/inbox/ack. */
export const INBOX_ACK_REQUEST = /* @__PURE__ */ record({ upTo: INBOX_SEQ });

// ---- file request bodies (docs/API.md §8) -------------------------------------------------------
/** The id a client chooses for its new file (the owner signs it, PROTOCOL.md §15.3). */
export const NEW_FILE_ID = /* @__PURE__ */ bytes(FILE_ID_BYTES, FILE_ID_BYTES);
/** An age payload: the 16-byte nonce and the STREAM chunks. */
export const PAYLOAD_SIZE = /* @__PURE__ */ int(16, Number.MAX_SAFE_INTEGER);
/** POST /v1/files. */
export const FILE_CREATE_REQUEST = /* @__PURE__ */ record({
  id: optional(NEW_FILE_ID),
  header: FILE_HEADER,
  meta: FILE_META,
  payloadSize: PAYLOAD_SIZE,
  readers: FILE_READERS,
});
/** PUT /v1/files/:id/header (signed, compare-and-set on the revision). */
export const FILE_HEADER_REQUEST = /* @__PURE__ */ record({
  expectedRevision: REVISION,
  header: FILE_HEADER,
  meta: optional(FILE_META),
  readers: optional(FILE_READERS),
});
/** POST /v1/files/:id/versions (signed). */
export const FILE_VERSION_REQUEST = /* @__PURE__ */ record({
  expectedRevision: REVISION,
  header: FILE_HEADER,
  meta: FILE_META,
  payloadSize: PAYLOAD_SIZE,
  readers: FILE_READERS,
});

// ---- accounts, directory, prekeys (docs/API.md §1, §3) -----------------------------------------
/** A signed X25519 prekey (PROTOCOL.md §3: the signature by the device key). */
export const SIGNED_PREKEY = /* @__PURE__ */ record({ id: PREKEY, publicKey: X25519_KEY, signature: SIGNATURE });
export const ONE_TIME_PREKEY = /* @__PURE__ */ record({ id: PREKEY, publicKey: X25519_KEY });
/** A signed ML-KEM-768 prekey (one-time or last resort). */
export const PQ_PREKEY = /* @__PURE__ */ record({ id: PREKEY, publicKey: MLKEM_KEY, signature: SIGNATURE });
/** POST /v1/prekeys, and the prekeys of a new account or device: each part optional. */
export const PREKEY_UPLOAD = /* @__PURE__ */ record({
  signedPreKey: optional(SIGNED_PREKEY),
  oneTimePreKeys: optional(list(ONE_TIME_PREKEY, MAX_PREKEYS_PER_UPLOAD)),
  pqPreKeys: optional(list(PQ_PREKEY, MAX_PREKEYS_PER_UPLOAD)),
  lastResortPqPreKey: optional(PQ_PREKEY),
});
/** POST /v1/accounts: the user, its master key and a signed list of exactly one device. */
export const ACCOUNT_REQUEST = /* @__PURE__ */ record({ user: USER, masterKey: ED25519_KEY, deviceList: DEVICE_LIST, prekeys: optional(PREKEY_UPLOAD) });
/** The device a new list adds, with its first prekeys. */
export const NEW_DEVICE = /* @__PURE__ */ record({ deviceId: DEVICE, prekeys: PREKEY_UPLOAD });
/** PUT /v1/users/:user/device-list (under a new master key, with the rotation statement: PROTOCOL.md §16.4). */
export const DEVICE_LIST_REQUEST = /* @__PURE__ */ record({ deviceList: DEVICE_LIST, newDevice: optional(NEW_DEVICE), rotation: optional(ROTATION) });
/** The devices whose bundles to fetch: distinct, at most one send's worth. */
export const BUNDLE_DEVICES = /* @__PURE__ */ uniqueList(DEVICE, MAX_RECIPIENTS);
/** POST /v1/users/:user/bundles: absent `deviceIds`, every current device (but the requester). */
export const PREKEY_BUNDLES_REQUEST = /* @__PURE__ */ record({ deviceIds: optional(BUNDLE_DEVICES) });

// ---- message sends (docs/API.md §5, §5a, §11) --------------------------------------------------
/** A send mark and the device's signature over it (docs/API.md §5a, PROTOCOL.md send-mark). */
export const NEXT_SEND_MARK = /* @__PURE__ */ int(1, Number.MAX_SAFE_INTEGER);
export const SEND_MARK_STAMP = /* @__PURE__ */ record({ value: NEXT_SEND_MARK, signature: SIGNATURE });
/** One ciphertext for one recipient device. */
export const DEVICE_CIPHERTEXT = /* @__PURE__ */ record({ deviceId: DEVICE, body: MESSAGE_BODY });
export const DEVICE_CIPHERTEXTS = /* @__PURE__ */ list(DEVICE_CIPHERTEXT, MAX_RECIPIENTS);
/** POST /v1/messages. */
export const MESSAGE_SEND_REQUEST = /* @__PURE__ */ record({ to: USER, messages: DEVICE_CIPHERTEXTS, sendMark: optional(SEND_MARK_STAMP) });
export const DELIVERY_TOKEN = /* @__PURE__ */ bytes(DELIVERY_TOKEN_BYTES, DELIVERY_TOKEN_BYTES);
/** One sealed envelope, with the recipient device's delivery token. */
export const SEALED_CIPHERTEXT = /* @__PURE__ */ record({ deviceId: DEVICE, token: DELIVERY_TOKEN, body: MESSAGE_BODY });
export const SEALED_CIPHERTEXTS = /* @__PURE__ */ list(SEALED_CIPHERTEXT, MAX_RECIPIENTS, 1);
/** POST /v1/sealed/messages (not authenticated: nothing of the sender). */
export const SEALED_SEND_REQUEST = /* @__PURE__ */ record({ to: USER, messages: SEALED_CIPHERTEXTS });
/** The ids of queued messages of this device to delete. */
export const ACKED_IDS = /* @__PURE__ */ list(MESSAGE_ID, MAX_ACK_IDS);
/** POST /v1/messages/ack (signed, docs/API.md §2a); a WebSocket `ack` frame carries the same `ids` (§6). */
export const MESSAGE_ACK_REQUEST = /* @__PURE__ */ record({ ids: ACKED_IDS });
/** The verifier of a delivery token: SHA-256 of its domain-separated token (PROTOCOL.md §20). */
export const DELIVERY_TOKEN_VERIFIER = /* @__PURE__ */ bytes(DIGEST_BYTES, DIGEST_BYTES);
export const DELIVERY_TOKEN_MODE = /* @__PURE__ */ choice(['rotate', 'revoke']);
/** PUT /v1/sealed/token (signed, docs/API.md §2a, §11). */
export const DELIVERY_TOKEN_REQUEST = /* @__PURE__ */ record({ verifier: DELIVERY_TOKEN_VERIFIER, mode: DELIVERY_TOKEN_MODE });
/** The delivery token a sealed directory lookup shows (one of the looked-up user's devices'). */
export const HELD_DELIVERY_TOKEN = /* @__PURE__ */ bytes(DELIVERY_TOKEN_BYTES, DELIVERY_TOKEN_BYTES);
/** POST /v1/sealed/directory (not authenticated: the token authorises the lookup, docs/API.md §11). */
export const SEALED_DIRECTORY_REQUEST = /* @__PURE__ */ record({ user: USER, deviceId: DEVICE, token: HELD_DELIVERY_TOKEN });

// ---- record write and query bodies (docs/API.md §10, PROTOCOL.md §19.3) ------------------------
export const INDEX_POSITION = /* @__PURE__ */ int(0, MAX_INDEX_POSITION);
export const POSTING_TOKEN = /* @__PURE__ */ int(0, MAX_POSTING_TOKEN);
/** A blind-index posting: `[index position, truncated token]`. */
export const POSTING = /* @__PURE__ */ tuple(INDEX_POSITION, POSTING_TOKEN);
export const RECORD_POSTINGS = /* @__PURE__ */ list(POSTING, MAX_POSTINGS_PER_RECORD);
/** PUT /v1/collections/:id/records/:record. */
export const RECORD_PUT_REQUEST = /* @__PURE__ */ record({ epoch: EPOCH, body: SEALED_RECORD, postings: RECORD_POSTINGS });
/** An AND of postings. */
export const QUERY_ALTERNATIVE = /* @__PURE__ */ list(POSTING, MAX_QUERY_POSTINGS, 1);
/** An OR of alternatives (one per key epoch). */
export const QUERY_ALTERNATIVES = /* @__PURE__ */ list(QUERY_ALTERNATIVE, MAX_QUERY_ALTERNATIVES, 1);
/** Most records to answer. */
export const RECORD_QUERY_LIMIT = /* @__PURE__ */ int(1, MAX_RECORD_PAGE);
/** POST /v1/collections/:id/query. */
export const RECORD_QUERY_REQUEST = /* @__PURE__ */ record({ any: QUERY_ALTERNATIVES, after: optional(RECORD_ID), limit: optional(RECORD_QUERY_LIMIT) });
