/**
 * The profile store: everything one device keeps (packages/client/README.md, "Profile store").
 *
 *   profile.json   header (always plain JSON): format version, creation time, and, when a
 *                  passphrase is set, the Argon2id parameters, salt and key check value (vault.ts)
 *   account        user, device id and name, server URLs, master seed (primary only), device keys, certificate
 *   prekeys        private prekey records: signed X25519, one-time X25519, one-time + last-resort ML-KEM
 *   contacts       per user: pinned master key, verified flag, newest verified device list, a
 *                  pending key change
 *   tokens         relay bearer tokens per server URL (a cache; losing it costs one login)
 *   recent         the inbox (decrypted messages not yet handed to the application) and the newest
 *                  seen digests (ciphertexts, message ids: dedup), with the id of `seen`
 *   seen           older seen digests (rewritten once every LIMITS.seenHot new digests, not per message)
 *   sessions       index: peer device (`user/deviceId`) → slot of its session record
 *   session-N      one peer device's sessions (serializeSession; the current one + a few previous)
 *   basekeys       digests of PQXDH base keys of sessions this device accepted, per prekey pair (replay defence)
 *   parked         messages from a changed key or an unlisted device, kept to retry once resolved
 *   sendmark       this device's send mark: + 1 before every send, written ahead of it (send-mark.ts)
 *   backup         the encrypted key backup this device keeps up to date (backup/backup.ts): the
 *                  random backup key, the relay's generation, and file keys recovered from a backup
 * Each record is a file `NAME.json` (plain JSON), `NAME.dat` (plain binary) or `NAME.bin` (sealed);
 * the encodings are in profile-codec.ts. Changes happen in transactions under the profile lock
 * (`transact`), so several processes can share a profile safely.
 *
 * Cache: decoded records are kept in memory with the exact bytes they were decoded from (or
 * written as). A transaction still reads every record it uses from storage, under the lock, and
 * reuses the decoded copy only if the bytes are identical, so a change by another process (or
 * another Profile on the same storage) is always seen. `seen` is the exception: its bytes are not
 * re-read when `recent` names the cached copy's random id (a new id is drawn on every write).
 * A transaction that throws drops every cached record it touched, since it may have changed them in
 * place without writing them.
 */
import type { Primitives } from '@blindrelay/protocol';
import { equal, fromUtf8, utf8 } from '@blindrelay/protocol';
import { fromBase64url, toBase64url } from './base64url.js';
import { InvalidArgumentError, NoProfileError, PassphraseRequiredError, PassphraseUnexpectedError, ProfileCorruptError } from './errors.js';
import {
  DigestList,
  decodeBaseKeys,
  decodeJsonRecord,
  decodeRecent,
  decodeSeen,
  decodeSessionFile,
  encodeBaseKeys,
  encodeJsonRecord,
  encodeRecent,
  encodeSeen,
  encodeSessionFile,
  sameBytes,
} from './profile-codec.js';
import type { ProfileStorage } from './storage/types.js';
import { checkKdfParams, DEFAULT_KDF, deriveKey, type KdfParams, Vault } from './vault.js';

export { DigestList } from './profile-codec.js';

export const PROFILE_FORMAT = 'blindrelay-profile';
/** 2: `state` split into recent / seen / sessions / session-N / basekeys (version 1 is not read). */
export const PROFILE_VERSION = 2;
const HEADER = 'profile.json';

// ---- records -----------------------------------------------------------------------------------

export interface AccountRecord {
  readonly user: string;
  readonly deviceId: number;
  readonly deviceName: string;
  readonly servers: readonly string[];
  /**
   * The master key's seed: only on the user's primary device (custody.ts). Absent on a companion,
   * which holds a master-signed certificate for its own keys instead.
   */
  readonly masterSeed?: Uint8Array;
  readonly masterKey: Uint8Array;
  readonly signingSeed: Uint8Array;
  readonly signingKey: Uint8Array;
  readonly identityPrivate: Uint8Array;
  readonly identityPublic: Uint8Array;
  /**
   * X25519 age recipient key pair for files (docs/PROTOCOL.md §5 format 2). Missing in profiles
   * created before files existed: generated and published by the first file operation.
   */
  readonly filePrivate?: Uint8Array;
  readonly filePublic?: Uint8Array;
  /** This device's certificate from the master key (sent in every PreKeyMessage). */
  readonly certificate: Uint8Array;
  readonly createdAt: number;
  /**
   * Primary only (custody.ts, master-key-rotation.ts): the signing seeds of the companions it
   * made, kept to prove their entries under a new master key when it rotates (dropped on revoke).
   */
  readonly companionSeeds?: readonly { readonly deviceId: number; readonly signingSeed: Uint8Array }[];
  /**
   * Names of the user's other devices this device knows (review ux-2026-12 F7): the primary learns
   * them from the link codes it approves, a companion from the primary when it is linked. Local only.
   */
  readonly deviceNames?: readonly { readonly deviceId: number; readonly name: string }[];
  /** Primary only: a new master seed written before a rotation is published (crash safety). */
  readonly pendingMasterSeed?: Uint8Array;
}

export interface StoredSignedPreKey {
  id: number;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
  signature: Uint8Array;
  createdAt: number;
  /** Generated but not yet accepted by the relay (prekeys.ts `rotatePreKeys`): not current yet. */
  pending?: boolean;
  /** When a newer key replaced it on the relay; deleted PREKEY_GRACE_MS later. */
  replacedAt?: number;
}
export interface StoredOneTimePreKey {
  id: number;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}
export interface StoredPqPreKey {
  id: number;
  lastResort: boolean;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
  signature: Uint8Array;
  /** Last-resort keys: as for StoredSignedPreKey (missing in older profiles: rotated at once). */
  createdAt?: number;
  pending?: boolean;
  replacedAt?: number;
}
export interface PreKeysRecord {
  signed: StoredSignedPreKey[];
  oneTime: StoredOneTimePreKey[];
  /** One-time and last-resort ML-KEM-768 prekeys (ids unique across both). */
  pq: StoredPqPreKey[];
  nextSignedId: number;
  nextOneTimeId: number;
  nextPqId: number;
}

export interface KeyChange {
  /** The master key the relay now serves, not trusted until verified or accepted. */
  masterKey: Uint8Array;
  deviceList: Uint8Array;
  seenAt: number;
}
export interface Contact {
  /** The pinned (trusted) master key: first seen (TOFU) or verified by safety number. */
  masterKey: Uint8Array;
  verified: boolean;
  pinnedAt: number;
  /** The newest device list verified against `masterKey` (rollback reference), if any. */
  deviceList: Uint8Array | null;
  keyChange: KeyChange | null;
  /** When `deviceList` was last fetched and verified (ms; receive refetches it when older: directory.ts). */
  listCheckedAt?: number;
  /** Our own user only: when this profile last approved a new device (ms; directory.ts). */
  linkApprovedAt?: number;
  /**
   * Another user only: when a verified list of theirs first lacked a device (or its keys) that the
   * list held before had (ms; directory.ts). Files we own and share with them still carry a stanza
   * for that device until re-keyed (custody.ts `rekeyForRemovedReaderDevices`, which clears it).
   */
  devicesRemovedAt?: number;
}
/**
 * A file upload not yet complete on the relay (files.ts): what is needed to produce the same
 * ciphertext again from the same plaintext and continue where the relay stopped. `fileKey` and
 * `nonce` are secrets of the file: the profile protects them like every other key.
 */
export interface PendingUpload {
  readonly fileId: string;
  readonly version: number;
  /** `new`: a file being created from `source`; `revoke`: a re-encryption of the current version. */
  readonly kind: 'new' | 'revoke';
  readonly fileKey: Uint8Array;
  readonly nonce: Uint8Array;
  readonly payloadSize: number;
  /** Plaintext size. */
  readonly size: number;
  /** Where the plaintext comes from (`new`: e.g. an absolute path) and its modification time, to refuse a changed source. */
  readonly source: string;
  readonly mtimeMs: number;
  /** `revoke`: the file key and version being re-encrypted. */
  readonly previousFileKey?: Uint8Array;
  readonly previousVersion?: number;
  /** `revoke`: the readers the new version keeps (to start it afresh if it cannot be resumed). */
  readonly readers?: readonly string[];
  readonly startedAt: number;
  /** Payload bytes the relay acknowledged, and the tag of each chunk sent beyond them (files.ts `SentState`). */
  readonly acked?: number;
  readonly sentTags?: readonly (readonly [number, Uint8Array])[];
  /**
   * The payload digest (protocol payload-digest.ts) before the chunk that holds `acked`, so that a
   * resumed upload can still seal the whole payload. Absent in uploads started before 2026-12-03
   * (those start afresh: they cannot be sealed).
   */
  readonly digest?: { readonly chunk: number; readonly state: Uint8Array };
}
export interface UploadsRecord {
  uploads: Map<string, PendingUpload>;
}
export interface ContactsRecord {
  contacts: Map<string, Contact>;
}

export interface StoredSession {
  /** The session's PQXDH base key and the peer device's identity key (kept beside the bytes so
   * that replacing or pruning sessions does not need to deserialize them). */
  readonly baseKey: Uint8Array;
  readonly remoteIdentity: Uint8Array;
  /** serializeSession bytes. */
  readonly bytes: Uint8Array;
}
export interface SessionEntry {
  /** The session used for sending. */
  readonly current: StoredSession;
  /** Older sessions with the same device, newest first, still tried when decrypting. */
  readonly previous: readonly StoredSession[];
}
export interface SessionIndex {
  /** `user/deviceId` → slot N of the record `session-N`. */
  slots: Map<string, number>;
}
export interface ReceivedMessage {
  /** The sender's message id (envelope.ts). */
  readonly id: string;
  readonly from: string;
  readonly fromDevice: number;
  /** The recipient: our user, or for a sync copy of our own message, the conversation partner. */
  readonly to: string;
  readonly text: string;
  /** The sender's clock (ms). */
  readonly sentAt: number;
  /** True for a copy of a message sent by another of our devices. */
  readonly sync: boolean;
  /** The relay's id and timestamp of the ciphertext. */
  readonly serverId: string;
  readonly serverSentAt: number;
  /**
   * Set when the sender said it holds version `claimed` of its own device list while the relay,
   * asked again, served only version `held`: the relay may be withholding a change of the
   * sender's devices (a revoked device could still be in the list we use). The message itself is
   * authentic; sending to the user still uses the list `held` until the relay serves the newer.
   */
  readonly staleSenderList?: { readonly claimed: number; readonly held: number };
}
export interface RecentRecord {
  /** The random id of the `seen` record these digests are newer than (zeros before the first). */
  seenId: Uint8Array;
  /** The newest seen digests (ciphertexts, message ids; seen.ts), at most SEEN_HOT. */
  hot: DigestList;
  /** Decrypted messages not yet handed to the application. */
  inbox: ReceivedMessage[];
}
export interface SeenRecord {
  /** Random, new on every write: `recent.seenId` names the content it was written with. */
  readonly id: Uint8Array;
  readonly digests: DigestList;
}
export interface BaseKeysRecord {
  /**
   * Digests of the PQXDH base keys of sessions this device accepted, per pair of prekeys they were
   * accepted with: `signedId:pqId` → digests (pqId 0: any, for digests of profiles written before
   * the pairs were kept). A group lives exactly as long as both its prekeys (basekeys.ts).
   */
  groups: Map<string, DigestList>;
}
/** A message that could not be trusted yet (a pending key change, an unknown device): kept to retry. */
export interface ParkedMessage {
  readonly serverId: string;
  readonly from: string;
  readonly fromDevice: number;
  readonly body: Uint8Array;
  readonly sentAt: number;
  /** ERR_KEY_CHANGED or ERR_UNTRUSTED_DEVICE. */
  readonly reason: string;
  readonly message: string;
  readonly parkedAt: number;
  /** The sender's contact state when parked (receive.ts `contactState`): retried when it changes. */
  readonly contactState: string;
}
export interface ParkedRecord {
  messages: ParkedMessage[];
}
export interface TokensRecord {
  tokens: Map<string, { token: string; expiresAt: number }>;
}
/** The device's send high-water mark (send-mark.ts, docs/API.md §5a): 0 before the first send with one. */
export interface SendMarkRecord {
  mark: number;
}

/** The encrypted key backup as this device keeps it (backup/backup.ts, docs/RECOVERY.md). */
export interface BackupStateRecord {
  /** The random key the blob is encrypted under (the code or passphrase only unwraps it); null: no backup. */
  key: Uint8Array | null;
  kind: 'code' | 'passphrase' | null;
  /** The relay's generation of the blob last uploaded (compare-and-set). */
  generation: number;
  /** SHA-256 of the contents last uploaded (an unchanged backup is not uploaded again). */
  digest: Uint8Array | null;
  /** When the contents were last compared with the uploaded ones (ms). */
  checkedAt: number;
  /** File keys restored from a backup (file id → version and key), for versions with no stanza for this device. */
  recovered: Map<string, { version: number; key: Uint8Array }>;
}
/** One collection key epoch (docs/PROTOCOL.md §19.1). */
export interface CollectionKeyEpoch {
  readonly epoch: number;
  readonly key: Uint8Array;
}
/** A collection this device holds keys of (records/keys.ts). */
export interface CollectionEntry {
  readonly owner: string;
  /** The owner's name for it. */
  readonly name: string;
  readonly keys: readonly CollectionKeyEpoch[];
}
export interface CollectionsRecord {
  /** Collection id (base64url) → its keys. */
  collections: Map<string, CollectionEntry>;
}

/** Sealed sender (delivery.ts, docs/PROTOCOL.md §20.1): our delivery token and our contacts' devices' tokens. */
export interface DeliveryRecord {
  /** This device's current delivery token; `registered`: the relay holds its verifier. */
  own: { token: Uint8Array; registered: boolean } | null;
  /** Tokens contacts' devices handed us, by sessionKey(user, deviceId). */
  known: Map<string, Uint8Array>;
  /** Users whose messages are dropped (blocked: our token was revoked and not handed to them again). */
  blocked: string[];
}
/** One MLS group this device is a member of (groups/groups.ts, docs/PROTOCOL.md §22). */
export interface GroupEntry {
  /** The MLS group state (ts-mls encoding; its private keys: keep the profile sealed). */
  readonly state: Uint8Array;
  /**
   * This device created the group: its leaf's key came from a KeyPackage it never published, so it
   * owes no self-update (docs/PROTOCOL.md §22.6b). Absent for a device that joined from a Welcome.
   */
  readonly created?: true;
}
/** A KeyPackage this device published and has not used yet: its private init and leaf keys. */
export interface GroupKeyPackageEntry {
  readonly keyPackage: Uint8Array;
  readonly initPrivate: Uint8Array;
  readonly hpkePrivate: Uint8Array;
  readonly lastResort: boolean;
}
/** A group message decrypted by a sync and not yet handed to the application (`receive`). */
export interface GroupReceived {
  readonly group: string;
  readonly from: string;
  readonly deviceId: number;
  readonly body: Uint8Array;
  readonly sentAt: number;
}
/** A file this user owns that is shared with a group (groups/group-files.ts, docs/PROTOCOL.md §22.7). */
export interface GroupFileEntry {
  /** The group id (base64url). */
  readonly group: string;
  /** The group's member devices (`user/deviceId`) the file was last keyed for. */
  readonly devices: readonly string[];
}
export interface GroupsRecord {
  /** Group id (base64url) → its state. */
  groups: Map<string, GroupEntry>;
  inbox: GroupReceived[];
  /** KeyPackageRef (base64url) → private parts. */
  keyPackages: Map<string, GroupKeyPackageEntry>;
  /**
   * Our own devices (id, decimal) that had no KeyPackage on the relay when a device of ours tried
   * to add them to our groups, and when (ms): not claimed for again before FOLLOW_RETRY_MS.
   */
  waiting?: Map<string, number>;
  /** Files we own shared with a group: file id → group and the devices it was keyed for. */
  files?: Map<string, GroupFileEntry>;
}

export interface Records {
  account: AccountRecord;
  prekeys: PreKeysRecord;
  contacts: ContactsRecord;
  tokens: TokensRecord;
  recent: RecentRecord;
  seen: SeenRecord;
  sessions: SessionIndex;
  basekeys: BaseKeysRecord;
  parked: ParkedRecord;
  uploads: UploadsRecord;
  sendmark: SendMarkRecord;
  backup: BackupStateRecord;
  collections: CollectionsRecord;
  delivery: DeliveryRecord;
  groups: GroupsRecord;
}
export type RecordName = keyof Records;
/**
 * Write order within a transaction: a crash between two writes must leave a usable profile.
 * `seen` before `recent` (a crash in between leaves digests in both: harmless). `recent` (inbox,
 * seen ids) before the sessions: a session never advances past a message that is neither in the
 * inbox nor still unacknowledged on the relay. Session records before the index that names them,
 * and before `basekeys` (a base key recorded without its session would refuse the peer's next
 * PreKeyMessage as a replay). `prekeys` last: at worst a used one-time prekey is not yet deleted.
 * `sendmark` is written with the sessions, before the POST: either order between the two is safe
 * (a mark ahead of the sessions only skips a number; sessions ahead of the mark were never sent).
 */
const WRITE_ORDER_BEFORE_SESSIONS: readonly RecordName[] = ['account', 'sendmark', 'contacts', 'collections', 'groups', 'seen', 'recent', 'parked'];
const WRITE_ORDER_AFTER_SESSIONS: readonly RecordName[] = ['basekeys', 'prekeys', 'tokens', 'uploads', 'backup', 'delivery'];

export const sessionKey = (user: string, deviceId: number) => `${user}/${deviceId}`;

export const LIMITS = {
  /** Seen digests kept: two per message (ciphertext, message id), so ~7500 messages. */
  seen: 15000,
  /** Newest seen digests kept in `recent` before they move to `seen`. */
  seenHot: 512,
  /** Parked messages kept at most (oldest dropped), and their ciphertext bytes in all. */
  parked: 200,
  parkedBytes: 4 * 1024 * 1024,
  previousSessions: 4,
  inbox: 10000,
};

const ZERO_ID = new Uint8Array(16);

// ---- codecs ------------------------------------------------------------------------------------

interface Codec<T> {
  readonly binary: boolean;
  encode(value: T): Uint8Array;
  /** Throws on malformed bytes. */
  decode(bytes: Uint8Array): T;
  empty?: () => T;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function jsonCodec<T>(check: (o: Record<string, unknown>) => boolean, empty?: () => T): Codec<T> {
  return {
    binary: false,
    encode: encodeJsonRecord,
    decode(bytes) {
      const data = decodeJsonRecord(bytes);
      if (!isObject(data) || !check(data)) throw new Error('bad record');
      return data as T;
    },
    ...(empty ? { empty } : {}),
  };
}

function checkMessage(m: unknown): m is ReceivedMessage {
  return (
    isObject(m) &&
    typeof m.id === 'string' &&
    typeof m.from === 'string' &&
    Number.isInteger(m.fromDevice) &&
    typeof m.to === 'string' &&
    typeof m.text === 'string' &&
    typeof m.sentAt === 'number' &&
    typeof m.sync === 'boolean' &&
    typeof m.serverId === 'string' &&
    typeof m.serverSentAt === 'number'
  );
}

const CODECS: { readonly [K in RecordName]: Codec<Records[K]> } = {
  account: jsonCodec(
    (o) =>
      typeof o.user === 'string' &&
      Number.isInteger(o.deviceId) &&
      Array.isArray(o.servers) &&
      (o.masterSeed === undefined || o.masterSeed instanceof Uint8Array) &&
      o.masterKey instanceof Uint8Array,
  ),
  prekeys: jsonCodec((o) => Array.isArray(o.signed) && Array.isArray(o.oneTime) && Array.isArray(o.pq)),
  contacts: jsonCodec(
    (o) => o.contacts instanceof Map,
    () => ({ contacts: new Map() }),
  ),
  tokens: jsonCodec(
    (o) => o.tokens instanceof Map,
    () => ({ tokens: new Map() }),
  ),
  sessions: jsonCodec(
    (o) => o.slots instanceof Map && [...o.slots.values()].every((n) => Number.isInteger(n) && n >= 0),
    () => ({ slots: new Map() }),
  ),
  recent: {
    binary: true,
    encode: (r) => encodeRecent({ seenId: r.seenId, hot: r.hot.packed(), inbox: r.inbox }),
    decode(bytes) {
      const r = decodeRecent(bytes);
      if (!r.inbox.every(checkMessage)) throw new Error('bad inbox');
      return { seenId: r.seenId, hot: new DigestList(r.hot), inbox: r.inbox as ReceivedMessage[] };
    },
    empty: () => ({ seenId: ZERO_ID.slice(), hot: new DigestList(), inbox: [] }),
  },
  seen: {
    binary: true,
    encode: (s) => encodeSeen(s.id, s.digests.packed()),
    decode(bytes) {
      const s = decodeSeen(bytes);
      return { id: s.id, digests: new DigestList(s.digests) };
    },
    empty: () => ({ id: ZERO_ID.slice(), digests: new DigestList() }),
  },
  basekeys: {
    binary: true,
    encode: (b) => encodeBaseKeys([...b.groups].map(([key, list]) => ({ key, digests: list.packed() }))),
    decode: (bytes) => ({ groups: new Map(decodeBaseKeys(bytes).map((g) => [g.key, new DigestList(g.digests)] as const)) }),
    empty: () => ({ groups: new Map() }),
  },
  parked: jsonCodec(
    (o) => Array.isArray(o.messages) && o.messages.every((m) => isObject(m) && typeof m.serverId === 'string' && m.body instanceof Uint8Array),
    () => ({ messages: [] }),
  ),
  uploads: jsonCodec(
    (o) => o.uploads instanceof Map && [...o.uploads.values()].every((u) => isObject(u) && typeof u.fileId === 'string' && u.fileKey instanceof Uint8Array),
    () => ({ uploads: new Map() }),
  ),
  sendmark: jsonCodec(
    (o) => Number.isSafeInteger(o.mark) && (o.mark as number) >= 0,
    () => ({ mark: 0 }),
  ),
  backup: jsonCodec(
    (o) => (o.key === null || o.key instanceof Uint8Array) && Number.isSafeInteger(o.generation) && o.recovered instanceof Map,
    () => ({ key: null, kind: null, generation: 0, digest: null, checkedAt: 0, recovered: new Map() }),
  ),
  collections: jsonCodec(
    (o) =>
      o.collections instanceof Map &&
      [...o.collections.values()].every(
        (c) =>
          isObject(c) &&
          typeof c.owner === 'string' &&
          typeof c.name === 'string' &&
          Array.isArray(c.keys) &&
          c.keys.every((k) => isObject(k) && Number.isInteger(k.epoch) && k.key instanceof Uint8Array),
      ),
    () => ({ collections: new Map() }),
  ),
  delivery: jsonCodec(
    (o) =>
      (o.own === null || (isObject(o.own) && o.own.token instanceof Uint8Array && typeof o.own.registered === 'boolean')) &&
      o.known instanceof Map &&
      [...o.known.values()].every((v) => v instanceof Uint8Array) &&
      Array.isArray(o.blocked) &&
      o.blocked.every((u) => typeof u === 'string'),
    () => ({ own: null, known: new Map(), blocked: [] }),
  ),
  groups: jsonCodec(
    (o) =>
      o.groups instanceof Map &&
      [...o.groups.values()].every((g) => isObject(g) && g.state instanceof Uint8Array && (g.created === undefined || g.created === true)) &&
      Array.isArray(o.inbox) &&
      o.keyPackages instanceof Map &&
      [...o.keyPackages.values()].every(
        (k) => isObject(k) && k.keyPackage instanceof Uint8Array && k.initPrivate instanceof Uint8Array && k.hpkePrivate instanceof Uint8Array,
      ) &&
      (o.waiting === undefined || (o.waiting instanceof Map && [...o.waiting.values()].every((t) => Number.isSafeInteger(t)))) &&
      (o.files === undefined ||
        (o.files instanceof Map &&
          [...o.files.values()].every(
            (f) => isObject(f) && typeof f.group === 'string' && Array.isArray(f.devices) && f.devices.every((d) => typeof d === 'string'),
          ))),
    () => ({ groups: new Map(), inbox: [], keyPackages: new Map() }),
  ),
};

interface SessionFile {
  key: string;
  entry: SessionEntry;
}
const SESSION_CODEC: Codec<SessionFile> = {
  binary: true,
  encode: (f) => encodeSessionFile({ key: f.key, sessions: [f.entry.current, ...f.entry.previous] }),
  decode(bytes) {
    const f = decodeSessionFile(bytes);
    const [current, ...previous] = f.sessions as [StoredSession, ...StoredSession[]];
    return { key: f.key, entry: Object.freeze({ current, previous: Object.freeze(previous) }) };
  },
};
const sessionFile = (slot: number) => `session-${slot}`;

/** Kept for tools reading JSON records (`{"v":1,"data":...}` with tagged bytes and maps). */
export const encodeRecord = encodeJsonRecord;
export function decodeRecord(name: string, bytes: Uint8Array): unknown {
  try {
    return decodeJsonRecord(bytes);
  } catch {
    throw new ProfileCorruptError(`profile record ${name} is corrupt`);
  }
}

// ---- the store ---------------------------------------------------------------------------------

/** Application files: bytes as given, named `app-` + a name of 1–36 of [a-z0-9-] (no clash with the SDK's records; storage/types.ts FILE_NAME). */
const APP_FILE: Codec<Uint8Array> = { binary: true, encode: (b) => b, decode: (b) => b };
const APP_FILE_NAME = /^[a-z0-9][a-z0-9-]{0,35}$/;
function appFileName(name: string): string {
  if (typeof name !== 'string' || !APP_FILE_NAME.test(name))
    throw new InvalidArgumentError('app file name: 1 to 36 of a-z, 0-9 and -, starting with a letter or digit');
  return `app-${name}`;
}

interface Header {
  format: string;
  version: number;
  createdAt: number;
  encryption: null | (KdfParams & { salt: string; check: string });
}

export interface OpenOptions {
  /** The passphrase protecting the profile (BLINDRELAY_PASSPHRASE); undefined or '' for none. */
  passphrase?: string | undefined;
}
export interface CreateOptions extends OpenOptions {
  kdf?: KdfParams;
}

/** What a Transaction needs from its Profile (file access through the cache). */
interface FileAccess {
  file(base: string, codec: Codec<unknown>): string;
  /** Decoded content, or null if the file does not exist. `cache: false` bypasses the cache. */
  load<T>(file: string, codec: Codec<T>, what: string, cache: boolean): Promise<T | null>;
  /** The cached value of a file, without reading it (see `seen`). */
  peek<T>(file: string): T | undefined;
  store<T>(file: string, codec: Codec<T>, value: T): Promise<void>;
  remove(file: string): Promise<void>;
}

export class Profile {
  readonly storage: ProfileStorage;
  readonly encrypted: boolean;
  readonly #vault: Vault | null;
  /** file → the bytes as stored (sealed if encrypted) and the value decoded from them. */
  readonly #cache = new Map<string, { raw: Uint8Array; value: unknown }>();
  /** The transaction in progress in this process, if any (its records may be half-changed). */
  #active: Transaction | null = null;
  readonly #io: FileAccess;

  private constructor(storage: ProfileStorage, vault: Vault | null) {
    this.storage = storage;
    this.#vault = vault;
    this.encrypted = vault !== null;
    this.#io = {
      file: (base, codec) => this.#file(base, codec),
      load: (file, codec, what, cache) => this.#load(file, codec, what, cache),
      peek: <T>(file: string) => this.#cache.get(file)?.value as T | undefined,
      store: (file, codec, value) => this.#store(file, codec, value),
      remove: async (file) => {
        this.#cache.delete(file);
        await this.storage.remove(file);
      },
    };
  }

  /**
   * Start a new profile: creates the container and writes the header. The caller writes the
   * records; `exists()` turns true only when the header is written, which `commitNew` does last.
   */
  static async create(storage: ProfileStorage, p: Primitives, options: CreateOptions = {}): Promise<{ profile: Profile; commitNew: () => Promise<void> }> {
    await storage.create();
    let vault: Vault | null = null;
    let header: Header = { format: PROFILE_FORMAT, version: PROFILE_VERSION, createdAt: Date.now(), encryption: null };
    if (options.passphrase) {
      const kdf = options.kdf ?? DEFAULT_KDF;
      const salt = p.randomBytes(16);
      vault = new Vault(p, await deriveKey(p, options.passphrase, salt, kdf));
      const check = await vault.makeCheck();
      header = { ...header, encryption: { ...kdf, salt: toBase64url(salt), check: toBase64url(check) } };
    }
    const profile = new Profile(storage, vault);
    return { profile, commitNew: () => storage.write(HEADER, utf8(`${JSON.stringify(header, null, 2)}\n`)) };
  }

  static async open(storage: ProfileStorage, p: Primitives, options: OpenOptions = {}): Promise<Profile> {
    const raw = await storage.read(HEADER);
    if (!raw) throw new NoProfileError(`no profile at ${storage.location} (create one with: account create, or device link)`);
    let header: Header;
    try {
      header = JSON.parse(fromUtf8(raw)) as Header;
    } catch {
      throw new ProfileCorruptError('profile header is corrupt');
    }
    if (header.format !== PROFILE_FORMAT) throw new ProfileCorruptError('unsupported profile format');
    if (header.version !== PROFILE_VERSION) {
      throw new ProfileCorruptError(
        `unsupported profile format version ${String(header.version)} (this SDK reads version ${PROFILE_VERSION}): create the profile again`,
      );
    }
    if (!header.encryption) {
      if (options.passphrase) throw new PassphraseUnexpectedError();
      return new Profile(storage, null);
    }
    if (!options.passphrase) throw new PassphraseRequiredError();
    const enc = header.encryption;
    const kdf: KdfParams = { algorithm: enc.algorithm, m: enc.m, t: enc.t, p: enc.p };
    checkKdfParams(kdf);
    let salt: Uint8Array;
    let check: Uint8Array;
    try {
      salt = fromBase64url(enc.salt);
      check = fromBase64url(enc.check);
    } catch {
      throw new ProfileCorruptError('profile header is corrupt');
    }
    const vault = new Vault(p, await deriveKey(p, options.passphrase, salt, kdf));
    try {
      await vault.verifyCheck(check);
    } catch (e) {
      vault.wipe();
      throw e;
    }
    return new Profile(storage, vault);
  }

  #file(base: string, codec: Codec<unknown>): string {
    return `${base}.${this.#vault ? 'bin' : codec.binary ? 'dat' : 'json'}`;
  }

  async #load<T>(file: string, codec: Codec<T>, what: string, cache: boolean): Promise<T | null> {
    const raw = await this.storage.read(file);
    if (!raw) {
      if (cache) this.#cache.delete(file);
      return null;
    }
    const hit = this.#cache.get(file);
    if (cache && hit && sameBytes(hit.raw, raw)) return hit.value as T;
    let plain = raw;
    if (this.#vault) {
      const opened = await this.#vault.open(file, raw);
      // The header check passed, so a failure here is tampering or corruption, not the passphrase.
      if (!opened) throw new ProfileCorruptError(`profile record ${what} does not authenticate`);
      plain = opened;
    }
    let value: T;
    try {
      value = codec.decode(plain);
    } catch {
      throw new ProfileCorruptError(`profile record ${what} is corrupt`);
    }
    if (cache) this.#cache.set(file, { raw, value });
    return value;
  }

  async #store<T>(file: string, codec: Codec<T>, value: T): Promise<void> {
    const plain = codec.encode(value);
    const raw = this.#vault ? await this.#vault.seal(file, plain) : plain;
    // Forget the old copy first: if the write fails, the file may hold either version.
    this.#cache.delete(file);
    await this.storage.write(file, raw);
    this.#cache.set(file, { raw, value });
  }

  /**
   * Read one record (no lock; for records that do not change, like `account`, or a snapshot). The
   * result is shared with the cache: do not change it (use a transaction).
   */
  async read<K extends RecordName>(name: K): Promise<Records[K]> {
    const codec = CODECS[name] as Codec<Records[K]>;
    const file = this.#file(name, codec);
    // A transaction of this process may be changing its copy in place right now: decode afresh.
    const cache = !this.#active?.touches(file);
    const value = await this.#load(file, codec, name, cache);
    if (value !== null) return value;
    if (codec.empty) return codec.empty();
    throw new ProfileCorruptError(`profile record ${name} is missing`);
  }

  /** Replace a record outside a transaction (a new profile's records; the token cache). */
  async write<K extends RecordName>(name: K, value: Records[K]): Promise<void> {
    const codec = CODECS[name] as Codec<Records[K]>;
    await this.#store(this.#file(name, codec), codec, value);
  }

  /**
   * An application's own file in this profile (`app-<name>`; the web app's chat history): sealed
   * like every record, so under the passphrase when the profile has one (vault.ts: AES-256-GCM,
   * bound to the file name), and gone with the profile. Null if it was never written.
   */
  async readAppFile(name: string): Promise<Uint8Array | null> {
    const file = this.#file(appFileName(name), APP_FILE);
    return this.#load(file, APP_FILE, `app file ${name}`, false);
  }

  /** Replace an application's file (see readAppFile); a bad name is InvalidArgumentError and nothing is written. */
  async writeAppFile(name: string, data: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError('app file: data must be a Uint8Array');
    const file = this.#file(appFileName(name), APP_FILE);
    await this.#store(file, APP_FILE, data.slice());
    this.#cache.delete(file); // (read afresh each time: the application keeps its own copy)
  }

  /**
   * Run `fn` under the profile lock with the current records it asks for; records marked dirty
   * are written (in a crash-safe order) when `fn` returns, or earlier by `tx.flush()`. If `fn`
   * throws, records not yet flushed are discarded (and the cached copies it touched dropped).
   */
  transact<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.storage.withLock(async () => {
      const tx = new Transaction(this.#io);
      this.#active = tx;
      try {
        const result = await fn(tx);
        await tx.flush();
        return result;
      } catch (e) {
        for (const file of tx.touched()) this.#cache.delete(file);
        throw e;
      } finally {
        this.#active = null;
      }
    });
  }

  /** Every peer device's sessions (`sessionKey` → entry), read in one transaction: for tools and tests. */
  readSessions(): Promise<Map<string, SessionEntry>> {
    return this.transact(async (tx) => {
      const out = new Map<string, SessionEntry>();
      for (const key of await tx.sessionKeys()) {
        const entry = await tx.session(key);
        if (entry) out.set(key, entry);
      }
      return out;
    });
  }

  close(): void {
    this.#cache.clear();
    this.#vault?.wipe();
  }
}

export class Transaction {
  readonly #io: FileAccess;
  readonly #loaded = new Map<RecordName, unknown>();
  readonly #dirty = new Set<RecordName>();
  /** Session entries read or set in this transaction; null: none. */
  readonly #sessions = new Map<string, SessionEntry | null>();
  readonly #dirtySessions = new Set<string>();
  /** Every file whose cached copy this transaction used or replaced. */
  readonly #touched = new Set<string>();

  constructor(io: FileAccess) {
    this.#io = io;
  }

  /** @internal */
  touches(file: string): boolean {
    return this.#touched.has(file);
  }
  /** @internal */
  touched(): Iterable<string> {
    return this.#touched;
  }

  async get<K extends RecordName>(name: K): Promise<Records[K]> {
    if (this.#loaded.has(name)) return this.#loaded.get(name) as Records[K];
    const codec = CODECS[name] as Codec<Records[K]>;
    const file = this.#io.file(name, codec as Codec<unknown>);
    let value: Records[K] | null | undefined;
    if (name === 'seen') {
      // `recent` names the content of `seen` by a random id: if it is the cached one, skip reading.
      const recent = await this.get('recent');
      const cached = this.#io.peek<SeenRecord>(file);
      if (cached && equal(cached.id, recent.seenId)) value = cached as Records[K];
    }
    this.#touched.add(file);
    value ??= await this.#io.load(file, codec, name, true);
    if (value === null) {
      if (!codec.empty) throw new ProfileCorruptError(`profile record ${name} is missing`);
      value = codec.empty();
    }
    this.#loaded.set(name, value);
    return value;
  }

  /** Replace (or mark as changed, when passing the object from `get`) a record. */
  set<K extends RecordName>(name: K, value: Records[K]): void {
    this.#loaded.set(name, value);
    this.#dirty.add(name);
  }

  /** The sessions with one peer device (`sessionKey`), if any. Entries are immutable. */
  async session(key: string): Promise<SessionEntry | undefined> {
    if (this.#sessions.has(key)) return this.#sessions.get(key) ?? undefined;
    const index = await this.get('sessions');
    const slot = index.slots.get(key);
    let entry: SessionEntry | null = null;
    if (slot !== undefined) {
      const file = this.#io.file(sessionFile(slot), SESSION_CODEC as Codec<unknown>);
      this.#touched.add(file);
      const f = await this.#io.load(file, SESSION_CODEC, sessionFile(slot), true);
      if (!f || f.key !== key) throw new ProfileCorruptError(`profile record ${sessionFile(slot)} is missing or belongs to another device`);
      entry = f.entry;
    }
    this.#sessions.set(key, entry);
    return entry ?? undefined;
  }

  /** Replace the sessions with a peer device, or delete them (`undefined`). */
  setSession(key: string, entry: SessionEntry | undefined): void {
    this.#sessions.set(key, entry ? Object.freeze({ current: entry.current, previous: Object.freeze([...entry.previous]) }) : null);
    this.#dirtySessions.add(key);
  }

  /** Peer devices (`sessionKey`) that have sessions, as of this transaction. */
  async sessionKeys(): Promise<string[]> {
    const index = await this.get('sessions');
    const keys = new Set(index.slots.keys());
    for (const [key, entry] of this.#sessions) {
      if (entry) keys.add(key);
      else keys.delete(key);
    }
    return [...keys];
  }

  async flush(): Promise<void> {
    // Clean records are skipped here rather than in #write: an await per record (14 of them, twice
    // per send batch) was most of a transaction's promise garbage.
    for (const name of WRITE_ORDER_BEFORE_SESSIONS) if (this.#dirty.has(name)) await this.#write(name);
    if (this.#dirtySessions.size > 0 || this.#dirty.has('sessions')) await this.#flushSessions();
    for (const name of WRITE_ORDER_AFTER_SESSIONS) if (this.#dirty.has(name)) await this.#write(name);
  }

  async #write(name: RecordName): Promise<void> {
    if (!this.#dirty.has(name)) return;
    const codec = CODECS[name] as Codec<unknown>;
    const file = this.#io.file(name, codec);
    this.#touched.add(file);
    await this.#io.store(file, codec, this.#loaded.get(name));
    this.#dirty.delete(name);
  }

  /** Session records first, then the index naming them, then the records no longer named. */
  async #flushSessions(): Promise<void> {
    if (this.#dirtySessions.size === 0) return this.#write('sessions');
    const index = await this.get('sessions');
    const used = new Set(index.slots.values());
    const freed: number[] = [];
    for (const key of this.#dirtySessions) {
      const slot = index.slots.get(key);
      if (this.#sessions.get(key) || slot === undefined) continue;
      index.slots.delete(key);
      freed.push(slot);
      this.#dirty.add('sessions');
    }
    for (const key of [...this.#dirtySessions]) {
      const entry = this.#sessions.get(key);
      if (entry) {
        let slot = index.slots.get(key);
        if (slot === undefined) {
          // The smallest free slot (not one freed just now: its file is removed below).
          for (slot = 0; used.has(slot); slot++);
          used.add(slot);
          index.slots.set(key, slot);
          this.#dirty.add('sessions');
        }
        const file = this.#io.file(sessionFile(slot), SESSION_CODEC as Codec<unknown>);
        this.#touched.add(file);
        await this.#io.store(file, SESSION_CODEC, { key, entry });
      }
      this.#dirtySessions.delete(key);
    }
    await this.#write('sessions');
    for (const slot of freed) {
      const file = this.#io.file(sessionFile(slot), SESSION_CODEC as Codec<unknown>);
      this.#touched.add(file);
      await this.#io.remove(file);
    }
  }
}

/** Keep the last `max` items of a list (oldest dropped first). */
export function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}
