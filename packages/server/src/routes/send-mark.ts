/** docs/API.md §5a: the device's send high-water mark, for the SDK's rollback check before it sends. */
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf } from '../http/auth.js';
import { BEARER, EmptyQuery, errors } from '../http/schemas.js';
import { currentSendMark, SendMarkAnswer } from '../http/send-mark.js';

export function registerSendMarkRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get(
    '/v1/send-mark',
    {
      onRequest: authenticate(ctx),
      schema: {
        summary: "The authenticated device's send mark and its signature over it (profile rollback check)",
        tags: ['messages'],
        security: BEARER,
        querystring: EmptyQuery,
        response: { 200: SendMarkAnswer, ...errors(401) },
      },
    },
    async (request) => currentSendMark(ctx, deviceOf(request)),
  );
}
