/** docs/API.md §6: the WebSocket push channel. */
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { authenticate, BATCH_SUBPROTOCOL, deviceOf } from '../http/auth.js';
import { clientKey } from '../http/client-address.js';
import { ApiError } from '../http/errors.js';
import { BEARER, EmptyQuery, errors } from '../http/schemas.js';
import { sendFrameHandler } from '../ws/send-frames.js';

export function registerWebSocketRoute(app: FastifyInstance, ctx: AppContext): void {
  app.route({
    method: 'GET',
    url: '/v1/ws',
    onRequest: authenticate(ctx),
    preHandler: async (request) => {
      if (!request.ws) return;
      const me = deviceOf(request);
      ctx.rateLimiter.take('websocketPerDevice', `${me.user}\u0000${me.deviceId}`);
      if (ctx.hub.count(me.user, me.deviceId) >= ctx.limits.maxWebSocketsPerDevice) {
        throw new ApiError(429, 'rate_limited', 'too many open connections for this device', undefined, { 'retry-after': '30' });
      }
    },
    schema: {
      summary:
        'WebSocket upgrade (Authorization header, or subprotocols `blindrelay.token.<token>` and `blindrelay.v1` or `blindrelay.v2`). ' +
        'Server frames: message (v1) or messages (v2, batches), sent, prekeys-low, revoked, error. Client frames: ack, send. A plain GET answers 426.',
      tags: ['messages'],
      security: BEARER,
      querystring: EmptyQuery,
      response: errors(401, 426, 429),
    },
    handler: async () => {
      throw new ApiError(426, 'upgrade_required', 'this endpoint only accepts WebSocket upgrades');
    },
    wsHandler: (socket, request) => {
      const me = deviceOf(request);
      ctx.hub.attach(socket, me, { batched: socket.protocol === BATCH_SUBPROTOCOL, onSend: sendFrameHandler(ctx, me, clientKey(request)) });
    },
  });
}
