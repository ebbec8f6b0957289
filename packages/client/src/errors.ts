/**
 * SDK errors (DESIGN.md, convention 4): one base class, stable `code`s, typed subclasses.
 *
 * Callers switch on `code`, never on `message`. Protocol errors (`BlindrelayError` from
 * @blindrelay/protocol, codes `ERR_DECODE`, `ERR_DECRYPT`, ...) pass through unchanged; `errorInfo`
 * turns either kind into `{code, message}` for display.
 */
import { BlindrelayError } from '@blindrelay/protocol/errors';
import { isRelayWireCode, RELAY_ERRORS, type RelaySdkCode } from '@blindrelay/protocol/wire';

export type ClientErrorCode =
  | 'ERR_NO_PROFILE'
  | 'ERR_PROFILE_EXISTS'
  | 'ERR_PROFILE_CORRUPT'
  | 'ERR_PROFILE_LOCKED'
  | 'ERR_PASSPHRASE_REQUIRED'
  | 'ERR_PASSPHRASE_UNEXPECTED'
  | 'ERR_WRONG_PASSPHRASE'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_BAD_ENVELOPE'
  | 'ERR_MESSAGE_TOO_LARGE'
  | 'ERR_KEY_CHANGED'
  | 'ERR_SAFETY_NUMBER_MISMATCH'
  | 'ERR_UNTRUSTED_DEVICE'
  | 'ERR_DEVICE_UNAVAILABLE'
  | 'ERR_SEND_FAILED'
  | 'ERR_INVALID_LINK_CODE'
  | 'ERR_LINK_NOT_CONFIRMED'
  | 'ERR_LINK_WRONG_USER'
  | 'ERR_INSECURE_TRANSPORT'
  | 'ERR_PROFILE_ROLLED_BACK'
  | 'ERR_LINK_TIMEOUT'
  | 'ERR_USER_TAKEN'
  | 'ERR_NOT_REGISTERED'
  | 'ERR_REVOKED'
  | 'ERR_ACCOUNT_DELETED'
  | 'ERR_CONFIRMATION_REQUIRED'
  | 'ERR_UNREACHABLE'
  | 'ERR_FILE_NO_ACCESS'
  | 'ERR_FILE_NOT_OWNER'
  | 'ERR_FILE_SOURCE_CHANGED'
  | 'ERR_FILE_EXISTS'
  | 'ERR_FILE_CORRUPT'
  | 'ERR_FILE_SIGNATURE'
  | 'ERR_FILE_UNSIGNED'
  | 'ERR_FILE_REVOCATION_PENDING'
  | 'ERR_FILE_UPLOAD_LOST'
  | 'ERR_NOT_PRIMARY'
  | 'ERR_LINK_VERSION'
  | 'ERR_RECOVERY_CODE_INVALID'
  | 'ERR_BACKUP_WRONG_SECRET'
  | 'ERR_BACKUP_LOCKED'
  | 'ERR_BACKUP_CORRUPT'
  | 'ERR_BACKUP_TOO_LARGE'
  | 'ERR_NO_BACKUP'
  | 'ERR_COLLECTION_UNKNOWN'
  | 'ERR_COLLECTION_KEY_MISSING'
  | 'ERR_COLLECTION_NOT_OWNER'
  | 'ERR_RECORD_NOT_FOUND'
  | 'ERR_NO_INDEX'
  | RelayErrorCode;

/** Every SDK error: a BlindrelayError (the protocol's base class) with an SDK code. */
export class ClientError extends BlindrelayError<ClientErrorCode> {}

// ---- local profile ----------------------------------------------------------------------------

/** No profile at the given home/profile. */
export class NoProfileError extends ClientError {
  constructor(message: string) {
    super('ERR_NO_PROFILE', message);
  }
}
export class ProfileExistsError extends ClientError {
  constructor(message: string) {
    super('ERR_PROFILE_EXISTS', message);
  }
}
/** A profile file that does not decode (not an authentication failure: see WrongPassphraseError). */
export class ProfileCorruptError extends ClientError {
  constructor(message: string) {
    super('ERR_PROFILE_CORRUPT', message);
  }
}
/** Another process held the profile lock for too long. */
export class ProfileLockedError extends ClientError {
  constructor(message: string) {
    super('ERR_PROFILE_LOCKED', message);
  }
}
export class PassphraseRequiredError extends ClientError {
  constructor() {
    super('ERR_PASSPHRASE_REQUIRED', 'this profile is encrypted: set BLINDRELAY_PASSPHRASE');
  }
}
export class PassphraseUnexpectedError extends ClientError {
  constructor() {
    super('ERR_PASSPHRASE_UNEXPECTED', 'this profile is not encrypted, but a passphrase was given (unset BLINDRELAY_PASSPHRASE)');
  }
}
/** The passphrase does not open the profile. Nothing was read or changed. */
export class WrongPassphraseError extends ClientError {
  constructor() {
    super('ERR_WRONG_PASSPHRASE', 'wrong passphrase for this profile');
  }
}

// ---- arguments, envelopes, trust ----------------------------------------------------------------

export class InvalidArgumentError extends ClientError {
  constructor(message: string) {
    super('ERR_INVALID_ARGUMENT', message);
  }
}
/**
 * A message to send is larger than one message carries (envelope.ts: 1,000,000 bytes of text, 1 MiB
 * encoded). Nothing was encrypted or sent; larger content goes in a file (`file put`).
 */
export class MessageTooLargeError extends ClientError {
  constructor(message: string) {
    super('ERR_MESSAGE_TOO_LARGE', `${message}: nothing was sent (send larger content as a file: blindrelay file put PATH --to USER)`);
  }
}
/** A decrypted plaintext that is not a valid message envelope (envelope.ts). */
export class EnvelopeError extends ClientError {
  constructor(message: string) {
    super('ERR_BAD_ENVELOPE', message);
  }
}
/**
 * The relay serves a master key for `user` other than the one pinned for them. Sending is refused
 * until the user compares safety numbers (`verify`) or explicitly accepts the new key.
 */
export class KeyChangedError extends ClientError {
  readonly user: string;
  constructor(user: string) {
    super(
      'ERR_KEY_CHANGED',
      `the master key of ${user} changed: compare safety numbers (safety-number ${user}), then verify, or accept the new key explicitly`,
    );
    this.user = user;
  }
}
export class SafetyNumberMismatchError extends ClientError {
  constructor(user: string) {
    super('ERR_SAFETY_NUMBER_MISMATCH', `the safety number does not match the one for ${user}: do not trust this key`);
  }
}
/** A sender device that is not in the sender's verified device list, or whose keys differ from it. */
export class UntrustedDeviceError extends ClientError {
  constructor(message: string) {
    super('ERR_UNTRUSTED_DEVICE', message);
  }
}
export class DeviceUnavailableError extends ClientError {
  readonly deviceIds: readonly number[];
  constructor(user: string, deviceIds: readonly number[]) {
    super('ERR_DEVICE_UNAVAILABLE', `device(s) ${deviceIds.join(', ')} of ${user} have no prekeys on the relay`);
    this.deviceIds = deviceIds;
  }
}
export class SendFailedError extends ClientError {
  constructor(message: string) {
    super('ERR_SEND_FAILED', message);
  }
}

// ---- linking -----------------------------------------------------------------------------------

export class InvalidLinkCodeError extends ClientError {
  constructor(message = 'not a device link code (expected BR1.<channel>.<key>)') {
    super('ERR_INVALID_LINK_CODE', message);
  }
}
export class LinkTimeoutError extends ClientError {
  constructor() {
    super('ERR_LINK_TIMEOUT', 'the link code expired before another device approved it');
  }
}
/**
 * An approval that was not confirmed: the comparison code given does not match the link code's,
 * or the user did not confirm it. Nothing was sealed or sent.
 */
export class LinkNotConfirmedError extends ClientError {
  constructor(message: string) {
    super('ERR_LINK_NOT_CONFIRMED', message);
  }
}

/** The link code asks to join another user than this device's (review ux-2026-12 F5). Nothing was sent. */
export class LinkWrongUserError extends ClientError {
  constructor(requested: string, user: string) {
    super(
      'ERR_LINK_WRONG_USER',
      `this link code asks to join ${requested}, but this device belongs to ${user}: nothing was sent (approve it on a device of ${requested}, or run device link --user ${user} on the new device)`,
    );
  }
}

// ---- transport and profile state ----------------------------------------------------------------

/** A plain `http://` relay URL for a host that is not this machine, without the explicit opt-in. Nothing was sent. */
export class InsecureTransportError extends ClientError {
  readonly url: string;
  constructor(url: string) {
    super(
      'ERR_INSECURE_TRANSPORT',
      `refusing plain http:// to ${url}: it is not this machine (127.0.0.0/8, ::1, localhost), so bearer tokens, metadata and key-directory answers would cross the network unencrypted. Use an https:// URL; if this network really is trusted, pass --insecure-http (SDK: allowInsecureHttp: true)`,
    );
    this.url = url;
  }
}
/**
 * This profile is older than one this device already sent from (restored from a backup, a copied
 * directory, a VM snapshot — or another copy of it is in use elsewhere). Sending from it would
 * encrypt again with message keys and nonces already used, so it is refused; nothing was sent.
 */
export class ProfileRolledBackError extends ClientError {
  /** The send mark the relay holds (signed by this device), and this profile's. */
  readonly relayMark: number;
  readonly profileMark: number;
  constructor(relayMark: number, profileMark: number) {
    super(
      'ERR_PROFILE_ROLLED_BACK',
      `this profile is an older copy: this device already sent from a newer state (send mark ${relayMark} on the relay, ${profileMark} here), so sending from it would reuse message keys. If a newer copy of this profile exists, use that one and stop using this copy. Otherwise run \`blindrelay device recover\` (SDK: client.recoverFromRollback()): it starts fresh sessions with every contact and leaves messages and contacts as they are`,
    );
    this.relayMark = relayMark;
    this.profileMark = profileMark;
  }
}

// ---- relay -------------------------------------------------------------------------------------

export class UserTakenError extends ClientError {
  constructor(user: string) {
    super('ERR_USER_TAKEN', `the user name ${user} is already taken on this relay`);
  }
}
/** The relay does not know this device: it was revoked, or the account was never registered. */
export class NotRegisteredError extends ClientError {
  constructor(user: string, deviceId: number) {
    super(
      'ERR_NOT_REGISTERED',
      `device ${deviceId} of ${user} is not registered on the relay (revoked?): to use this machine again, link it anew in another profile (--profile NAME device link …) or after deleting this profile's directory`,
    );
  }
}
/**
 * Only the user's primary device (the one holding the master key) approves links, revokes devices,
 * signs device lists and rotates the master key (custody.ts, docs/PROTOCOL.md §16).
 */
export class NotPrimaryError extends ClientError {
  constructor(what: string) {
    super(
      'ERR_NOT_PRIMARY',
      `${what} needs the primary device (the one holding the master key); this device is a companion without it: run the command on your primary device`,
    );
  }
}
/** The approving device runs a version from before custody: it would hand over the master key. */
export class ProvisioningFormatError extends ClientError {
  constructor() {
    super('ERR_LINK_VERSION', 'the approving device runs an older version that hands over the master key (link format 1): update it first; nothing was kept');
  }
}
/** An irreversible operation was asked for without its explicit confirmation (e.g. `account delete` without --yes); nothing was done. */
export class ConfirmationRequiredError extends ClientError {
  constructor(message: string) {
    super('ERR_CONFIRMATION_REQUIRED', message);
  }
}
/** The account was deleted (by its primary device): this profile can no longer reach the relay. */
export class AccountDeletedError extends ClientError {
  constructor() {
    super('ERR_ACCOUNT_DELETED', 'this account was deleted');
  }
}
export class RevokedError extends ClientError {
  constructor() {
    super('ERR_REVOKED', 'this device was removed from its device list');
  }
}
/** No server in the list answered. */
export class UnreachableError extends ClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_UNREACHABLE', message, options);
  }
}

// ---- key backup (backup/) ------------------------------------------------------------------------

/** A recovery code that is malformed or fails its checksum (a typo): refused before anything is sent. */
export class RecoveryCodeError extends ClientError {
  constructor(message: string) {
    super('ERR_RECOVERY_CODE_INVALID', message);
  }
}
/** The relay refused the code or passphrase (or the user has no backup of that kind). Nothing changed. */
export class WrongBackupSecretError extends ClientError {
  constructor(message: string) {
    super('ERR_BACKUP_WRONG_SECRET', message);
  }
}
/** The passphrase backup is locked after too many attempts without success (docs/RECOVERY.md). */
export class BackupLockedError extends ClientError {
  constructor(message: string) {
    super('ERR_BACKUP_LOCKED', message);
  }
}
/** A backup blob or wrapped key that does not open or decode. */
export class BackupCorruptError extends ClientError {
  constructor(message: string) {
    super('ERR_BACKUP_CORRUPT', message);
  }
}
/** The encrypted backup would be larger than the relay stores (docs/RECOVERY.md, "Limits"). */
export class BackupTooLargeError extends ClientError {
  constructor(message: string) {
    super('ERR_BACKUP_TOO_LARGE', message);
  }
}
/** This device keeps no backup (run `backup create`). */
export class NoBackupError extends ClientError {
  constructor(message: string) {
    super('ERR_NO_BACKUP', message);
  }
}

// ---- files -------------------------------------------------------------------------------------

/** The file's header has no stanza this device can open (not shared with us, or a device newer than the last re-wrap). */
export class FileAccessError extends ClientError {
  constructor(message: string) {
    super('ERR_FILE_NO_ACCESS', message);
  }
}
/** Only the file's owner can share, revoke, re-wrap or delete it. */
export class FileOwnerOnlyError extends ClientError {
  constructor(id: string, owner: string) {
    super('ERR_FILE_NOT_OWNER', `file ${id} belongs to ${owner}: only its owner can change who has access or delete it`);
  }
}
/** A resumed upload's source is no longer the file the upload started from (size or modification time differ). */
export class SourceChangedError extends ClientError {
  constructor(message: string) {
    super('ERR_FILE_SOURCE_CHANGED', message);
  }
}
/** A stored file's metadata or payload does not authenticate or parse (tampered or damaged): nothing was written. */
export class FileCorruptError extends ClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FILE_CORRUPT', message, options);
  }
}
/**
 * A stored file's contents or metadata are not what its owner signed (docs/PROTOCOL.md §15.3–15.4):
 * a payload substituted by someone who holds the file key, metadata moved from another file or
 * re-sealed by a reader, a seal missing or not the owner's. Nothing was written.
 */
export class FileSignatureError extends ClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FILE_SIGNATURE', message, options);
  }
}
/**
 * A file stored before 2026-12-03, whose contents its owner did not sign (only its reader list):
 * downloads need `allowUnsigned` (`--allow-unsigned`). Its owner signs it by re-encrypting it
 * (`blindrelay file sign ID`, or any revocation).
 */
export class UnsignedFileError extends ClientError {
  constructor(id: string) {
    super(
      'ERR_FILE_UNSIGNED',
      `file ${id} was stored before 2026-12-03: its owner did not sign its contents (a reader colluding with the relay could have replaced them). Download it anyway with --allow-unsigned, or ask its owner to run \`blindrelay file sign ${id}\``,
    );
  }
}
/**
 * A revocation of this file is not finished (review L2): its new version is still uploading, or a
 * reader the owner signed is no longer on the relay's access list. Sharing and re-wrapping wait
 * until it is finished, so that they cannot give the revoked reader access again.
 */
export class RevocationPendingError extends ClientError {
  constructor(message: string) {
    super('ERR_FILE_REVOCATION_PENDING', message);
  }
}
/** The relay no longer has the version an unfinished upload was writing (pruned after a day, or replaced). */
export class UploadLostError extends ClientError {
  constructor(message: string) {
    super('ERR_FILE_UPLOAD_LOST', message);
  }
}
/** The output path already exists (pass `--force` / `overwrite` to replace it). */
export class FileExistsError extends ClientError {
  constructor(path: string) {
    super('ERR_FILE_EXISTS', `${path} already exists (use --force to replace it)`);
  }
}

/** Server error codes of docs/API.md as the SDK names them (`ERR_RELAY_<CODE>`): the wire contract's table, `@blindrelay/protocol/wire`. */
export type RelayErrorCode = RelaySdkCode;

/** An error answer `{code, message}` from the relay. */
export class RelayError extends ClientError {
  readonly status: number;
  /** The relay's own code (`conflict`, `mismatched_devices`, ...). */
  readonly relayCode: string;
  constructor(code: RelayErrorCode, status: number, relayCode: string, message: string) {
    super(code, message);
    this.status = status;
    this.relayCode = relayCode;
  }
}
export class BadRequestError extends RelayError {}
export class UnauthorizedError extends RelayError {}
export class ForbiddenError extends RelayError {}
/** 403 `invalid_delivery_token` (docs/API.md §11): a sealed send's token is unknown, rotated out or revoked; nothing stored. */
export class InvalidDeliveryTokenError extends ForbiddenError {
  constructor(status: number, message: string) {
    super('ERR_RELAY_INVALID_DELIVERY_TOKEN', status, 'invalid_delivery_token', message);
  }
}
/** 409 `replayed` (docs/API.md §11): this sealed envelope was already accepted; nothing stored. */
export class ReplayedEnvelopeError extends RelayError {
  constructor(status: number, message: string) {
    super('ERR_RELAY_REPLAYED', status, 'replayed', message);
  }
}
export class NotFoundError extends RelayError {}
/** A user name that is not (or no longer: a deleted account) an account on the relay (404 `no_such_user`). */
export class NoSuchUserError extends NotFoundError {}
export class ConflictError extends RelayError {}
export class PayloadTooLargeError extends RelayError {}
/** 429 `rate_limited`, or `queue_full` (QueueFullError): retry after `retryAfterSeconds`. */
export class RateLimitedError extends RelayError {
  retryAfterSeconds: number | undefined;
}
/** 429 `queue_full`: a recipient device has 10 000 undelivered messages; nothing was stored. */
export class QueueFullError extends RateLimitedError {
  readonly devices: readonly number[];
  constructor(status: number, message: string, devices: readonly number[]) {
    super('ERR_RELAY_QUEUE_FULL', status, 'queue_full', message);
    this.devices = devices;
  }
}
/** 409 `mismatched_devices`: the send did not cover exactly the recipient's current devices. */
export class MismatchedDevicesError extends RelayError {
  readonly missing: readonly number[];
  readonly stale: readonly number[];
  constructor(status: number, message: string, missing: readonly number[], stale: readonly number[]) {
    super('ERR_RELAY_MISMATCHED_DEVICES', status, 'mismatched_devices', message);
    this.missing = missing;
    this.stale = stale;
  }
}

/** 413 `quota_exceeded`: the owner's stored files would exceed the relay's per-user quota. */
export class QuotaExceededError extends PayloadTooLargeError {
  readonly quotaBytes: number | undefined;
  readonly usedBytes: number | undefined;
  constructor(status: number, message: string, quotaBytes?: number, usedBytes?: number) {
    super('ERR_RELAY_QUOTA_EXCEEDED', status, 'quota_exceeded', message);
    this.quotaBytes = quotaBytes;
    this.usedBytes = usedBytes;
  }
}
/** 409 `offset_mismatch`: the relay holds `received` bytes of the payload; continue from there. */
export class OffsetMismatchError extends ConflictError {
  readonly received: number;
  constructor(status: number, message: string, received: number) {
    super('ERR_RELAY_OFFSET_MISMATCH', status, 'offset_mismatch', message);
    this.received = received;
  }
}
/** 409 `version_changed`: the file got a new version (revocation) while it was being read. */
export class VersionChangedError extends ConflictError {}
/**
 * 401 for a signed request (docs/API.md §2a): `signature_required`, `bad_signature`,
 * `stale_signature` (with the relay's `serverTime`) or `replayed_signature`.
 */
export class RequestSignatureError extends UnauthorizedError {
  readonly serverTime: number | undefined;
  constructor(status: number, relayCode: string, message: string, serverTime?: number) {
    super('ERR_RELAY_SIGNATURE', status, relayCode, message);
    this.serverTime = serverTime;
  }
}
/** 409 `send_mark_stale` (docs/API.md §5a): the relay holds a send mark at or above this send's, and the device's signature over it. */
export class SendMarkStaleError extends ConflictError {
  readonly mark: number | undefined;
  readonly signature: string | undefined;
  constructor(status: number, message: string, mark?: number, signature?: string) {
    super('ERR_RELAY_SEND_MARK_STALE', status, 'send_mark_stale', message);
    this.mark = mark;
    this.signature = signature;
  }
}

const isDeviceIdArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 1 && x <= 0xffffffff);

/** Map an error answer of the relay to its typed error. */
export function relayError(status: number, body: unknown): RelayError {
  const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const relayCode = typeof o.code === 'string' ? o.code : `http_${status}`;
  const text = typeof o.message === 'string' && o.message.length <= 500 ? o.message : `HTTP ${status}`;
  const message = `relay: ${text}`;
  if (!isRelayWireCode(relayCode)) return unknownCode(status, relayCode, message);
  switch (relayCode) {
    case 'bad_request':
      return new BadRequestError('ERR_RELAY_BAD_REQUEST', status, relayCode, message);
    case 'unauthorized':
      return new UnauthorizedError('ERR_RELAY_UNAUTHORIZED', status, relayCode, message);
    case 'forbidden':
      return new ForbiddenError('ERR_RELAY_FORBIDDEN', status, relayCode, message);
    case 'invalid_delivery_token':
      return new InvalidDeliveryTokenError(status, message);
    case 'replayed':
      return new ReplayedEnvelopeError(status, message);
    case 'not_found':
      return new NotFoundError('ERR_RELAY_NOT_FOUND', status, relayCode, message);
    case 'conflict':
    case 'stale_epoch':
      return new ConflictError('ERR_RELAY_CONFLICT', status, relayCode, message);
    case 'no_such_user':
      return new NoSuchUserError('ERR_NO_SUCH_USER', status, relayCode, message);
    case 'mismatched_devices':
      return new MismatchedDevicesError(status, message, isDeviceIdArray(o.missing) ? o.missing : [], isDeviceIdArray(o.stale) ? o.stale : []);
    case 'payload_too_large':
      return new PayloadTooLargeError('ERR_RELAY_PAYLOAD_TOO_LARGE', status, relayCode, message);
    case 'rate_limited':
      return new RateLimitedError('ERR_RELAY_RATE_LIMITED', status, relayCode, message);
    case 'quota_exceeded':
      return new QuotaExceededError(
        status,
        message,
        Number.isSafeInteger(o.quotaBytes) ? (o.quotaBytes as number) : undefined,
        Number.isSafeInteger(o.usedBytes) ? (o.usedBytes as number) : undefined,
      );
    case 'offset_mismatch':
      if (Number.isSafeInteger(o.received) && (o.received as number) >= 0) return new OffsetMismatchError(status, message, o.received as number);
      return new ConflictError('ERR_RELAY_CONFLICT', status, relayCode, message);
    case 'revocation_pending':
      return new ConflictError('ERR_RELAY_CONFLICT', status, relayCode, message);
    case 'version_changed':
      return new VersionChangedError('ERR_RELAY_VERSION_CHANGED', status, relayCode, message);
    case 'queue_full':
      return new QueueFullError(status, message, isDeviceIdArray(o.devices) ? o.devices : []);
    case 'signature_required':
    case 'bad_signature':
    case 'stale_signature':
    case 'replayed_signature':
      return new RequestSignatureError(status, relayCode, message, Number.isSafeInteger(o.serverTime) ? (o.serverTime as number) : undefined);
    case 'send_mark_stale':
      return new SendMarkStaleError(
        status,
        message,
        Number.isSafeInteger(o.mark) && (o.mark as number) >= 0 ? (o.mark as number) : undefined,
        typeof o.signature === 'string' && o.signature.length <= 100 ? o.signature : undefined,
      );
    case 'unsupported_media_type':
    case 'range_not_satisfiable':
    case 'backup_locked':
    case 'upgrade_required':
    case 'internal':
    case 'unavailable':
      return new RelayError(RELAY_ERRORS[relayCode].sdk, status, relayCode, message);
    default: {
      // Every code of the wire contract is handled above: a code added to RELAY_ERRORS without a
      // case here does not compile.
      const unhandled: never = relayCode;
      return unknownCode(status, unhandled, message);
    }
  }
}

/** An answer whose code is not in the contract (an older or newer relay, or a proxy): typed by status. */
function unknownCode(status: number, relayCode: string, message: string): RelayError {
  if (status === 401) return new UnauthorizedError('ERR_RELAY_UNAUTHORIZED', status, relayCode, message);
  if (status === 404) return new NotFoundError('ERR_RELAY_NOT_FOUND', status, relayCode, message);
  if (status === 429) return new RateLimitedError('ERR_RELAY_RATE_LIMITED', status, relayCode, message);
  return new RelayError('ERR_RELAY', status, relayCode, message);
}

/** `{code, message}` for any error: SDK and protocol errors keep their code, others are internal. */
export function errorInfo(e: unknown): { code: string; message: string; expected: boolean } {
  if (e instanceof BlindrelayError) return { code: e.code, message: e.message, expected: true };
  if (e instanceof Error) return { code: 'ERR_INTERNAL', message: e.message, expected: false };
  return { code: 'ERR_INTERNAL', message: String(e), expected: false };
}

/** No collection of that name or id that this device holds keys of, or the relay does not let us use it (removed member). */
export class CollectionUnknownError extends ClientError {
  constructor(message: string) {
    super('ERR_COLLECTION_UNKNOWN', message);
  }
}

/** The collection's current key epoch has not reached this device yet (receive messages first). */
export class CollectionKeyMissingError extends ClientError {
  constructor(message: string) {
    super('ERR_COLLECTION_KEY_MISSING', message);
  }
}

/** Sharing, unsharing, re-indexing: the collection's owner only. */
export class CollectionOwnerOnlyError extends ClientError {
  constructor(message: string) {
    super('ERR_COLLECTION_NOT_OWNER', message);
  }
}

export class RecordNotFoundError extends ClientError {
  constructor(message: string) {
    super('ERR_RECORD_NOT_FOUND', message);
  }
}

/** A query on a field no index of the collection covers. */
export class NoIndexError extends ClientError {
  constructor(message: string) {
    super('ERR_NO_INDEX', message);
  }
}
