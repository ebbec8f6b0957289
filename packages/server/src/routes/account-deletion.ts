/**
 * docs/API.md §1a: account deletion. `POST /v1/accounts/deletion` destroys everything the relay
 * holds for the token's user (storage `accounts.delete`). A bearer token is not enough, nor is a
 * device key: the request needs
 *   - the device's signed-request header (§2a: device key, fresh time, nonce recorded), and
 *   - in the body, the master key's deletion statement (PROTOCOL.md §17) over the user, a time
 *     within REQUEST_SIGNATURE_WINDOW_MS of the relay's clock, a nonce, and the digest of the
 *     device list the relay holds now.
 * Only the primary device holds the master key (DESIGN.md "Custody"), so a companion, or a thief
 * of a token or of a companion, cannot delete the account. The digest binds the statement to the
 * account as it is: the deletion it causes uses it up, and it never applies to an account
 * registered later under the same name (whose list differs), so a captured statement cannot be
 * replayed; the compare-and-set on the list version closes the race with a list change.
 *
 * Afterwards every relay closes the account's WebSockets (bus `account-deleted`: cluster-wide),
 * and the per-user and per-device rate-limit buckets are deleted. Nothing is logged but the fact.
 */
import { SignatureError, verifyAccountDeletion } from '@blindrelay/protocol';
import { shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { deviceTopic } from '../bus/types.js';
import type { RateLimits } from '../config.js';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf } from '../http/auth.js';
import { decodeField } from '../http/base64url.js';
import { ApiError, conflict, noSuchUser } from '../http/errors.js';
import { hashBody, REQUEST_SIGNATURE_WINDOW_MS, requireSignature } from '../http/request-signature.js';
import { BEARER, EmptyQuery, errors, NoContent, schemaOf } from '../http/schemas.js';

const Body = schemaOf(shapes.ACCOUNT_DELETION_REQUEST);

/** The rate-limit buckets named by the user or one of its devices (http/rate-limit.ts subjects). */
function userBuckets(user: string, devices: readonly number[]): { action: keyof RateLimits; subject: string }[] {
  const out: { action: keyof RateLimits; subject: string }[] = [{ action: 'deviceListPerUser', subject: user }];
  for (const id of devices) {
    const d = `${user}\u0000${id}`;
    for (const action of [
      'directoryPerDevice',
      'bundlesPerDevice',
      'oneTimePrekeysPerTarget',
      'provisioningPutPerDevice',
      'messagesPerDevice',
      'acksPerDevice',
      'prekeyUploadsPerDevice',
      'websocketPerDevice',
      'fileWritesPerDevice',
      'fileChunksPerDevice',
    ] as const)
      out.push({ action, subject: d });
    out.push({ action: 'lookupMissesPerDevice', subject: `d\u0000${d}` });
  }
  return out;
}

export function registerAccountDeletionRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post<{ Body: Static<typeof Body> }>(
    '/v1/accounts/deletion',
    {
      onRequest: authenticate(ctx),
      preParsing: hashBody,
      schema: {
        summary: "Delete the token's account and everything the relay holds for it (master-key deletion statement + signed request)",
        tags: ['accounts'],
        security: BEARER,
        querystring: EmptyQuery,
        body: Body,
        response: { 204: NoContent, ...errors(401, 404, 409) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      // The device key, fresh, nonce recorded (§2a).
      await requireSignature(ctx, request);
      const b = request.body;
      const now = ctx.now();
      if (Math.abs(now - b.timestamp) > REQUEST_SIGNATURE_WINDOW_MS) {
        throw new ApiError(401, 'stale_signature', "the deletion statement's time is too far from the relay's; sign it again with serverTime", {
          serverTime: now,
        });
      }
      const account = await ctx.storage.accounts.get(me.user);
      if (!account) throw noSuchUser('the account no longer exists');
      const listDigest = decodeField(b.listDigest, 'listDigest', { exact: 32 });
      const current = await ctx.primitives.sha256(account.deviceList);
      if (Buffer.compare(Buffer.from(current), Buffer.from(listDigest)) !== 0) {
        throw conflict('the deletion statement names another device list than the current one: fetch it and sign again');
      }
      const statement = { user: me.user, timestamp: b.timestamp, nonce: decodeField(b.nonce, 'nonce', { exact: 16 }), listDigest };
      try {
        await verifyAccountDeletion(ctx.primitives, account.masterKey, statement, decodeField(b.signature, 'signature', { exact: 64 }));
      } catch (e) {
        if (!(e instanceof SignatureError)) throw e;
        throw new ApiError(401, 'bad_signature', "the deletion statement is not signed by the user's master key");
      }
      const r = await ctx.storage.accounts.delete({ user: me.user, expectedListVersion: account.listVersion });
      if (r.status === 'not_found') throw noSuchUser('the account no longer exists');
      if (r.status === 'stale') throw conflict('the device list changed meanwhile: fetch it and sign again');
      // Every relay closes the account's sockets; then its rate-limit buckets go.
      for (const deviceId of r.devices) await ctx.bus.publish(deviceTopic(me.user, deviceId), { type: 'account-deleted' });
      await ctx.rateLimiter.forget(userBuckets(me.user, r.devices)).catch(() => undefined);
      request.log.info('account deleted');
      return reply.code(204).send();
    },
  );
}
