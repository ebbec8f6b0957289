/**
 * Encrypted records and postings in PostgreSQL (records-types.ts; migrations/011_records.sql).
 * Each write is one transaction that first locks the collection row (`FOR UPDATE`), then makes
 * every check (access, revision, epoch, caps) and writes, so concurrent writers on any relay
 * instance serialise per collection. A query is one statement per alternative, named (planned
 * once per connection): the first posting's primary-key range, the other postings and the
 * records joined on their primary keys.
 */
import type pg from 'pg';
import {
  type CollectionInfo,
  type CollectionLimits,
  type CreateCollectionResult,
  type DeleteRecordResult,
  decodePostings,
  encodePostings,
  type MemberResult,
  type NewCollection,
  type NewRecord,
  type NotFound,
  type Posting,
  type PutRecordResult,
  type RecordQuery,
  type RecordRepository,
  type StoredRecord,
  type UpdateCollectionResult,
} from '../records-types.js';

type Db = pg.ClientBase;
export interface PgRecordQueries {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[], name?: string): Promise<pg.QueryResult<R>>;
  tx<T>(f: (c: pg.ClientBase) => Promise<T>): Promise<T>;
}
type CollectionRow = {
  seq: string;
  id: Buffer;
  owner: string;
  epoch: string;
  revision: string;
  meta: Buffer;
  record_count: string;
  created_at: string;
  updated_at: string;
};
type RecordRow = { record_id: Buffer; epoch: string; body: Buffer; updated_at: string };

const NOT_FOUND: NotFound = { status: 'not_found' };
const num = (v: string | number) => Number(v);
const u8 = (b: Uint8Array) => new Uint8Array(b);
const COLUMNS = 'seq, id, owner, epoch, revision, meta, record_count, created_at, updated_at';
const toRecord = (r: RecordRow): StoredRecord => ({ id: u8(r.record_id), epoch: num(r.epoch), body: u8(r.body), updatedAt: num(r.updated_at) });
const MAX_QUERY_POSTINGS = 16;

export class PostgresRecords implements RecordRepository {
  constructor(private readonly db: PgRecordQueries) {}

  /** The collection row if `user` may use it (owner, or member unless `ownerOnly`); `c` given: locked FOR UPDATE. */
  private async access(id: Uint8Array, user: string, ownerOnly: boolean, c?: Db): Promise<CollectionRow | undefined> {
    const q = (c ?? this.db) as Pick<PgRecordQueries, 'query'>;
    const row = (await q.query<CollectionRow>(`SELECT ${COLUMNS} FROM collections WHERE id = $1${c ? ' FOR UPDATE' : ''}`, [id])).rows[0];
    if (!row) return undefined;
    if (row.owner === user) return row;
    if (ownerOnly) return undefined;
    const m = await q.query('SELECT 1 FROM collection_members WHERE coll = $1 AND user_name = $2', [row.seq, user]);
    return m.rows.length > 0 ? row : undefined;
  }

  private async infos(rows: CollectionRow[]): Promise<CollectionInfo[]> {
    if (rows.length === 0) return [];
    const members = (
      await this.db.query<{ coll: string; user_name: string }>(
        'SELECT coll, user_name FROM collection_members WHERE coll = ANY($1::bigint[]) ORDER BY user_name COLLATE "C"',
        [rows.map((r) => r.seq)],
      )
    ).rows;
    return rows.map((c) => ({
      id: u8(c.id),
      owner: c.owner,
      members: members.filter((m) => m.coll === c.seq).map((m) => m.user_name),
      epoch: num(c.epoch),
      revision: num(c.revision),
      meta: u8(c.meta),
      recordCount: num(c.record_count),
      createdAt: num(c.created_at),
      updatedAt: num(c.updated_at),
    }));
  }

  async createCollection(n: NewCollection, limits: CollectionLimits): Promise<CreateCollectionResult> {
    return this.db.tx(async (c): Promise<CreateCollectionResult> => {
      // Count-then-insert must not interleave for one owner, across instances too.
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [0x62_6c_72_63, n.owner]);
      if ((await c.query('SELECT 1 FROM collections WHERE id = $1', [n.id])).rows.length > 0) return { status: 'id_taken' };
      const count = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM collections WHERE owner = $1', [n.owner])).rows[0] as { n: number };
      if (count.n >= limits.maxCollectionsPerUser) return { status: 'too_many_collections' };
      if (n.members.length > 0) {
        const known = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM accounts WHERE user_name = ANY($1::text[])', [n.members])).rows[0] as {
          n: number;
        };
        if (known.n !== new Set(n.members).size) return { status: 'unknown_member' };
      }
      const seq = (
        await c.query<{ seq: string }>(
          'INSERT INTO collections (id, owner, epoch, revision, meta, record_count, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, 0, $5, $5) RETURNING seq',
          [n.id, n.owner, n.epoch, n.meta, n.createdAt],
        )
      ).rows[0] as { seq: string };
      if (n.members.length > 0)
        await c.query('INSERT INTO collection_members (coll, user_name) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING', [seq.seq, n.members]);
      return { status: 'created' };
    });
  }

  async getCollection(id: Uint8Array, user: string): Promise<CollectionInfo | undefined> {
    const row = await this.access(id, user, false);
    return row ? (await this.infos([row]))[0] : undefined;
  }

  async listCollections(user: string): Promise<CollectionInfo[]> {
    const rows = (
      await this.db.query<CollectionRow>(
        `SELECT ${COLUMNS} FROM collections WHERE owner = $1
          OR seq IN (SELECT coll FROM collection_members WHERE user_name = $1) ORDER BY id`,
        [user],
      )
    ).rows;
    return this.infos(rows);
  }

  async updateCollection(
    id: Uint8Array,
    owner: string,
    u: { expectedRevision: number; epoch: number; meta: Uint8Array; now: number },
  ): Promise<UpdateCollectionResult> {
    return this.db.tx(async (c): Promise<UpdateCollectionResult> => {
      const row = await this.access(id, owner, true, c);
      if (!row) return NOT_FOUND;
      const revision = num(row.revision);
      const epoch = num(row.epoch);
      if (revision !== u.expectedRevision) return { status: 'stale', revision };
      if (u.epoch !== epoch && u.epoch !== epoch + 1) return { status: 'bad_epoch', epoch };
      await c.query('UPDATE collections SET epoch = $1, meta = $2, revision = revision + 1, updated_at = $3 WHERE seq = $4', [u.epoch, u.meta, u.now, row.seq]);
      return { status: 'updated', revision: revision + 1 };
    });
  }

  async setMember(
    id: Uint8Array,
    owner: string,
    member: string,
    add: boolean,
    u: { expectedRevision: number; now: number },
    limits: CollectionLimits,
  ): Promise<MemberResult> {
    return this.db.tx(async (c): Promise<MemberResult> => {
      const row = await this.access(id, owner, true, c);
      if (!row) return NOT_FOUND;
      const revision = num(row.revision);
      if (revision !== u.expectedRevision) return { status: 'stale', revision };
      const isMember = (await c.query('SELECT 1 FROM collection_members WHERE coll = $1 AND user_name = $2', [row.seq, member])).rows.length > 0;
      if (add) {
        if (member === owner || (await c.query('SELECT 1 FROM accounts WHERE user_name = $1', [member])).rows.length === 0) return { status: 'unknown_member' };
        if (!isMember) {
          const count = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM collection_members WHERE coll = $1', [row.seq])).rows[0] as { n: number };
          if (count.n >= limits.maxCollectionMembers) return { status: 'too_many_members' };
          await c.query('INSERT INTO collection_members (coll, user_name) VALUES ($1, $2)', [row.seq, member]);
        }
      } else {
        if (!isMember) return { status: 'unknown_member' };
        await c.query('DELETE FROM collection_members WHERE coll = $1 AND user_name = $2', [row.seq, member]);
      }
      await c.query('UPDATE collections SET revision = revision + 1, updated_at = $1 WHERE seq = $2', [u.now, row.seq]);
      return { status: 'updated', revision: revision + 1 };
    });
  }

  async deleteCollection(id: Uint8Array, owner: string): Promise<boolean> {
    return this.db.tx(async (c) => {
      const row = await this.access(id, owner, true, c);
      if (!row) return false;
      // Postings and records go by ON DELETE CASCADE.
      await c.query('DELETE FROM collections WHERE seq = $1', [row.seq]);
      return true;
    });
  }

  private async dropPostings(c: Db, seq: string, recordId: Uint8Array): Promise<boolean> {
    const old = (await c.query<{ tokens: Buffer }>('SELECT tokens FROM records WHERE coll = $1 AND record_id = $2', [seq, recordId])).rows[0];
    if (!old) return false;
    const postings = decodePostings(u8(old.tokens));
    if (postings.length > 0) {
      await c.query(
        `DELETE FROM record_postings p USING unnest($2::smallint[], $3::bigint[]) AS t(idx, token)
          WHERE p.coll = $1 AND p.idx = t.idx AND p.token = t.token AND p.record_id = $4`,
        [seq, postings.map((p) => p.index), postings.map((p) => p.token), recordId],
      );
    }
    return true;
  }

  async putRecord(collection: Uint8Array, user: string, r: NewRecord, limits: CollectionLimits, now: number): Promise<PutRecordResult> {
    return this.db.tx(async (c): Promise<PutRecordResult> => {
      const row = await this.access(collection, user, false, c);
      if (!row) return NOT_FOUND;
      if (r.epoch !== num(row.epoch)) return { status: 'stale_epoch', epoch: num(row.epoch) };
      const existed = await this.dropPostings(c, row.seq, r.id);
      if (!existed && num(row.record_count) >= limits.maxRecordsPerCollection) return { status: 'too_many_records' };
      await c.query(
        `INSERT INTO records (coll, record_id, epoch, body, tokens, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (coll, record_id) DO UPDATE SET epoch = excluded.epoch, body = excluded.body, tokens = excluded.tokens, updated_at = excluded.updated_at`,
        [row.seq, r.id, r.epoch, r.body, encodePostings(r.postings), now],
      );
      if (r.postings.length > 0) {
        await c.query(
          'INSERT INTO record_postings (coll, idx, token, record_id) SELECT $1, t.idx, t.token, $4 FROM unnest($2::smallint[], $3::bigint[]) AS t(idx, token) ON CONFLICT DO NOTHING',
          [row.seq, r.postings.map((p) => p.index), r.postings.map((p) => p.token), r.id],
        );
      }
      if (!existed) await c.query('UPDATE collections SET record_count = record_count + 1 WHERE seq = $1', [row.seq]);
      return { status: 'stored', created: !existed };
    });
  }

  async getRecord(collection: Uint8Array, user: string, id: Uint8Array): Promise<StoredRecord | NotFound | undefined> {
    const row = await this.access(collection, user, false);
    if (!row) return NOT_FOUND;
    const r = (await this.db.query<RecordRow>('SELECT record_id, epoch, body, updated_at FROM records WHERE coll = $1 AND record_id = $2', [row.seq, id]))
      .rows[0];
    return r && toRecord(r);
  }

  async deleteRecord(collection: Uint8Array, user: string, id: Uint8Array): Promise<DeleteRecordResult> {
    return this.db.tx(async (c): Promise<DeleteRecordResult> => {
      const row = await this.access(collection, user, false, c);
      if (!row) return NOT_FOUND;
      if (!(await this.dropPostings(c, row.seq, id))) return { status: 'no_record' };
      await c.query('DELETE FROM records WHERE coll = $1 AND record_id = $2', [row.seq, id]);
      await c.query('UPDATE collections SET record_count = record_count - 1 WHERE seq = $1', [row.seq]);
      return { status: 'deleted' };
    });
  }

  async listRecords(collection: Uint8Array, user: string, o: { after?: Uint8Array; limit: number }): Promise<StoredRecord[] | NotFound> {
    const row = await this.access(collection, user, false);
    if (!row) return NOT_FOUND;
    const rows = await this.db.query<RecordRow>(
      'SELECT record_id, epoch, body, updated_at FROM records WHERE coll = $1 AND record_id > $2 ORDER BY record_id LIMIT $3',
      [row.seq, o.after ?? Buffer.alloc(0), o.limit],
    );
    return rows.rows.map(toRecord);
  }

  private static querySql(n: number): string {
    // $1 coll, $2 after, $3 limit, then (idx, token) pairs from $4.
    const joins = Array.from(
      { length: n - 1 },
      (_, i) =>
        `JOIN record_postings p${i + 1} ON p${i + 1}.coll = p0.coll AND p${i + 1}.idx = $${6 + 2 * i} AND p${i + 1}.token = $${7 + 2 * i} AND p${i + 1}.record_id = p0.record_id`,
    );
    return `SELECT r.record_id, r.epoch, r.body, r.updated_at FROM record_postings p0 ${joins.join(' ')}
              JOIN records r ON r.coll = p0.coll AND r.record_id = p0.record_id
             WHERE p0.coll = $1 AND p0.idx = $4 AND p0.token = $5 AND p0.record_id > $2
             ORDER BY p0.record_id LIMIT $3`;
  }

  async query(collection: Uint8Array, user: string, q: RecordQuery): Promise<StoredRecord[] | NotFound> {
    const row = await this.access(collection, user, false);
    if (!row) return NOT_FOUND;
    const after = q.after ?? Buffer.alloc(0);
    const found = new Map<string, RecordRow>();
    for (const alt of q.alternatives) {
      if (alt.length === 0 || alt.length > MAX_QUERY_POSTINGS) continue;
      const params: unknown[] = [row.seq, after, q.limit, ...alt.flatMap((p: Posting) => [p.index, p.token])];
      const r = await this.db.query<RecordRow>(PostgresRecords.querySql(alt.length), params, `records_query_${alt.length}`);
      for (const rec of r.rows) found.set(rec.record_id.toString('hex'), rec);
    }
    return [...found.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, q.limit)
      .map(([, rec]) => toRecord(rec));
  }
}
