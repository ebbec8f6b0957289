/** docs/API.md §5: store-and-forward mailboxes, one queue per device, at least once. */
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { deviceTopic } from '../bus/types.js';
import { LIMITS } from '../config.js';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf } from '../http/auth.js';
import { decodeField, encodeBase64url } from '../http/base64url.js';
import { clientKey } from '../http/client-address.js';
import { ApiError, badRequest, conflict, noSuchUser } from '../http/errors.js';
import { hashBody, requireSignature } from '../http/request-signature.js';
import { BEARER, DeviceId, EmptyQuery, errors, MessageBody, MessageEnvelope, MessageId, Millis, NoContent, Obj, User } from '../http/schemas.js';
import { raiseSendMark, SendMarkField } from '../http/send-mark.js';
import { envelopeJson } from '../ws/hub.js';

const SendBody = Obj({
  to: User,
  messages: Type.Array(Obj({ deviceId: DeviceId, body: MessageBody }), { maxItems: LIMITS.maxRecipients, description: 'one entry per recipient device' }),
  sendMark: Type.Optional(SendMarkField),
});
const FetchQuery = Obj({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.maxFetch, default: LIMITS.defaultFetch })) });
const AckBody = Obj({ ids: Type.Array(MessageId, { maxItems: LIMITS.maxAckIds }) });

/** Attempts when the recipient's device list changes between the coverage check and the store. */
const MAX_ATTEMPTS = 3;

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
        response: { 200: Obj({ ids: Type.Array(MessageId), sentAt: Millis }), ...errors(401, 404, 409, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      const { to } = request.body;
      const address = clientKey(request);
      ctx.lookupMisses.check(me, address);
      // Mailbox flooding: each sender has its own budget per recipient (own-device sync is free),
      // so one flooder is refused long before the queue cap while other senders get through.
      ctx.rateLimiter.takeLocal([
        { action: 'messagesPerDevice', subject: `${me.user}\u0000${me.deviceId}` },
        ...(to === me.user ? [] : [{ action: 'messagesPerPair' as const, subject: `${me.user}\u0000${to}` }]),
      ]);
      const given = request.body.messages.map((m) => m.deviceId);
      if (new Set(given).size !== given.length) throw badRequest('messages: duplicate deviceId');
      const bodies = request.body.messages.map((m, i) => decodeField(m.body, `messages[${i}].body`, { min: 1, max: ctx.limits.maxMessageBytes }));
      // Before anything is stored: a send from an older copy of the profile is refused (§5a).
      if (request.body.sendMark) await raiseSendMark(ctx, me, { ...request.body, sendMark: request.body.sendMark });

      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const account = await ctx.storage.accounts.get(to);
        if (!account) {
          await ctx.lookupMisses.miss(me, address);
          throw noSuchUser('unknown recipient');
        }
        // Sesame: exactly the recipient's current devices, minus the sender's own device.
        const expected = account.devices.map((d) => d.deviceId).filter((id) => !(to === me.user && id === me.deviceId));
        const givenSet = new Set(given);
        const expectedSet = new Set(expected);
        const missing = expected.filter((id) => !givenSet.has(id));
        const stale = given.filter((id) => !expectedSet.has(id)).sort((a, b) => a - b);
        if (missing.length > 0 || stale.length > 0) {
          throw new ApiError(409, 'mismatched_devices', "the messages do not cover exactly the recipient's current devices", { missing, stale });
        }
        const ids = given.map(() => ctx.primitives.randomBytes(16));
        const sentAt = ctx.now();
        const result = await ctx.storage.mailboxes.enqueue({
          to,
          expectedListVersion: account.listVersion,
          fromUser: me.user,
          fromDevice: me.deviceId,
          sentAt,
          messages: given.map((deviceId, i) => ({ id: ids[i] as Uint8Array, deviceId, body: bodies[i] as Uint8Array })),
          maxQueued: ctx.limits.maxQueuedPerDevice,
        });
        if (result.status === 'stale_list') continue;
        if (result.status === 'queue_full') {
          throw new ApiError(
            429,
            'queue_full',
            "a recipient device's queue is full; retry later",
            { devices: [...result.deviceIds].sort((a, b) => a - b) },
            { 'retry-after': '60' },
          );
        }
        ctx.metrics.messagesStored.inc(given.length);
        for (const deviceId of given) await ctx.bus.publish(deviceTopic(to, deviceId), { type: 'message' });
        return { ids: ids.map(encodeBase64url), sentAt };
      }
      throw conflict("the recipient's device list kept changing; retry");
    },
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
        response: { 200: Obj({ messages: Type.Array(MessageEnvelope) }), ...errors(401) },
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
