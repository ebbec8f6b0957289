/** What route handlers share: storage, bus, clock, limits, rate limiter, metrics, hub. */
import type { Primitives } from '@blindrelay/protocol';
import type { Logger } from 'pino';
import type { Bus } from './bus/types.js';
import type { Limits } from './config.js';
import type { LookupMisses } from './http/lookup-misses.js';
import type { OpenChannels } from './http/open-channels.js';
import type { RateLimiter } from './http/rate-limit.js';
import type { Metrics } from './metrics.js';
import type { Storage } from './storage/types.js';
import type { WebSocketHub } from './ws/hub.js';

export interface AppContext {
  readonly storage: Storage;
  readonly bus: Bus;
  readonly primitives: Primitives;
  readonly now: () => number;
  readonly limits: Limits;
  readonly rateLimiter: RateLimiter;
  /** The budget of "no such user" answers (directory scraping). */
  readonly lookupMisses: LookupMisses;
  /** Open provisioning channels per client address (the per-address cap). */
  readonly openChannels: OpenChannels;
  /**
   * An opaque 16-byte tag of a client address key (HMAC under a per-process random key): stored
   * with auth challenges so the per-device cap counts per requesting address, without storing
   * the address.
   */
  readonly addressTag: (addressKey: string) => Uint8Array;
  readonly metrics: Metrics;
  readonly hub: WebSocketHub;
  readonly log: Logger;
  /** Access lines only (see logging.ts): fixed-shape fields, no redaction pass. */
  readonly accessLog: Logger;
  /** Long polls waiting for a provisioning envelope; woken at shutdown so close() is prompt. */
  readonly waiters: Set<() => void>;
  closing: boolean;
}

/** The device a bearer token names (docs/API.md §2). */
export interface AuthenticatedDevice {
  readonly user: string;
  readonly deviceId: number;
  readonly tokenExpiresAt: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    device: AuthenticatedDevice | null;
  }
}
