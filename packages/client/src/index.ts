/**
 * @blindrelay/client: the SDK. Accounts, devices, sessions, fan-out; all cryptography on the device.
 * Platform-neutral; Node defaults (file storage, `ws`, home directory) are in `@blindrelay/client/node`.
 */
export * from './api.js';
export * from './base64url.js';
export * from './client.js';
export * from './envelope.js';
export * from './errors.js';
export * from './file-meta.js';
export type { DownloadOptions, ExportResult, FileSink, FileSource, FileSummary, ProgressListener, PutOptions, PutResult } from './files.js';
export * from './linking.js';
export type { ListenOptions } from './listen.js';
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
