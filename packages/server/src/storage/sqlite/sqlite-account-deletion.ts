/**
 * Account deletion in the SQLite store (storage/types.ts `AccountRepository.delete`, docs/API.md
 * §1a). Two steps:
 *
 * 1. One write (group commit, so atomic and durable): the compare-and-set on the device-list
 *    version, then every row keyed by the user. `foreign_keys = ON` cascades a device's prekeys,
 *    queue, tokens, challenges, request nonces, send mark and queue counter, and a file's readers
 *    and versions; the statements below name every table anyway, so the list is readable here.
 *    Messages the user sent that still wait in other users' queues are deleted too (the
 *    `messages_queued_delete` trigger keeps those queues' counters right). There is no index on
 *    `messages.from_user`: that one statement scans the table, which step 2 does anyway, and an
 *    index would cost every send for a rare operation.
 * 2. The file bytes: the payload blobs are unlinked, then the database is scrubbed. `secure_delete`
 *    zeroes deleted cells, but not everything: an interior b-tree page may keep a deleted key as a
 *    divider, and older page images stay in the WAL until a checkpoint. So: commit whatever is
 *    queued, checkpoint (TRUNCATE), VACUUM (the file is rebuilt from the live rows; pages past the
 *    new end are cut off), checkpoint (TRUNCATE) again, leaving an empty WAL. VACUUM rewrites the
 *    whole database and blocks the event loop while it runs (measured in docs/DECISIONS.md); its
 *    temporary copy lives in SQLite's temp directory (SQLITE_TMPDIR, not the data directory) and
 *    is unlinked when done.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { BlobStore } from '../../blobs/types.js';
import type { AccountDeletionRequest, AccountDeletionResult } from '../types.js';
import type { GroupCommit } from './group-commit.js';
import { Pluck } from './pluck.js';

type Deleted = { readonly status: 'deleted'; readonly devices: number[]; readonly blobs: { fileId: Uint8Array; version: number }[] };

export class SqliteAccountDeletion {
  private readonly s;
  /** A scrub that failed (the deletion itself committed): retried by `retryScrub` (storage housekeeping). */
  private scrubPending = false;

  constructor(
    private readonly db: DatabaseSync,
    private readonly w: GroupCommit,
    private readonly blobs: BlobStore,
  ) {
    this.s = {
      version: new Pluck<number>(db, 'SELECT list_version FROM accounts WHERE user = ?'),
      devices: db.prepare('SELECT device_id FROM devices WHERE user = +? ORDER BY device_id'),
      blobs: db.prepare('SELECT v.file_id, v.version FROM files f JOIN file_versions v ON v.file_id = f.id WHERE f.owner = +?'),
      // Every table keyed by a user name (migrations 001-011; 008 added a column to accounts). Children before parents, so the
      // result does not depend on the cascades (which remove the same rows).
      rows: [
        // What others hold that names the user.
        'DELETE FROM messages WHERE from_user = ?',
        'DELETE FROM file_readers WHERE user = ?',
        // The files the user owns.
        'DELETE FROM file_readers WHERE file_id IN (SELECT id FROM files WHERE owner = ?)',
        'DELETE FROM file_versions WHERE file_id IN (SELECT id FROM files WHERE owner = ?)',
        'DELETE FROM files WHERE owner = ?',
        // Encrypted records (011): membership in others' collections, then the user's collections.
        'DELETE FROM collection_members WHERE user = ?',
        'DELETE FROM record_postings WHERE coll IN (SELECT seq FROM collections WHERE owner = ?)',
        'DELETE FROM records WHERE coll IN (SELECT seq FROM collections WHERE owner = ?)',
        'DELETE FROM collection_members WHERE coll IN (SELECT seq FROM collections WHERE owner = ?)',
        'DELETE FROM collections WHERE owner = ?',
        // Per device.
        'DELETE FROM messages WHERE user = ?',
        'DELETE FROM queue_sizes WHERE user = ?',
        'DELETE FROM signed_prekeys WHERE user = ?',
        'DELETE FROM one_time_prekeys WHERE user = ?',
        'DELETE FROM pq_prekeys WHERE user = ?',
        'DELETE FROM pq_last_resort_prekeys WHERE user = ?',
        'DELETE FROM auth_challenges WHERE user = ?',
        'DELETE FROM auth_tokens WHERE user = ?',
        'DELETE FROM request_nonces WHERE user = ?',
        'DELETE FROM send_marks WHERE user = ?',
        // Its key backup (009).
        'DELETE FROM backup_logins WHERE user = ?',
        'DELETE FROM backups WHERE user = ?',
        'DELETE FROM devices WHERE user = ?',
        'DELETE FROM accounts WHERE user = ?',
      ].map((sql) => db.prepare(sql)),
    };
  }

  async delete(request: AccountDeletionRequest): Promise<AccountDeletionResult> {
    const { user } = request;
    const r = await this.w.run((): AccountDeletionResult | Deleted => {
      const version = this.s.version.get(user) as number | undefined;
      if (version === undefined) return { status: 'not_found' };
      if (version !== request.expectedListVersion) return { status: 'stale' };
      const devices = (this.s.devices.all(user) as { device_id: number }[]).map((d) => d.device_id);
      const blobs = (this.s.blobs.all(user) as { file_id: Uint8Array; version: number }[]).map((b) => ({ fileId: b.file_id, version: b.version }));
      for (const statement of this.s.rows) statement.run(user);
      return { status: 'deleted', devices, blobs };
    });
    if (r.status !== 'deleted') return r;
    const { blobs } = r as Deleted;
    for (const key of blobs) await this.blobs.delete(key);
    this.scrub();
    return { status: 'deleted', devices: r.devices };
  }

  /**
   * Leaves no deleted byte in `relay.db` or `relay.db-wal` (step 2 above). Synchronous from the
   * drain to the last checkpoint, so no write of another request can slip in between.
   */
  private scrub(): void {
    if (!this.db.isOpen) return;
    this.scrubPending = true;
    this.w.drain();
    this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    this.db.exec('VACUUM');
    this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    this.scrubPending = false;
  }

  /** Runs the scrub again if the last one failed (a deletion answered with an error after its rows were gone). */
  retryScrub(): void {
    if (this.scrubPending) this.scrub();
  }
}
