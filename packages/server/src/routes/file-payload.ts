/**
 * docs/API.md §8: payload upload (resumable, in requests of at most 16 MiB) and download
 * (streamed, resumable with `Range: bytes=N-`). These are the only routes that take a body other
 * than JSON: they live in their own plugin scope, where the only content-type parser is
 * `application/octet-stream` (a JSON body here is a 415, and everywhere else an octet-stream body
 * is still a 415). Bodies are never logged.
 */

import { decodeFileSeal, FILE_SEAL_BYTES } from '@blindrelay/protocol';
import { shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BlobMissingError } from '../blobs/types.js';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf } from '../http/auth.js';
import { decodeField } from '../http/base64url.js';
import { ApiError, badRequest, conflict, notFound } from '../http/errors.js';
import { BEARER, EmptyQuery, errors, FileId, FileVersionNumber, Obj, schemaOf } from '../http/schemas.js';
import { canRead, FileSeal } from './files.js';

/** How long one upload request may hold a version (the request itself times out at 30 s). */
export const UPLOAD_LEASE_MS = 60_000;

const PayloadParams = Obj({ id: FileId, version: FileVersionNumber });
const UploadQuery = Obj({
  offset: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'must equal the bytes received so far' }),
  seal: Type.Optional({ ...FileSeal, description: "the owner's seal of the version (docs/PROTOCOL.md §15.4): only on the request that completes it" }),
});
const Binary = (description: string) => ({ description, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } });

/** `bytes=N-` or `bytes=N-M` (one range); undefined for anything else (then ignored: 200 with every byte). */
function parseRange(header: string | undefined): { start: number; last?: number } | undefined {
  const m = header === undefined ? null : /^bytes=(\d{1,16})-(\d{0,16})$/.exec(header.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  if (m[2] === '') return { start };
  const last = Number(m[2]);
  return last >= start ? { start, last } : undefined;
}

export function registerFilePayloadRoutes(app: FastifyInstance, ctx: AppContext): void {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: ctx.limits.maxFileChunkBytes }, (_request, body, done) =>
      done(null, body),
    );
    const auth = authenticate(ctx);
    const chunkLimit = async (request: FastifyRequest, _reply: FastifyReply) => {
      const me = deviceOf(request);
      ctx.rateLimiter.take('fileChunksPerDevice', `${me.user}\u0000${me.deviceId}`);
    };
    // Admission before the body is read: bodies are buffered (≤ maxFileChunkBytes each), so the
    // number received at once is what bounds their memory.
    let active = 0;
    const perUser = new Map<string, number>();
    const admitted = new WeakSet<FastifyRequest>();
    const admit = async (request: FastifyRequest, reply: FastifyReply) => {
      const { user } = deviceOf(request);
      const mine = perUser.get(user) ?? 0;
      if (active >= ctx.limits.maxConcurrentUploads || mine >= ctx.limits.maxConcurrentUploadsPerUser) {
        throw new ApiError(429, 'rate_limited', 'too many uploads in progress; retry shortly', undefined, { 'retry-after': '1' });
      }
      active++;
      perUser.set(user, mine + 1);
      admitted.add(request);
      // 'close' fires after the answer went out and also when the client vanished after sending
      // its whole body (then neither onResponse nor onRequestAbort runs): the slot is never kept.
      reply.raw.once('close', () => void release(request));
    };
    const release = async (request: FastifyRequest) => {
      if (!admitted.delete(request)) return;
      active--;
      const { user } = deviceOf(request);
      const left = (perUser.get(user) ?? 1) - 1;
      if (left > 0) perUser.set(user, left);
      else perUser.delete(user);
    };
    scope.addHook('onResponse', release);
    scope.addHook('onRequestAbort', release);

    scope.put<{ Params: Static<typeof PayloadParams>; Querystring: Static<typeof UploadQuery> }>(
      '/v1/files/:id/versions/:version/payload',
      {
        // Authenticated and rate limited before the body is read.
        // Admission first: a request refused for being one too many does not use up the chunk rate limit.
        onRequest: [auth, admit, chunkLimit],
        bodyLimit: ctx.limits.maxFileChunkBytes,
        schema: {
          summary: 'Append payload bytes (application/octet-stream, 1 byte … 16 MiB) at offset = bytes received so far (owner only)',
          tags: ['files'],
          security: BEARER,
          params: PayloadParams,
          querystring: UploadQuery,
          response: {
            200: schemaOf(shapes.PAYLOAD_PROGRESS),
            ...errors(401, 404, 409, 429),
          },
        },
      },
      async (request) => {
        const me = deviceOf(request);
        const body = request.body;
        if (!(body instanceof Uint8Array) || body.length === 0) throw badRequest('body: 1 byte or more of application/octet-stream');
        const id = decodeField(request.params.id, 'id', { exact: 16 });
        const { version } = request.params;
        const { offset } = request.query;
        // Only its format can be checked here: the signature is bound to the file key (PROTOCOL.md §15.4).
        const seal = request.query.seal === undefined ? undefined : decodeField(request.query.seal, 'seal', { exact: FILE_SEAL_BYTES });
        if (seal) {
          try {
            decodeFileSeal(seal);
          } catch {
            throw badRequest('seal: not a file seal');
          }
        }
        const data = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
        const token = ctx.primitives.randomBytes(16);
        const now = ctx.now();
        const begin = await ctx.storage.files.beginAppend({
          id,
          owner: me.user,
          version,
          offset,
          length: data.length,
          token,
          now,
          leaseUntil: now + UPLOAD_LEASE_MS,
          sealed: seal !== undefined,
        });
        if (begin.status === 'not_found') throw notFound('no such file of yours, or no such version being uploaded');
        if (begin.status === 'complete') throw conflict('this version is already complete');
        if (begin.status === 'busy')
          throw new ApiError(409, 'conflict', 'another upload to this version is in progress; retry', undefined, { 'retry-after': '1' });
        if (begin.status === 'offset_mismatch')
          throw new ApiError(409, 'offset_mismatch', 'offset is not the number of bytes received; resume at received', { received: begin.received });
        if (begin.status === 'too_long') throw badRequest('offset + body length exceeds payloadSize');
        if (begin.status === 'seal_not_final') throw badRequest('seal: only on the request that completes the version');
        const key = { fileId: id, version };
        try {
          await ctx.storage.blobs.append(key, offset, data);
        } catch (err) {
          if ((await ctx.storage.files.abortAppend(id, version, token)) === 'gone') throw notFound('the file or version was deleted');
          throw err;
        }
        const r = await ctx.storage.files.finishAppend(id, version, token, offset + data.length, ctx.now(), seal);
        if (r.status === 'gone') {
          await ctx.storage.blobs.delete(key);
          throw notFound('the file or version was deleted');
        }
        if (r.status === 'lost') throw conflict('the upload took too long and another one took over; fetch the file and resume');
        // Revocation completes: the previous version's ciphertext is erased before we answer.
        if (r.promoted) await ctx.storage.blobs.delete({ fileId: id, version: r.promoted.dropped });
        return { received: r.received, complete: r.complete };
      },
    );

    scope.get<{ Params: Static<typeof PayloadParams> }>(
      '/v1/files/:id/versions/:version/payload',
      {
        onRequest: auth,
        schema: {
          summary: 'Download the current version\'s payload (streamed; "Range: bytes=N-" resumes with 206)',
          tags: ['files'],
          security: BEARER,
          params: PayloadParams,
          querystring: EmptyQuery,
          response: { 200: Binary('payload bytes'), 206: Binary('payload bytes from the requested offset'), ...errors(401, 404, 409, 416) },
        },
      },
      async (request, reply) => {
        const me = deviceOf(request);
        const id = decodeField(request.params.id, 'id', { exact: 16 });
        const file = await ctx.storage.files.get(id);
        if (!file || !canRead(file, me.user)) throw notFound('no such file');
        const c = file.current;
        if (request.params.version !== c.version) throw new ApiError(409, 'version_changed', 'this is not the current version; fetch the file again');
        if (c.received !== c.payloadSize) throw conflict('the current version is not completely uploaded');
        const size = c.payloadSize;
        const range = parseRange(request.headers.range);
        if (range && range.start >= size)
          throw new ApiError(416, 'range_not_satisfiable', 'range starts past the end of the payload', undefined, { 'content-range': `bytes */${size}` });
        const start = range?.start ?? 0;
        const end = range ? Math.min(size, (range.last ?? size - 1) + 1) : size;
        let stream: Awaited<ReturnType<typeof ctx.storage.blobs.read>>;
        try {
          stream = await ctx.storage.blobs.read({ fileId: id, version: c.version }, start, end);
        } catch (err) {
          // Deleted between the metadata read and here (a newer version completed, or the file was deleted).
          if (err instanceof BlobMissingError) throw new ApiError(409, 'version_changed', 'this version is gone; fetch the file again');
          throw err;
        }
        void reply
          .header('content-type', 'application/octet-stream')
          .header('content-length', String(end - start))
          .header('accept-ranges', 'bytes');
        if (range) void reply.code(206).header('content-range', `bytes ${start}-${end - 1}/${size}`);
        return reply.send(stream);
      },
    );
  });
}
