/**
 * Storage of encrypted records and their blind-index postings (docs/API.md §10; issue 13). What
 * is stored is opaque to the relay: sealed collection metadata, sealed records, and truncated
 * HMAC tokens with the position of the index they belong to (docs/SEARCH.md says what that
 * reveals). Every method that reads or writes a collection checks, inside its own transaction,
 * that `user` is its owner or a member (owner-only methods: that `user` is the owner); anyone
 * else gets `not_found`, exactly as for a collection that does not exist.
 */

/** One posting of a record: the index's position in the collection metadata and the truncated token (< 2^48). */
export interface Posting {
  readonly index: number;
  readonly token: number;
}

export interface CollectionInfo {
  readonly id: Uint8Array;
  readonly owner: string;
  /** Members other than the owner, ascending. */
  readonly members: readonly string[];
  /** Key epoch of the current collection key (records must be written under it). */
  readonly epoch: number;
  /** Grows at every metadata, epoch or membership change (compare-and-set for updates). */
  readonly revision: number;
  readonly meta: Uint8Array;
  readonly recordCount: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface NewCollection {
  readonly id: Uint8Array;
  readonly owner: string;
  readonly epoch: number;
  readonly meta: Uint8Array;
  readonly members: readonly string[];
  readonly createdAt: number;
}

export interface CollectionLimits {
  readonly maxCollectionsPerUser: number;
  readonly maxRecordsPerCollection: number;
  readonly maxCollectionMembers: number;
}

export interface StoredRecord {
  readonly id: Uint8Array;
  readonly epoch: number;
  readonly body: Uint8Array;
  readonly updatedAt: number;
}

export interface NewRecord {
  readonly id: Uint8Array;
  readonly epoch: number;
  readonly body: Uint8Array;
  /** Distinct (index, token) pairs. */
  readonly postings: readonly Posting[];
}

/**
 * Records matching every posting of at least one alternative (an OR of ANDs: one alternative per
 * key epoch in use, since each epoch has its own index keys), by ascending id after `after`.
 */
export interface RecordQuery {
  readonly alternatives: readonly (readonly Posting[])[];
  readonly after?: Uint8Array;
  readonly limit: number;
}

export type NotFound = { readonly status: 'not_found' };
export type CreateCollectionResult =
  | { readonly status: 'created' }
  | { readonly status: 'id_taken' }
  | { readonly status: 'too_many_collections' }
  | { readonly status: 'unknown_member' };
export type UpdateCollectionResult =
  | { readonly status: 'updated'; readonly revision: number }
  | NotFound
  | { readonly status: 'stale'; readonly revision: number }
  | { readonly status: 'bad_epoch'; readonly epoch: number };
export type MemberResult =
  | { readonly status: 'updated'; readonly revision: number }
  | NotFound
  | { readonly status: 'unknown_member' }
  | { readonly status: 'too_many_members' }
  | { readonly status: 'stale'; readonly revision: number };
export type PutRecordResult =
  | { readonly status: 'stored'; readonly created: boolean }
  | NotFound
  | { readonly status: 'stale_epoch'; readonly epoch: number }
  | { readonly status: 'too_many_records' };
export type DeleteRecordResult = { readonly status: 'deleted' } | NotFound | { readonly status: 'no_record' };

export interface RecordRepository {
  createCollection(c: NewCollection, limits: CollectionLimits): Promise<CreateCollectionResult>;
  /** The collection, if `user` is its owner or a member. */
  getCollection(id: Uint8Array, user: string): Promise<CollectionInfo | undefined>;
  /** Collections `user` owns or is a member of, by id. */
  listCollections(user: string): Promise<CollectionInfo[]>;
  /** Owner only: new metadata, and a new epoch (equal, or the current one + 1: a re-key). */
  updateCollection(
    id: Uint8Array,
    owner: string,
    u: { expectedRevision: number; epoch: number; meta: Uint8Array; now: number },
  ): Promise<UpdateCollectionResult>;
  /** Owner only: adds (`add`) or removes a member. Removing also needs a re-key (updateCollection), by the client. */
  setMember(
    id: Uint8Array,
    owner: string,
    member: string,
    add: boolean,
    u: { expectedRevision: number; now: number },
    limits: CollectionLimits,
  ): Promise<MemberResult>;
  /** Owner only: the collection, its records and postings. */
  deleteCollection(id: Uint8Array, owner: string): Promise<boolean>;
  /** Owner or member: stores (or replaces) a record and its postings, under the current epoch only. */
  putRecord(collection: Uint8Array, user: string, r: NewRecord, limits: CollectionLimits, now: number): Promise<PutRecordResult>;
  getRecord(collection: Uint8Array, user: string, id: Uint8Array): Promise<StoredRecord | NotFound | undefined>;
  deleteRecord(collection: Uint8Array, user: string, id: Uint8Array): Promise<DeleteRecordResult>;
  /** Records by id after `after` (re-indexing, re-keying). */
  listRecords(collection: Uint8Array, user: string, o: { after?: Uint8Array; limit: number }): Promise<StoredRecord[] | NotFound>;
  query(collection: Uint8Array, user: string, q: RecordQuery): Promise<StoredRecord[] | NotFound>;
}

/** A record's postings as stored beside it: 7 bytes each, index u8 then token u48, big-endian. */
export function encodePostings(postings: readonly Posting[]): Uint8Array {
  const out = new Uint8Array(postings.length * 7);
  postings.forEach((p, i) => {
    const o = i * 7;
    out[o] = p.index;
    const high = Math.floor(p.token / 2 ** 32);
    out[o + 1] = (high >>> 8) & 0xff;
    out[o + 2] = high & 0xff;
    new DataView(out.buffer).setUint32(o + 3, p.token >>> 0);
  });
  return out;
}

export function decodePostings(bytes: Uint8Array): Posting[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Posting[] = [];
  for (let o = 0; o + 7 <= bytes.length; o += 7) {
    const high = ((bytes[o + 1] as number) << 8) | (bytes[o + 2] as number);
    out.push({ index: bytes[o] as number, token: high * 2 ** 32 + view.getUint32(o + 3) });
  }
  return out;
}
