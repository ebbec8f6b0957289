/** docs/API.md §11: sealed sends (no sender on the relay) and delivery tokens. */

import { deliveryTokenVerifier } from '@blindrelay/protocol';
import { shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf } from '../http/auth.js';
import { decodeField, encodeBase64url } from '../http/base64url.js';
import { clientKey } from '../http/client-address.js';
import { ApiError } from '../http/errors.js';
import { hashBody, requireSignature } from '../http/request-signature.js';
import { BEARER, EmptyQuery, errors, NoContent, schemaOf } from '../http/schemas.js';
import { DELIVERY_TOKEN_GRACE_MS, deliverSealed, invalidToken, MAX_DELIVERY_TOKENS_PER_DEVICE } from '../services/sealed-delivery.js';

const SealedSendBody = schemaOf(shapes.SEALED_SEND_REQUEST);
const TokenBody = schemaOf(shapes.DELIVERY_TOKEN_REQUEST);
const DirectoryBody = schemaOf(shapes.SEALED_DIRECTORY_REQUEST);

export function registerSealedRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post<{ Body: Static<typeof DirectoryBody> }>(
    '/v1/sealed/directory',
    {
      schema: {
        summary: "A user's master key and device list for a holder of one of its devices' delivery tokens; no authentication (the lookup names no requester)",
        tags: ['sealed'],
        querystring: EmptyQuery,
        body: DirectoryBody,
        response: { 200: schemaOf(shapes.USER_KEYS), ...errors(400, 403, 429) },
      },
    },
    async (request) => {
      const { user, deviceId } = request.body;
      ctx.rateLimiter.takeLocal([{ action: 'sealedPerIp', subject: clientKey(request) }]);
      const verifier = await deliveryTokenVerifier(ctx.primitives, decodeField(request.body.token, 'token', { exact: 32 }));
      const account = await ctx.storage.accounts.get(user);
      // An unknown user and a wrong token look the same: the lookup is no directory oracle.
      if (!account || (await ctx.storage.sealed.invalidTokens(user, [{ deviceId, verifier }], ctx.now())).length > 0) throw invalidToken();
      return {
        user: account.user,
        masterKey: encodeBase64url(account.masterKey),
        deviceList: encodeBase64url(account.deviceList),
        ...(account.rotation ? { rotation: encodeBase64url(account.rotation) } : {}),
      };
    },
  );

  app.post<{ Body: Static<typeof SealedSendBody> }>(
    '/v1/sealed/messages',
    {
      schema: {
        summary: "Sealed send: one sealed envelope per current device of the recipient, each with that device's delivery token; no authentication",
        tags: ['sealed'],
        querystring: EmptyQuery,
        body: SealedSendBody,
        response: { 200: schemaOf(shapes.SEND_RESULT), ...errors(400, 403, 409, 429) },
      },
    },
    async (request) => {
      const messages = request.body.messages.map((m, i) => ({
        deviceId: m.deviceId,
        token: decodeField(m.token, `messages[${i}].token`, { exact: 32 }),
        body: decodeField(m.body, `messages[${i}].body`, { min: 1, max: ctx.limits.maxMessageBytes }),
      }));
      const r = await deliverSealed(ctx, { to: request.body.to, messages }, clientKey(request));
      return { ids: r.ids.map(encodeBase64url), sentAt: r.sentAt };
    },
  );

  app.put<{ Body: Static<typeof TokenBody> }>(
    '/v1/sealed/token',
    {
      onRequest: authenticate(ctx),
      preParsing: hashBody,
      schema: {
        summary: "Set the authenticated device's current delivery token (its verifier): rotate, or revoke the others (signed request, §2a)",
        tags: ['sealed'],
        security: BEARER,
        querystring: EmptyQuery,
        body: TokenBody,
        response: { 204: NoContent, ...errors(400, 401, 429) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      ctx.rateLimiter.take('deliveryTokensPerDevice', `${me.user}\u0000${me.deviceId}`);
      const verifier = decodeField(request.body.verifier, 'verifier', { exact: 32 });
      await requireSignature(ctx, request);
      const device = await ctx.storage.accounts.getDevice(me.user, me.deviceId);
      const now = ctx.now();
      const ok =
        device !== undefined &&
        (await ctx.storage.sealed.setToken({
          user: me.user,
          deviceId: me.deviceId,
          verifier,
          createdAt: now,
          ...(request.body.mode === 'rotate' ? { previousValidUntil: now + DELIVERY_TOKEN_GRACE_MS } : {}),
          signingKey: device.signingKey,
          maxPerDevice: MAX_DELIVERY_TOKENS_PER_DEVICE,
        }));
      if (!ok) throw new ApiError(401, 'unauthorized', 'the device is not in its device list');
      return reply.code(204).send();
    },
  );
}
