/** Operational routes: health and the OpenAPI document (metrics have their own listener: metrics-server.ts). */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { EmptyQuery, errors, Obj } from '../http/schemas.js';

export function registerSystemRoutes(app: FastifyInstance, _ctx: AppContext): void {
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
