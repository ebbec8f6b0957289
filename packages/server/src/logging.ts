/**
 * pino logger. What we log: method, route pattern, status, duration, request id, and events
 * without identifying data. What we never log, at any level: bodies, Authorization headers,
 * tokens (header, `?token=`, WebSocket subprotocol), keys, signatures, challenges, envelopes or
 * message payloads. The code does not pass them to the logger in the first place; the
 * serializers and redaction paths below are the safety net if someone ever does.
 */
import { chmodSync, closeSync, openSync } from 'node:fs';
import pino, { type DestinationStream, type Logger } from 'pino';

const SECRET_FIELDS = [
  'authorization',
  'token',
  'signature',
  'challenge',
  'body',
  'envelope',
  'deviceList',
  'masterKey',
  'publicKey',
  'prekeys',
  'messages',
  'payload',
  'url',
  'query',
  'headers',
];

export const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
  'req.headers.authorization',
  'req.headers["sec-websocket-protocol"]',
  'req.headers.cookie',
];

/** Only method and route pattern, never the URL (it may carry a query) or headers. */
function safeRequest(req: { method?: string; routeOptions?: { url?: string } }) {
  return { method: req.method, route: req.routeOptions?.url ?? 'unmatched' };
}

/** Error name, code and message (our messages never contain submitted values) and the stack. */
function safeError(err: unknown) {
  if (!(err instanceof Error)) return { message: 'non-error thrown' };
  return { type: err.name, code: (err as { code?: unknown }).code, message: err.message, stack: err.stack };
}

/**
 * Lines a person can read and jq can still parse (review ux-2026-12 F19): the level as its name
 * ("info", not 30) and the time as ISO 8601 UTC ("2026-12-03T14:05:00.123Z", not epoch ms).
 */
const READABLE = {
  formatters: { level: (label: string) => ({ level: label }) },
  timestamp: pino.stdTimeFunctions.isoTime,
};

export interface ServerLogger {
  readonly logger: Logger;
  /**
   * The per-request access line only (app.ts, onResponse): same destination and level, but no
   * redaction pass, which costs about 20 µs per line with the wildcard paths above (most of the
   * cost of logging at info level). Every field given to it is built from fixed values: request
   * id (a counter), method (from a fixed set), route pattern, status, duration. Never give it
   * anything else.
   */
  readonly access: Logger;
  /** Flushes and closes a destination this module opened. */
  close(): Promise<void>;
}

export function createLogger(level: string, destination: DestinationStream | string | undefined): ServerLogger {
  let dest: DestinationStream;
  let owned: ReturnType<typeof pino.destination> | undefined;
  if (typeof destination === 'string') {
    closeSync(openSync(destination, 'a', 0o600));
    chmodSync(destination, 0o600);
    owned = pino.destination({ dest: destination, sync: true, append: true });
    dest = owned;
  } else if (destination) {
    dest = destination;
  } else {
    owned = pino.destination({ dest: 2, sync: true });
    dest = owned;
  }
  const logger = pino(
    {
      ...READABLE,
      // Fastify's own "Server listening at …" line (one per address): server.ts logs one line with the URL instead.
      hooks: {
        logMethod(args, method) {
          if (typeof args[0] === 'string' && args[0].startsWith('Server listening at ')) return;
          method.apply(this, args);
        },
      },
      level,
      base: { service: 'blindrelay-server' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { req: safeRequest, res: (res: { statusCode?: number }) => ({ status: res.statusCode }), err: safeError },
    },
    dest,
  );
  const access = pino({ ...READABLE, level, base: { service: 'blindrelay-server' } }, dest);
  return {
    logger,
    access,
    async close() {
      if (!owned || typeof destination !== 'string') return;
      const d = owned;
      await new Promise<void>((resolve) => {
        d.once('close', () => resolve());
        d.once('error', () => resolve());
        d.end();
      });
    },
  };
}
