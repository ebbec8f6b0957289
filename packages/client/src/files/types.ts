/**
 * The shapes the encrypted-files feature (docs/PROTOCOL.md §15, docs/API.md §8) takes and hands
 * back: what a caller uploads from and downloads into, and what it is told about a file.
 */

/** Payload bytes per PUT (the relay accepts up to 16 MiB). */
export const UPLOAD_PART_BYTES = 8 * 1024 * 1024;

/** Plaintext to upload, readable from any position (a resumed upload starts mid-file). */
export interface FileSource {
  readonly name: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Identifies the source across runs (an absolute path); matched with `mtimeMs` and `size` on resume. */
  readonly key: string;
  read(position: number): AsyncIterable<Uint8Array>;
}

/** Where downloaded plaintext goes: only authenticated bytes are written. */
export interface FileSink {
  write(chunk: Uint8Array): Promise<void>;
}

export type ProgressListener = (done: number, total: number) => void;

export interface FileSummary {
  readonly id: string;
  readonly owner: string;
  readonly readers: readonly string[];
  /** Null when this device cannot open the file (see `access`). */
  readonly name: string | null;
  /** Plaintext bytes (null when unknown to this device). */
  readonly size: number | null;
  readonly version: number;
  readonly revision: number;
  readonly complete: boolean;
  /**
   * `no-key`: no stanza for this device (not shared with it, or it was linked after the last
   * re-wrap); `corrupt`: the header or metadata does not verify, or the reader list is not signed
   * by the owner; `unverified`: the owner's master key changed (compare safety numbers).
   */
  readonly access: 'ok' | 'no-key' | 'corrupt' | 'unverified';
  /**
   * `signed`: the owner sealed this version's contents (docs/PROTOCOL.md §15.4; a download checks the
   * payload against it) and signed its metadata for this file; `unsigned`: stored before 2026-12-03,
   * only the reader list is signed (downloads need `allowUnsigned`; `rekeyFile` signs it); null:
   * not known (no access, or the version is still being uploaded).
   */
  readonly contents: 'signed' | 'unsigned' | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** An unfinished upload (first version or revocation): bytes the relay holds of how many. */
  readonly upload?: { readonly received: number; readonly payloadSize: number };
}

export interface PutResult {
  readonly file: FileSummary;
  /** Devices that got no stanza because they have not published a file key. */
  readonly skipped: readonly { user: string; deviceId: number }[];
  /** The upload continued an earlier, interrupted one. */
  readonly resumed: boolean;
}

export interface PutOptions {
  /** Users who may read the file (besides the owner's devices). */
  to?: readonly string[];
  onProgress?: ProgressListener;
  acceptNewKey?: boolean;
  /** Stops the upload (it stays resumable: put the same source again). */
  signal?: AbortSignal;
}

export interface DownloadOptions {
  /**
   * Accept a file stored before 2026-12-03, whose contents its owner did not sign (`contents:
   * 'unsigned'`); refused otherwise (UnsignedFileError). A signed file is always checked.
   */
  allowUnsigned?: boolean;
}

export interface ExportResult {
  readonly file: FileSummary;
  /** `AGE-SECRET-KEY-1…`: decrypts the exported file. A secret. */
  readonly identity: string;
  /** `age1…`: its public recipient. */
  readonly recipient: string;
}
