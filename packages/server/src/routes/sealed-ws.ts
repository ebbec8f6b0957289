/** docs/API.md §11a: the sealed-send WebSocket (not authenticated; ws/sealed-sockets.ts). */
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { offeredSubprotocols, TOKEN_SUBPROTOCOL_PREFIX } from '../http/auth.js';
import { clientKey } from '../http/client-address.js';
import { ApiError, badRequest } from '../http/errors.js';
import { EmptyQuery, errors } from '../http/schemas.js';
import { MAX_SEALED_SOCKETS_PER_ADDRESS, type SealedSockets } from '../ws/sealed-sockets.js';

/** The subprotocol of the sealed-send socket: required, so a push client never lands here by mistake. */
export const SEALED_SUBPROTOCOL = 'blindrelay.sealed.v1';

export function registerSealedWebSocketRoute(app: FastifyInstance, ctx: AppContext, sockets: SealedSockets): void {
  app.route({
    method: 'GET',
    url: '/v1/sealed/ws',
    preHandler: async (request) => {
      if (!request.ws) return;
      const offered = offeredSubprotocols(request.headers['sec-websocket-protocol']);
      // Credentials on this socket would tie every sealed send on it to an account: refused, not ignored.
      if (request.headers.authorization !== undefined || offered.some((p) => p.startsWith(TOKEN_SUBPROTOCOL_PREFIX))) {
        throw badRequest('the sealed-send socket takes no credentials (no Authorization header, no token subprotocol)');
      }
      if (!offered.includes(SEALED_SUBPROTOCOL)) throw badRequest(`offer the subprotocol ${SEALED_SUBPROTOCOL}`);
      // A connection costs what one sealed POST costs from this address.
      const address = clientKey(request);
      ctx.rateLimiter.takeLocal([{ action: 'sealedPerIp', subject: address }]);
      if (sockets.count(address) >= MAX_SEALED_SOCKETS_PER_ADDRESS) {
        throw new ApiError(429, 'rate_limited', 'too many open sealed-send connections from this address', undefined, { 'retry-after': '30' });
      }
    },
    schema: {
      summary:
        'Sealed-send WebSocket upgrade: no authentication, subprotocol `blindrelay.sealed.v1`. Client frames: sealed-send ' +
        '(items as POST /v1/sealed/messages bodies). Server frames: sealed-sent (a result per item), error. A plain GET answers 426.',
      tags: ['sealed'],
      querystring: EmptyQuery,
      response: errors(400, 426, 429),
    },
    handler: async () => {
      throw new ApiError(426, 'upgrade_required', 'this endpoint only accepts WebSocket upgrades');
    },
    wsHandler: (socket, request) => {
      sockets.attach(socket, clientKey(request));
    },
  });
}
