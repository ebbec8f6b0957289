/**
 * Account deletion in PostgreSQL (storage/types.ts `AccountRepository.delete`, docs/API.md §1a):
 * one transaction that locks the account row (compare-and-set on the device-list version), then
 * deletes every row keyed by the user, children before parents (the foreign-key cascades would
 * remove most of them; naming every table keeps the list readable and independent of them).
 * Payload chunks (`file_chunks`) go with their versions. Messages the user sent that still wait
 * in other users' queues are deleted, and those queues' `queue_sizes` counters lowered in the
 * same statement.
 *
 * What stays: dead tuples until PostgreSQL's (auto)vacuum reuses their space, and the write-ahead
 * log and its archives under the operator's retention (docs/DEPLOY.md); no row. No index on
 * `messages.from_user`: that one statement scans the table, which is acceptable for a rare
 * operation, where an index would cost every send.
 */
import type { PgQueries } from '../../blobs/postgres-blob-store.js';
import type { AccountDeletionRequest, AccountDeletionResult } from '../types.js';

const SENT_MESSAGES_SQL = `
WITH gone AS (DELETE FROM messages WHERE from_user = $1 AND user_name <> $1 RETURNING user_name, device_id),
     counts AS (SELECT user_name, device_id, count(*) AS n FROM gone GROUP BY user_name, device_id)
UPDATE queue_sizes s SET queued = s.queued - counts.n FROM counts
 WHERE s.user_name = counts.user_name AND s.device_id = counts.device_id`;

/** Every table keyed by a user name (migrations 001-007), children before parents. */
const ROWS_SQL = [
  'DELETE FROM file_readers WHERE user_name = $1',
  'DELETE FROM file_chunks WHERE file_id IN (SELECT id FROM files WHERE owner = $1)',
  'DELETE FROM file_readers WHERE file_id IN (SELECT id FROM files WHERE owner = $1)',
  'DELETE FROM file_versions WHERE file_id IN (SELECT id FROM files WHERE owner = $1)',
  'DELETE FROM files WHERE owner = $1',
  'DELETE FROM collection_members WHERE user_name = $1',
  'DELETE FROM record_postings WHERE coll IN (SELECT seq FROM collections WHERE owner = $1)',
  'DELETE FROM records WHERE coll IN (SELECT seq FROM collections WHERE owner = $1)',
  'DELETE FROM collection_members WHERE coll IN (SELECT seq FROM collections WHERE owner = $1)',
  'DELETE FROM collections WHERE owner = $1',
  'DELETE FROM messages WHERE user_name = $1',
  'DELETE FROM queue_sizes WHERE user_name = $1',
  'DELETE FROM signed_prekeys WHERE user_name = $1',
  'DELETE FROM one_time_prekeys WHERE user_name = $1',
  'DELETE FROM pq_prekeys WHERE user_name = $1',
  'DELETE FROM pq_last_resort_prekeys WHERE user_name = $1',
  'DELETE FROM auth_challenges WHERE user_name = $1',
  'DELETE FROM auth_tokens WHERE user_name = $1',
  'DELETE FROM request_nonces WHERE user_name = $1',
  'DELETE FROM send_marks WHERE user_name = $1',
  'DELETE FROM backup_logins WHERE user_name = $1',
  'DELETE FROM backups WHERE user_name = $1',
  'DELETE FROM devices WHERE user_name = $1',
  'DELETE FROM accounts WHERE user_name = $1',
];

export function deleteAccount(db: PgQueries, request: AccountDeletionRequest): Promise<AccountDeletionResult> {
  const { user } = request;
  return db.tx(async (c): Promise<AccountDeletionResult> => {
    const v = (await c.query<{ list_version: string }>('SELECT list_version FROM accounts WHERE user_name = $1 FOR UPDATE', [user])).rows[0];
    if (!v) return { status: 'not_found' };
    if (Number(v.list_version) !== request.expectedListVersion) return { status: 'stale' };
    const devices = (await c.query<{ device_id: string }>('SELECT device_id FROM devices WHERE user_name = $1 ORDER BY device_id', [user])).rows.map((r) =>
      Number(r.device_id),
    );
    await c.query(SENT_MESSAGES_SQL, [user]);
    for (const sql of ROWS_SQL) await c.query(sql, [user]);
    return { status: 'deleted', devices };
  });
}
