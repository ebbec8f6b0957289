/**
 * Prometheus metrics (prom-client), one registry per server instance. Labels are bounded and
 * never identify anyone: route patterns (`/v1/users/:user`, never the path), methods, statuses
 * and action names. No user names, device ids, tokens or payloads.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly messagesStored: Counter;
  readonly messagesDelivered: Counter<'via'>;
  readonly messagesAcked: Counter;
  readonly websocketConnections: Gauge;
  /** Open sealed-send sockets (GET /v1/sealed/ws): a count, nothing about who holds them. */
  readonly sealedWebsocketConnections: Gauge;
  readonly bundlesFetched: Counter;
  readonly bundlesUnavailable: Counter;
  readonly prekeysLow: Counter;
  readonly rateLimited: Counter<'action'>;
  /** Group commits (one transaction, one fsync each) and what they carried. */
  readonly storageCommits: Counter<'outcome'>;
  readonly storageBatchOperations: Histogram;
  readonly storageCommitDuration: Histogram;
}

export function createMetrics(options: { processMetrics: boolean; queued: () => Promise<number> }): Metrics {
  const registry = new Registry();
  // blindrelay_process_…, blindrelay_nodejs_…. The event-loop lag histogram samples every 100 ms
  // instead of prom-client's 10 ms: its timer woke an idle relay ~100 times a second, 7.3 ms of CPU
  // per second against 2.8 ms now (no clients, PostgreSQL + NATS, 4 × 10 s, 2026-12-03), paid once
  // per relay process, so three times over by three relays (docs/BENCHMARKS.md, "Relay CPU per
  // message"). Each sample still measures the full delay of its timer; only the count is smaller.
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'blindrelay_', eventLoopMonitoringPrecision: 100 });
  const registers = [registry];
  const queued = options.queued;
  new Gauge({
    name: 'blindrelay_messages_queued',
    help: 'Messages stored and not yet acknowledged, all devices',
    registers,
    async collect() {
      this.set(await queued());
    },
  });
  return {
    registry,
    httpRequests: new Counter({
      name: 'blindrelay_http_requests_total',
      help: 'HTTP requests by method, route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'blindrelay_http_request_duration_seconds',
      help: 'HTTP request latency by method, route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    messagesStored: new Counter({ name: 'blindrelay_messages_stored_total', help: 'Per-device messages stored', registers }),
    messagesDelivered: new Counter({
      name: 'blindrelay_messages_delivered_total',
      help: 'Per-device messages handed to their device (WebSocket push or HTTP fetch; at least once)',
      labelNames: ['via'] as const,
      registers,
    }),
    messagesAcked: new Counter({ name: 'blindrelay_messages_acked_total', help: 'Messages acknowledged and deleted', registers }),
    websocketConnections: new Gauge({ name: 'blindrelay_websocket_connections', help: 'Open authenticated WebSocket connections', registers }),
    sealedWebsocketConnections: new Gauge({
      name: 'blindrelay_sealed_websocket_connections',
      help: 'Open sealed-send WebSocket connections (unauthenticated, GET /v1/sealed/ws)',
      registers,
    }),
    bundlesFetched: new Counter({ name: 'blindrelay_bundles_fetched_total', help: 'Prekey bundles handed out (one per device)', registers }),
    bundlesUnavailable: new Counter({ name: 'blindrelay_bundles_unavailable_total', help: 'Bundle requests for devices without usable prekeys', registers }),
    prekeysLow: new Counter({ name: 'blindrelay_prekeys_low_total', help: 'prekeys-low notifications raised', registers }),
    storageCommits: new Counter({
      name: 'blindrelay_storage_commits_total',
      help: 'Storage write transactions (group commits, one fsync each), by outcome',
      labelNames: ['outcome'] as const,
      registers,
    }),
    storageBatchOperations: new Histogram({
      name: 'blindrelay_storage_commit_operations',
      help: 'Write operations sharing one storage transaction',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    }),
    storageCommitDuration: new Histogram({
      name: 'blindrelay_storage_commit_duration_seconds',
      help: 'Storage write transaction time, BEGIN to durable COMMIT (the event loop is blocked meanwhile)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers,
    }),
    rateLimited: new Counter({
      name: 'blindrelay_rate_limited_total',
      help: 'Requests refused by a rate limit, by action',
      labelNames: ['action'] as const,
      registers,
    }),
  };
}
