/**
 * @blindrelay/client: the SDK. Accounts, devices, sessions, fan-out; all cryptography on the device.
 * Platform-neutral; Node defaults (file storage, `ws`, home directory) are in `@blindrelay/client/node`.
 */
export type { AccountDeletionResult } from './account-deletion.js';
export * from './api.js';
export type { BackupInfo, CreateBackupOptions, CreateBackupResult, SyncResult } from './backup/backup.js';
export { BACKUP_CHECK_INTERVAL_MS, MIN_BACKUP_PASSPHRASE } from './backup/backup.js';
export { OPAQUE_ARGON2ID } from './backup/backup-api.js';
export type { BackupContents, BackupKind } from './backup/backup-format.js';
export { formatRecoveryCode, generateRecoveryCode, parseRecoveryCode, RECOVERY_CODE_BITS } from './backup/recovery-code.js';
export * from './base64url.js';
export * from './client.js';
export * from './envelope.js';
export * from './errors.js';
export * from './file-meta.js';
export type { DownloadOptions, ExportResult, FileSink, FileSource, FileSummary, ProgressListener, PutOptions, PutResult } from './files.js';
export * from './linking.js';
export type { ListenOptions } from './listen.js';
export type { RotationResult } from './master-key-rotation.js';
export * from './prekeys.js';
export * from './profile.js';
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
export * from './socket.js';
export * from './storage/memory.js';
export * from './storage/types.js';
export * from './vault.js';
