/**
 * The Fastify application: plugins, validation, error handling, request logs and metrics, and
 * every route of docs/API.md.
 */
import { BlindrelayError } from '@blindrelay/protocol';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import type { AppContext } from './context.js';
import { API_SUBPROTOCOL, BATCH_SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from './http/auth.js';
import { ApiError, codeForStatus } from './http/errors.js';
import { typeboxValidatorCompiler } from './http/validation.js';
import { registerAccountDeletionRoutes } from './routes/account-deletion.js';
import { registerAccountRoutes } from './routes/accounts.js';
import { registerAuthRoutes } from './routes/auth.js';
import { registerBackupRoutes } from './routes/backups.js';
import { registerDirectoryRoutes } from './routes/directory.js';
import { registerFilePayloadRoutes } from './routes/file-payload.js';
import { registerFileRoutes } from './routes/files.js';
import { registerGroupRoutes } from './routes/groups.js';
import { registerMessageRoutes } from './routes/messages.js';
import { registerPrekeyRoutes } from './routes/prekeys.js';
import { registerProvisioningRoutes } from './routes/provisioning.js';
import { registerRecordRoutes } from './routes/records.js';
import { registerSealedRoutes } from './routes/sealed.js';
import { registerSealedWebSocketRoute, SEALED_SUBPROTOCOL } from './routes/sealed-ws.js';
import { registerSendMarkRoutes } from './routes/send-mark.js';
import { registerSystemRoutes } from './routes/system.js';
import { registerWebSocketRoute } from './routes/ws.js';
import { StorageUnavailableError } from './storage/errors.js';
import { registerWebApp } from './web-app.js';
import { SealedSockets } from './ws/sealed-sockets.js';

const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);
export const API_VERSION = '1.0.0';

/** Fixed messages for Fastify's own errors; theirs can quote the input (e.g. JSON.parse). */
const FASTIFY_ERRORS: Record<string, { status: number; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, message: 'request body too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, message: 'unsupported content type; send application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, message: 'content length does not match the body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, message: 'empty JSON body' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, message: 'malformed JSON' },
  FST_ERR_BAD_URL: { status: 400, message: 'malformed URL' },
};

interface ErrorReply {
  status: number;
  body: Record<string, unknown>;
  headers?: Readonly<Record<string, string>>;
}

function toErrorReply(err: FastifyError | Error): ErrorReply {
  if (err instanceof ApiError)
    return { status: err.statusCode, body: { code: err.code, message: err.message, ...err.extra }, ...(err.headers ? { headers: err.headers } : {}) };
  const fe = err as FastifyError;
  if (fe.validation) {
    const first = fe.validation[0];
    const where = `${fe.validationContext ?? 'request'}${first?.instancePath ?? ''}`;
    return { status: 400, body: { code: 'bad_request', message: `${where}: ${first?.message ?? 'invalid'}` } };
  }
  const known = typeof fe.code === 'string' ? FASTIFY_ERRORS[fe.code] : undefined;
  if (known) return { status: known.status, body: { code: codeForStatus(known.status), message: known.message } };
  // A lost database connection the store could not retry itself: the client may repeat the request.
  if (err instanceof StorageUnavailableError)
    return { status: 503, body: { code: 'unavailable', message: 'storage temporarily unavailable; retry' }, headers: { 'retry-after': '1' } };
  if (err instanceof SyntaxError) return { status: 400, body: { code: 'bad_request', message: 'malformed JSON' } };
  if (err instanceof BlindrelayError) return { status: 400, body: { code: 'bad_request', message: 'malformed input' } };
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) return { status, body: { code: codeForStatus(status), message: 'bad request' } };
  if (status === 503) return { status, body: { code: 'unavailable', message: 'server is shutting down' } };
  return { status: 500, body: { code: 'internal', message: 'internal error' } };
}

export interface AppOptions {
  /** Fastify's `trustProxy` (ServerOptions.trustProxy); default false. */
  readonly trustProxy?: boolean | number | string[];
  /** The web app's build directory served at `/` (web-app.ts); false: none. Default apps/web/dist. */
  readonly webRoot?: string | false;
}

const trustHops = (hops: number) => (_address: string, hop: number) => hop < hops;

export async function buildApp(ctx: AppContext, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    // Our own onResponse log below replaces Fastify's request logs (which include the URL).
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    bodyLimit: ctx.limits.bodyLimitBytes,
    // A hop count as Fastify itself implements it (its types leave numbers out).
    trustProxy: typeof options.trustProxy === 'number' ? trustHops(options.trustProxy) : (options.trustProxy ?? false),
    exposeHeadRoutes: false,
    return503OnClosing: true,
    // Slow clients: the whole request must arrive within 30 s; idle keep-alive sockets close at 10 s.
    requestTimeout: 30_000,
    keepAliveTimeout: 10_000,
    routerOptions: { maxParamLength: 128 },
    // The router's own answers to a malformed or over-long path quote the path; ours do not.
    frameworkErrors: (error, _request, reply) => {
      const message = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'path parameter too long' : 'malformed URL';
      void (reply as unknown as FastifyReply).code(400).send({ code: 'bad_request', message });
    },
  });
  app.setValidatorCompiler(typeboxValidatorCompiler);
  // JSON only: without this, Fastify's default text/plain parser would accept string bodies.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('device', null);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Blindrelay relay API',
        version: API_VERSION,
        description: 'The blind relay: public-key directory and store-and-forward mailboxes (docs/API.md).',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'token from POST /v1/auth/token' } } },
    },
  });

  const sealedSockets = new SealedSockets(ctx);
  await app.register(websocket, {
    options: {
      maxPayload: ctx.limits.maxWebSocketFrameBytes,
      perMessageDeflate: false,
      // Browsers require the server to select one of the offered subprotocols. Prefer
      // `blindrelay.v1` so the token is not echoed back; fall back to the token protocol.
      handleProtocols: (protocols: Set<string>) => {
        // The sealed-send socket's own (routes/sealed-ws.ts); offered alone, never with a token.
        if (protocols.has(SEALED_SUBPROTOCOL)) return SEALED_SUBPROTOCOL;
        if (protocols.has(BATCH_SUBPROTOCOL)) return BATCH_SUBPROTOCOL;
        if (protocols.has(API_SUBPROTOCOL)) return API_SUBPROTOCOL;
        for (const p of protocols) if (p.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) return p;
        return false;
      },
    },
    errorHandler: (_error, socket) => {
      socket.terminate();
    },
    preClose: async () => {
      await Promise.all([ctx.hub.closeAll(), sealedSockets.closeAll()]);
    },
  });

  app.setErrorHandler((err, request, reply) => {
    const r = toErrorReply(err instanceof Error ? err : new Error('non-error thrown'));
    if (err instanceof StorageUnavailableError) request.log.warn({ err }, 'request failed: storage unavailable');
    else if (r.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.debug({ code: r.body.code, status: r.status }, 'request rejected');
    if (r.headers) void reply.headers(r.headers);
    return reply.code(r.status).send(r.body);
  });

  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ code: 'not_found', message: 'no such route' }));

  app.addHook('onResponse', async (request, reply) => {
    const method = METHODS.has(request.method) ? request.method : 'OTHER';
    const route = request.routeOptions.url ?? 'unmatched';
    const status = String(reply.statusCode);
    ctx.metrics.httpRequests.inc({ method, route, status });
    ctx.metrics.httpDuration.observe({ method, route, status }, reply.elapsedTime / 1000);
    if (ctx.accessLog.isLevelEnabled('info')) {
      ctx.accessLog.info({ reqId: request.id, method, route, status: reply.statusCode, durationMs: Math.round(reply.elapsedTime * 100) / 100 }, 'request');
    }
  });

  registerSystemRoutes(app, ctx);
  registerAccountRoutes(app, ctx);
  registerAccountDeletionRoutes(app, ctx);
  registerAuthRoutes(app, ctx);
  registerDirectoryRoutes(app, ctx);
  registerPrekeyRoutes(app, ctx);
  registerMessageRoutes(app, ctx);
  registerSealedRoutes(app, ctx);
  registerSendMarkRoutes(app, ctx);
  registerWebSocketRoute(app, ctx);
  registerSealedWebSocketRoute(app, ctx, sealedSockets);
  registerProvisioningRoutes(app, ctx);
  registerFileRoutes(app, ctx);
  registerFilePayloadRoutes(app, ctx);
  registerBackupRoutes(app, ctx);
  registerRecordRoutes(app, ctx);
  registerGroupRoutes(app, ctx);
  registerWebApp(app, options.webRoot === undefined ? {} : { root: options.webRoot });
  return app;
}
