/**
 * Housekeeping of files (docs/API.md §8 "Limits"), shared by both stores' `pruneExpired`:
 * incomplete uploads untouched for 24 h go (a file whose version 1 never completed is deleted; a
 * stale pending version is dropped, the current one stays), then their blobs. Metadata goes
 * first, blobs second: a crash in between leaves only an orphan blob, which nobody can read (no
 * metadata names it) and which the orphan sweep deletes on a later pass.
 */
import type { BlobStore } from '../blobs/types.js';
import type { FileRepository } from './types.js';

export const FILE_UPLOAD_TTL_MS = 24 * 3_600_000;

export async function pruneFiles(files: FileRepository, blobs: BlobStore, now: number, options: { readonly sweepOrphans: boolean }): Promise<void> {
  for (const v of await files.pruneStale(now - FILE_UPLOAD_TTL_MS)) await blobs.delete({ fileId: v.id, version: v.version });
  if (!options.sweepOrphans) return;
  // Blobs first, metadata second: a blob listed here was created after its metadata was
  // committed, so missing metadata now means it was deleted, never that it is about to appear.
  for (const key of await blobs.list()) {
    if (!(await files.hasVersion(key.fileId, key.version))) await blobs.delete(key);
  }
}
