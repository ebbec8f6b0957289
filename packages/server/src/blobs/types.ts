/**
 * Payload bytes of encrypted files (docs/API.md §8), apart from their metadata (storage/types.ts
 * `FileRepository`). The bytes are age STREAM ciphertext: opaque to the server.
 *
 * A blob is named by (file id, version); version numbers are never reused within a file, so a
 * late write to a version that was replaced or deleted can never land in a live blob. The
 * metadata's `received` is the truth about how many bytes a blob holds: a crash between an append
 * and its metadata update leaves a tail that no reader sees and that the next append cuts off.
 */
import type { Readable } from 'node:stream';

export interface BlobKey {
  /** 16 bytes. */
  readonly fileId: Uint8Array;
  readonly version: number;
}

export interface BlobStore {
  /**
   * Cuts the blob to `offset` bytes (dropping any unrecorded tail), then appends `data` there;
   * resolves once the bytes are durable. `offset` 0 creates the blob. Throws if the blob holds
   * fewer than `offset` bytes (it was lost). The caller serialises appends to one blob.
   */
  append(key: BlobKey, offset: number, data: Uint8Array): Promise<void>;
  /**
   * Bytes `start` … `end - 1` as a stream, read piece by piece (memory does not grow with the
   * size). Resolves once the blob is open, so a deletion after that point does not cut the
   * filesystem stream short.
   */
  read(key: BlobKey, start: number, end: number): Promise<Readable>;
  /** Deletes the blob (idempotent); durable on resolve. */
  delete(key: BlobKey): Promise<void>;
  /** Every stored blob, for the orphan sweep (blobs whose version's metadata is gone). */
  list(): Promise<BlobKey[]>;
}

/** The blob of a version holds fewer bytes than its metadata records: storage was lost or tampered with. */
export class BlobMissingError extends Error {
  constructor() {
    super('blob shorter than recorded');
    this.name = 'BlobMissingError';
  }
}
