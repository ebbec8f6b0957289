/** docs/API.md §2: device authentication by signed challenge; no passwords. */
import { verifyAuthChallenge } from '@blindrelay/protocol';
import { shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { sha256, TOKEN_BYTES } from '../http/auth.js';
import { decodeField, encodeBase64url } from '../http/base64url.js';
import { clientKey } from '../http/client-address.js';
import { notFound, unauthorized } from '../http/errors.js';
import { EmptyQuery, errors, schemaOf } from '../http/schemas.js';

const ChallengeBody = schemaOf(shapes.CHALLENGE_REQUEST);
const TokenBody = schemaOf(shapes.TOKEN_REQUEST);

/** Both outcomes of a challenge request take at least this long, so timing does not add to the 404. */
const CHALLENGE_MIN_LATENCY_MS = 20;

const sleepUntil = (deadline: number) =>
  new Promise<void>((resolve) => {
    const ms = deadline - performance.now();
    if (ms <= 0) resolve();
    else setTimeout(resolve, ms);
  });

export function registerAuthRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post<{ Body: Static<typeof ChallengeBody> }>(
    '/v1/auth/challenge',
    {
      schema: {
        summary: 'Get a single-use challenge (60 s) for a device to sign',
        tags: ['auth'],
        querystring: EmptyQuery,
        body: ChallengeBody,
        response: { 200: schemaOf(shapes.AUTH_CHALLENGE), ...errors(404, 429) },
      },
    },
    async (request) => {
      const deadline = performance.now() + CHALLENGE_MIN_LATENCY_MS;
      const { user, deviceId } = request.body;
      const address = clientKey(request);
      // Per device *and* address: a stranger hammering someone else's device id cannot lock its owner out.
      await ctx.rateLimiter.takeShared([
        { action: 'authPerIp', subject: address },
        { action: 'authPerDevice', subject: `${address}\u0000${user}\u0000${deviceId}` },
      ]);
      // Same work whether or not the device exists: random challenge, hash, lookup.
      const challenge = ctx.primitives.randomBytes(32);
      const hash = sha256(challenge);
      const device = await ctx.storage.accounts.getDevice(user, deviceId);
      const now = ctx.now();
      const expiresAt = now + ctx.limits.challengeTtlMs;
      const stored = device
        ? await ctx.storage.auth.createChallenge(
            // The cap counts per (device, requesting address): nobody can evict challenges issued to others.
            { hash, user, deviceId, createdAt: now, expiresAt, requester: ctx.addressTag(address) },
            ctx.limits.maxChallengesPerDevice,
          )
        : false;
      await sleepUntil(deadline);
      if (!stored) throw notFound('unknown device');
      return { challenge: encodeBase64url(challenge), expiresAt };
    },
  );

  app.post<{ Body: Static<typeof TokenBody> }>(
    '/v1/auth/token',
    {
      schema: {
        summary: 'Exchange a signed challenge for a bearer token (1 hour)',
        tags: ['auth'],
        querystring: EmptyQuery,
        body: TokenBody,
        response: { 200: schemaOf(shapes.AUTH_TOKEN), ...errors(401, 429) },
      },
    },
    async (request) => {
      const { user, deviceId } = request.body;
      const address = clientKey(request);
      // Per device *and* address: a stranger hammering someone else's device id cannot lock its owner out.
      await ctx.rateLimiter.takeShared([
        { action: 'authPerIp', subject: address },
        { action: 'authPerDevice', subject: `${address}\u0000${user}\u0000${deviceId}` },
      ]);
      const challenge = decodeField(request.body.challenge, 'challenge', { exact: 32 });
      const signature = decodeField(request.body.signature, 'signature', { exact: 64 });
      // Consumed whatever happens next: a challenge gets exactly one attempt.
      const fresh = await ctx.storage.auth.consumeChallenge(sha256(challenge), user, deviceId, ctx.now());
      if (!fresh) throw unauthorized('unknown, used or expired challenge');
      const device = await ctx.storage.accounts.getDevice(user, deviceId);
      if (!device) throw unauthorized('device not in its user list');
      try {
        await verifyAuthChallenge(ctx.primitives, device.signingKey, challenge, user, deviceId, signature);
      } catch {
        throw unauthorized('bad signature');
      }
      const token = ctx.primitives.randomBytes(TOKEN_BYTES);
      const now = ctx.now();
      const expiresAt = now + ctx.limits.tokenTtlMs;
      const stored = await ctx.storage.auth.createToken(
        { hash: sha256(token), user, deviceId, createdAt: now, expiresAt, signingKey: device.signingKey },
        ctx.limits.maxTokensPerDevice,
      );
      if (!stored) {
        token.fill(0);
        throw unauthorized('device not in its user list');
      }
      const text = encodeBase64url(token);
      token.fill(0);
      return { token: text, expiresAt };
    },
  );
}
