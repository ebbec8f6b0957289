/**
 * @blindrelay/client: the SDK. Accounts, devices, sessions, fan-out; all cryptography on the device.
 * Platform-neutral; Node defaults (file storage, `ws`, home directory) are in `@blindrelay/client/node`.
 *
 * The public surface, named on purpose (api/client.api.md records it; test/api-report.test.ts fails
 * when it changes without the report). Everything else is internal to the package: the repository's
 * own tests import it from the module that defines it.
 */

// The client and what its methods take and return.
export type { AccountDeletionResult } from './account-deletion.js';
export type { BackupInfo, CreateBackupOptions, CreateBackupResult, SyncResult } from './backup/backup.js';
export { BACKUP_CHECK_INTERVAL_MS, MIN_BACKUP_PASSPHRASE } from './backup/backup.js';
export { OPAQUE_ARGON2ID } from './backup/backup-api.js';
export type { BackupContents, BackupKind } from './backup/backup-format.js';
export { formatRecoveryCode, generateRecoveryCode, parseRecoveryCode, RECOVERY_CODE_BITS } from './backup/recovery-code.js';
export {
  type ApproveOptions,
  BlindrelayClient,
  type ClientEnvironment,
  type CreateAccountOptions,
  type DeviceInfo,
  type LinkApproval,
  type LinkOptions,
  type ParkedInfo,
  type ReceiveOptions,
  type RestoreOptions,
  type RestoreResult,
  type SafetyNumberInfo,
} from './client.js';
export { MAX_TEXT_BYTES } from './envelope.js';
// Errors: every one a BlindrelayError with a stable code (also `@blindrelay/client/errors`, which
// loads without the rest of the SDK).
export {
  AccountDeletedError,
  BackupCorruptError,
  BackupLockedError,
  BackupTooLargeError,
  BadRequestError,
  ClientError,
  type ClientErrorCode,
  CollectionKeyMissingError,
  CollectionOwnerOnlyError,
  CollectionUnknownError,
  ConfirmationRequiredError,
  ConflictError,
  DeviceUnavailableError,
  EnvelopeError,
  errorInfo,
  FileAccessError,
  FileCorruptError,
  FileExistsError,
  FileOwnerOnlyError,
  FileSignatureError,
  ForbiddenError,
  InsecureTransportError,
  InvalidArgumentError,
  InvalidLinkCodeError,
  KeyChangedError,
  LinkNotConfirmedError,
  LinkTimeoutError,
  MismatchedDevicesError,
  NoBackupError,
  NoIndexError,
  NoProfileError,
  NoSuchUserError,
  NotFoundError,
  NotPrimaryError,
  NotRegisteredError,
  OffsetMismatchError,
  PassphraseRequiredError,
  PassphraseUnexpectedError,
  PayloadTooLargeError,
  ProfileCorruptError,
  ProfileExistsError,
  ProfileLockedError,
  ProfileRolledBackError,
  ProvisioningFormatError,
  QueueFullError,
  QuotaExceededError,
  RateLimitedError,
  RecordNotFoundError,
  RecoveryCodeError,
  RelayError,
  type RelayErrorCode,
  RequestSignatureError,
  RevocationPendingError,
  RevokedError,
  SafetyNumberMismatchError,
  SendFailedError,
  SendMarkStaleError,
  SourceChangedError,
  UnauthorizedError,
  UnreachableError,
  UnsignedFileError,
  UntrustedDeviceError,
  UploadLostError,
  UserTakenError,
  VersionChangedError,
  WrongBackupSecretError,
  WrongPassphraseError,
} from './errors.js';
export type { FileMeta } from './file-meta.js';
export { MAX_META_BYTES, MAX_NAME_BYTES } from './file-meta.js';
export type { DownloadOptions, ExportResult, FileSink, FileSource, FileSummary, ProgressListener, PutOptions, PutResult } from './files.js';
export { LINK_CODE_PREFIX, parseLinkCode } from './linking.js';
export type { ListenOptions } from './listen.js';
export type { RotationResult } from './master-key-rotation.js';
export { ONE_TIME_PREKEY_TARGET, SHORT_ONE_TIME_PREKEY_SUPPLY } from './prekeys.js';
export type { ReceivedMessage } from './profile.js';
export type { BatchResult, ReceiveFailure } from './receive.js';
export type {
  CollectionSummary,
  Condition,
  CreateCollectionOptions,
  FindResult,
  FoundRecord,
  IndexDeclaration,
} from './records/collections.js';
export type { HistoryMessage } from './records/history.js';
export type { SendOptions, SendResult } from './send.js';
export type { RollbackRecovery } from './send-mark.js';

// Adapters: where the profile is kept, how the push channel connects, how keys are derived.
export {
  browserSealedSocketFactory,
  browserSocketFactory,
  CLOSE_ACCOUNT_DELETED,
  CLOSE_REVOKED,
  CLOSE_TOKEN_EXPIRED,
  type RelaySocket,
  type SealedSocketFactory,
  type SocketFactory,
  type SocketHandlers,
} from './socket.js';
export { MemoryStorage } from './storage/memory.js';
export type { ProfileStorage } from './storage/types.js';
export { DEFAULT_KDF, type KdfParams } from './vault.js';
