/** docs/API.md §7: the device-linking channel. The server only ever relays a sealed envelope. */

import { toHex } from '@blindrelay/protocol';
import { shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { provisioningTopic } from '../bus/types.js';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf, sha256 } from '../http/auth.js';
import { decodeField, encodeBase64url } from '../http/base64url.js';
import { clientKey } from '../http/client-address.js';
import { ApiError, conflict, noSuchUser, notFound } from '../http/errors.js';
import { BEARER, ChannelId, EmptyQuery, errors, NoContent, Obj, schemaOf } from '../http/schemas.js';

const ChannelParams = Obj({ channelId: ChannelId });
const PutBody = schemaOf(shapes.CHANNEL_PUT_REQUEST);
/**
 * Optionally the user the new device wants to join: an unknown name is answered at once (404
 * `no_such_user`) instead of after a 10-minute wait (review ux-2026-12 F12). Whether a name is
 * taken is already public (POST /v1/accounts answers 409), and this route is rate limited per
 * address (docs/DECISIONS.md, "device link checks the user").
 */
const CreateBody = schemaOf(shapes.CHANNEL_REQUEST);
const WaitQuery = Obj({ wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 30, default: 0, description: 'long-poll seconds' })) });

export function registerProvisioningRoutes(app: FastifyInstance, ctx: AppContext): void {
  const channelHash = (channelId: string) => sha256(decodeField(channelId, 'channelId', { exact: 16 }));

  app.post<{ Body: Static<typeof CreateBody> | undefined }>(
    '/v1/provisioning',
    {
      schema: {
        summary: 'Open a provisioning channel (10 minutes) for a new device',
        tags: ['provisioning'],
        querystring: EmptyQuery,
        body: CreateBody,
        response: { 200: schemaOf(shapes.CHANNEL), ...errors(404, 429) },
      },
    },
    async (request) => {
      const address = clientKey(request);
      await ctx.rateLimiter.takeShared([{ action: 'provisioningCreatePerIp', subject: address }]);
      const user = request.body?.user;
      if (user !== undefined && !(await ctx.storage.accounts.get(user))) throw noSuchUser('unknown user');
      if (ctx.openChannels.count(address) >= ctx.limits.maxOpenProvisioningChannelsPerAddress) {
        throw new ApiError(429, 'rate_limited', 'too many open provisioning channels from this address; retry later', undefined, { 'retry-after': '60' });
      }
      const id = ctx.primitives.randomBytes(16);
      const hash = sha256(id);
      const now = ctx.now();
      const expiresAt = now + ctx.limits.provisioningTtlMs;
      // Reserve the slot before the await, so concurrent requests cannot overshoot the cap.
      ctx.openChannels.add(toHex(hash), address, expiresAt);
      let created = false;
      try {
        created = await ctx.storage.provisioning.createChannel(hash, now, expiresAt, ctx.limits.maxOpenProvisioningChannels);
      } finally {
        if (!created) ctx.openChannels.release(toHex(hash));
      }
      // The global cap is a backstop (many addresses at once).
      if (!created) throw new ApiError(429, 'rate_limited', 'too many open provisioning channels; retry later', undefined, { 'retry-after': '60' });
      return { channelId: encodeBase64url(id), expiresAt };
    },
  );

  app.put<{ Params: Static<typeof ChannelParams>; Body: Static<typeof PutBody> }>(
    '/v1/provisioning/:channelId',
    {
      onRequest: authenticate(ctx),
      schema: {
        summary: 'Deliver the sealed envelope to a waiting new device (once)',
        tags: ['provisioning'],
        security: BEARER,
        params: ChannelParams,
        querystring: EmptyQuery,
        body: PutBody,
        response: { 204: NoContent, ...errors(401, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      await ctx.rateLimiter.takeShared([{ action: 'provisioningPutPerDevice', subject: `${me.user}\u0000${me.deviceId}` }]);
      const hash = channelHash(request.params.channelId);
      const envelope = decodeField(request.body.envelope, 'envelope', { min: 1, max: ctx.limits.maxEnvelopeBytes });
      const r = await ctx.storage.provisioning.putEnvelope(hash, envelope, ctx.now());
      if (r === 'not_found') throw notFound('unknown or expired channel');
      if (r === 'already_set') throw conflict('this channel already has an envelope');
      await ctx.bus.publish(provisioningTopic(toHex(hash)), { type: 'envelope' });
      return reply.code(204).send();
    },
  );

  app.get<{ Params: Static<typeof ChannelParams>; Querystring: Static<typeof WaitQuery> }>(
    '/v1/provisioning/:channelId',
    {
      schema: {
        summary: 'Fetch the envelope (long poll up to 30 s); deleted once fetched',
        tags: ['provisioning'],
        params: ChannelParams,
        querystring: WaitQuery,
        response: { 200: schemaOf(shapes.CHANNEL_ENVELOPE), 204: NoContent, ...errors(404, 429) },
      },
    },
    async (request, reply) => {
      await ctx.rateLimiter.takeShared([{ action: 'provisioningPollPerIp', subject: clientKey(request) }]);
      const hash = channelHash(request.params.channelId);
      const waitMs = Math.min(request.query.wait ?? 0, ctx.limits.maxProvisioningWaitSeconds) * 1000;
      // Subscribe before the first look, so an envelope stored in between is not missed.
      const woken = waitMs > 0 && !ctx.closing ? waitForEnvelope(ctx, toHex(hash), waitMs, reply) : undefined;
      try {
        let r = await ctx.storage.provisioning.takeEnvelope(hash, ctx.now());
        if (r.status === 'empty' && woken) {
          await woken.promise;
          r = await ctx.storage.provisioning.takeEnvelope(hash, ctx.now());
        }
        if (r.status !== 'empty') ctx.openChannels.release(toHex(hash)); // used up, expired or gone
        if (r.status === 'not_found') throw notFound('unknown, expired or used channel');
        if (r.status === 'empty') return reply.code(204).send();
        return { envelope: encodeBase64url(r.envelope) };
      } finally {
        woken?.cancel();
      }
    },
  );
}

/** Resolves on an envelope event, after `ms`, when the client goes away, or at shutdown. */
function waitForEnvelope(ctx: AppContext, hashHex: string, ms: number, reply: FastifyReply) {
  let done: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    done = resolve;
  });
  const timer = setTimeout(() => done(), ms);
  const unsubscribe = ctx.bus.subscribe(provisioningTopic(hashHex), () => done());
  const onClose = () => done();
  reply.raw.once('close', onClose);
  ctx.waiters.add(done);
  return {
    promise,
    cancel() {
      clearTimeout(timer);
      unsubscribe();
      reply.raw.off('close', onClose);
      ctx.waiters.delete(done);
      done();
    },
  };
}
