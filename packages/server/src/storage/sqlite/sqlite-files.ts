/**
 * File metadata in SQLite (docs/API.md §8; migrations/004_files.sql, 006_file_seals.sql). Writes go through group
 * commit like every other SQLite write (one closure per method, atomic in its savepoint, durable
 * before it resolves); every check a write depends on is made inside its closure. `= +?`: see
 * sqlite-storage.ts (no re-prepare on every run).
 */
import type { DatabaseSync } from 'node:sqlite';
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
import type { GroupCommit } from './group-commit.js';
import { Pluck } from './pluck.js';

type FileRow = { id: Uint8Array; owner: string; revision: number; current_version: number; last_version: number; created_at: number; updated_at: number };
type VersionRow = {
  version: number;
  header: Uint8Array;
  meta: Uint8Array;
  payload_size: number;
  received: number;
  lease_token: Uint8Array | null;
  lease_until: number | null;
  seal: Uint8Array | null;
};

const same = (a: Uint8Array | null, b: Uint8Array) => a !== null && Buffer.compare(a, b) === 0;
const toVersion = (v: VersionRow): FileVersion => ({
  version: v.version,
  header: v.header,
  meta: v.meta,
  payloadSize: v.payload_size,
  received: v.received,
  ...(v.seal ? { seal: v.seal } : {}),
});
const NOT_FOUND: FileNotFound = { status: 'not_found' };

export class SqliteFiles implements FileRepository {
  private readonly s;

  constructor(
    db: DatabaseSync,
    private readonly w: GroupCommit,
  ) {
    this.s = {
      file: db.prepare('SELECT id, owner, revision, current_version, last_version, created_at, updated_at FROM files WHERE id = ?'),
      readers: new Pluck<string>(db, 'SELECT user FROM file_readers WHERE file_id = +? ORDER BY user'),
      versions: db.prepare(
        'SELECT version, header, meta, payload_size, received, lease_token, lease_until, seal FROM file_versions WHERE file_id = +? AND version >= +? ORDER BY version',
      ),
      version: db.prepare(
        'SELECT version, header, meta, payload_size, received, lease_token, lease_until, seal FROM file_versions WHERE file_id = ? AND version = ?',
      ),
      versionNumbers: new Pluck<number>(db, 'SELECT version FROM file_versions WHERE file_id = +? ORDER BY version'),
      account: new Pluck<number>(db, 'SELECT 1 FROM accounts WHERE user = ?'),
      countFiles: new Pluck<number>(db, 'SELECT count(*) FROM files WHERE owner = ?'),
      usedBytes: new Pluck<number>(db, 'SELECT coalesce(sum(v.payload_size), 0) FROM files f JOIN file_versions v ON v.file_id = f.id WHERE f.owner = +?'),
      list: db.prepare(
        `SELECT id FROM (
           SELECT id FROM files WHERE owner = +@user AND id > @after
           UNION
           SELECT r.file_id AS id FROM file_readers r
             JOIN files f ON f.id = r.file_id
             JOIN file_versions v ON v.file_id = f.id AND v.version = f.current_version
            WHERE r.user = +@user AND r.file_id > @after AND v.received = v.payload_size
         ) ORDER BY id LIMIT +@limit`,
      ),
      insertFile: db.prepare('INSERT INTO files (id, owner, revision, current_version, last_version, created_at, updated_at) VALUES (?, ?, 1, 1, 1, ?, ?)'),
      insertReader: db.prepare('INSERT INTO file_readers (file_id, user) VALUES (?, ?)'),
      deleteReaders: db.prepare('DELETE FROM file_readers WHERE file_id = ?'),
      insertVersion: db.prepare('INSERT INTO file_versions (file_id, version, header, meta, payload_size, received, touched_at) VALUES (?, ?, ?, ?, ?, 0, ?)'),
      deleteVersion: db.prepare('DELETE FROM file_versions WHERE file_id = ? AND version = ?'),
      deleteVersionsBelow: new Pluck<number>(db, 'DELETE FROM file_versions WHERE file_id = ? AND version < ? RETURNING version'),
      setHeader: db.prepare('UPDATE file_versions SET header = ?, meta = coalesce(?, meta) WHERE file_id = ? AND version = ?'),
      bumpRevision: db.prepare('UPDATE files SET revision = revision + 1, updated_at = ? WHERE id = ?'),
      newPending: db.prepare('UPDATE files SET revision = revision + 1, last_version = ?, updated_at = ? WHERE id = ?'),
      promote: db.prepare('UPDATE files SET current_version = ?, revision = revision + 1, updated_at = ? WHERE id = ?'),
      touchFile: db.prepare('UPDATE files SET updated_at = ? WHERE id = ?'),
      lease: db.prepare('UPDATE file_versions SET lease_token = ?, lease_until = ?, touched_at = ? WHERE file_id = ? AND version = ?'),
      record: db.prepare(
        'UPDATE file_versions SET received = ?, lease_token = NULL, lease_until = NULL, touched_at = ?, seal = coalesce(?, seal) WHERE file_id = ? AND version = ? AND lease_token = ?',
      ),
      fileExists: new Pluck<number>(db, 'SELECT 1 FROM files WHERE id = ?'),
      release: db.prepare('UPDATE file_versions SET lease_token = NULL, lease_until = NULL WHERE file_id = ? AND version = ? AND lease_token = ?'),
      deleteFile: db.prepare('DELETE FROM files WHERE id = ?'),
      hasVersion: new Pluck<number>(db, 'SELECT 1 FROM file_versions WHERE file_id = ? AND version = ?'),
      staleFiles: new Pluck<Uint8Array>(
        db,
        `SELECT f.id FROM file_versions v JOIN files f ON f.id = v.file_id AND f.current_version = v.version
          WHERE v.received < v.payload_size AND v.touched_at <= ?`,
      ),
      stalePending: db.prepare(
        `SELECT v.file_id, v.version FROM file_versions v JOIN files f ON f.id = v.file_id AND v.version > f.current_version
          WHERE v.received < v.payload_size AND v.touched_at <= ?`,
      ),
    };
  }

  private load(id: Uint8Array): FileRecord | undefined {
    const f = this.s.file.get(id) as FileRow | undefined;
    if (!f) return undefined;
    const versions = this.s.versions.all(id, f.current_version) as VersionRow[];
    const current = versions.find((v) => v.version === f.current_version);
    if (!current) return undefined;
    const pending = versions.find((v) => v.version > f.current_version);
    return {
      id: f.id,
      owner: f.owner,
      readers: this.s.readers.all(id) as string[],
      revision: f.revision,
      current: toVersion(current),
      ...(pending ? { pending: toVersion(pending) } : {}),
      createdAt: f.created_at,
      updatedAt: f.updated_at,
    };
  }

  private readersExist(readers: readonly string[]): boolean {
    return readers.every((r) => this.s.account.get(r));
  }

  private setReaders(id: Uint8Array, readers: readonly string[]): void {
    this.s.deleteReaders.run(id);
    for (const r of readers) this.s.insertReader.run(id, r);
  }

  async create(file: NewFile, limits: FileLimits): Promise<CreateFileResult> {
    return this.w.run((): CreateFileResult => {
      if (this.s.fileExists.get(file.id)) return { status: 'id_taken' };
      if (!this.readersExist(file.readers)) return { status: 'unknown_reader' };
      if ((this.s.countFiles.get(file.owner) as number) >= limits.maxFilesPerUser) return { status: 'too_many_files' };
      const used = this.s.usedBytes.get(file.owner) as number;
      if (used + file.payloadSize > limits.userQuotaBytes) return { status: 'quota_exceeded', usedBytes: used };
      this.s.insertFile.run(file.id, file.owner, file.createdAt, file.createdAt);
      this.setReaders(file.id, file.readers);
      this.s.insertVersion.run(file.id, 1, file.header, file.meta, file.payloadSize, file.createdAt);
      return { status: 'created' };
    }, file.header.length + file.meta.length);
  }

  async get(id: Uint8Array): Promise<FileRecord | undefined> {
    return this.load(id);
  }

  async list(user: string, options: { readonly after?: Uint8Array; readonly limit: number }): Promise<FileRecord[]> {
    const ids = (this.s.list.all({ user, after: options.after ?? new Uint8Array(0), limit: options.limit }) as { id: Uint8Array }[]).map((r) => r.id);
    return ids.flatMap((id) => this.load(id) ?? []);
  }

  async replaceHeader(u: FileHeaderUpdate): Promise<UpdateFileResult> {
    return this.w.run(
      (): UpdateFileResult => {
        const f = this.s.file.get(u.id) as FileRow | undefined;
        if (!f || f.owner !== u.owner) return NOT_FOUND;
        if (f.revision !== u.expectedRevision) return { status: 'stale', revision: f.revision };
        const current = this.s.version.get(u.id, f.current_version) as VersionRow;
        if (current.received < current.payload_size) return { status: 'incomplete' };
        // A revocation in progress: a share or re-wrap made now would start from the reader list
        // the revocation is replacing (review L2); the pending version's list wins once it completes.
        if (f.last_version > f.current_version && this.s.hasVersion.get(u.id, f.last_version)) return { status: 'pending' };
        if (u.readers && !this.readersExist(u.readers)) return { status: 'unknown_reader' };
        this.s.setHeader.run(u.header, u.meta ?? null, u.id, f.current_version);
        if (u.readers) this.setReaders(u.id, u.readers);
        this.s.bumpRevision.run(u.updatedAt, u.id);
        return { status: 'updated', revision: f.revision + 1 };
      },
      u.header.length + (u.meta?.length ?? 0),
    );
  }

  async createVersion(v: NewFileVersion, limits: FileLimits): Promise<NewVersionResult> {
    return this.w.run((): NewVersionResult => {
      const f = this.s.file.get(v.id) as FileRow | undefined;
      if (!f || f.owner !== v.owner) return NOT_FOUND;
      if (f.revision !== v.expectedRevision) return { status: 'stale', revision: f.revision };
      const versions = this.s.versions.all(v.id, f.current_version) as VersionRow[];
      const current = versions.find((x) => x.version === f.current_version) as VersionRow;
      if (current.received < current.payload_size) return { status: 'incomplete' };
      if (!this.readersExist(v.readers)) return { status: 'unknown_reader' };
      const pending = versions.find((x) => x.version > f.current_version);
      const used = this.s.usedBytes.get(v.owner) as number;
      if (used - (pending?.payload_size ?? 0) + v.payloadSize > limits.userQuotaBytes) return { status: 'quota_exceeded', usedBytes: used };
      if (pending) this.s.deleteVersion.run(v.id, pending.version);
      const version = f.last_version + 1;
      this.s.insertVersion.run(v.id, version, v.header, v.meta, v.payloadSize, v.updatedAt);
      this.setReaders(v.id, v.readers);
      this.s.newPending.run(version, v.updatedAt, v.id);
      return { status: 'created', version, revision: f.revision + 1, ...(pending ? { dropped: pending.version } : {}) };
    }, v.header.length + v.meta.length);
  }

  async beginAppend(a: AppendStart): Promise<BeginAppendResult> {
    return this.w.run((): BeginAppendResult => {
      const f = this.s.file.get(a.id) as FileRow | undefined;
      if (!f || f.owner !== a.owner || a.version < f.current_version) return NOT_FOUND;
      const v = this.s.version.get(a.id, a.version) as VersionRow | undefined;
      if (!v) return NOT_FOUND;
      if (v.received === v.payload_size) return { status: 'complete' };
      if (v.lease_token !== null && (v.lease_until ?? 0) > a.now) return { status: 'busy' };
      if (a.offset !== v.received) return { status: 'offset_mismatch', received: v.received };
      if (a.offset + a.length > v.payload_size) return { status: 'too_long' };
      if (a.sealed && a.offset + a.length !== v.payload_size) return { status: 'seal_not_final' };
      this.s.lease.run(a.token, a.leaseUntil, a.now, a.id, a.version);
      return { status: 'ok' };
    });
  }

  async finishAppend(id: Uint8Array, version: number, token: Uint8Array, received: number, now: number, seal?: Uint8Array): Promise<FinishAppendResult> {
    return this.w.run((): FinishAppendResult => {
      const f = this.s.file.get(id) as FileRow | undefined;
      const v = f && (this.s.version.get(id, version) as VersionRow | undefined);
      if (!f || !v) return { status: 'gone' };
      if (!same(v.lease_token, token) || received < v.received || received > v.payload_size) return { status: 'lost' };
      const complete = received === v.payload_size;
      this.s.record.run(received, now, complete ? (seal ?? null) : null, id, version, token);
      if (complete && version > f.current_version) {
        this.s.deleteVersionsBelow.all(id, version);
        this.s.promote.run(version, now, id);
        return { status: 'appended', received, complete, promoted: { revision: f.revision + 1, dropped: f.current_version } };
      }
      if (complete) this.s.touchFile.run(now, id);
      return { status: 'appended', received, complete };
    });
  }

  async abortAppend(id: Uint8Array, version: number, token: Uint8Array): Promise<'released' | 'gone'> {
    return this.w.run(() => {
      if (!this.s.hasVersion.get(id, version)) return 'gone' as const;
      this.s.release.run(id, version, token);
      return 'released' as const;
    });
  }

  async delete(id: Uint8Array, user: string) {
    return this.w.run(() => {
      const f = this.load(id);
      if (!f) return NOT_FOUND;
      if (f.owner !== user) {
        const visible = f.readers.includes(user) && f.current.received === f.current.payloadSize;
        return visible ? { status: 'forbidden' as const } : NOT_FOUND;
      }
      const versions = this.s.versionNumbers.all(id) as number[];
      this.s.deleteFile.run(id);
      return { status: 'deleted' as const, versions };
    });
  }

  async pruneStale(before: number): Promise<{ id: Uint8Array; version: number }[]> {
    return this.w.run(() => {
      const out: { id: Uint8Array; version: number }[] = [];
      for (const id of this.s.staleFiles.all(before)) {
        for (const version of this.s.versionNumbers.all(id) as number[]) out.push({ id, version });
        this.s.deleteFile.run(id);
      }
      for (const p of this.s.stalePending.all(before) as { file_id: Uint8Array; version: number }[]) {
        this.s.deleteVersion.run(p.file_id, p.version);
        out.push({ id: p.file_id, version: p.version });
      }
      return out;
    });
  }

  async hasVersion(id: Uint8Array, version: number): Promise<boolean> {
    return !!this.s.hasVersion.get(id, version);
  }
}
