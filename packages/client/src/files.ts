/**
 * Encrypted files (docs/PROTOCOL.md §15, docs/API.md §8): age v1 files whose header (one X25519
 * stanza per authorised device, wrapping a fresh 16-byte file key) and payload (STREAM
 * ChaCha20-Poly1305, 64 KiB chunks) are stored apart on the relay.
 *
 * The feature lives in files/: types.ts (what callers hand in and get back), access.ts (file keys,
 * recipients), verified.ts (what the owner signed: metadata, reader list, payload seal), upload.ts
 * (resumable, sealed upload), download.ts (download and export), sharing.ts (list, share, re-wrap,
 * revoke, re-key, remove).
 */
export { publishOwnFileKey } from './files/access.js';
export { exportFile, getFile } from './files/download.js';
export { listFiles, rekeyFile, removeFile, resumeRevocations, revokeFile, rewrapFile, shareFile, statFile } from './files/sharing.js';
export type { DownloadOptions, ExportResult, FileSink, FileSource, FileSummary, ProgressListener, PutOptions, PutResult } from './files/types.js';
export { UPLOAD_PART_BYTES } from './files/types.js';
export { pendingUploads, putFile } from './files/upload.js';
