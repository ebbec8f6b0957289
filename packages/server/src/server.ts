/** startServer: storage, bus, hub, HTTP app, housekeeping, and an orderly close. */
import { createHmac, randomBytes } from 'node:crypto';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { MemoryBus } from './bus/memory.js';
import { NatsBus } from './bus/nats.js';
import type { Bus } from './bus/types.js';
import { resolveOptions, type ServerOptions } from './config.js';
import type { AppContext } from './context.js';
import { LookupMisses } from './http/lookup-misses.js';
import { OpenChannels } from './http/open-channels.js';
import { RateLimiter } from './http/rate-limit.js';
import { createLogger } from './logging.js';
import { createMetrics } from './metrics.js';
import { type MetricsServer, startMetricsServer } from './metrics-server.js';
import { openPostgresStorage } from './storage/postgres/postgres-storage.js';
import { openSqliteStorage } from './storage/sqlite/sqlite-storage.js';
import type { Storage } from './storage/types.js';
import { WebSocketHub } from './ws/hub.js';

const HOUSEKEEPING_INTERVAL_MS = 60_000;

export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** `http://HOST:PORT/metrics` when `metricsPort` is set; undefined otherwise (no metrics endpoint). */
  readonly metricsUrl: string | undefined;
  /** The Fastify instance (tests, embedding). */
  readonly app: FastifyInstance;
  /** The relay's storage (tests: what is really stored, e.g. after a refused request). */
  readonly storage: Storage;
  /**
   * Graceful shutdown: stop accepting connections, end long polls, close WebSockets (1001),
   * let in-flight requests finish, checkpoint and close SQLite (or end the PostgreSQL pool), flush
   * logs. Idempotent.
   */
  close(): Promise<void>;
}

function urlFor(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const o = resolveOptions(options);
  const logs = createLogger(o.logLevel, o.logDestination);
  const log = logs.logger;
  let storage: Storage | undefined;
  let app: FastifyInstance | undefined;
  let metricsServer: MetricsServer | undefined;
  let openedBus: Bus | undefined;
  try {
    const metrics = createMetrics({ processMetrics: o.processMetrics, queued: () => store.mailboxes.countAll() });
    storage = o.databaseUrl
      ? await openPostgresStorage({
          connectionString: o.databaseUrl,
          ...(o.databaseSchema ? { schema: o.databaseSchema } : {}),
          now: o.now,
          onError: (err) => log.warn({ err }, 'idle PostgreSQL connection failed'),
        })
      : openSqliteStorage({
          dataDir: o.dataDir,
          now: o.now,
          groupCommit: {
            onCommit: (c) => {
              metrics.storageCommits.inc({ outcome: c.committed ? 'committed' : 'failed' });
              metrics.storageBatchOperations.observe(c.operations);
              metrics.storageCommitDuration.observe(c.durationMs / 1000);
            },
          },
        });
    const store = storage;
    const onHandlerError = (err: unknown) => log.warn({ err }, 'bus handler failed');
    openedBus = o.natsUrl
      ? await NatsBus.connect({
          servers: o.natsUrl,
          prefix: o.natsSubjectPrefix,
          name: 'blindrelay',
          onHandlerError,
          onStatus: (s) => {
            if (s.type === 'disconnect' || s.type === 'error') log.warn({ nats: s.type }, 'NATS connection status');
            else if (s.type === 'reconnect') log.info({ nats: s.type }, 'NATS connection status');
            else log.debug({ nats: s.type }, 'NATS connection status');
          },
        }).catch((err) => {
          throw new Error(`cannot connect to NATS: ${err instanceof Error ? err.message : String(err)}`);
        })
      : new MemoryBus(onHandlerError);
    const bus = openedBus;
    // Shared limits go through storage: in memory with SQLite, in PostgreSQL for a cluster.
    const rateLimiter = new RateLimiter(o.rateLimits, o.now, (action) => metrics.rateLimited.inc({ action }), store.rateLimits);
    const lookupMisses = new LookupMisses(rateLimiter, o.now);
    const primitives = createNodePrimitives();
    const hub = new WebSocketHub({ storage: store, bus, metrics, log, now: o.now, limits: o.limits, primitives, rateLimiter });
    const openChannels = new OpenChannels(o.now);
    const tagKey = randomBytes(32);
    const ctx: AppContext = {
      storage: store,
      bus,
      primitives,
      now: o.now,
      limits: o.limits,
      rateLimiter,
      lookupMisses,
      openChannels,
      addressTag: (key) => new Uint8Array(createHmac('sha256', tagKey).update(key).digest().subarray(0, 16)),
      metrics,
      hub,
      log,
      accessLog: logs.access,
      waiters: new Set(),
      closing: false,
    };
    app = await buildApp(ctx, { trustProxy: o.trustProxy, ...(options.webRoot === undefined ? {} : { webRoot: options.webRoot }) });
    const fastify = app;
    await fastify.listen({ host: o.host, port: o.port });
    const address = fastify.server.address();
    const port = typeof address === 'object' && address ? address.port : o.port;
    if (o.metricsPort !== undefined) {
      metricsServer = await startMetricsServer(metrics, o.host, o.metricsPort, (err) => log.warn({ err }, 'metrics collection failed')).catch((err) => {
        throw new Error(`metrics listener (--metrics-port ${o.metricsPort}): ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    const metricsListener = metricsServer;

    const housekeeping = setInterval(() => {
      rateLimiter.sweep();
      lookupMisses.sweep();
      openChannels.sweep();
      store.pruneExpired(o.now()).catch((err) => log.warn({ err }, 'housekeeping failed'));
    }, HOUSEKEEPING_INTERVAL_MS);
    housekeeping.unref();

    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        ctx.closing = true;
        clearInterval(housekeeping);
        for (const wake of [...ctx.waiters]) wake();
        try {
          await fastify.close(); // preClose closes the WebSockets; in-flight requests finish
        } finally {
          await metricsListener?.close();
          await bus.close();
          await store.close();
          log.info('server closed');
          await logs.close();
        }
      })();
      return closing;
    };
    const metricsUrl = metricsListener ? `${urlFor(o.host, metricsListener.port)}/metrics` : undefined;
    // One start-up line: where the API and the metrics listen, and what stores and carries the data.
    log.info(
      {
        address: urlFor(o.host, port),
        port,
        ...(metricsUrl ? { metrics: metricsUrl } : {}),
        storage: o.databaseUrl ? 'postgresql' : 'sqlite',
        bus: o.natsUrl ? 'nats' : 'memory',
      },
      'listening',
    );
    if (!isLoopbackBind(o.host))
      log.warn({ host: o.host }, 'listening on a network interface over plain HTTP: put a TLS-terminating proxy in front (docs/DEPLOY.md)');
    return { url: urlFor(o.host, port), host: o.host, port, dataDir: o.dataDir, metricsUrl, app: fastify, storage: storage as Storage, close };
  } catch (err) {
    await metricsServer?.close().catch(() => {});
    await app?.close().catch(() => {});
    await openedBus?.close().catch(() => {});
    await storage?.close().catch(() => {});
    await logs.close();
    throw err;
  }
}

/** A bind address only this machine can reach. */
function isLoopbackBind(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
