/**
 * The relay's collection and record routes (docs/API.md §10), each answer checked against its
 * shape in the wire contract (`@blindrelay/protocol/wire`, the data the relay's schemas are built
 * from) and each body typed by its request shape. collections.ts does the cryptography.
 */
import { shapes } from '@blindrelay/protocol/wire';
import { answer, type Body, type RelayApi } from '../api.js';

/** One record as the relay holds it: sealed, under a key epoch. */
export type SealedRecordAnswer = Body<typeof shapes.SEALED_RECORD_INFO>;
export type CollectionAnswer = Body<typeof shapes.COLLECTION_INFO>;
export type RecordPageAnswer = Body<typeof shapes.RECORD_PAGE>;
/** PUT …/records/:record: the sealed record and its `[index, token]` postings. */
export type RecordPut = Body<typeof shapes.RECORD_PUT_REQUEST>;
/** POST …/query: alternatives (one per key epoch), each an AND of `[index, token]` postings. */
export type RecordQuery = Body<typeof shapes.RECORD_QUERY_REQUEST>;

const at = (id: string) => `/v1/collections/${id}`;

export async function postCollection(api: RelayApi, body: Body<typeof shapes.COLLECTION_CREATE_REQUEST>): Promise<Body<typeof shapes.COLLECTION_CREATED>> {
  return answer(shapes.COLLECTION_CREATED, await api.collections('POST', '/v1/collections', body), 'collection');
}

export async function collectionInfo(api: RelayApi, id: string): Promise<CollectionAnswer> {
  return answer(shapes.COLLECTION_INFO, await api.collections('GET', at(id)), 'collection');
}

/** Owner only, signed: new metadata (and epoch) under compare-and-set on the revision. */
export async function updateCollection(api: RelayApi, id: string, body: Body<typeof shapes.COLLECTION_UPDATE_REQUEST>): Promise<number> {
  return answer(shapes.COLLECTION_REVISED, await api.collections('PUT', at(id), body, true), 'collection').revision;
}

/** Owner only, signed: add or remove a member; the collection's new revision. */
export async function setMember(api: RelayApi, id: string, body: Body<typeof shapes.COLLECTION_MEMBER_REQUEST>): Promise<number> {
  return answer(shapes.COLLECTION_REVISED, await api.collections('POST', `${at(id)}/members`, body, true), 'members').revision;
}

export async function storeRecord(api: RelayApi, id: string, record: string, body: RecordPut): Promise<boolean> {
  return answer(shapes.RECORD_STORED, await api.collections('PUT', `${at(id)}/records/${record}`, body), 'record').created;
}

export async function recordAt(api: RelayApi, id: string, record: string): Promise<SealedRecordAnswer> {
  return answer(shapes.SEALED_RECORD_INFO, await api.collections('GET', `${at(id)}/records/${record}`), 'record');
}

/** One page of the collection's records, from after `after`. */
export async function recordPage(api: RelayApi, id: string, limit: number, after: string | null): Promise<RecordPageAnswer> {
  const d = await api.collections('GET', `${at(id)}/records?limit=${limit}${after ? `&after=${after}` : ''}`);
  return answer(shapes.RECORD_PAGE, d, 'records');
}

/** One page of the records matching any of the alternatives (each an AND of postings). */
export async function queryPage(api: RelayApi, id: string, query: RecordQuery): Promise<RecordPageAnswer> {
  return answer(shapes.RECORD_PAGE, await api.collections('POST', `${at(id)}/query`, query), 'records');
}
