/**
 * Encrypted records and postings in SQLite (records-types.ts; migrations/011_records.sql). Writes
 * go through group commit like every other SQLite write, each check made inside its closure.
 * A query is one statement per alternative: the first posting's primary-key range, joined to
 * the other postings and to the records on their primary keys, ordered by record id.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
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
  type PutRecordResult,
  type RecordQuery,
  type RecordRepository,
  type StoredRecord,
  type UpdateCollectionResult,
} from '../records-types.js';
import type { GroupCommit } from './group-commit.js';
import { Pluck } from './pluck.js';

type CollectionRow = {
  seq: number;
  id: Uint8Array;
  owner: string;
  epoch: number;
  revision: number;
  meta: Uint8Array;
  record_count: number;
  created_at: number;
  updated_at: number;
};
type RecordRow = { record_id: Uint8Array; epoch: number; body: Uint8Array; updated_at: number };

const NOT_FOUND: NotFound = { status: 'not_found' };
const toRecord = (r: RecordRow): StoredRecord => ({ id: r.record_id, epoch: r.epoch, body: r.body, updatedAt: r.updated_at });

/** Most postings in one alternative of a query (bounded by the route as well). */
export const MAX_QUERY_POSTINGS = 16;

export class SqliteRecords implements RecordRepository {
  private readonly s;
  private readonly queries = new Map<number, StatementSync>();

  constructor(
    private readonly db: DatabaseSync,
    private readonly w: GroupCommit,
  ) {
    this.s = {
      byId: db.prepare('SELECT seq, id, owner, epoch, revision, meta, record_count, created_at, updated_at FROM collections WHERE id = ?'),
      members: new Pluck<string>(db, 'SELECT user FROM collection_members WHERE coll = +? ORDER BY user'),
      isMember: new Pluck<number>(db, 'SELECT 1 FROM collection_members WHERE coll = ? AND user = ?'),
      mine: new Pluck<Uint8Array>(
        db,
        `SELECT id FROM collections WHERE owner = +?1
         UNION SELECT c.id FROM collection_members m JOIN collections c ON c.seq = m.coll WHERE m.user = +?1
         ORDER BY 1`,
      ),
      account: new Pluck<number>(db, 'SELECT 1 FROM accounts WHERE user = ?'),
      countOwned: new Pluck<number>(db, 'SELECT count(*) FROM collections WHERE owner = ?'),
      countMembers: new Pluck<number>(db, 'SELECT count(*) FROM collection_members WHERE coll = ?'),
      insert: db.prepare('INSERT INTO collections (id, owner, epoch, revision, meta, record_count, created_at, updated_at) VALUES (?, ?, ?, 1, ?, 0, ?, ?)'),
      insertMember: db.prepare('INSERT OR IGNORE INTO collection_members (coll, user) VALUES (?, ?)'),
      deleteMember: db.prepare('DELETE FROM collection_members WHERE coll = ? AND user = ?'),
      update: db.prepare('UPDATE collections SET epoch = ?, meta = ?, revision = revision + 1, updated_at = ? WHERE seq = ?'),
      bump: db.prepare('UPDATE collections SET revision = revision + 1, updated_at = ? WHERE seq = ?'),
      count: db.prepare('UPDATE collections SET record_count = record_count + ? WHERE seq = ?'),
      deleteCollection: db.prepare('DELETE FROM collections WHERE seq = ?'),
      deletePostingsOf: db.prepare('DELETE FROM record_postings WHERE coll = ?'),
      deleteRecordsOf: db.prepare('DELETE FROM records WHERE coll = ?'),
      record: db.prepare('SELECT record_id, epoch, body, updated_at FROM records WHERE coll = ? AND record_id = ?'),
      recordTokens: new Pluck<Uint8Array>(db, 'SELECT tokens FROM records WHERE coll = ? AND record_id = ?'),
      upsert: db.prepare(
        'INSERT INTO records (coll, record_id, epoch, body, tokens, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (coll, record_id) DO UPDATE SET epoch = excluded.epoch, body = excluded.body, tokens = excluded.tokens, updated_at = excluded.updated_at',
      ),
      deleteRecord: db.prepare('DELETE FROM records WHERE coll = ? AND record_id = ?'),
      insertPosting: db.prepare('INSERT OR IGNORE INTO record_postings (coll, idx, token, record_id) VALUES (?, ?, ?, ?)'),
      deletePosting: db.prepare('DELETE FROM record_postings WHERE coll = ? AND idx = ? AND token = ? AND record_id = ?'),
      list: db.prepare('SELECT record_id, epoch, body, updated_at FROM records WHERE coll = +? AND record_id > ? ORDER BY record_id LIMIT +?'),
    };
  }

  /** The collection row if `user` may use it (owner, or member unless `ownerOnly`). */
  private access(id: Uint8Array, user: string, ownerOnly = false): CollectionRow | undefined {
    const c = this.s.byId.get(id) as CollectionRow | undefined;
    if (!c) return undefined;
    if (c.owner === user) return c;
    if (ownerOnly) return undefined;
    return this.s.isMember.get(c.seq, user) ? c : undefined;
  }

  private info(c: CollectionRow): CollectionInfo {
    return {
      id: c.id,
      owner: c.owner,
      members: this.s.members.all(c.seq),
      epoch: c.epoch,
      revision: c.revision,
      meta: c.meta,
      recordCount: c.record_count,
      createdAt: c.created_at,
      updatedAt: c.updated_at,
    };
  }

  async createCollection(c: NewCollection, limits: CollectionLimits): Promise<CreateCollectionResult> {
    return this.w.run((): CreateCollectionResult => {
      if (this.s.byId.get(c.id)) return { status: 'id_taken' };
      if ((this.s.countOwned.get(c.owner) as number) >= limits.maxCollectionsPerUser) return { status: 'too_many_collections' };
      if (!c.members.every((m) => this.s.account.get(m))) return { status: 'unknown_member' };
      this.s.insert.run(c.id, c.owner, c.epoch, c.meta, c.createdAt, c.createdAt);
      const row = this.s.byId.get(c.id) as CollectionRow;
      for (const m of c.members) this.s.insertMember.run(row.seq, m);
      return { status: 'created' };
    }, c.meta.length);
  }

  async getCollection(id: Uint8Array, user: string): Promise<CollectionInfo | undefined> {
    const c = this.access(id, user);
    return c && this.info(c);
  }

  async listCollections(user: string): Promise<CollectionInfo[]> {
    return this.s.mine.all(user).flatMap((id) => {
      const c = this.s.byId.get(id) as CollectionRow | undefined;
      return c ? [this.info(c)] : [];
    });
  }

  async updateCollection(
    id: Uint8Array,
    owner: string,
    u: { expectedRevision: number; epoch: number; meta: Uint8Array; now: number },
  ): Promise<UpdateCollectionResult> {
    return this.w.run((): UpdateCollectionResult => {
      const c = this.access(id, owner, true);
      if (!c) return NOT_FOUND;
      if (c.revision !== u.expectedRevision) return { status: 'stale', revision: c.revision };
      if (u.epoch !== c.epoch && u.epoch !== c.epoch + 1) return { status: 'bad_epoch', epoch: c.epoch };
      this.s.update.run(u.epoch, u.meta, u.now, c.seq);
      return { status: 'updated', revision: c.revision + 1 };
    }, u.meta.length);
  }

  async setMember(
    id: Uint8Array,
    owner: string,
    member: string,
    add: boolean,
    u: { expectedRevision: number; now: number },
    limits: CollectionLimits,
  ): Promise<MemberResult> {
    return this.w.run((): MemberResult => {
      const c = this.access(id, owner, true);
      if (!c) return NOT_FOUND;
      if (c.revision !== u.expectedRevision) return { status: 'stale', revision: c.revision };
      if (add) {
        if (member === owner || !this.s.account.get(member)) return { status: 'unknown_member' };
        if (!this.s.isMember.get(c.seq, member) && (this.s.countMembers.get(c.seq) as number) >= limits.maxCollectionMembers)
          return { status: 'too_many_members' };
        this.s.insertMember.run(c.seq, member);
      } else {
        if (!this.s.isMember.get(c.seq, member)) return { status: 'unknown_member' };
        this.s.deleteMember.run(c.seq, member);
      }
      this.s.bump.run(u.now, c.seq);
      return { status: 'updated', revision: c.revision + 1 };
    });
  }

  async deleteCollection(id: Uint8Array, owner: string): Promise<boolean> {
    return this.w.run(() => {
      const c = this.access(id, owner, true);
      if (!c) return false;
      this.s.deletePostingsOf.run(c.seq);
      this.s.deleteRecordsOf.run(c.seq);
      this.s.deleteCollection.run(c.seq);
      return true;
    });
  }

  private dropPostings(seq: number, recordId: Uint8Array): boolean {
    const old = this.s.recordTokens.get(seq, recordId);
    if (old === undefined) return false;
    for (const p of decodePostings(old)) this.s.deletePosting.run(seq, p.index, p.token, recordId);
    return true;
  }

  async putRecord(collection: Uint8Array, user: string, r: NewRecord, limits: CollectionLimits, now: number): Promise<PutRecordResult> {
    return this.w.run(
      (): PutRecordResult => {
        const c = this.access(collection, user);
        if (!c) return NOT_FOUND;
        if (r.epoch !== c.epoch) return { status: 'stale_epoch', epoch: c.epoch };
        const existed = this.dropPostings(c.seq, r.id);
        if (!existed && c.record_count >= limits.maxRecordsPerCollection) return { status: 'too_many_records' };
        this.s.upsert.run(c.seq, r.id, r.epoch, r.body, encodePostings(r.postings), now);
        for (const p of r.postings) this.s.insertPosting.run(c.seq, p.index, p.token, r.id);
        if (!existed) this.s.count.run(1, c.seq);
        return { status: 'stored', created: !existed };
      },
      r.body.length + r.postings.length * 32,
    );
  }

  async getRecord(collection: Uint8Array, user: string, id: Uint8Array): Promise<StoredRecord | NotFound | undefined> {
    const c = this.access(collection, user);
    if (!c) return NOT_FOUND;
    const row = this.s.record.get(c.seq, id) as RecordRow | undefined;
    return row && toRecord(row);
  }

  async deleteRecord(collection: Uint8Array, user: string, id: Uint8Array): Promise<DeleteRecordResult> {
    return this.w.run((): DeleteRecordResult => {
      const c = this.access(collection, user);
      if (!c) return NOT_FOUND;
      if (!this.dropPostings(c.seq, id)) return { status: 'no_record' };
      this.s.deleteRecord.run(c.seq, id);
      this.s.count.run(-1, c.seq);
      return { status: 'deleted' };
    });
  }

  async listRecords(collection: Uint8Array, user: string, o: { after?: Uint8Array; limit: number }): Promise<StoredRecord[] | NotFound> {
    const c = this.access(collection, user);
    if (!c) return NOT_FOUND;
    return (this.s.list.all(c.seq, o.after ?? new Uint8Array(0), o.limit) as RecordRow[]).map(toRecord);
  }

  /** SELECT for an AND of `n` postings: p0's range, the others joined on their primary key. */
  private queryStatement(n: number): StatementSync {
    let st = this.queries.get(n);
    if (!st) {
      const joins = Array.from(
        { length: n - 1 },
        (_, i) =>
          `JOIN record_postings p${i + 1} ON p${i + 1}.coll = p0.coll AND p${i + 1}.idx = +? AND p${i + 1}.token = +? AND p${i + 1}.record_id = p0.record_id`,
      );
      st = this.db.prepare(
        `SELECT r.record_id, r.epoch, r.body, r.updated_at FROM record_postings p0 ${joins.join(' ')}
           JOIN records r ON r.coll = p0.coll AND r.record_id = p0.record_id
          WHERE p0.coll = +? AND p0.idx = +? AND p0.token = +? AND p0.record_id > ?
          ORDER BY p0.record_id LIMIT +?`,
      );
      this.queries.set(n, st);
    }
    return st;
  }

  async query(collection: Uint8Array, user: string, q: RecordQuery): Promise<StoredRecord[] | NotFound> {
    const c = this.access(collection, user);
    if (!c) return NOT_FOUND;
    const after = q.after ?? new Uint8Array(0);
    const found = new Map<string, RecordRow>();
    for (const alt of q.alternatives) {
      if (alt.length === 0 || alt.length > MAX_QUERY_POSTINGS) continue;
      const [first, ...rest] = alt as [NewRecord['postings'][number], ...NewRecord['postings']];
      const params = [...rest.flatMap((p) => [p.index, p.token]), c.seq, first.index, first.token, after, q.limit];
      for (const row of this.queryStatement(alt.length).all(...params) as RecordRow[]) found.set(Buffer.from(row.record_id).toString('hex'), row);
    }
    return [...found.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, q.limit)
      .map(([, row]) => toRecord(row));
  }
}
