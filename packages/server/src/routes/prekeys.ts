/** docs/API.md §3: prekey upload and status, and bundle fetch with one-time consumption. */

import { encodePreKeyBundle } from '@blindrelay/protocol';
import { shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { deviceTopic } from '../bus/types.js';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf } from '../http/auth.js';
import { encodeBase64url } from '../http/base64url.js';
import { clientKey } from '../http/client-address.js';
import { conflict, noSuchUser, unauthorized } from '../http/errors.js';
import { BEARER, EmptyQuery, errors, NoContent, Obj, PrekeyUpload, schemaOf, User } from '../http/schemas.js';
import { checkPrekeyUpload } from '../services/verify.js';

const UserParams = Obj({ user: User });
const BundlesBody = schemaOf(shapes.PREKEY_BUNDLES_REQUEST);
const _Count = Type.Integer({ minimum: 0 });

export function registerPrekeyRoutes(app: FastifyInstance, ctx: AppContext): void {
  const auth = authenticate(ctx);

  app.post<{ Body: Static<typeof PrekeyUpload> }>(
    '/v1/prekeys',
    {
      onRequest: auth,
      schema: {
        summary: "Upload the authenticated device's prekeys (replaces signed / last-resort, appends one-time)",
        tags: ['prekeys'],
        security: BEARER,
        querystring: EmptyQuery,
        body: PrekeyUpload,
        response: { 204: NoContent, ...errors(401, 409, 429) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      ctx.rateLimiter.take('prekeyUploadsPerDevice', `${me.user}\u0000${me.deviceId}`);
      const device = await ctx.storage.accounts.getDevice(me.user, me.deviceId);
      if (!device) throw unauthorized('device not in its user list');
      // Cheap checks first: an upload that cannot be stored costs no signature verifications.
      // (Storage checks the cap again, atomically, with the upload.)
      const max = ctx.limits.maxStoredOneTimePreKeys;
      const adding = { x25519: request.body.oneTimePreKeys?.length ?? 0, pq: request.body.pqPreKeys?.length ?? 0 };
      if (adding.x25519 > 0 || adding.pq > 0) {
        const stored = await ctx.storage.prekeys.status(me.user, me.deviceId);
        if (stored.oneTimePreKeys + adding.x25519 > max || stored.pqPreKeys + adding.pq > max)
          throw conflict(`at most ${max} one-time prekeys of each kind may be stored`);
      }
      const batch = await checkPrekeyUpload(ctx.primitives, { user: me.user, deviceId: me.deviceId, signingKey: device.signingKey }, request.body, 'body');
      const r = await ctx.storage.prekeys.upload(me.user, me.deviceId, batch, { maxStoredOneTime: ctx.limits.maxStoredOneTimePreKeys }, device.signingKey);
      if (r.status === 'duplicate_id') throw conflict('a one-time prekey with this id is already stored');
      if (r.status === 'too_many') throw conflict(`at most ${ctx.limits.maxStoredOneTimePreKeys} one-time prekeys of each kind may be stored`);
      if (r.status === 'unknown_device') throw unauthorized('device not in its user list');
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/prekeys/status',
    {
      onRequest: auth,
      schema: {
        summary: 'How many prekeys the authenticated device has left on the server',
        tags: ['prekeys'],
        security: BEARER,
        querystring: EmptyQuery,
        response: {
          200: schemaOf(shapes.PREKEY_STATUS),
          ...errors(401),
        },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      return ctx.storage.prekeys.status(me.user, me.deviceId);
    },
  );

  app.post<{ Params: Static<typeof UserParams>; Body: Static<typeof BundlesBody> }>(
    '/v1/users/:user/bundles',
    {
      onRequest: auth,
      schema: {
        summary: 'Prekey bundles of the current devices of a user; consumes one-time prekeys',
        tags: ['prekeys'],
        security: BEARER,
        params: UserParams,
        querystring: EmptyQuery,
        body: BundlesBody,
        response: {
          200: schemaOf(shapes.PREKEY_BUNDLES),
          ...errors(401, 404, 429),
        },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      const { user } = request.params;
      const address = clientKey(request);
      ctx.lookupMisses.check(me, address);
      const account = await ctx.storage.accounts.get(user);
      if (!account) {
        await ctx.lookupMisses.miss(me, address);
        throw noSuchUser('unknown user');
      }
      const current = new Set(account.devices.map((d) => d.deviceId));
      // By default every current device except the requester itself (own-device sync).
      const requested = request.body.deviceIds ?? account.devices.map((d) => d.deviceId).filter((id) => !(user === me.user && id === me.deviceId));
      // Prekey draining (docs/API.md §3): per requesting device, and per (requesting device, target device).
      const requester = `${me.user}\u0000${me.deviceId}`;
      await ctx.rateLimiter.takeShared([
        { action: 'bundlesPerDevice', subject: requester, cost: Math.max(1, requested.length) },
        ...requested.map((id) => ({ action: 'bundlesPerPair' as const, subject: `${requester}\u0000${user}\u0000${id}` })),
      ]);
      const unavailable = requested.filter((id) => !current.has(id));
      const claimable = requested.filter((id) => current.has(id));
      // Each target device hands out a budget of one-time prekeys to other users' devices; past
      // it, bundles still come, with none (so nobody can block new sessions, nor empty the stock).
      const budget =
        user === me.user ? [] : await ctx.rateLimiter.tryShared(claimable.map((id) => ({ action: 'oneTimePrekeysPerTarget', subject: `${user}\u0000${id}` })));
      const spared = new Set(claimable.filter((_, i) => budget[i]?.taken === false));
      const claims = await ctx.storage.prekeys.claim(user, claimable, spared.size > 0 ? { withoutOneTime: spared } : undefined);
      const bundles: { deviceId: number; bundle: string }[] = [];
      for (const c of claims) {
        if (c.status === 'unavailable') {
          unavailable.push(c.deviceId);
          ctx.metrics.bundlesUnavailable.inc();
          continue;
        }
        const bytes = encodePreKeyBundle({
          user,
          deviceId: c.device.deviceId,
          signingKey: c.device.signingKey,
          identityKey: c.device.identityKey,
          signedPreKey: c.signedPreKey,
          ...(c.oneTimePreKey ? { oneTimePreKey: c.oneTimePreKey } : {}),
          pqPreKey: c.pqPreKey,
        });
        bundles.push({ deviceId: c.device.deviceId, bundle: encodeBase64url(bytes) });
        ctx.metrics.bundlesFetched.inc();
        const t = ctx.limits.prekeyLowThreshold;
        if (c.remaining.oneTimePreKeys < t || c.remaining.pqPreKeys < t) {
          ctx.metrics.prekeysLow.inc();
          await ctx.bus.publish(deviceTopic(user, c.device.deviceId), { type: 'prekeys-low', ...c.remaining });
        }
      }
      unavailable.sort((a, b) => a - b);
      return { user, deviceListVersion: account.listVersion, bundles, unavailable };
    },
  );
}
