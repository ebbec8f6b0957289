/** docs/API.md §1: account registration. */

import { isValidEd25519PublicKey } from '@blindrelay/protocol';
import { shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { decodeField } from '../http/base64url.js';
import { clientKey } from '../http/client-address.js';
import { badRequest, conflict } from '../http/errors.js';
import { EmptyQuery, errors, schemaOf } from '../http/schemas.js';
import { checkDeviceList, checkPrekeyUpload } from '../services/verify.js';

const Body = schemaOf(shapes.ACCOUNT_REQUEST);

export function registerAccountRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post<{ Body: Static<typeof Body> }>(
    '/v1/accounts',
    {
      schema: {
        summary: 'Register a user with its master key and a signed device list of exactly one device',
        tags: ['accounts'],
        querystring: EmptyQuery,
        body: Body,
        response: { 201: schemaOf(shapes.ACCOUNT_CREATED), ...errors(409, 429) },
      },
    },
    async (request, reply) => {
      await ctx.rateLimiter.takeShared([{ action: 'accountsPerIp', subject: clientKey(request) }]);
      const { user } = request.body;
      const masterKey = decodeField(request.body.masterKey, 'masterKey', { exact: 32 });
      // PROTOCOL.md §3: canonical and not of small order (review finding L1).
      if (!isValidEd25519PublicKey(masterKey)) throw badRequest('masterKey: not a valid Ed25519 public key');
      const listBytes = decodeField(request.body.deviceList, 'deviceList');
      const list = await checkDeviceList(ctx.primitives, listBytes, user, masterKey, undefined, ctx.now());
      const device = list.devices[0];
      if (list.devices.length !== 1 || !device) throw badRequest('deviceList: must contain exactly one device at registration');
      const prekeys = await checkPrekeyUpload(ctx.primitives, { user, deviceId: device.deviceId, signingKey: device.signingKey }, request.body.prekeys ?? {});
      const created = await ctx.storage.accounts.create(
        {
          user,
          masterKey,
          listVersion: list.version,
          deviceList: list.encoded,
          device: { deviceId: device.deviceId, signingKey: device.signingKey, identityKey: device.identityKey },
          prekeys,
          createdAt: ctx.now(),
        },
        { maxStoredOneTime: ctx.limits.maxStoredOneTimePreKeys },
      );
      if (created === 'exists') throw conflict('user name taken');
      return reply.code(201).send({ user, deviceId: device.deviceId });
    },
  );
}
