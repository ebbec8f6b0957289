/**
 * File metadata in PostgreSQL (docs/API.md §8; migrations/003_files.sql, 006_file_seals.sql). Each write is one
 * transaction that locks the file row (`FOR UPDATE`) before checking anything, so the revision
 * compare-and-set, the upload lease and promotion hold across relay instances. Creating a file or
 * a version (what can grow an owner's usage) first takes a transaction-scoped advisory lock on
 * the owner, so two concurrent uploads cannot both pass the quota check. Lock order: owner, file.
 */
import type pg from 'pg';
import type { PgQueries } from '../../blobs/postgres-blob-store.js';
import type {
  AppendStart,
  BeginAppendResult,
  CreateFileResult,
  FileHeaderUpdate,
  FileLimits,
  FileNotFound,
  FileRecord,
  FileRepository,
  FileVersion,
  FinishAppendResult,
  NewFile,
  NewFileVersion,
  NewVersionResult,
  UpdateFileResult,
} from '../types.js';

type Db = pg.ClientBase;
type FileRow = { id: Buffer; owner: string; revision: string; current_version: string; last_version: string; created_at: string; updated_at: string };
type VersionRow = {
  file_id: Buffer;
  version: string;
  header: Buffer;
  meta: Buffer;
  payload_size: string;
  received: string;
  lease_token: Buffer | null;
  lease_until: string | null;
  seal: Buffer | null;
};

/** Advisory lock class for per-owner file quota checks ("blindrelay files"). */
const OWNER_LOCK_CLASS = 0x62_6c_66_69;

const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b);
const num = (v: string | number): number => Number(v);
const same = (a: Uint8Array | null, b: Uint8Array) => a !== null && Buffer.compare(a, b) === 0;
const NOT_FOUND: FileNotFound = { status: 'not_found' };
const FILE_COLUMNS = 'id, owner, revision, current_version, last_version, created_at, updated_at';
const VERSION_COLUMNS = 'file_id, version, header, meta, payload_size, received, lease_token, lease_until, seal';

const toVersion = (v: VersionRow): FileVersion => ({
  version: num(v.version),
  header: u8(v.header),
  meta: u8(v.meta),
  payloadSize: num(v.payload_size),
  received: num(v.received),
  ...(v.seal ? { seal: u8(v.seal) } : {}),
});
const complete = (v: VersionRow) => num(v.received) === num(v.payload_size);

export class PostgresFiles implements FileRepository {
  constructor(private readonly db: PgQueries) {}

  private async lockFile(c: Db, id: Uint8Array): Promise<FileRow | undefined> {
    return (await c.query<FileRow>(`SELECT ${FILE_COLUMNS} FROM files WHERE id = $1 FOR UPDATE`, [id])).rows[0];
  }

  private async lockOwner(c: Db, owner: string): Promise<void> {
    await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [OWNER_LOCK_CLASS, owner]);
  }

  private async versionsFrom(c: Db, id: Uint8Array, from: number): Promise<VersionRow[]> {
    return (await c.query<VersionRow>(`SELECT ${VERSION_COLUMNS} FROM file_versions WHERE file_id = $1 AND version >= $2 ORDER BY version`, [id, from])).rows;
  }

  private async readersExist(c: Db, readers: readonly string[]): Promise<boolean> {
    if (readers.length === 0) return true;
    const r = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM accounts WHERE user_name = ANY($1::text[])', [readers]);
    return (r.rows[0] as { n: number }).n === new Set(readers).size;
  }

  private async setReaders(c: Db, id: Uint8Array, readers: readonly string[]): Promise<void> {
    await c.query('DELETE FROM file_readers WHERE file_id = $1', [id]);
    if (readers.length > 0) await c.query('INSERT INTO file_readers (file_id, user_name) SELECT $1, unnest($2::text[])', [id, readers]);
  }

  private async usedBytes(c: Db, owner: string): Promise<number> {
    const r = await c.query<{ n: string }>(
      'SELECT coalesce(sum(v.payload_size), 0) AS n FROM files f JOIN file_versions v ON v.file_id = f.id WHERE f.owner = $1',
      [owner],
    );
    return num((r.rows[0] as { n: string }).n);
  }

  async create(file: NewFile, limits: FileLimits): Promise<CreateFileResult> {
    return this.db.tx(async (c): Promise<CreateFileResult> => {
      await this.lockOwner(c, file.owner);
      // The id is the primary key: a concurrent insert of the same id fails the transaction instead.
      if ((await c.query('SELECT 1 FROM files WHERE id = $1', [file.id])).rows.length > 0) return { status: 'id_taken' };
      if (!(await this.readersExist(c, file.readers))) return { status: 'unknown_reader' };
      const count = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM files WHERE owner = $1', [file.owner])).rows[0] as { n: number };
      if (count.n >= limits.maxFilesPerUser) return { status: 'too_many_files' };
      const used = await this.usedBytes(c, file.owner);
      if (used + file.payloadSize > limits.userQuotaBytes) return { status: 'quota_exceeded', usedBytes: used };
      await c.query('INSERT INTO files (id, owner, revision, current_version, last_version, created_at, updated_at) VALUES ($1, $2, 1, 1, 1, $3, $3)', [
        file.id,
        file.owner,
        file.createdAt,
      ]);
      await this.setReaders(c, file.id, file.readers);
      await c.query('INSERT INTO file_versions (file_id, version, header, meta, payload_size, received, touched_at) VALUES ($1, 1, $2, $3, $4, 0, $5)', [
        file.id,
        file.header,
        file.meta,
        file.payloadSize,
        file.createdAt,
      ]);
      return { status: 'created' };
    });
  }

  /** Files by id, with their readers and live versions, in the order of `ids`. */
  private async loadMany(ids: readonly Uint8Array[]): Promise<FileRecord[]> {
    if (ids.length === 0) return [];
    const files = (await this.db.query<FileRow>(`SELECT ${FILE_COLUMNS} FROM files WHERE id = ANY($1::bytea[])`, [ids])).rows;
    const readers = (
      await this.db.query<{ file_id: Buffer; user_name: string }>(
        'SELECT file_id, user_name FROM file_readers WHERE file_id = ANY($1::bytea[]) ORDER BY user_name COLLATE "C"',
        [ids],
      )
    ).rows;
    const versions = (
      await this.db.query<VersionRow>(
        `SELECT ${VERSION_COLUMNS.split(', ')
          .map((col) => `v.${col}`)
          .join(', ')} FROM file_versions v JOIN files f ON f.id = v.file_id
          WHERE v.file_id = ANY($1::bytea[]) AND v.version >= f.current_version ORDER BY v.version`,
        [ids],
      )
    ).rows;
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    const out: FileRecord[] = [];
    for (const id of ids) {
      const key = hex(id);
      const f = files.find((x) => hex(x.id) === key);
      if (!f) continue;
      const mine = versions.filter((v) => hex(v.file_id) === key);
      const current = mine.find((v) => num(v.version) === num(f.current_version));
      if (!current) continue;
      const pending = mine.find((v) => num(v.version) > num(f.current_version));
      out.push({
        id: u8(f.id),
        owner: f.owner,
        readers: readers.filter((r) => hex(r.file_id) === key).map((r) => r.user_name),
        revision: num(f.revision),
        current: toVersion(current),
        ...(pending ? { pending: toVersion(pending) } : {}),
        createdAt: num(f.created_at),
        updatedAt: num(f.updated_at),
      });
    }
    return out;
  }

  async get(id: Uint8Array): Promise<FileRecord | undefined> {
    return (await this.loadMany([id]))[0];
  }

  async list(user: string, options: { readonly after?: Uint8Array; readonly limit: number }): Promise<FileRecord[]> {
    const r = await this.db.query<{ id: Buffer }>(
      `SELECT id FROM (
         SELECT id FROM files WHERE owner = $1 AND id > $2
         UNION
         SELECT r.file_id AS id FROM file_readers r
           JOIN files f ON f.id = r.file_id
           JOIN file_versions v ON v.file_id = f.id AND v.version = f.current_version
          WHERE r.user_name = $1 AND r.file_id > $2 AND v.received = v.payload_size
       ) ids ORDER BY id LIMIT $3`,
      [user, options.after ?? Buffer.alloc(0), options.limit],
    );
    return this.loadMany(r.rows.map((row) => u8(row.id)));
  }

  async replaceHeader(u: FileHeaderUpdate): Promise<UpdateFileResult> {
    return this.db.tx(async (c): Promise<UpdateFileResult> => {
      const f = await this.lockFile(c, u.id);
      if (!f || f.owner !== u.owner) return NOT_FOUND;
      if (num(f.revision) !== u.expectedRevision) return { status: 'stale', revision: num(f.revision) };
      const [current, pending] = await this.versionsFrom(c, u.id, num(f.current_version));
      if (!current || !complete(current)) return { status: 'incomplete' };
      // A revocation in progress (review L2): see sqlite-files.ts.
      if (pending) return { status: 'pending' };
      if (u.readers && !(await this.readersExist(c, u.readers))) return { status: 'unknown_reader' };
      await c.query('UPDATE file_versions SET header = $1, meta = coalesce($2, meta) WHERE file_id = $3 AND version = $4', [
        u.header,
        u.meta ?? null,
        u.id,
        f.current_version,
      ]);
      if (u.readers) await this.setReaders(c, u.id, u.readers);
      await c.query('UPDATE files SET revision = revision + 1, updated_at = $1 WHERE id = $2', [u.updatedAt, u.id]);
      return { status: 'updated', revision: num(f.revision) + 1 };
    });
  }

  async createVersion(v: NewFileVersion, limits: FileLimits): Promise<NewVersionResult> {
    return this.db.tx(async (c): Promise<NewVersionResult> => {
      await this.lockOwner(c, v.owner);
      const f = await this.lockFile(c, v.id);
      if (!f || f.owner !== v.owner) return NOT_FOUND;
      if (num(f.revision) !== v.expectedRevision) return { status: 'stale', revision: num(f.revision) };
      const versions = await this.versionsFrom(c, v.id, num(f.current_version));
      const current = versions.find((x) => num(x.version) === num(f.current_version));
      if (!current || !complete(current)) return { status: 'incomplete' };
      if (!(await this.readersExist(c, v.readers))) return { status: 'unknown_reader' };
      const pending = versions.find((x) => num(x.version) > num(f.current_version));
      const used = await this.usedBytes(c, v.owner);
      if (used - (pending ? num(pending.payload_size) : 0) + v.payloadSize > limits.userQuotaBytes) return { status: 'quota_exceeded', usedBytes: used };
      if (pending) await c.query('DELETE FROM file_versions WHERE file_id = $1 AND version = $2', [v.id, pending.version]);
      const version = num(f.last_version) + 1;
      await c.query('INSERT INTO file_versions (file_id, version, header, meta, payload_size, received, touched_at) VALUES ($1, $2, $3, $4, $5, 0, $6)', [
        v.id,
        version,
        v.header,
        v.meta,
        v.payloadSize,
        v.updatedAt,
      ]);
      await this.setReaders(c, v.id, v.readers);
      await c.query('UPDATE files SET revision = revision + 1, last_version = $1, updated_at = $2 WHERE id = $3', [version, v.updatedAt, v.id]);
      return { status: 'created', version, revision: num(f.revision) + 1, ...(pending ? { dropped: num(pending.version) } : {}) };
    });
  }

  async beginAppend(a: AppendStart): Promise<BeginAppendResult> {
    return this.db.tx(async (c): Promise<BeginAppendResult> => {
      const f = await this.lockFile(c, a.id);
      if (!f || f.owner !== a.owner || a.version < num(f.current_version)) return NOT_FOUND;
      const v = (await c.query<VersionRow>(`SELECT ${VERSION_COLUMNS} FROM file_versions WHERE file_id = $1 AND version = $2`, [a.id, a.version])).rows[0];
      if (!v) return NOT_FOUND;
      if (complete(v)) return { status: 'complete' };
      if (v.lease_token !== null && num(v.lease_until ?? 0) > a.now) return { status: 'busy' };
      if (a.offset !== num(v.received)) return { status: 'offset_mismatch', received: num(v.received) };
      if (a.offset + a.length > num(v.payload_size)) return { status: 'too_long' };
      if (a.sealed && a.offset + a.length !== num(v.payload_size)) return { status: 'seal_not_final' };
      await c.query('UPDATE file_versions SET lease_token = $1, lease_until = $2, touched_at = $3 WHERE file_id = $4 AND version = $5', [
        a.token,
        a.leaseUntil,
        a.now,
        a.id,
        a.version,
      ]);
      return { status: 'ok' };
    });
  }

  async finishAppend(id: Uint8Array, version: number, token: Uint8Array, received: number, now: number, seal?: Uint8Array): Promise<FinishAppendResult> {
    return this.db.tx(async (c): Promise<FinishAppendResult> => {
      const f = await this.lockFile(c, id);
      const v = f && (await c.query<VersionRow>(`SELECT ${VERSION_COLUMNS} FROM file_versions WHERE file_id = $1 AND version = $2`, [id, version])).rows[0];
      if (!f || !v) return { status: 'gone' };
      const size = num(v.payload_size);
      if (!same(v.lease_token, token) || received < num(v.received) || received > size) return { status: 'lost' };
      const done = received === size;
      await c.query(
        'UPDATE file_versions SET received = $1, lease_token = NULL, lease_until = NULL, touched_at = $2, seal = coalesce($5, seal) WHERE file_id = $3 AND version = $4',
        [received, now, id, version, done ? (seal ?? null) : null],
      );
      const currentVersion = num(f.current_version);
      if (done && version > currentVersion) {
        // The old version's chunks go with its metadata (ON DELETE CASCADE), in this transaction.
        await c.query('DELETE FROM file_versions WHERE file_id = $1 AND version < $2', [id, version]);
        await c.query('UPDATE files SET current_version = $1, revision = revision + 1, updated_at = $2 WHERE id = $3', [version, now, id]);
        return { status: 'appended', received, complete: true, promoted: { revision: num(f.revision) + 1, dropped: currentVersion } };
      }
      if (done) await c.query('UPDATE files SET updated_at = $1 WHERE id = $2', [now, id]);
      return { status: 'appended', received, complete: done };
    });
  }

  async abortAppend(id: Uint8Array, version: number, token: Uint8Array): Promise<'released' | 'gone'> {
    const r = await this.db.query<{ released: boolean }>(
      `UPDATE file_versions SET lease_token = CASE WHEN lease_token = $3 THEN NULL ELSE lease_token END,
              lease_until = CASE WHEN lease_token = $3 THEN NULL ELSE lease_until END
        WHERE file_id = $1 AND version = $2 RETURNING true AS released`,
      [id, version, token],
    );
    return r.rows.length > 0 ? 'released' : 'gone';
  }

  async delete(id: Uint8Array, user: string) {
    return this.db.tx(async (c) => {
      const f = await this.lockFile(c, id);
      if (!f) return NOT_FOUND;
      if (f.owner !== user) {
        const reader = (await c.query('SELECT 1 FROM file_readers WHERE file_id = $1 AND user_name = $2', [id, user])).rows.length > 0;
        const [current] = await this.versionsFrom(c, id, num(f.current_version));
        return reader && current && complete(current) ? { status: 'forbidden' as const } : NOT_FOUND;
      }
      const versions = (await c.query<{ version: string }>('DELETE FROM file_versions WHERE file_id = $1 RETURNING version', [id])).rows.map((r) =>
        num(r.version),
      );
      await c.query('DELETE FROM files WHERE id = $1', [id]);
      return { status: 'deleted' as const, versions: versions.sort((a, b) => a - b) };
    });
  }

  async pruneStale(before: number): Promise<{ id: Uint8Array; version: number }[]> {
    return this.db.tx(async (c) => {
      const out: { id: Uint8Array; version: number }[] = [];
      const stale = await c.query<{ id: Buffer }>(
        `SELECT f.id FROM file_versions v JOIN files f ON f.id = v.file_id AND f.current_version = v.version
          WHERE v.received < v.payload_size AND v.touched_at <= $1 FOR UPDATE OF f`,
        [before],
      );
      for (const { id } of stale.rows) {
        const gone = await c.query<{ version: string }>('DELETE FROM file_versions WHERE file_id = $1 RETURNING version', [id]);
        for (const r of gone.rows) out.push({ id: u8(id), version: num(r.version) });
        await c.query('DELETE FROM files WHERE id = $1', [id]);
      }
      const pending = await c.query<{ file_id: Buffer; version: string }>(
        `DELETE FROM file_versions v USING files f
          WHERE f.id = v.file_id AND v.version > f.current_version AND v.received < v.payload_size AND v.touched_at <= $1
          RETURNING v.file_id, v.version`,
        [before],
      );
      for (const r of pending.rows) out.push({ id: u8(r.file_id), version: num(r.version) });
      return out;
    });
  }

  async hasVersion(id: Uint8Array, version: number): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM file_versions WHERE file_id = $1 AND version = $2', [id, version])).rows.length > 0;
  }
}
