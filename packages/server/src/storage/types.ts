/**
 * The relay's storage, as one set of repository interfaces (DESIGN.md, "Storage": one interface,
 * one conformance suite, two implementations). The SQLite implementation is the embedded default;
 * a PostgreSQL one can follow without touching callers, so every method returns a Promise even
 * where node:sqlite is synchronous.
 *
 * What is stored is public or opaque to the server: public keys, signed device lists, ciphertext,
 * sealed provisioning envelopes, and SHA-256 hashes of bearer secrets (tokens, challenges,
 * provisioning channel ids). Never a plaintext token. Bytes are `Uint8Array` above this interface.
 *
 * Operations that must be atomic are single methods, each atomic and isolated on its own: account
 * creation, device-list replacement with revocation, one-time prekey consumption, message enqueue
 * with its coverage check, challenge and envelope consumption. Every check such a method depends on
 * (a version compare-and-set, a cap, the device still being current) is made inside it, never
 * taken from an earlier read by the caller. A write method resolves only once its effects are
 * durable; an implementation may commit many concurrent writes together (SQLite: group commit,
 * one transaction and one fsync per batch, each method in its own savepoint).
 */

import type { BlobStore } from '../blobs/types.js';
import type { BackupRepository } from './backup-types.js';

export type * from './backup-types.js';

import type { GroupRepository } from './groups-types.js';
import type { RecordRepository } from './records-types.js';
import type { SealedRepository } from './sealed-types.js';

export type * from './sealed-types.js';

export interface DeviceRecord {
  readonly deviceId: number;
  /** Ed25519 public key from the signed device list. */
  readonly signingKey: Uint8Array;
  /** X25519 public key from the signed device list. */
  readonly identityKey: Uint8Array;
}

export interface AccountRecord {
  readonly user: string;
  readonly masterKey: Uint8Array;
  /** Version of the newest accepted signed device list. */
  readonly listVersion: number;
  /** The exact signed bytes of that list (docs/PROTOCOL.md §5). */
  readonly deviceList: Uint8Array;
  /** The devices of that list, ascending id. */
  readonly devices: readonly DeviceRecord[];
  /** The newest master-key rotation statement (docs/PROTOCOL.md §16.4), if the key ever rotated. */
  readonly rotation?: Uint8Array;
}

export interface SignedPreKeyRow {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

export interface OneTimePreKeyRow {
  readonly id: number;
  readonly publicKey: Uint8Array;
}

export interface PqPreKeyRow {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** Verified prekeys to store for one device (signatures already checked by the caller). */
export interface PrekeyBatch {
  readonly signedPreKey?: SignedPreKeyRow;
  readonly oneTimePreKeys?: readonly OneTimePreKeyRow[];
  readonly pqPreKeys?: readonly PqPreKeyRow[];
  readonly lastResortPqPreKey?: PqPreKeyRow;
}

export interface PrekeyLimits {
  /** Most stored one-time prekeys of each kind (X25519, ML-KEM) per device. */
  readonly maxStoredOneTime: number;
}

export type PrekeyUploadResult =
  | { readonly status: 'stored' }
  /** A one-time prekey id already stored for this device (nothing stored). */
  | { readonly status: 'duplicate_id' }
  /** The upload would exceed `maxStoredOneTime` (nothing stored). */
  | { readonly status: 'too_many' }
  /** The device is not (or no longer) in its user's list. */
  | { readonly status: 'unknown_device' };

export interface PrekeyStatus {
  readonly oneTimePreKeys: number;
  readonly pqPreKeys: number;
  readonly signedPreKeyId: number | null;
  readonly lastResortPqPreKeyId: number | null;
}

export interface ClaimOptions {
  /**
   * Devices whose one-time prekeys are spared (their budget is spent: docs/API.md §3): no one-time
   * X25519 prekey, and the last-resort ML-KEM key (a one-time one only if there is no last-resort key).
   */
  readonly withoutOneTime?: ReadonlySet<number>;
}

/** What one bundle fetch consumed for one device, in the same transaction as the consumption. */
export type ClaimResult =
  | {
      readonly status: 'claimed';
      readonly device: DeviceRecord;
      readonly signedPreKey: SignedPreKeyRow;
      readonly oneTimePreKey?: OneTimePreKeyRow;
      readonly pqPreKey: PqPreKeyRow & { readonly lastResort: boolean };
      /** One-time prekeys left after this claim. */
      readonly remaining: { readonly oneTimePreKeys: number; readonly pqPreKeys: number };
    }
  /** No such current device, or no signed prekey, or no ML-KEM prekey at all. */
  | { readonly status: 'unavailable'; readonly deviceId: number };

export interface NewAccount {
  readonly user: string;
  readonly masterKey: Uint8Array;
  readonly listVersion: number;
  readonly deviceList: Uint8Array;
  readonly device: DeviceRecord;
  readonly prekeys: PrekeyBatch;
  readonly createdAt: number;
}

export interface DeviceListUpdate {
  readonly user: string;
  /** Compare-and-set: applied only if the stored version is still this one. */
  readonly expectedVersion: number;
  readonly listVersion: number;
  readonly deviceList: Uint8Array;
  readonly devices: readonly DeviceRecord[];
  /** First prekeys of a device that joined in this list. */
  readonly newDevice?: { readonly deviceId: number; readonly prekeys: PrekeyBatch };
  /** A master-key rotation (verified by the caller): the account's new master key and the statement. */
  readonly rotation?: { readonly masterKey: Uint8Array; readonly statement: Uint8Array };
  readonly updatedAt: number;
}

export type DeviceListUpdateResult =
  /**
   * `revoked`: stored devices that are absent from the new list or whose keys changed. In the same
   * transaction their tokens, challenges, queued messages and prekeys were deleted.
   */
  | { readonly status: 'updated'; readonly revoked: readonly number[] }
  /** The stored version is no longer `expectedVersion`; nothing changed. */
  | { readonly status: 'stale' }
  | { readonly status: 'not_found' };

export interface AccountDeletionRequest {
  readonly user: string;
  /** Compare-and-set: deleted only if the stored device-list version is still this one (the list the deletion statement names). */
  readonly expectedListVersion: number;
}

export type AccountDeletionResult =
  /** `devices`: the account's devices at deletion (their sockets are to be closed). */
  | { readonly status: 'deleted'; readonly devices: readonly number[] }
  /** The device list changed since the caller checked the statement against it; nothing changed. */
  | { readonly status: 'stale' }
  | { readonly status: 'not_found' };

export interface AccountRepository {
  /** Creates the account, its single device and that device's prekeys, or reports the name taken. */
  create(account: NewAccount, limits: PrekeyLimits): Promise<'created' | 'exists'>;
  get(user: string): Promise<AccountRecord | undefined>;
  /** A device of the user's current list. */
  getDevice(user: string, deviceId: number): Promise<DeviceRecord | undefined>;
  replaceDeviceList(update: DeviceListUpdate, limits: PrekeyLimits): Promise<DeviceListUpdateResult>;
  /**
   * Account deletion (docs/API.md §1a): in ONE transaction, deletes every row keyed by the user —
   * the account, its devices and through them their prekeys, queues, tokens, challenges, request
   * nonces, send marks and queue counters; the files it owns (readers, versions, and their payload
   * blobs); its name in other owners' reader lists; and the messages it sent that still wait in
   * other users' queues. Then deletes the payload blobs and makes sure no deleted byte survives
   * in the store's files: SQLite checkpoints the WAL, rebuilds the database (VACUUM: no freelist
   * page, no stale b-tree divider key) and truncates the WAL; PostgreSQL leaves no row (dead tuple
   * space is PostgreSQL's own to reclaim). Resolves once all of that is done and durable.
   *
   * Tables added later that hold anything keyed by a user name MUST be added to both
   * implementations here (and to test/storage-conformance-deletion.ts).
   */
  delete(request: AccountDeletionRequest): Promise<AccountDeletionResult>;
}

export interface PrekeyRepository {
  /**
   * `signingKey`: the device key the batch's signatures were checked against; if given, the
   * upload is refused (`unknown_device`) unless the device still has that key (it may have been
   * revoked and re-added with new keys since the caller looked).
   */
  upload(user: string, deviceId: number, batch: PrekeyBatch, limits: PrekeyLimits, signingKey?: Uint8Array): Promise<PrekeyUploadResult>;
  status(user: string, deviceId: number): Promise<PrekeyStatus>;
  /**
   * For each device id (current devices of `user` only): atomically take the oldest one-time
   * X25519 prekey (if any) and the oldest one-time ML-KEM prekey (else the last-resort one).
   * All devices in one transaction: two concurrent claims never receive the same one-time key.
   */
  claim(user: string, deviceIds: readonly number[], options?: ClaimOptions): Promise<ClaimResult[]>;
}

export interface NewMessage {
  /** 16 random bytes, chosen by the server. */
  readonly id: Uint8Array;
  readonly deviceId: number;
  readonly body: Uint8Array;
}

export interface StoredMessage {
  /** Store-wide increasing sequence: the queue order, and the push high-water mark. */
  readonly seq: number;
  readonly id: Uint8Array;
  readonly fromUser: string;
  readonly fromDevice: number;
  readonly body: Uint8Array;
  readonly sentAt: number;
}

export interface Enqueue {
  readonly to: string;
  /** Compare-and-set on the recipient's device list, against which coverage was checked. */
  readonly expectedListVersion: number;
  readonly fromUser: string;
  readonly fromDevice: number;
  readonly sentAt: number;
  readonly messages: readonly NewMessage[];
  /** Most queued messages per device. */
  readonly maxQueued: number;
}

export type EnqueueResult =
  | { readonly status: 'stored' }
  /** The recipient's device list changed since the coverage check: check again. */
  | { readonly status: 'stale_list' }
  /** These devices' queues are full; nothing was stored. */
  | { readonly status: 'queue_full'; readonly deviceIds: readonly number[] };

/** What MailboxRepository.enqueueMarked did: the mark's verdict, and the store's if the mark was accepted. */
export interface MarkedEnqueueResult {
  readonly mark: RaiseSendMarkResult;
  readonly stored?: EnqueueResult;
}

export interface MailboxRepository {
  /** Stores every message or none. */
  enqueue(request: Enqueue): Promise<EnqueueResult>;
  /**
   * Several sends (a WebSocket `send` frame's items), one result each, in order: each send is
   * checked and stored or refused on its own exactly as by `enqueue` (all of its messages or none);
   * a refused send does not stop the others. Where the store can, in one write (SQLite: one
   * group-commit operation, queue caps counting the sends before it); else one `enqueue` each.
   */
  enqueueMany(requests: readonly Enqueue[]): Promise<EnqueueResult[]>;
  /**
   * A send under a send mark (docs/API.md §5a) in one write where the store can (PostgreSQL: one
   * statement, so one round trip instead of two): the compare-and-raise of SendMarkRepository.raise
   * for the sending device (`request.fromUser`, `request.fromDevice`), then, only if the mark was
   * raised or repeated, `enqueue(request)`. `stored` is absent when the mark was not accepted
   * (nothing stored then). Absent method: the caller raises, then enqueues.
   */
  enqueueMarked?(request: Enqueue, mark: { readonly record: SendMarkRecord; readonly signingKey: Uint8Array }): Promise<MarkedEnqueueResult>;
  /**
   * Queued messages of one device, oldest first, with `seq > afterSeq`: at most `limit`, and no
   * more once the bodies reach `maxBytes` in total (but always the first one).
   */
  fetch(user: string, deviceId: number, options: { readonly afterSeq?: number; readonly limit: number; readonly maxBytes?: number }): Promise<StoredMessage[]>;
  /** Deletes those of `ids` queued for this device; returns how many were deleted. */
  ack(user: string, deviceId: number, ids: readonly Uint8Array[]): Promise<number>;
  /**
   * A signed ack (docs/API.md §2a) in one write: records the request's nonce exactly as
   * `RequestNonceRepository.use` does and, only if it was recorded, deletes `ids` as `ack` does;
   * both or neither. `acked`: how many were deleted (0 unless 'recorded').
   */
  ackSigned(
    user: string,
    deviceId: number,
    ids: readonly Uint8Array[],
    nonce: SignedNonce,
  ): Promise<{ readonly status: UseNonceResult; readonly acked: number }>;
  /** Messages queued across all devices (the metrics gauge). */
  countAll(): Promise<number>;
}

export interface TokenRecord {
  readonly user: string;
  readonly deviceId: number;
  readonly expiresAt: number;
  /** The device's signing key as listed, read with the token (what its signed requests are checked against). */
  readonly signingKey: Uint8Array;
}

export interface AuthRepository {
  /**
   * Stores SHA-256(challenge); keeps at most `maxOutstanding` per (device, `requester`): the
   * oldest challenge of the same requester is dropped, never another requester's. `requester` is
   * an opaque tag of the requesting address (default empty). False (nothing stored) if the
   * device is not, or no longer, in its user's list.
   */
  createChallenge(
    challenge: {
      readonly hash: Uint8Array;
      readonly user: string;
      readonly deviceId: number;
      readonly createdAt: number;
      readonly expiresAt: number;
      readonly requester?: Uint8Array;
    },
    maxOutstanding: number,
  ): Promise<boolean>;
  /** Deletes the challenge whatever the outcome; true only if it existed for this device and had not expired. */
  consumeChallenge(hash: Uint8Array, user: string, deviceId: number, now: number): Promise<boolean>;
  /**
   * Stores SHA-256(token); keeps at most `maxPerDevice` live tokens per device (oldest dropped).
   * False (nothing stored) if the device is not, or no longer, in its user's list, or (when
   * `signingKey` is given: the key the challenge signature was checked against) no longer has
   * that signing key.
   */
  createToken(
    token: {
      readonly hash: Uint8Array;
      readonly user: string;
      readonly deviceId: number;
      readonly createdAt: number;
      readonly expiresAt: number;
      readonly signingKey?: Uint8Array;
    },
    maxPerDevice: number,
  ): Promise<boolean>;
  /** The unexpired token with this hash, for a device still in its list. */
  findToken(hash: Uint8Array, now: number): Promise<TokenRecord | undefined>;
}

export type PutEnvelopeResult = 'stored' | 'not_found' | 'already_set';
export type TakeEnvelopeResult =
  | { readonly status: 'envelope'; readonly envelope: Uint8Array }
  | { readonly status: 'empty' }
  /** Unknown, expired, or its envelope already fetched. */
  | { readonly status: 'not_found' };

export interface ProvisioningRepository {
  /** Stores SHA-256(channelId); false when `maxOpen` unexpired channels already exist. */
  createChannel(hash: Uint8Array, createdAt: number, expiresAt: number, maxOpen: number): Promise<boolean>;
  /** Once per channel. */
  putEnvelope(hash: Uint8Array, envelope: Uint8Array, now: number): Promise<PutEnvelopeResult>;
  /** Returns the envelope once and deletes it; the channel is then used up. */
  takeEnvelope(hash: Uint8Array, now: number): Promise<TakeEnvelopeResult>;
}

export type UseNonceResult =
  | 'recorded'
  /** Already recorded for this device: a replayed signed request. */
  | 'replayed'
  /** Not (or no longer) a device of its user's list with the given signing key; nothing stored. */
  | 'unknown_device';

/** A signed request's nonce, kept until `expiresAt`; `signingKey`: the key its signature was checked against. */
export interface SignedNonce {
  readonly nonce: Uint8Array;
  readonly expiresAt: number;
  readonly signingKey: Uint8Array;
}

/**
 * Nonces of signed requests (docs/API.md §2a), per device, each kept until `expiresAt` (when its
 * timestamp has left the validity window, so the nonce could not be accepted again anyway).
 */
export interface RequestNonceRepository {
  /**
   * Records the nonce unless this device already has it. `signingKey`: the key the request's
   * signature was checked against; the device must still have it (it may have been revoked or
   * re-keyed since the caller looked).
   */
  use(user: string, deviceId: number, nonce: Uint8Array, expiresAt: number, signingKey: Uint8Array): Promise<UseNonceResult>;
}

/** A device's send high-water mark as the relay holds it (docs/API.md §5a). */
export interface SendMarkRecord {
  readonly mark: number;
  /** The device's signature over the mark (protocol send-mark.ts), shown to the device on request. */
  readonly signature: Uint8Array;
  /** SHA-256 of the send that carried the mark: that same send again (a retry) is accepted. */
  readonly digest: Uint8Array;
}

export type RaiseSendMarkResult =
  /** Higher than the mark held: stored. */
  | { readonly status: 'raised' }
  /** The mark held, carried by the same send (a retry): accepted, nothing changed. */
  | { readonly status: 'repeated' }
  /** Lower than the mark held, or equal to it for another send: refused, nothing changed. */
  | { readonly status: 'stale'; readonly current: SendMarkRecord }
  /** Not (or no longer) a device of its user's list with the given signing key. */
  | { readonly status: 'unknown_device' };

export interface SendMarkRepository {
  /** The mark held for the device (undefined: it never sent with one). */
  get(user: string, deviceId: number): Promise<SendMarkRecord | undefined>;
  /** Compare-and-raise, atomic: see RaiseSendMarkResult. `signingKey` as for RequestNonceRepository.use. */
  raise(user: string, deviceId: number, record: SendMarkRecord, signingKey: Uint8Array): Promise<RaiseSendMarkResult>;
}

/** One version of a file (docs/API.md §8): the age header, the encrypted meta, and upload progress. */
export interface FileVersion {
  readonly version: number;
  readonly header: Uint8Array;
  readonly meta: Uint8Array;
  readonly payloadSize: number;
  /** Payload bytes stored so far; the version is complete when this equals `payloadSize`. */
  readonly received: number;
  /** The owner's seal (docs/PROTOCOL.md §15.4), set by the request that completed the version; absent before seals existed. */
  readonly seal?: Uint8Array;
}

export interface FileRecord {
  /** 16 random bytes, chosen by the client (or by the server when the client does not). */
  readonly id: Uint8Array;
  readonly owner: string;
  /** Users other than the owner, ascending. */
  readonly readers: readonly string[];
  readonly revision: number;
  readonly current: FileVersion;
  /** The replacement being uploaded after a revocation (always incomplete). */
  readonly pending?: FileVersion;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface FileLimits {
  readonly maxFilesPerUser: number;
  /** Sum of `payloadSize` over every version (current and pending, complete or not) of an owner's files. */
  readonly userQuotaBytes: number;
}

export interface NewFile {
  readonly id: Uint8Array;
  readonly owner: string;
  readonly readers: readonly string[];
  readonly header: Uint8Array;
  readonly meta: Uint8Array;
  readonly payloadSize: number;
  readonly createdAt: number;
}

export type QuotaExceeded = { readonly status: 'quota_exceeded'; readonly usedBytes: number };

export type CreateFileResult =
  | { readonly status: 'created' }
  /** A reader is not an account (nothing stored). */
  | { readonly status: 'unknown_reader' }
  | { readonly status: 'too_many_files' }
  /** Another file has this id (nothing stored). */
  | { readonly status: 'id_taken' }
  | QuotaExceeded;

export interface FileHeaderUpdate {
  readonly id: Uint8Array;
  readonly owner: string;
  readonly expectedRevision: number;
  readonly header: Uint8Array;
  readonly meta?: Uint8Array;
  readonly readers?: readonly string[];
  readonly updatedAt: number;
}

export type FileNotFound = { readonly status: 'not_found' };
/** The revision is no longer the expected one (nothing changed). */
export type FileStale = { readonly status: 'stale'; readonly revision: number };
/** The current version is not complete yet (nothing changed). */
export type FileIncomplete = { readonly status: 'incomplete' };

export type UpdateFileResult =
  | { readonly status: 'updated'; readonly revision: number }
  | FileNotFound
  | FileStale
  | FileIncomplete
  | { readonly status: 'unknown_reader' }
  /** A revocation's new version is being uploaded: the header is not replaced meanwhile (nothing changed). */
  | { readonly status: 'pending' };

export interface NewFileVersion {
  readonly id: Uint8Array;
  readonly owner: string;
  readonly expectedRevision: number;
  readonly header: Uint8Array;
  readonly meta: Uint8Array;
  readonly payloadSize: number;
  readonly readers: readonly string[];
  readonly updatedAt: number;
}

export type NewVersionResult =
  /** `dropped`: the pending version this one replaced (its metadata is gone; delete its blob). */
  | { readonly status: 'created'; readonly version: number; readonly revision: number; readonly dropped?: number }
  | FileNotFound
  | FileStale
  | FileIncomplete
  | { readonly status: 'unknown_reader' }
  | QuotaExceeded;

export interface AppendStart {
  readonly id: Uint8Array;
  readonly owner: string;
  readonly version: number;
  readonly offset: number;
  readonly length: number;
  /** Random lease token: only its holder may record the append. */
  readonly token: Uint8Array;
  readonly now: number;
  readonly leaseUntil: number;
  /** The request carries the owner's seal: it must be the one that completes the version. */
  readonly sealed?: boolean;
}

export type BeginAppendResult =
  | { readonly status: 'ok' }
  /** No such file of this owner, or no such version being uploaded. */
  | FileNotFound
  | { readonly status: 'offset_mismatch'; readonly received: number }
  | { readonly status: 'too_long' }
  /** A seal on a request that does not complete the version. */
  | { readonly status: 'seal_not_final' }
  /** The version is already complete. */
  | { readonly status: 'complete' }
  /** Another append to this version holds the lease. */
  | { readonly status: 'busy' };

export type FinishAppendResult =
  /**
   * `promoted`: a pending version completed and became current (revision + 1); `dropped` is the
   * previous current version, whose metadata is gone (delete its blob).
   */
  | {
      readonly status: 'appended';
      readonly received: number;
      readonly complete: boolean;
      readonly promoted?: { readonly revision: number; readonly dropped: number };
    }
  /** The version's metadata is gone (file deleted, version replaced): delete the blob. */
  | { readonly status: 'gone' }
  /** The lease expired and another append took over; nothing recorded. */
  | { readonly status: 'lost' };

/**
 * File metadata (docs/API.md §8); the payload bytes live in a `BlobStore`. Each method is atomic,
 * with its checks (owner, revision compare-and-set, quota, readers being accounts) inside it.
 * Version numbers only grow within a file and are never reused.
 *
 * Payload uploads take two steps around the blob write: `beginAppend` checks the offset against
 * `received` and takes a short lease on the version (so two uploads to one version, on one relay
 * or several, never write the blob at once); `finishAppend` records the bytes (compare-and-set on
 * the lease and on `received`) and, when a pending version completes, makes it current.
 */
export interface FileRepository {
  create(file: NewFile, limits: FileLimits): Promise<CreateFileResult>;
  get(id: Uint8Array): Promise<FileRecord | undefined>;
  /**
   * Files `user` owns (complete or not) and files whose reader it is whose current version is
   * complete; ascending id, ids after `after` only, at most `limit`.
   */
  list(user: string, options: { readonly after?: Uint8Array; readonly limit: number }): Promise<FileRecord[]>;
  /** Replaces the current version's header (and meta, readers when given); revision + 1. Refused ('pending') while a pending version exists. */
  replaceHeader(update: FileHeaderUpdate): Promise<UpdateFileResult>;
  /** A new pending version replacing the reader list at once (revision + 1); replaces an existing pending version. */
  createVersion(version: NewFileVersion, limits: FileLimits): Promise<NewVersionResult>;
  beginAppend(start: AppendStart): Promise<BeginAppendResult>;
  /** `seal`: the owner's seal, stored when this append completes the version. */
  finishAppend(id: Uint8Array, version: number, token: Uint8Array, received: number, now: number, seal?: Uint8Array): Promise<FinishAppendResult>;
  /** Releases the lease after a failed blob write; 'gone' if the version no longer exists. */
  abortAppend(id: Uint8Array, version: number, token: Uint8Array): Promise<'released' | 'gone'>;
  /** Deletes the file; `versions`: every version it had (delete their blobs). A reader gets 'forbidden'. */
  delete(
    id: Uint8Array,
    user: string,
  ): Promise<{ readonly status: 'deleted'; readonly versions: readonly number[] } | FileNotFound | { readonly status: 'forbidden' }>;
  /**
   * Deletes files whose version 1 is incomplete and untouched since `before`, and drops pending
   * versions untouched since then (the current one stays). Returns the versions dropped.
   */
  pruneStale(before: number): Promise<{ readonly id: Uint8Array; readonly version: number }[]>;
  /** Whether the metadata of this version exists (the blob orphan sweep). */
  hasVersion(id: Uint8Array, version: number): Promise<boolean>;
}

export interface Storage {
  readonly accounts: AccountRepository;
  readonly prekeys: PrekeyRepository;
  readonly mailboxes: MailboxRepository;
  readonly auth: AuthRepository;
  readonly provisioning: ProvisioningRepository;
  readonly files: FileRepository;
  /** Encrypted records and blind-index postings (records-types.ts). */
  readonly records: RecordRepository;
  /** The MLS delivery service: groups, KeyPackages, group message queues (groups-types.ts). */
  readonly groups: GroupRepository;
  /** Nonces of signed requests (replay defence). */
  readonly requestNonces: RequestNonceRepository;
  /** Delivery-token verifiers and sealed-envelope digests (./sealed-types.ts). */
  readonly sealed: SealedRepository;
  /** Devices' send high-water marks (profile rollback detection). */
  readonly sendMarks: SendMarkRepository;
  /** Token buckets of the rate limits shared by every relay of a cluster (in memory with SQLite). */
  readonly rateLimits: RateLimitRepository;
  /** Encrypted key backups and their guess-limited access (./backup-types.ts). */
  readonly backups: BackupRepository;
  /** Payload bytes of files: `<data>/blobs/` with SQLite, a table of chunks with PostgreSQL. */
  readonly blobs: BlobStore;
  /**
   * Deletes expired challenges, tokens, delivery-token verifiers, sealed-envelope digests, provisioning channels and request nonces and full rate-limit buckets; prunes stale file uploads
   * (untouched for `FILE_UPLOAD_TTL_MS`, 24 h: ./files-prune.ts) and their blobs, and blobs whose metadata is gone.
   */
  pruneExpired(now: number): Promise<void>;
  /**
   * Commits every write still queued, then releases the store (SQLite: WAL checkpoint, close).
   * Writes after close reject.
   */
  close(): Promise<void>;
}

/** One token-bucket charge (src/http/rate-limit.ts builds them from the configured rules). */
export interface BucketCharge {
  /** Names the bucket: the limited action and its subject (an address, a device, a pair). */
  readonly bucket: string;
  readonly capacity: number;
  readonly refillPerSecond: number;
  /** Tokens to take; at most `capacity`. */
  readonly cost: number;
}

/** Per charge, in order: taken, or refused with the milliseconds until it would be (∞ if never). */
export type BucketOutcome = { readonly taken: true } | { readonly taken: false; readonly retryAfterMs: number };

/**
 * Rate-limit counters (docs/API.md "Rate limits"): token buckets that start full, refill
 * continuously and never exceed their capacity. In memory with SQLite (one process); in a table
 * with PostgreSQL, so every relay of a cluster charges the same buckets. Bucket names are stored
 * only as digests there, and a bucket is deleted once it would have refilled completely.
 */
export interface RateLimitRepository {
  /**
   * For each charge on its own: take `cost` tokens from the bucket if it holds that many (else
   * nothing). A charge of a bucket is atomic across connections and instances, so concurrent
   * requests never overdraw it. The same bucket must not appear twice in one call.
   */
  take(charges: readonly BucketCharge[], now: number): Promise<BucketOutcome[]>;
  /** Gives tokens back (capped at capacity): undoes charges of a request refused by another limit. */
  refund(charges: readonly BucketCharge[], now: number): Promise<void>;
  /** Deletes these buckets (by name) if they exist: the buckets of a deleted account (docs/API.md §1a). */
  forget(buckets: readonly string[]): Promise<void>;
}
