/** docs/API.md §5: store-and-forward mailboxes, one queue per device, at least once. */
import { shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { LIMITS } from '../config.js';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf } from '../http/auth.js';
import { decodeField } from '../http/base64url.js';
import { clientKey } from '../http/client-address.js';
import { hashBody, requireSignature } from '../http/request-signature.js';
import { BEARER, EmptyQuery, errors, NoContent, Obj, schemaOf } from '../http/schemas.js';
import { sendMessages } from '../services/send-messages.js';
import { envelopeJson } from '../ws/hub.js';

const SendBody = schemaOf(shapes.MESSAGE_SEND_REQUEST);
const FetchQuery = Obj({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.maxFetch, default: LIMITS.defaultFetch })) });
const AckBody = schemaOf(shapes.MESSAGE_ACK_REQUEST);

export function registerMessageRoutes(app: FastifyInstance, ctx: AppContext): void {
  const auth = authenticate(ctx);

  app.post<{ Body: Static<typeof SendBody> }>(
    '/v1/messages',
    {
      onRequest: auth,
      schema: {
        summary: "Send one ciphertext per current device of the recipient (own-device sync: all of the sender's other devices)",
        tags: ['messages'],
        security: BEARER,
        querystring: EmptyQuery,
        body: SendBody,
        response: { 200: schemaOf(shapes.SEND_RESULT), ...errors(401, 404, 409, 429) },
      },
    },
    async (request) => sendMessages(ctx, deviceOf(request), clientKey(request), request.body),
  );

  app.get<{ Querystring: Static<typeof FetchQuery> }>(
    '/v1/messages',
    {
      onRequest: auth,
      schema: {
        summary: 'Queued messages of the authenticated device, oldest first',
        tags: ['messages'],
        security: BEARER,
        querystring: FetchQuery,
        response: { 200: schemaOf(shapes.MESSAGE_PAGE), ...errors(401) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      const limit = request.query.limit ?? ctx.limits.defaultFetch;
      const messages = await ctx.storage.mailboxes.fetch(me.user, me.deviceId, { limit, maxBytes: ctx.limits.maxFetchBytes });
      ctx.metrics.messagesDelivered.inc({ via: 'http' }, messages.length);
      return { messages: messages.map(envelopeJson) };
    },
  );

  app.post<{ Body: Static<typeof AckBody> }>(
    '/v1/messages/ack',
    {
      onRequest: auth,
      preParsing: hashBody,
      schema: {
        summary: "Acknowledge (delete) messages of the authenticated device; other devices' ids are ignored (signed request, §2a)",
        tags: ['messages'],
        security: BEARER,
        querystring: EmptyQuery,
        body: AckBody,
        response: { 204: NoContent, ...errors(401, 429) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      ctx.rateLimiter.take('acksPerDevice', `${me.user}\u0000${me.deviceId}`);
      const ids = request.body.ids.map((id, i) => decodeField(id, `ids[${i}]`, { exact: 16 }));
      // Deletes messages for good: a bearer token alone is not enough (docs/API.md §2a).
      await requireSignature(ctx, request);
      const n = await ctx.storage.mailboxes.ack(me.user, me.deviceId, ids);
      ctx.metrics.messagesAcked.inc(n);
      return reply.code(204).send();
    },
  );
}
