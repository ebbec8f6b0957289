/** Operational routes: health, Prometheus metrics, the OpenAPI document. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { EmptyQuery, errors, Obj } from '../http/schemas.js';

export function registerSystemRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness',
        tags: ['system'],
        querystring: EmptyQuery,
        response: { 200: Obj({ status: Type.Literal('ok') }), ...errors() },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (text exposition format)',
        tags: ['system'],
        querystring: EmptyQuery,
        produces: ['text/plain'],
        response: { 200: Type.String({ description: 'Prometheus text format 0.0.4' }), ...errors() },
      },
    },
    async (_request, reply) => {
      const text = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(text);
    },
  );

  app.get(
    '/openapi.json',
    {
      schema: {
        summary: 'This API as an OpenAPI 3 document, generated from the route schemas',
        tags: ['system'],
        querystring: EmptyQuery,
        response: { 200: Type.Object({}, { additionalProperties: true, description: 'OpenAPI 3 document' }), ...errors() },
      },
    },
    async () => app.swagger(),
  );
}
