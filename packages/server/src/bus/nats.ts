/**
 * The cluster bus: core NATS publish/subscribe (no JetStream), one subject per topic under a
 * prefix (`<prefix>.device.<hex user>.<id>`, `<prefix>.provisioning.<hash>`).
 *
 * Events are JSON with routing facts only (types.ts), never payloads: a woken connection reads
 * storage (PostgreSQL), so an event lost to a disconnect costs latency, not data. To keep it at
 * that, after every (re)connect each local subscriber gets a synthetic wake-up (`message` for
 * device topics, `envelope` for provisioning ones) and re-checks storage; and a device topic
 * newly subscribed here gets one once the server has confirmed the subscription, covering a send
 * on another relay that raced the subscription.
 *
 * The connection reconnects forever, with exponential backoff (250 ms doubling to 10 s, plus
 * jitter). Handlers on this relay receive their own relay's events through NATS too.
 */
import { connect, type NatsConnection, type Subscription } from 'nats';
import type { Bus, BusEvent, Unsubscribe } from './types.js';

export interface NatsBusOptions {
  /** One or more server URLs, e.g. `nats://127.0.0.1:4222` (comma-separated or an array). */
  readonly servers: string | readonly string[];
  /** Subject prefix, NATS tokens separated by `.`; default `blindrelay`. */
  readonly prefix?: string;
  /** Client name shown in the NATS server's monitoring. */
  readonly name?: string;
  /** Timeout of the first connect (ms); default 5000. Start-up fails if it is not reached. */
  readonly connectTimeoutMs?: number;
  readonly onHandlerError?: (err: unknown) => void;
  /** Connection status changes (disconnect, reconnect, errors), for the logs. */
  readonly onStatus?: (status: { type: string; data?: unknown }) => void;
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
const DRAIN_TIMEOUT_MS = 5_000;

export const DEFAULT_NATS_PREFIX = 'blindrelay';

/** `blindrelay`, `blindrelay.staging`: NATS tokens without wildcards or whitespace. */
export const NATS_PREFIX = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The event on the wire: only what types.ts allows, checked both ways. */
function parseEvent(data: Uint8Array): BusEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Record<string, unknown>;
  switch (e.type) {
    case 'message':
    case 'revoked':
    case 'account-deleted':
    case 'envelope':
      return { type: e.type };
    case 'prekeys-low': {
      const { oneTimePreKeys, pqPreKeys } = e;
      if (!Number.isSafeInteger(oneTimePreKeys) || !Number.isSafeInteger(pqPreKeys)) return undefined;
      return { type: 'prekeys-low', oneTimePreKeys: oneTimePreKeys as number, pqPreKeys: pqPreKeys as number };
    }
    default:
      return undefined;
  }
}

function serialize(event: BusEvent): Uint8Array {
  const wire = event.type === 'prekeys-low' ? { type: event.type, oneTimePreKeys: event.oneTimePreKeys, pqPreKeys: event.pqPreKeys } : { type: event.type };
  return encoder.encode(JSON.stringify(wire));
}

/** The "re-check storage" event for a topic. */
function wakeEvent(topic: string): BusEvent | undefined {
  if (topic.startsWith('device.')) return { type: 'message' };
  if (topic.startsWith('provisioning.')) return { type: 'envelope' };
  return undefined;
}

interface TopicEntry {
  readonly handlers: Set<(event: BusEvent) => void>;
  readonly sub: Subscription;
}

export class NatsBus implements Bus {
  private readonly topics = new Map<string, TopicEntry>();
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly onHandlerError: (err: unknown) => void,
  ) {}

  /** Connects (rejects if the first connect fails) and starts watching the connection. */
  static async connect(o: NatsBusOptions): Promise<NatsBus> {
    const prefix = o.prefix ?? DEFAULT_NATS_PREFIX;
    if (!NATS_PREFIX.test(prefix)) throw new Error('NATS subject prefix: tokens of letters, digits, _ or -, separated by .');
    const servers = typeof o.servers === 'string' ? o.servers.split(',').map((s) => s.trim()) : [...o.servers];
    // nats.js asks for the delay on every turn of its dial loop, so it must not change there: it is
    // stepped up per failed attempt ('reconnecting') and reset on 'reconnect' by watch().
    const backoff = { ms: BACKOFF_MIN_MS };
    const nc = await connect({
      servers,
      ...(o.name ? { name: o.name } : {}),
      timeout: o.connectTimeoutMs ?? 5000,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectDelayHandler: () => backoff.ms,
    });
    const bus = new NatsBus(nc, prefix, o.onHandlerError ?? (() => {}));
    void bus.watch(o.onStatus ?? (() => {}), backoff);
    return bus;
  }

  private subject(topic: string): string {
    return `${this.prefix}.${topic}`;
  }

  private async watch(onStatus: NonNullable<NatsBusOptions['onStatus']>, backoff: { ms: number }): Promise<void> {
    try {
      for await (const s of this.nc.status()) {
        onStatus({ type: s.type, data: s.data });
        if (s.type === 'reconnecting') {
          const next = Math.min(BACKOFF_MAX_MS, backoff.ms * 2);
          backoff.ms = next + Math.floor(Math.random() * next * 0.2);
        } else if (s.type === 'reconnect') {
          backoff.ms = BACKOFF_MIN_MS;
          void this.wakeAll();
        }
      }
    } catch (err) {
      this.onHandlerError(err);
    }
  }

  /** After a reconnect: once the subscriptions are back on the server, every subscriber re-checks storage. */
  private async wakeAll(): Promise<void> {
    try {
      await this.nc.flush();
    } catch {
      return; // disconnected again: the next reconnect wakes everyone
    }
    for (const topic of [...this.topics.keys()]) this.deliverWake(topic);
  }

  private deliverWake(topic: string): void {
    const event = wakeEvent(topic);
    if (event) this.deliver(topic, event);
  }

  private deliver(topic: string, event: BusEvent): void {
    if (this.closed) return;
    const entry = this.topics.get(topic);
    if (!entry) return;
    for (const h of [...entry.handlers]) {
      try {
        h(event);
      } catch (err) {
        this.onHandlerError(err);
      }
    }
  }

  async publish(topic: string, event: BusEvent): Promise<void> {
    if (this.closed || this.nc.isClosed()) return;
    // While disconnected nats.js buffers this and sends it after reconnecting.
    this.nc.publish(this.subject(topic), serialize(event));
  }

  subscribe(topic: string, handler: (event: BusEvent) => void): Unsubscribe {
    let entry = this.topics.get(topic);
    if (!entry && !this.closed && !this.nc.isClosed()) {
      const sub = this.nc.subscribe(this.subject(topic), {
        callback: (err, msg) => {
          if (err) {
            this.onHandlerError(err);
            return;
          }
          const event = parseEvent(msg.data);
          if (event) this.deliver(topic, event);
        },
      });
      entry = { handlers: new Set(), sub };
      this.topics.set(topic, entry);
      // A device's sockets read storage right after subscribing; an event published elsewhere before
      // the server saw this subscription would be missed, so wake them once it is in place.
      if (topic.startsWith('device.')) {
        this.nc.flush().then(
          () => {
            if (this.topics.get(topic)?.sub === sub) this.deliverWake(topic);
          },
          () => {}, // disconnected: the reconnect wakes everyone
        );
      }
    }
    if (!entry) return () => {};
    entry.handlers.add(handler);
    const e = entry;
    return () => {
      e.handlers.delete(handler);
      if (e.handlers.size === 0 && this.topics.get(topic) === e) {
        this.topics.delete(topic);
        if (!this.closed && !this.nc.isClosed()) e.sub.unsubscribe();
      }
    };
  }

  /** Drains: pending publishes are flushed, subscriptions end, then the connection closes. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.topics.clear();
      if (this.nc.isClosed()) return;
      // Drain; if the server is unreachable (reconnecting) give up after a while and just close.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), DRAIN_TIMEOUT_MS);
      });
      try {
        if ((await Promise.race([this.nc.drain(), timeout])) === 'timeout') await this.nc.close();
      } catch {
        await this.nc.close().catch(() => {});
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.closing;
  }
}
