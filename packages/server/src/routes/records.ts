/**
 * docs/API.md §10: collections of encrypted records and their blind-index postings (issue 13).
 * The relay stores sealed collection metadata, sealed records and (index position, truncated
 * token) postings; it answers a query (an OR over key epochs of ANDs of postings) from its
 * posting index and returns the candidates' sealed bodies. It decides access by user name only:
 * the owner and members may read and write records; only the owner changes members, metadata
 * and epochs or deletes the collection. Anyone else gets 404, as for a collection that does not
 * exist. Deletions, membership and re-keying are signed requests (§2a).
 */
import { bounds, shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf } from '../http/auth.js';
import { decodeField, encodeBase64url } from '../http/base64url.js';
import { clientKey } from '../http/client-address.js';
import { ApiError, badRequest, conflict, notFound } from '../http/errors.js';
import { hashBody, requireSignature } from '../http/request-signature.js';
import { BEARER, EmptyQuery, errors, NoContent, Obj, schemaOf } from '../http/schemas.js';
import type { CollectionInfo, CollectionLimits, Posting, StoredRecord } from '../storage/records-types.js';

/** Bounds of this API (docs/API.md §10). */
export const RECORD_LIMITS = {
  /** A sealed record: 64 KiB of JSON, padded, plus per-field overhead (PROTOCOL.md §19.2). */
  maxRecordBytes: bounds.MAX_RECORD_BYTES,
  maxMetaBytes: bounds.MAX_COLLECTION_META_BYTES,
  /** Postings of one record (word indexes: up to 4096 words a field). */
  maxPostingsPerRecord: bounds.MAX_POSTINGS_PER_RECORD,
  /** Index positions 0..31 (PROTOCOL.md §19.3 MAX_INDEXES). */
  maxIndex: bounds.MAX_INDEX_POSITION,
  maxQueryAlternatives: bounds.MAX_QUERY_ALTERNATIVES,
  maxQueryPostings: bounds.MAX_QUERY_POSTINGS,
  maxQueryResults: bounds.MAX_RECORD_PAGE,
  defaultQueryResults: bounds.DEFAULT_RECORD_QUERY,
  maxEpoch: bounds.MAX_EPOCH,
  collections: {
    maxCollectionsPerUser: 1000,
    maxRecordsPerCollection: 10_000_000,
    maxCollectionMembers: bounds.MAX_COLLECTION_MEMBERS,
  } satisfies CollectionLimits,
} as const;

const CollectionId = schemaOf(shapes.COLLECTION_ID);
const RecordId = schemaOf(shapes.RECORD_ID);

const IdParams = Obj({ id: CollectionId });
const RecordParams = Obj({ id: CollectionId, record: RecordId });
const CreateBody = schemaOf(shapes.COLLECTION_CREATE_REQUEST);
const UpdateBody = schemaOf(shapes.COLLECTION_UPDATE_REQUEST);
const MemberBody = schemaOf(shapes.COLLECTION_MEMBER_REQUEST);
const PutBody = schemaOf(shapes.RECORD_PUT_REQUEST);
const Limit = schemaOf(shapes.RECORD_QUERY_LIMIT);
const ListQuery = Obj({ after: Type.Optional(RecordId), limit: Type.Optional(Limit) });
const QueryBody = schemaOf(shapes.RECORD_QUERY_REQUEST);

const CollectionOut = schemaOf(shapes.COLLECTION_INFO);
const RecordOut = schemaOf(shapes.SEALED_RECORD_INFO);
const RecordPage = schemaOf(shapes.RECORD_PAGE);

const collectionOut = (c: CollectionInfo): Static<typeof CollectionOut> => ({
  id: encodeBase64url(c.id),
  owner: c.owner,
  members: [...c.members],
  epoch: c.epoch,
  revision: c.revision,
  meta: encodeBase64url(c.meta),
  recordCount: c.recordCount,
  createdAt: c.createdAt,
  updatedAt: c.updatedAt,
});
const recordOut = (r: StoredRecord): Static<typeof RecordOut> => ({
  id: encodeBase64url(r.id),
  epoch: r.epoch,
  body: encodeBase64url(r.body),
  updatedAt: r.updatedAt,
});
const page = (records: StoredRecord[], limit: number): Static<typeof RecordPage> => {
  const last = records[records.length - 1];
  return { records: records.map(recordOut), next: records.length === limit && last ? encodeBase64url(last.id) : null };
};

const NO_COLLECTION = 'no such collection';

/** Distinct postings, in a canonical order (duplicates would only repeat a posting). */
function postings(list: readonly (readonly [number, number])[]): Posting[] {
  const seen = new Map<string, Posting>();
  for (const [index, token] of list) seen.set(`${index}:${token}`, { index, token });
  return [...seen.values()];
}

export function registerRecordRoutes(app: FastifyInstance, ctx: AppContext): void {
  const auth = authenticate(ctx);
  const limits = RECORD_LIMITS.collections;
  const writeLimit = (user: string, deviceId: number) => ctx.rateLimiter.take('recordWritesPerDevice', `${user}\u0000${deviceId}`);
  const readLimit = (user: string, deviceId: number) => ctx.rateLimiter.take('recordReadsPerDevice', `${user}\u0000${deviceId}`);
  const id16 = (text: string, field: string) => decodeField(text, field, { exact: 16 });
  const tags = ['records'];

  app.post<{ Body: Static<typeof CreateBody> }>(
    '/v1/collections',
    {
      onRequest: auth,
      schema: {
        summary: 'Create a collection (the caller owns it)',
        tags,
        security: BEARER,
        querystring: EmptyQuery,
        body: CreateBody,
        response: { 201: schemaOf(shapes.COLLECTION_CREATED), ...errors(401, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      writeLimit(me.user, me.deviceId);
      const b = request.body;
      const members = [...new Set(b.members ?? [])].sort();
      if (members.includes(me.user)) throw badRequest('members: the owner is not a member');
      const id = id16(b.id, 'id');
      const r = await ctx.storage.records.createCollection(
        {
          id,
          owner: me.user,
          epoch: b.epoch ?? 0,
          meta: decodeField(b.meta, 'meta', { min: 1, max: RECORD_LIMITS.maxMetaBytes }),
          members,
          createdAt: ctx.now(),
        },
        limits,
      );
      if (r.status === 'id_taken') throw conflict('a collection with this id exists');
      if (r.status === 'too_many_collections') throw new ApiError(413, 'quota_exceeded', `at most ${limits.maxCollectionsPerUser} collections per user`);
      if (r.status === 'unknown_member') throw notFound('a member is not an account');
      return reply.code(201).send({ id: encodeBase64url(id), revision: 1 });
    },
  );

  app.get(
    '/v1/collections',
    {
      onRequest: auth,
      schema: {
        summary: 'Collections I own or am a member of',
        tags,
        security: BEARER,
        querystring: EmptyQuery,
        response: { 200: schemaOf(shapes.COLLECTION_LIST), ...errors(401, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      readLimit(me.user, me.deviceId);
      return { collections: (await ctx.storage.records.listCollections(me.user)).map(collectionOut) };
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/collections/:id',
    {
      onRequest: auth,
      schema: {
        summary: 'A collection (owner or member)',
        tags,
        security: BEARER,
        params: IdParams,
        querystring: EmptyQuery,
        response: { 200: CollectionOut, ...errors(401, 404, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      readLimit(me.user, me.deviceId);
      const c = await ctx.storage.records.getCollection(id16(request.params.id, 'id'), me.user);
      if (!c) throw notFound(NO_COLLECTION);
      return collectionOut(c);
    },
  );

  app.put<{ Params: Static<typeof IdParams>; Body: Static<typeof UpdateBody> }>(
    '/v1/collections/:id',
    {
      onRequest: auth,
      preParsing: hashBody,
      schema: {
        summary: 'Replace the sealed metadata; with epoch + 1, re-key (owner, signed)',
        tags,
        security: BEARER,
        params: IdParams,
        querystring: EmptyQuery,
        body: UpdateBody,
        response: { 200: schemaOf(shapes.COLLECTION_REVISED), ...errors(401, 404, 409, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      writeLimit(me.user, me.deviceId);
      await requireSignature(ctx, request);
      const b = request.body;
      const r = await ctx.storage.records.updateCollection(id16(request.params.id, 'id'), me.user, {
        expectedRevision: b.expectedRevision,
        epoch: b.epoch,
        meta: decodeField(b.meta, 'meta', { min: 1, max: RECORD_LIMITS.maxMetaBytes }),
        now: ctx.now(),
      });
      if (r.status === 'not_found') throw notFound(NO_COLLECTION);
      if (r.status === 'stale') throw new ApiError(409, 'conflict', 'the collection changed: revision is not expectedRevision', { revision: r.revision });
      if (r.status === 'bad_epoch') throw new ApiError(409, 'conflict', 'epoch must be the current one or the next', { epoch: r.epoch });
      return { revision: r.revision };
    },
  );

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof MemberBody> }>(
    '/v1/collections/:id/members',
    {
      onRequest: auth,
      preParsing: hashBody,
      schema: {
        summary: 'Add or remove a member (owner, signed); after a removal the owner re-keys',
        tags,
        security: BEARER,
        params: IdParams,
        querystring: EmptyQuery,
        body: MemberBody,
        response: { 200: schemaOf(shapes.COLLECTION_REVISED), ...errors(401, 404, 409, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      writeLimit(me.user, me.deviceId);
      await requireSignature(ctx, request);
      const b = request.body;
      if (b.add) ctx.lookupMisses.check(me, clientKey(request));
      const r = await ctx.storage.records.setMember(
        id16(request.params.id, 'id'),
        me.user,
        b.user,
        b.add,
        { expectedRevision: b.expectedRevision, now: ctx.now() },
        limits,
      );
      if (r.status === 'not_found') throw notFound(NO_COLLECTION);
      if (r.status === 'stale') throw new ApiError(409, 'conflict', 'the collection changed: revision is not expectedRevision', { revision: r.revision });
      if (r.status === 'too_many_members') throw new ApiError(413, 'quota_exceeded', `at most ${limits.maxCollectionMembers} members`);
      if (r.status === 'unknown_member') {
        if (b.add) await ctx.lookupMisses.miss(me, clientKey(request));
        throw notFound(b.add ? 'no such user' : 'not a member');
      }
      return { revision: r.revision };
    },
  );

  app.delete<{ Params: Static<typeof IdParams> }>(
    '/v1/collections/:id',
    {
      onRequest: auth,
      preParsing: hashBody,
      schema: {
        summary: 'Delete a collection, its records and postings (owner, signed)',
        tags,
        security: BEARER,
        params: IdParams,
        querystring: EmptyQuery,
        response: { 204: NoContent, ...errors(401, 404, 429) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      writeLimit(me.user, me.deviceId);
      await requireSignature(ctx, request);
      if (!(await ctx.storage.records.deleteCollection(id16(request.params.id, 'id'), me.user))) throw notFound(NO_COLLECTION);
      return reply.code(204).send();
    },
  );

  app.put<{ Params: Static<typeof RecordParams>; Body: Static<typeof PutBody> }>(
    '/v1/collections/:id/records/:record',
    {
      onRequest: auth,
      schema: {
        summary: 'Store or replace a sealed record and its postings (owner or member; current epoch only)',
        tags,
        security: BEARER,
        params: RecordParams,
        querystring: EmptyQuery,
        body: PutBody,
        response: { 200: schemaOf(shapes.RECORD_STORED), ...errors(401, 404, 409, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      writeLimit(me.user, me.deviceId);
      const b = request.body;
      const r = await ctx.storage.records.putRecord(
        id16(request.params.id, 'id'),
        me.user,
        {
          id: id16(request.params.record, 'record'),
          epoch: b.epoch,
          body: decodeField(b.body, 'body', { min: 1, max: RECORD_LIMITS.maxRecordBytes }),
          postings: postings(b.postings),
        },
        limits,
        ctx.now(),
      );
      if (r.status === 'not_found') throw notFound(NO_COLLECTION);
      if (r.status === 'stale_epoch') throw new ApiError(409, 'conflict', 'the collection was re-keyed: write under the current epoch', { epoch: r.epoch });
      if (r.status === 'too_many_records') throw new ApiError(413, 'quota_exceeded', `at most ${limits.maxRecordsPerCollection} records per collection`);
      return { created: r.created };
    },
  );

  app.get<{ Params: Static<typeof RecordParams> }>(
    '/v1/collections/:id/records/:record',
    {
      onRequest: auth,
      schema: {
        summary: 'A sealed record',
        tags,
        security: BEARER,
        params: RecordParams,
        querystring: EmptyQuery,
        response: { 200: RecordOut, ...errors(401, 404, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      readLimit(me.user, me.deviceId);
      const r = await ctx.storage.records.getRecord(id16(request.params.id, 'id'), me.user, id16(request.params.record, 'record'));
      if (r === undefined) throw notFound('no such record');
      if ('status' in r) throw notFound(NO_COLLECTION);
      return recordOut(r);
    },
  );

  app.delete<{ Params: Static<typeof RecordParams> }>(
    '/v1/collections/:id/records/:record',
    {
      onRequest: auth,
      preParsing: hashBody,
      schema: {
        summary: 'Delete a record and its postings (owner or member, signed)',
        tags,
        security: BEARER,
        params: RecordParams,
        querystring: EmptyQuery,
        response: { 204: NoContent, ...errors(401, 404, 429) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      writeLimit(me.user, me.deviceId);
      await requireSignature(ctx, request);
      const r = await ctx.storage.records.deleteRecord(id16(request.params.id, 'id'), me.user, id16(request.params.record, 'record'));
      if (r.status === 'not_found') throw notFound(NO_COLLECTION);
      if (r.status === 'no_record') throw notFound('no such record');
      return reply.code(204).send();
    },
  );

  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof ListQuery> }>(
    '/v1/collections/:id/records',
    {
      onRequest: auth,
      schema: {
        summary: 'Sealed records by id (re-indexing, re-keying)',
        tags,
        security: BEARER,
        params: IdParams,
        querystring: ListQuery,
        response: { 200: RecordPage, ...errors(401, 404, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      readLimit(me.user, me.deviceId);
      const limit = request.query.limit ?? RECORD_LIMITS.defaultQueryResults;
      const after = request.query.after === undefined ? undefined : id16(request.query.after, 'after');
      const r = await ctx.storage.records.listRecords(id16(request.params.id, 'id'), me.user, { ...(after ? { after } : {}), limit });
      if ('status' in r) throw notFound(NO_COLLECTION);
      return page(r, limit);
    },
  );

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof QueryBody> }>(
    '/v1/collections/:id/query',
    {
      onRequest: auth,
      schema: {
        summary: 'Candidates matching every posting of some alternative (the client decrypts and drops false positives)',
        tags,
        security: BEARER,
        params: IdParams,
        querystring: EmptyQuery,
        body: QueryBody,
        response: { 200: RecordPage, ...errors(401, 404, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      readLimit(me.user, me.deviceId);
      const b = request.body;
      const limit = b.limit ?? RECORD_LIMITS.defaultQueryResults;
      const after = b.after === undefined ? undefined : id16(b.after, 'after');
      const r = await ctx.storage.records.query(id16(request.params.id, 'id'), me.user, {
        alternatives: b.any.map((alt) => postings(alt)),
        ...(after ? { after } : {}),
        limit,
      });
      if ('status' in r) throw notFound(NO_COLLECTION);
      return page(r, limit);
    },
  );
}
