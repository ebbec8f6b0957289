/**
 * docs/API.md §8: encrypted files, their metadata and access (the payload routes are in
 * ./file-payload.ts). The server stores the public age header, the opaque encrypted `meta` and
 * the payload ciphertext; it decides access by user name only.
 */

import { type AgeHeader, FILE_SEAL_BYTES, parseHeader } from '@blindrelay/protocol';
import { shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LIMITS } from '../config.js';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf } from '../http/auth.js';
import { decodeField, encodeBase64url } from '../http/base64url.js';
import { clientKey } from '../http/client-address.js';
import { ApiError, badRequest, conflict, forbidden, noSuchUser, notFound } from '../http/errors.js';
import { hashBody, requireSignature } from '../http/request-signature.js';
import { B64Fixed, BEARER, EmptyQuery, errors, FileId, NoContent, Obj, schemaOf } from '../http/schemas.js';
import type { FileRecord, QuotaExceeded } from '../storage/types.js';

const _Bytes = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/** The owner's seal of a version (docs/PROTOCOL.md §15.4): `0x01 | digest[32] | signature[64]`. */
export const FileSeal = B64Fixed(FILE_SEAL_BYTES, "the owner's seal of the version (docs/PROTOCOL.md §15.4)");

export const FileIdParams = Obj({ id: FileId });
const CreateBody = schemaOf(shapes.FILE_CREATE_REQUEST);
const ListQuery = Obj({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.maxFileList, default: LIMITS.defaultFileList })),
  after: Type.Optional(FileId),
});
const HeaderBody = schemaOf(shapes.FILE_HEADER_REQUEST);
const VersionBody = schemaOf(shapes.FILE_VERSION_REQUEST);

export const FileInfo = schemaOf(shapes.FILE_INFO);

/** Owner, or a reader once the current version is complete. */
export function canRead(file: FileRecord, user: string): boolean {
  return file.owner === user || (file.readers.includes(user) && file.current.received === file.current.payloadSize);
}

export function fileInfo(file: FileRecord, user: string): Static<typeof FileInfo> {
  const c = file.current;
  return {
    id: encodeBase64url(file.id),
    owner: file.owner,
    readers: [...file.readers],
    revision: file.revision,
    version: c.version,
    header: encodeBase64url(c.header),
    meta: encodeBase64url(c.meta),
    payloadSize: c.payloadSize,
    received: c.received,
    complete: c.received === c.payloadSize,
    ...(c.seal ? { seal: encodeBase64url(c.seal) } : {}),
    createdAt: file.createdAt,
    updatedAt: file.updatedAt,
    ...(file.pending && file.owner === user
      ? {
          pending: {
            version: file.pending.version,
            payloadSize: file.pending.payloadSize,
            received: file.pending.received,
            header: encodeBase64url(file.pending.header),
            meta: encodeBase64url(file.pending.meta),
          },
        }
      : {}),
  };
}

export class FileErrors {
  constructor(private readonly ctx: AppContext) {}

  quotaExceeded(r: QuotaExceeded): ApiError {
    return new ApiError(413, 'quota_exceeded', "the file would exceed the owner's storage quota", {
      quotaBytes: this.ctx.limits.userQuotaBytes,
      usedBytes: r.usedBytes,
    });
  }
}

export function registerFileRoutes(app: FastifyInstance, ctx: AppContext): void {
  const auth = authenticate(ctx);
  const errs = new FileErrors(ctx);
  const writeLimit = (user: string, deviceId: number) => ctx.rateLimiter.take('fileWritesPerDevice', `${user}\u0000${deviceId}`);
  const fileId = (text: string) => decodeField(text, 'id', { exact: 16 });

  /** A well-formed age v1 header and nothing after it (age.md "Header"); the MAC cannot be checked here. */
  const header = (text: string): Uint8Array => {
    const bytes = decodeField(text, 'header', { min: 1, max: ctx.limits.maxFileHeaderBytes });
    let parsed: AgeHeader;
    try {
      parsed = parseHeader(bytes);
    } catch {
      throw badRequest('header: not a well-formed age v1 header');
    }
    if (parsed.length !== bytes.length) throw badRequest('header: bytes after the MAC line');
    return bytes;
  };
  const meta = (text: string) => decodeField(text, 'meta', { min: 1, max: ctx.limits.maxFileMetaBytes });
  const readers = (list: readonly string[], owner: string): string[] => {
    if (new Set(list).size !== list.length) throw badRequest('readers: duplicate user');
    if (list.includes(owner)) throw badRequest('readers: the owner is not a reader');
    if (list.length > ctx.limits.maxFileReaders) throw badRequest(`readers: at most ${ctx.limits.maxFileReaders}`);
    return [...list].sort();
  };
  const payloadSize = (n: number): number => {
    if (n > ctx.limits.maxFileBytes) throw new ApiError(413, 'payload_too_large', `payloadSize: at most ${ctx.limits.maxFileBytes} bytes`);
    return n;
  };
  // Naming readers probes the directory (an unknown one answers 404): the same "no such user"
  // budget as look-ups (review L4, http/lookup-misses.ts), checked before and charged per miss.
  const checkReaderProbe = (request: FastifyRequest) => ctx.lookupMisses.check(deviceOf(request), clientKey(request));
  const unknownReader = async (request: FastifyRequest): Promise<ApiError> => {
    await ctx.lookupMisses.miss(deviceOf(request), clientKey(request));
    return noSuchUser('a reader is not an account');
  };
  const limits = () => ({ maxFilesPerUser: ctx.limits.maxFilesPerUser, userQuotaBytes: ctx.limits.userQuotaBytes });

  app.post<{ Body: Static<typeof CreateBody> }>(
    '/v1/files',
    {
      onRequest: auth,
      schema: {
        summary: 'Create a file (version 1); then upload its payload',
        tags: ['files'],
        security: BEARER,
        querystring: EmptyQuery,
        body: CreateBody,
        response: { 201: schemaOf(shapes.FILE_CREATED), ...errors(401, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      writeLimit(me.user, me.deviceId);
      const b = request.body;
      checkReaderProbe(request);
      const file = {
        id: b.id === undefined ? ctx.primitives.randomBytes(16) : fileId(b.id),
        owner: me.user,
        readers: readers(b.readers, me.user),
        header: header(b.header),
        meta: meta(b.meta),
        payloadSize: payloadSize(b.payloadSize),
        createdAt: ctx.now(),
      };
      const r = await ctx.storage.files.create(file, limits());
      if (r.status === 'unknown_reader') throw await unknownReader(request);
      if (r.status === 'too_many_files') throw new ApiError(413, 'quota_exceeded', `at most ${ctx.limits.maxFilesPerUser} files per user`);
      if (r.status === 'id_taken') throw conflict('a file with this id exists');
      if (r.status === 'quota_exceeded') throw errs.quotaExceeded(r);
      return reply.code(201).send({ id: encodeBase64url(file.id), version: 1, revision: 1 });
    },
  );

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/v1/files',
    {
      onRequest: auth,
      schema: {
        summary: 'Files I own (complete or not) and complete files I may read, by id',
        tags: ['files'],
        security: BEARER,
        querystring: ListQuery,
        response: { 200: schemaOf(shapes.FILE_PAGE), ...errors(401) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      const limit = request.query.limit ?? ctx.limits.defaultFileList;
      const after = request.query.after === undefined ? undefined : decodeField(request.query.after, 'after', { exact: 16 });
      const files = await ctx.storage.files.list(me.user, { ...(after ? { after } : {}), limit });
      const last = files[files.length - 1];
      return { files: files.map((f) => fileInfo(f, me.user)), next: files.length === limit && last ? encodeBase64url(last.id) : null };
    },
  );

  app.get<{ Params: Static<typeof FileIdParams> }>(
    '/v1/files/:id',
    {
      onRequest: auth,
      schema: {
        summary: 'A file and its current version (owner, or reader once complete)',
        tags: ['files'],
        security: BEARER,
        params: FileIdParams,
        querystring: EmptyQuery,
        response: { 200: FileInfo, ...errors(401, 404) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      const file = await ctx.storage.files.get(fileId(request.params.id));
      if (!file || !canRead(file, me.user)) throw notFound('no such file');
      return fileInfo(file, me.user);
    },
  );

  app.put<{ Params: Static<typeof FileIdParams>; Body: Static<typeof HeaderBody> }>(
    '/v1/files/:id/header',
    {
      onRequest: auth,
      preParsing: hashBody,
      schema: {
        summary: "Replace the current version's header (and meta, readers): share, re-wrap; payload untouched",
        tags: ['files'],
        security: BEARER,
        params: FileIdParams,
        querystring: EmptyQuery,
        body: HeaderBody,
        response: { 200: schemaOf(shapes.FILE_REVISED), ...errors(401, 404, 409, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      writeLimit(me.user, me.deviceId);
      // Destroys data for good (old stanzas, the payload): a bearer token alone is not enough (docs/API.md §2a).
      await requireSignature(ctx, request);
      const b = request.body;
      if (b.readers !== undefined) checkReaderProbe(request);
      const r = await ctx.storage.files.replaceHeader({
        id: fileId(request.params.id),
        owner: me.user,
        expectedRevision: b.expectedRevision,
        header: header(b.header),
        ...(b.meta === undefined ? {} : { meta: meta(b.meta) }),
        ...(b.readers === undefined ? {} : { readers: readers(b.readers, me.user) }),
        updatedAt: ctx.now(),
      });
      if (r.status === 'not_found') throw notFound('no such file of yours');
      if (r.status === 'stale') throw conflict('the file changed: revision is not expectedRevision');
      if (r.status === 'incomplete') throw conflict('the current version is not completely uploaded');
      if (r.status === 'pending')
        throw new ApiError(409, 'revocation_pending', 'a revocation is in progress: its new version must complete (or be replaced) before the header changes');
      if (r.status === 'unknown_reader') throw await unknownReader(request);
      return { revision: r.revision };
    },
  );

  app.post<{ Params: Static<typeof FileIdParams>; Body: Static<typeof VersionBody> }>(
    '/v1/files/:id/versions',
    {
      onRequest: auth,
      preParsing: hashBody,
      schema: {
        summary: 'Start a new version (revocation): the reader list is replaced at once; the payload follows',
        tags: ['files'],
        security: BEARER,
        params: FileIdParams,
        querystring: EmptyQuery,
        body: VersionBody,
        response: { 201: schemaOf(shapes.FILE_VERSION_CREATED), ...errors(401, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      writeLimit(me.user, me.deviceId);
      // Destroys data for good (old stanzas, the payload): a bearer token alone is not enough (docs/API.md §2a).
      await requireSignature(ctx, request);
      const b = request.body;
      checkReaderProbe(request);
      const id = fileId(request.params.id);
      const r = await ctx.storage.files.createVersion(
        {
          id,
          owner: me.user,
          expectedRevision: b.expectedRevision,
          header: header(b.header),
          meta: meta(b.meta),
          payloadSize: payloadSize(b.payloadSize),
          readers: readers(b.readers, me.user),
          updatedAt: ctx.now(),
        },
        limits(),
      );
      if (r.status === 'not_found') throw notFound('no such file of yours');
      if (r.status === 'stale') throw conflict('the file changed: revision is not expectedRevision');
      if (r.status === 'incomplete') throw conflict('the current version is not completely uploaded');
      if (r.status === 'unknown_reader') throw await unknownReader(request);
      if (r.status === 'quota_exceeded') throw errs.quotaExceeded(r);
      if (r.dropped !== undefined) await ctx.storage.blobs.delete({ fileId: id, version: r.dropped });
      return reply.code(201).send({ version: r.version, revision: r.revision });
    },
  );

  app.delete<{ Params: Static<typeof FileIdParams> }>(
    '/v1/files/:id',
    {
      onRequest: auth,
      preParsing: hashBody,
      schema: {
        summary: 'Delete a file: its metadata and every payload (signed request, §2a)',
        tags: ['files'],
        security: BEARER,
        params: FileIdParams,
        querystring: EmptyQuery,
        response: { 204: NoContent, ...errors(401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      writeLimit(me.user, me.deviceId);
      // Destroys data for good (old stanzas, the payload): a bearer token alone is not enough (docs/API.md §2a).
      await requireSignature(ctx, request);
      const id = fileId(request.params.id);
      const r = await ctx.storage.files.delete(id, me.user);
      if (r.status === 'not_found') throw notFound('no such file');
      if (r.status === 'forbidden') throw forbidden('only the owner may delete a file');
      for (const version of r.versions) await ctx.storage.blobs.delete({ fileId: id, version });
      return reply.code(204).send();
    },
  );
}
