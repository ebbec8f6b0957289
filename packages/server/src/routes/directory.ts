/** docs/API.md §3: the directory (master key + signed device list) and device-list updates. */
import { shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { deviceTopic } from '../bus/types.js';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf } from '../http/auth.js';
import { decodeField, encodeBase64url } from '../http/base64url.js';
import { clientKey } from '../http/client-address.js';
import { badRequest, conflict, noSuchUser, notFound } from '../http/errors.js';
import { BEARER, EmptyQuery, errors, NoContent, Obj, schemaOf, User } from '../http/schemas.js';
import { checkDeviceList, checkPrekeyUpload, checkRotation } from '../services/verify.js';

const UserParams = Obj({ user: User });
/** A newer list, the device it adds (with its prekeys), a master-key rotation statement (docs/PROTOCOL.md §16.4). */
const ListBody = schemaOf(shapes.DEVICE_LIST_REQUEST);

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

export function registerDirectoryRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Params: Static<typeof UserParams> }>(
    '/v1/users/:user',
    {
      onRequest: authenticate(ctx),
      schema: {
        summary: "A user's master key and newest signed device list",
        tags: ['directory'],
        security: BEARER,
        params: UserParams,
        querystring: EmptyQuery,
        response: { 200: schemaOf(shapes.USER_KEYS), ...errors(401, 404, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      const address = clientKey(request);
      ctx.lookupMisses.check(me, address);
      const requester = `${me.user}\u0000${me.deviceId}`;
      await ctx.rateLimiter.takeShared([
        { action: 'directoryPerDevice', subject: requester },
        { action: 'directoryPerPair', subject: `${requester}\u0000${request.params.user}` },
        { action: 'directoryPerIp', subject: address },
      ]);
      const account = await ctx.storage.accounts.get(request.params.user);
      if (!account) {
        await ctx.lookupMisses.miss(me, address);
        throw noSuchUser('unknown user');
      }
      return {
        user: account.user,
        masterKey: encodeBase64url(account.masterKey),
        deviceList: encodeBase64url(account.deviceList),
        ...(account.rotation ? { rotation: encodeBase64url(account.rotation) } : {}),
      };
    },
  );

  app.put<{ Params: Static<typeof UserParams>; Body: Static<typeof ListBody> }>(
    '/v1/users/:user/device-list',
    {
      schema: {
        summary:
          'Publish a newer signed device list (authorised by the master-key signature; under a new master key only with a rotation statement signed by the stored one); revokes removed devices',
        tags: ['directory'],
        params: UserParams,
        querystring: EmptyQuery,
        body: ListBody,
        response: { 204: NoContent, ...errors(403, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const { user } = request.params;
      await ctx.rateLimiter.takeShared([{ action: 'deviceListPerIp', subject: clientKey(request) }]);
      const account = await ctx.storage.accounts.get(user);
      if (!account) throw notFound('unknown user');
      const bytes = decodeField(request.body.deviceList, 'deviceList');
      // A new master key only with a statement from the stored one (PROTOCOL.md §16.4).
      const rotation =
        request.body.rotation === undefined
          ? undefined
          : await checkRotation(ctx.primitives, decodeField(request.body.rotation, 'rotation'), user, account.masterKey);
      const list = await checkDeviceList(ctx.primitives, bytes, user, rotation?.masterKey ?? account.masterKey, account, ctx.now());
      if (list.version <= account.listVersion) throw conflict('device list version must be higher than the stored one');
      // Charged only for validly signed lists, so nobody but the master-key holder can use up
      // (and so block) a user's updates; invalid attempts are paid for per client address.
      await ctx.rateLimiter.takeShared([{ action: 'deviceListPerUser', subject: user }]);

      let newDevice: { deviceId: number; prekeys: Awaited<ReturnType<typeof checkPrekeyUpload>> } | undefined;
      if (request.body.newDevice) {
        const { deviceId } = request.body.newDevice;
        const entry = list.devices.find((d) => d.deviceId === deviceId);
        if (!entry) throw badRequest('newDevice: not in the device list');
        const old = account.devices.find((d) => d.deviceId === deviceId);
        if (old && sameBytes(old.signingKey, entry.signingKey) && sameBytes(old.identityKey, entry.identityKey)) {
          throw badRequest('newDevice: already in the previous device list');
        }
        if (!entry.proof) throw badRequest('newDevice: has no proof of possession in the device list');
        const owner = { user, deviceId, signingKey: entry.signingKey };
        newDevice = { deviceId, prekeys: await checkPrekeyUpload(ctx.primitives, owner, request.body.newDevice.prekeys, 'newDevice.prekeys') };
      }

      const result = await ctx.storage.accounts.replaceDeviceList(
        {
          user,
          expectedVersion: account.listVersion,
          listVersion: list.version,
          deviceList: list.encoded,
          devices: list.devices.map((d) => ({ deviceId: d.deviceId, signingKey: d.signingKey, identityKey: d.identityKey })),
          ...(newDevice ? { newDevice } : {}),
          ...(rotation ? { rotation } : {}),
          updatedAt: ctx.now(),
        },
        { maxStoredOneTime: ctx.limits.maxStoredOneTimePreKeys },
      );
      if (result.status === 'not_found') throw notFound('unknown user');
      if (result.status === 'stale') throw conflict('device list changed concurrently; fetch it and retry');
      // Tokens, queues and prekeys of revoked devices are gone; now close their sockets.
      for (const deviceId of result.revoked) await ctx.bus.publish(deviceTopic(user, deviceId), { type: 'revoked' });
      if (result.revoked.length > 0) request.log.info({ revokedDevices: result.revoked.length }, 'devices revoked');
      return reply.code(204).send();
    },
  );
}
