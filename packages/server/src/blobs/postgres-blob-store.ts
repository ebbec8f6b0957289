/**
 * The cluster blob store: payload bytes in PostgreSQL, so every relay instance sees the same
 * bytes. Table `file_chunks` (storage/postgres/migrations/003_files.sql): one row per append,
 * `(file_id, version, pos, data)`, referencing its version's metadata ON DELETE CASCADE (deleting
 * a version's metadata deletes its bytes in the same transaction). An append is one transaction
 * (durable once committed): it deletes chunks at or past `offset` (a tail never recorded in the
 * metadata), then inserts. Reads fetch slices of at most 1 MiB with `substring` (the column is
 * stored EXTERNAL, uncompressed, so a slice does not load the whole chunk).
 */
import { Readable } from 'node:stream';
import type pg from 'pg';
import { type BlobKey, BlobMissingError, type BlobStore } from './types.js';

/** What this store needs of the storage's connection pool (postgres-storage.ts). */
export interface PgQueries {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  tx<T>(f: (c: pg.ClientBase) => Promise<T>): Promise<T>;
}

export const READ_PIECE_BYTES = 1024 * 1024;

const SIZE_SQL = 'SELECT coalesce(max(pos + length(data)), 0) AS n FROM file_chunks WHERE file_id = $1 AND version = $2';
const num = (v: string | number): number => Number(v);

export class PostgresBlobStore implements BlobStore {
  constructor(private readonly db: PgQueries) {}

  private async size(c: Pick<pg.ClientBase, 'query'> | PgQueries, key: BlobKey): Promise<number> {
    const r = await (c as PgQueries).query<{ n: string }>(SIZE_SQL, [key.fileId, key.version]);
    return num((r.rows[0] as { n: string }).n);
  }

  async append(key: BlobKey, offset: number, data: Uint8Array): Promise<void> {
    await this.db.tx(async (c) => {
      await c.query('DELETE FROM file_chunks WHERE file_id = $1 AND version = $2 AND pos >= $3', [key.fileId, key.version, offset]);
      if ((await this.size(c, key)) !== offset) throw new BlobMissingError();
      await c.query('INSERT INTO file_chunks (file_id, version, pos, data) VALUES ($1, $2, $3, $4)', [key.fileId, key.version, offset, data]);
    });
  }

  async read(key: BlobKey, start: number, end: number): Promise<Readable> {
    if ((await this.size(this.db, key)) < end) throw new BlobMissingError();
    const db = this.db;
    async function* pieces(): AsyncGenerator<Buffer> {
      let pos = start;
      while (pos < end) {
        const r = await db.query<{ piece: Buffer }>(
          `SELECT substring(data FROM ($3::bigint - pos + 1)::int FOR $4::int) AS piece FROM file_chunks
            WHERE file_id = $1 AND version = $2 AND pos <= $3 ORDER BY pos DESC LIMIT 1`,
          [key.fileId, key.version, pos, Math.min(READ_PIECE_BYTES, end - pos)],
        );
        const piece = r.rows[0]?.piece;
        // Deleted meanwhile (a newer version completed, or the file was deleted): end with an error.
        if (!piece || piece.length === 0) throw new BlobMissingError();
        pos += piece.length;
        yield piece;
      }
    }
    return Readable.from(pieces(), { objectMode: false });
  }

  async delete(key: BlobKey): Promise<void> {
    await this.db.query('DELETE FROM file_chunks WHERE file_id = $1 AND version = $2', [key.fileId, key.version]);
  }

  async list(): Promise<BlobKey[]> {
    const r = await this.db.query<{ file_id: Buffer; version: string }>('SELECT DISTINCT file_id, version FROM file_chunks');
    return r.rows.map((row) => ({ fileId: new Uint8Array(row.file_id), version: num(row.version) }));
  }
}
