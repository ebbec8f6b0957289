/**
 * Server options, their defaults, and how flags and environment variables map onto them.
 * Limits come from docs/API.md ("Conventions: Limits").
 */

import { isIP } from 'node:net';
import { bounds } from '@blindrelay/protocol/wire';
import type { DestinationStream } from 'pino';

/** A token bucket: `capacity` requests at once, refilled at `refillPerSecond`. */
export interface RateLimitRule {
  readonly capacity: number;
  readonly refillPerSecond: number;
}

/** Every rate-limited action (docs/API.md). `false` disables one (tests, trusted deployments). */
export interface RateLimits {
  /** POST /v1/accounts, per client address. */
  readonly accountsPerIp: RateLimitRule | false;
  /** POST /v1/auth/challenge and /v1/auth/token together, per client address. */
  readonly authPerIp: RateLimitRule | false;
  /** The same, per (user, device) named in the body. */
  readonly authPerDevice: RateLimitRule | false;
  /** POST /v1/users/:user/bundles, per requesting device; each bundle returned costs one. */
  readonly bundlesPerDevice: RateLimitRule | false;
  /** PUT /v1/users/:user/device-list, per client address. */
  readonly deviceListPerIp: RateLimitRule | false;
  /** The same, per user, counting only validly signed newer lists. */
  readonly deviceListPerUser: RateLimitRule | false;
  /** POST /v1/provisioning, per client address. */
  readonly provisioningCreatePerIp: RateLimitRule | false;
  /** GET /v1/provisioning/:channelId, per client address. */
  readonly provisioningPollPerIp: RateLimitRule | false;
  /** PUT /v1/provisioning/:channelId, per device. */
  readonly provisioningPutPerDevice: RateLimitRule | false;
  /** POST /v1/messages, per sending device. */
  readonly messagesPerDevice: RateLimitRule | false;
  /** WebSocket connections, per device. */
  readonly websocketPerDevice: RateLimitRule | false;
  /** POST /v1/prekeys, per device. */
  readonly prekeyUploadsPerDevice: RateLimitRule | false;
  /** POST /v1/messages/ack and WebSocket `ack` frames together, per device. */
  readonly acksPerDevice: RateLimitRule | false;
  /** POST /v1/files, PUT /v1/files/:id/header, POST /v1/files/:id/versions, DELETE /v1/files/:id, per device. */
  readonly fileWritesPerDevice: RateLimitRule | false;
  /** PUT /v1/files/:id/versions/:version/payload, per device. */
  readonly fileChunksPerDevice: RateLimitRule | false;
  /** POST /v1/users/:user/bundles, per (requesting device, target device); each bundle of that device costs one. */
  readonly bundlesPerPair: RateLimitRule | false;
  /**
   * One-time prekeys a device hands out to devices of other users. Over it, bundles still come
   * (no 429: nobody can lock a user out of new conversations), with no one-time prekeys.
   */
  readonly oneTimePrekeysPerTarget: RateLimitRule | false;
  /** GET /v1/users/:user, per requesting device. */
  readonly directoryPerDevice: RateLimitRule | false;
  /** The same, per (requesting device, user looked up). */
  readonly directoryPerPair: RateLimitRule | false;
  /** The same, per client address. */
  readonly directoryPerIp: RateLimitRule | false;
  /** Answers that a user does not exist (404 from the directory, bundles, sends), per requesting device. */
  readonly lookupMissesPerDevice: RateLimitRule | false;
  /** The same, per client address. */
  readonly lookupMissesPerIp: RateLimitRule | false;
  /** POST /v1/messages, per (sending user, recipient user); sends to one's own devices are not counted. */
  readonly messagesPerPair: RateLimitRule | false;
  /** Backup restore attempts (POST /v1/backups/:user/code and …/login, docs/API.md §9), per client address. */
  readonly backupRestorePerIp: RateLimitRule | false;
  /** The same, per user named (on top of the stored lockout after BACKUP_MAX_ATTEMPTS wrong passphrases). */
  readonly backupRestorePerUser: RateLimitRule | false;
  /** Backup uploads and OPAQUE registrations (PUT /v1/backup…, POST /v1/backup/registration), per device. */
  readonly backupWritesPerDevice: RateLimitRule | false;
  /** Writes to collections and records (docs/API.md §10), per device. */
  readonly recordWritesPerDevice: RateLimitRule | false;
  /** Record reads and token queries (docs/API.md §10), per device. */
  readonly recordReadsPerDevice: RateLimitRule | false;
  /** POST /v1/sealed/messages (docs/API.md §11, not authenticated), per client address. */
  readonly sealedPerIp: RateLimitRule | false;
  /** The same, per recipient device (every sender with its token together). */
  readonly sealedPerRecipient: RateLimitRule | false;
  /** PUT /v1/sealed/token (rotation, revocation), per device. */
  readonly deliveryTokensPerDevice: RateLimitRule | false;
}

const perHour = (n: number) => n / 3600;
const perMinute = (n: number) => n / 60;

export const DEFAULT_RATE_LIMITS: RateLimits = {
  accountsPerIp: { capacity: 20, refillPerSecond: perHour(60) },
  authPerIp: { capacity: 120, refillPerSecond: 2 },
  authPerDevice: { capacity: 30, refillPerSecond: perMinute(30) },
  // Prekey exhaustion: a device may take 300 bundles at once, then ~720 an hour.
  bundlesPerDevice: { capacity: 300, refillPerSecond: 0.2 },
  deviceListPerIp: { capacity: 30, refillPerSecond: perMinute(10) },
  deviceListPerUser: { capacity: 10, refillPerSecond: perMinute(2) },
  provisioningCreatePerIp: { capacity: 10, refillPerSecond: perMinute(2) },
  provisioningPollPerIp: { capacity: 120, refillPerSecond: 2 },
  provisioningPutPerDevice: { capacity: 10, refillPerSecond: perMinute(2) },
  messagesPerDevice: { capacity: 2000, refillPerSecond: 200 },
  websocketPerDevice: { capacity: 30, refillPerSecond: 0.5 },
  // Clients upload when told their prekeys run low: a few times an hour at most.
  prekeyUploadsPerDevice: { capacity: 30, refillPerSecond: perMinute(10) },
  // One ack per fetch or pushed message: as generous as sending.
  acksPerDevice: { capacity: 2000, refillPerSecond: 200 },
  fileWritesPerDevice: { capacity: 120, refillPerSecond: 2 },
  fileChunksPerDevice: { capacity: 2000, refillPerSecond: 100 },
  // Prekey draining (docs/API.md §3): a client fetches a device's bundle once per session it
  // starts; 4 leaves room for the SDK's retries. A stranger gets 4, then one every 15 minutes.
  bundlesPerPair: { capacity: 4, refillPerSecond: perHour(4) },
  // 30 new sessions at once, then 10 an hour, get one-time prekeys; more still get bundles.
  oneTimePrekeysPerTarget: { capacity: 30, refillPerSecond: perHour(10) },
  // Directory scraping (docs/API.md §3): lookups are cheap for clients that know whom they
  // want; answers that a name does not exist are what enumeration needs, and they are scarce.
  directoryPerDevice: { capacity: 600, refillPerSecond: 5 },
  directoryPerPair: { capacity: 100, refillPerSecond: perMinute(15) },
  directoryPerIp: { capacity: 1200, refillPerSecond: 10 },
  lookupMissesPerDevice: { capacity: 30, refillPerSecond: perHour(30) },
  lookupMissesPerIp: { capacity: 100, refillPerSecond: perHour(100) },
  // Mailbox flooding: one sender fills no queue (10 000) quickly; others keep their own budget.
  messagesPerPair: { capacity: 1000, refillPerSecond: 1 },
  // Restores are rare: a lost device, once. The passphrase path is also locked after ten failures.
  backupRestorePerIp: { capacity: 30, refillPerSecond: perHour(30) },
  backupRestorePerUser: { capacity: 20, refillPerSecond: perHour(10) },
  // The device re-uploads its backup when keys change (a new file, a verified contact).
  backupWritesPerDevice: { capacity: 60, refillPerSecond: perMinute(10) },
  // Bulk imports write thousands of records; queries come in bursts of a few per search.
  recordWritesPerDevice: { capacity: 5000, refillPerSecond: 500 },
  recordReadsPerDevice: { capacity: 2000, refillPerSecond: 200 },
  // Sealed sends carry no sender to charge: the address and the recipient device are the budgets.
  // A recipient device takes as much as an authenticated sender may send; an address as much as
  // one busy client (a NAT of several is limited together: docs/API.md §11).
  sealedPerIp: { capacity: 2000, refillPerSecond: 200 },
  sealedPerRecipient: { capacity: 2000, refillPerSecond: 100 },
  deliveryTokensPerDevice: { capacity: 20, refillPerSecond: perHour(20) },
};

/**
 * Every rate limit may be set by flag (`--bundles-per-pair …`) or environment variable
 * (`BLINDRELAY_BUNDLES_PER_PAIR=…`): `off`, or `CAPACITY,COUNT/UNIT` — `CAPACITY` requests at
 * once, refilled at `COUNT` per second, minute, hour or day (`s`, `m`, `h`, `d`), e.g. `4,4/h`.
 */
export const RATE_LIMIT_FLAGS = {
  accountsPerIp: 'accounts-per-ip',
  authPerIp: 'auth-per-ip',
  authPerDevice: 'auth-per-device',
  bundlesPerDevice: 'bundles-per-device',
  deviceListPerIp: 'device-list-per-ip',
  deviceListPerUser: 'device-list-per-user',
  provisioningCreatePerIp: 'provisioning-create-per-ip',
  provisioningPollPerIp: 'provisioning-poll-per-ip',
  provisioningPutPerDevice: 'provisioning-put-per-device',
  messagesPerDevice: 'messages-per-device',
  websocketPerDevice: 'websocket-per-device',
  prekeyUploadsPerDevice: 'prekey-uploads-per-device',
  acksPerDevice: 'acks-per-device',
  fileWritesPerDevice: 'file-writes-per-device',
  fileChunksPerDevice: 'file-chunks-per-device',
  bundlesPerPair: 'bundles-per-pair',
  oneTimePrekeysPerTarget: 'one-time-prekeys-per-target',
  directoryPerDevice: 'directory-per-device',
  directoryPerPair: 'directory-per-pair',
  directoryPerIp: 'directory-per-ip',
  lookupMissesPerDevice: 'lookup-misses-per-device',
  lookupMissesPerIp: 'lookup-misses-per-ip',
  messagesPerPair: 'messages-per-pair',
  backupRestorePerIp: 'backup-restore-per-ip',
  backupRestorePerUser: 'backup-restore-per-user',
  backupWritesPerDevice: 'backup-writes-per-device',
  recordWritesPerDevice: 'record-writes-per-device',
  recordReadsPerDevice: 'record-reads-per-device',
  sealedPerIp: 'sealed-per-ip',
  sealedPerRecipient: 'sealed-per-recipient',
  deliveryTokensPerDevice: 'delivery-tokens-per-device',
} as const satisfies Record<keyof RateLimits, string>;

export type RateLimitFlag = keyof typeof RATE_LIMIT_FLAGS;

/** `BLINDRELAY_BUNDLES_PER_PAIR` for `bundlesPerPair`. */
export const rateLimitEnv = (key: RateLimitFlag): string => `BLINDRELAY_${RATE_LIMIT_FLAGS[key].toUpperCase().replaceAll('-', '_')}`;

/** How a rule reads in docs and `--help`: `4,4/h`, `off`. */
export function formatRateLimit(rule: RateLimitRule | false): string {
  if (!rule) return 'off';
  for (const [unit, seconds] of [
    ['s', 1],
    ['m', 60],
    ['h', 3600],
    ['d', 86400],
  ] as const) {
    const count = rule.refillPerSecond * seconds;
    if (Math.abs(count - Math.round(count)) < 1e-9 && Math.round(count) >= 1) return `${rule.capacity},${Math.round(count)}/${unit}`;
  }
  return `${rule.capacity},${rule.refillPerSecond}/s`;
}

const RATE_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `off` or `CAPACITY,COUNT/UNIT` (see RATE_LIMIT_FLAGS). */
export function parseRateLimit(value: string, source: string): RateLimitRule | false {
  const v = value.trim().toLowerCase();
  if (v === 'off' || v === 'false') return false;
  const m = /^(\d{1,9}),(\d{1,9}(?:\.\d{1,6})?)\/([smhd])$/.exec(v);
  const capacity = m ? Number(m[1]) : 0;
  if (!m || capacity < 1) throw new ConfigError(`${source}: expected off, or CAPACITY,COUNT/UNIT with UNIT s, m, h or d (e.g. 4,4/h)`);
  return { capacity, refillPerSecond: Number(m[2]) / (RATE_UNITS[m[3] as string] as number) };
}

/**
 * Sizes, counts and lifetimes (docs/API.md "Limits"). Sizes and counts enforced by the route
 * schemas (field lengths, array lengths) always use these defaults; `ServerOptions.limits` can
 * override the ones checked at run time (queue cap, stored prekeys, TTLs, body limit, WebSockets).
 */
export interface Limits {
  readonly bodyLimitBytes: number;
  readonly maxMessageBytes: number;
  readonly maxRecipients: number;
  readonly maxPrekeysPerUpload: number;
  readonly maxStoredOneTimePreKeys: number;
  readonly maxQueuedPerDevice: number;
  readonly maxFetch: number;
  readonly defaultFetch: number;
  /** A fetch (or one WebSocket push batch) stops adding messages past this many body bytes. */
  readonly maxFetchBytes: number;
  readonly maxAckIds: number;
  readonly maxEnvelopeBytes: number;
  readonly maxDeviceListBytes: number;
  readonly challengeTtlMs: number;
  readonly tokenTtlMs: number;
  readonly provisioningTtlMs: number;
  readonly maxProvisioningWaitSeconds: number;
  readonly maxOpenProvisioningChannels: number;
  /** Open (unexpired, not yet fetched) provisioning channels per client address (see client-address.ts). */
  readonly maxOpenProvisioningChannelsPerAddress: number;
  /** Outstanding challenges per (device, requesting address); the oldest of that address is dropped. */
  readonly maxChallengesPerDevice: number;
  readonly maxTokensPerDevice: number;
  readonly maxWebSocketsPerDevice: number;
  readonly maxWebSocketFrameBytes: number;
  readonly prekeyLowThreshold: number;
  /** docs/API.md §8: an age header (stanzas + MAC), decoded bytes. */
  readonly maxFileHeaderBytes: number;
  /** docs/API.md §8: the opaque encrypted file metadata, decoded bytes. */
  readonly maxFileMetaBytes: number;
  readonly maxFileReaders: number;
  /** Largest payload of one file version (`--max-file-size`). */
  readonly maxFileBytes: number;
  /** Sum of payload sizes over every version of every file of one owner (`--user-quota`). */
  readonly userQuotaBytes: number;
  readonly maxFilesPerUser: number;
  /** One payload upload request (application/octet-stream). */
  readonly maxFileChunkBytes: number;
  /**
   * Payload uploads being received at once, per instance and per user: each may buffer up to
   * maxFileChunkBytes, so these bound the memory uploads can take (16 × 16 MiB = 256 MiB).
   */
  readonly maxConcurrentUploads: number;
  readonly maxConcurrentUploadsPerUser: number;
  readonly maxFileList: number;
  readonly defaultFileList: number;
}

export const LIMITS: Limits = {
  bodyLimitBytes: 4 * 1024 * 1024,
  maxMessageBytes: bounds.MAX_MESSAGE_BYTES,
  maxRecipients: bounds.MAX_RECIPIENTS,
  maxPrekeysPerUpload: bounds.MAX_PREKEYS_PER_UPLOAD,
  maxStoredOneTimePreKeys: 1000,
  maxQueuedPerDevice: 10_000,
  maxFetch: bounds.MAX_FETCH_MESSAGES,
  defaultFetch: 100,
  maxFetchBytes: 8 * 1024 * 1024,
  maxAckIds: bounds.MAX_ACK_IDS,
  // PROTOCOL.md §12: 1 + 32 + AES-GCM(payload) where payload ≤ 1 + 65 + 32 + 4 + 1 MiB.
  maxEnvelopeBytes: bounds.MAX_PROVISIONING_ENVELOPE_BYTES,
  // PROTOCOL.md §5 (format 3): 1 + 65 + 32 + 8 + 8 + 2 + 100 × 166 + 64 = 16,780 bytes at most.
  maxDeviceListBytes: bounds.MAX_DEVICE_LIST_BYTES,
  challengeTtlMs: 60_000,
  tokenTtlMs: 3_600_000,
  provisioningTtlMs: 600_000,
  maxProvisioningWaitSeconds: 30,
  maxOpenProvisioningChannels: 10_000,
  maxOpenProvisioningChannelsPerAddress: 5,
  maxChallengesPerDevice: 16,
  maxTokensPerDevice: 32,
  maxWebSocketsPerDevice: 8,
  maxWebSocketFrameBytes: 64 * 1024,
  prekeyLowThreshold: 10,
  maxFileHeaderBytes: bounds.MAX_FILE_HEADER_BYTES,
  maxFileMetaBytes: bounds.MAX_FILE_META_BYTES,
  maxFileReaders: bounds.MAX_FILE_READERS,
  maxFileBytes: 4 * 1024 ** 3,
  userQuotaBytes: 20 * 1024 ** 3,
  maxFilesPerUser: 10_000,
  maxFileChunkBytes: 16 * 1024 * 1024,
  maxConcurrentUploads: 16,
  maxConcurrentUploadsPerUser: 4,
  maxFileList: bounds.MAX_FILE_PAGE,
  defaultFileList: 100,
};

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ServerOptions {
  /** Interface to bind; default 127.0.0.1 (set 0.0.0.0 or :: to expose it). */
  host?: string;
  /** TCP port; default 8787; 0 picks a free port. */
  port?: number;
  /** Data directory: `relay.db` (+ `-wal`/`-shm`) and `blobs/`; default ./data. */
  dataDir?: string;
  /**
   * `postgres://…` or `postgresql://…`: keep accounts, prekeys, mailboxes and auth in PostgreSQL
   * (cluster mode: several relays may share it) instead of `relay.db`. Unset: SQLite (the default).
   */
  databaseUrl?: string;
  /** With `databaseUrl`: the schema to use (created if absent); default the server's search_path. */
  databaseSchema?: string;
  /** pino level; default info. */
  logLevel?: LogLevel | string;
  /** A pino destination stream, or a file path (created mode 0600); default stderr. */
  logDestination?: DestinationStream | string;
  /** Clock in ms since the epoch (tests move it). */
  now?: () => number;
  /** Per-action overrides; a rule given here replaces the default rule. */
  rateLimits?: Partial<{ [K in keyof RateLimits]: Partial<RateLimitRule> | false }>;
  /** Collect Node process metrics (CPU, memory, event loop) in /metrics; default true. */
  processMetrics?: boolean;
  /**
   * Overrides of the documented limits (docs/API.md "Limits"); for tests and tuning. Lowering
   * them is safe; raising them past the documented values breaks the contract clients rely on.
   */
  limits?: Partial<Limits>;
  /**
   * Whom to believe about the client address (`X-Forwarded-For`), as Fastify's `trustProxy`:
   * false (default: the socket peer), true (any proxy), a hop count, or addresses / CIDR ranges
   * of the trusted proxies (array or comma-separated). Per-address limits key on the result.
   */
  trustProxy?: TrustProxy;
  /**
   * Serve Prometheus metrics at `/metrics` on this port of `host` (0: any free port). Unset
   * (default): no metrics endpoint at all; the API port never serves them.
   */
  metricsPort?: number;
  /**
   * `nats://…` (comma-separated for several servers): carry WebSocket and long-poll wake-ups
   * between relays over NATS (cluster mode). Needs `databaseUrl`; unset: the in-process bus.
   */
  natsUrl?: string;
  /** With `natsUrl`: the subject prefix (NATS tokens joined by `.`); default `blindrelay`. */
  natsSubjectPrefix?: string;
  /** Largest payload of one file version in bytes (docs/API.md §8); default 4 GiB. Overrides `limits.maxFileBytes`. */
  maxFileSize?: number;
  /** Payload bytes one user may store over all its files and versions; default 20 GiB. Overrides `limits.userQuotaBytes`. */
  userQuota?: number;
  /** The web app's build directory, served at `/` (web-app.ts); false: no web app. Default apps/web/dist (env BLINDRELAY_WEB_ROOT, `off`). */
  webRoot?: string | false;
}

export type TrustProxy = boolean | number | string | readonly string[];

export interface ResolvedOptions {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly databaseSchema: string | undefined;
  readonly logLevel: LogLevel;
  readonly logDestination: DestinationStream | string | undefined;
  readonly now: () => number;
  readonly rateLimits: RateLimits;
  readonly processMetrics: boolean;
  readonly limits: Limits;
  /** false, true, a hop count, or a list of trusted proxy addresses / CIDR ranges. */
  readonly trustProxy: boolean | number | string[];
  readonly metricsPort: number | undefined;
  readonly natsUrl: string | undefined;
  readonly natsSubjectPrefix: string;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8787;
export const DEFAULT_DATA_DIR = './data';
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

export class ConfigError extends Error {}

/** age payload nonce (age.md "Payload"): no payload is shorter. */
export const MIN_FILE_BYTES = 16;

function parsePort(value: string | number, source: string): number {
  const n = typeof value === 'number' ? value : /^\d{1,5}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${source}: port must be an integer from 0 to 65535`);
  return n;
}

function parseLogLevel(value: string, source: string): LogLevel {
  const v = value.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(v)) throw new ConfigError(`${source}: log level must be one of ${LOG_LEVELS.join(', ')}`);
  return v as LogLevel;
}

function parseDatabaseUrl(value: string, source: string): string {
  const v = value.trim();
  if (!/^postgres(ql)?:\/\/./.test(v)) throw new ConfigError(`${source}: database URL must start with postgres:// or postgresql://`);
  return v;
}

function parseNatsUrl(value: string, source: string): string {
  const urls = value.split(',').map((u) => u.trim());
  if (urls.some((u) => !/^(nats|tls):\/\/[^\s]+$/.test(u)))
    throw new ConfigError(`${source}: NATS URL must start with nats:// or tls:// (several: comma-separated)`);
  return urls.join(',');
}

const NATS_PREFIX = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/;

function parseNatsPrefix(value: string, source: string): string {
  const v = value.trim();
  if (!NATS_PREFIX.test(v)) throw new ConfigError(`${source}: NATS subject prefix: up to 8 tokens of letters, digits, _ or -, separated by .`);
  return v;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** A byte count: a plain decimal integer from `min` up to 2^53 − 1. */
function parseBytes(value: string | number, source: string, min: number): number {
  const n = typeof value === 'number' ? value : /^\d{1,16}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(`${source}: expected a number of bytes (an integer ≥ ${min})`);
  return n;
}

function nonEmpty(value: string, source: string): string {
  if (value.trim() === '') throw new ConfigError(`${source} must not be empty`);
  return value;
}

function parseSchema(schema: string | undefined): string | undefined {
  if (schema === undefined) return undefined;
  if (!SCHEMA_NAME.test(schema)) throw new ConfigError('database schema: 1-63 lower-case letters, digits or _, not starting with a digit');
  return schema;
}

function parseCidr(entry: string, source: string): string {
  const [address, prefix, extra] = entry.split('/');
  const family = isIP(address ?? '');
  const max = family === 4 ? 32 : 128;
  const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max);
  if (!family || !prefixOk || extra !== undefined) throw new ConfigError(`${source}: ${JSON.stringify(entry.slice(0, 60))} is not an IP address or CIDR range`);
  return entry;
}

/** true/false, a hop count, or a comma-separated list of addresses / CIDR ranges. */
function parseTrustProxy(value: TrustProxy, source: string): boolean | number | string[] {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new ConfigError(`${source}: hop count must be a non-negative integer`);
    return value;
  }
  const entries = (typeof value === 'string' ? value.split(',') : [...value]).map((e) => e.trim()).filter((e) => e !== '');
  if (entries.length === 1) {
    const v = (entries[0] as string).toLowerCase();
    if (v === 'true') return true;
    if (v === 'false') return false;
    if (/^\d{1,3}$/.test(v)) return Number(v);
  }
  if (entries.length === 0) throw new ConfigError(`${source}: expected true, false, a hop count or a list of addresses / CIDR ranges`);
  return entries.map((e) => parseCidr(e, source));
}

export function resolveOptions(options: ServerOptions = {}): ResolvedOptions {
  const rateLimits = { ...DEFAULT_RATE_LIMITS } as Record<keyof RateLimits, RateLimitRule | false>;
  for (const [name, override] of Object.entries(options.rateLimits ?? {}) as [keyof RateLimits, Partial<RateLimitRule> | false | undefined][]) {
    if (!(name in DEFAULT_RATE_LIMITS)) throw new ConfigError(`unknown rate limit ${name}`);
    if (override === undefined) continue;
    if (override === false) {
      rateLimits[name] = false;
      continue;
    }
    const base = DEFAULT_RATE_LIMITS[name] || { capacity: 1, refillPerSecond: 1 };
    const rule = { capacity: override.capacity ?? base.capacity, refillPerSecond: override.refillPerSecond ?? base.refillPerSecond };
    if (!(rule.capacity >= 1) || !(rule.refillPerSecond >= 0)) throw new ConfigError(`rate limit ${name}: capacity must be ≥ 1 and refill ≥ 0`);
    rateLimits[name] = rule;
  }
  const natsUrl = options.natsUrl === undefined ? undefined : parseNatsUrl(options.natsUrl, 'NATS URL');
  if (natsUrl !== undefined && options.databaseUrl === undefined) {
    throw new ConfigError(
      'NATS (--nats / BLINDRELAY_NATS_URL) needs PostgreSQL storage (--database / BLINDRELAY_DATABASE_URL): with SQLite the relay is one process and uses the in-process bus',
    );
  }
  const natsSubjectPrefix = options.natsSubjectPrefix ?? 'blindrelay';
  if (!NATS_PREFIX.test(natsSubjectPrefix)) throw new ConfigError('NATS subject prefix: up to 8 tokens of letters, digits, _ or -, separated by .');
  return {
    host: nonEmpty(options.host ?? DEFAULT_HOST, 'host'),
    port: parsePort(options.port ?? DEFAULT_PORT, 'port'),
    dataDir: nonEmpty(options.dataDir ?? DEFAULT_DATA_DIR, 'data directory'),
    databaseUrl: options.databaseUrl === undefined ? undefined : parseDatabaseUrl(options.databaseUrl, 'database URL'),
    databaseSchema: parseSchema(options.databaseSchema),
    logLevel: parseLogLevel(options.logLevel ?? DEFAULT_LOG_LEVEL, 'log level'),
    logDestination: options.logDestination,
    now: options.now ?? Date.now,
    rateLimits,
    processMetrics: options.processMetrics ?? true,
    limits: {
      ...LIMITS,
      ...options.limits,
      ...(options.maxFileSize === undefined ? {} : { maxFileBytes: parseBytes(options.maxFileSize, 'max file size', MIN_FILE_BYTES) }),
      ...(options.userQuota === undefined ? {} : { userQuotaBytes: parseBytes(options.userQuota, 'user quota', 0) }),
    },
    trustProxy: parseTrustProxy(options.trustProxy ?? false, 'trust proxy'),
    metricsPort: options.metricsPort === undefined ? undefined : parsePort(options.metricsPort, 'metrics port'),
    natsUrl,
    natsSubjectPrefix,
  };
}

/**
 * Command-line flags as the CLI parses them (`blindrelay server --host --port --data --database --nats --nats-prefix --log-level --trust-proxy
 * --metrics-port --max-file-size --user-quota`, and the rate limits of RATE_LIMIT_FLAGS).
 */
export interface ServerFlags extends Partial<Record<RateLimitFlag, string>> {
  host?: string;
  port?: string | number;
  data?: string;
  database?: string;
  logLevel?: string;
  trustProxy?: string;
  metricsPort?: string | number;
  nats?: string;
  natsPrefix?: string;
  maxFileSize?: string | number;
  userQuota?: string | number;
}

/**
 * Flags and environment → options. Flags win over `BLINDRELAY_HOST`, `BLINDRELAY_PORT`,
 * `BLINDRELAY_DATA`, `BLINDRELAY_DATABASE_URL`, `BLINDRELAY_LOG_LEVEL`, `BLINDRELAY_TRUST_PROXY`,
 * `BLINDRELAY_METRICS_PORT`, `BLINDRELAY_NATS_URL`, `BLINDRELAY_NATS_PREFIX`, `BLINDRELAY_MAX_FILE_SIZE`, `BLINDRELAY_USER_QUOTA`
 * and the rate limits of RATE_LIMIT_FLAGS (`BLINDRELAY_BUNDLES_PER_PAIR`, …); unset ones fall back to the defaults.
 * Throws ConfigError (with a message naming the flag or variable) on an invalid value.
 */
export function resolveServerOptions(flags: ServerFlags = {}, env: Record<string, string | undefined> = process.env): ServerOptions {
  const pick = (flag: string | number | undefined, name: string): { value: string | number; source: string } | undefined => {
    if (flag !== undefined) return { value: flag, source: 'flag' };
    const v = env[name];
    return v !== undefined && v !== '' ? { value: v, source: name } : undefined;
  };
  const out: ServerOptions = {};
  const host = pick(flags.host, 'BLINDRELAY_HOST');
  if (host) out.host = nonEmpty(String(host.value), host.source === 'flag' ? '--host' : host.source);
  const port = pick(flags.port, 'BLINDRELAY_PORT');
  if (port) out.port = parsePort(port.value, port.source === 'flag' ? '--port' : port.source);
  const data = pick(flags.data, 'BLINDRELAY_DATA');
  if (data) out.dataDir = nonEmpty(String(data.value), data.source === 'flag' ? '--data' : data.source);
  const database = pick(flags.database, 'BLINDRELAY_DATABASE_URL');
  if (database) out.databaseUrl = parseDatabaseUrl(String(database.value), database.source === 'flag' ? '--database' : database.source);
  const level = pick(flags.logLevel, 'BLINDRELAY_LOG_LEVEL');
  if (level) out.logLevel = parseLogLevel(String(level.value), level.source === 'flag' ? '--log-level' : level.source);
  const trust = pick(flags.trustProxy, 'BLINDRELAY_TRUST_PROXY');
  if (trust) out.trustProxy = parseTrustProxy(String(trust.value), trust.source === 'flag' ? '--trust-proxy' : trust.source);
  const metricsPort = pick(flags.metricsPort, 'BLINDRELAY_METRICS_PORT');
  if (metricsPort) out.metricsPort = parsePort(metricsPort.value, metricsPort.source === 'flag' ? '--metrics-port' : metricsPort.source);
  const nats = pick(flags.nats, 'BLINDRELAY_NATS_URL');
  if (nats) out.natsUrl = parseNatsUrl(String(nats.value), nats.source === 'flag' ? '--nats' : nats.source);
  const natsPrefix = pick(flags.natsPrefix, 'BLINDRELAY_NATS_PREFIX');
  if (natsPrefix) out.natsSubjectPrefix = parseNatsPrefix(String(natsPrefix.value), natsPrefix.source === 'flag' ? '--nats-prefix' : natsPrefix.source);
  const maxFile = pick(flags.maxFileSize, 'BLINDRELAY_MAX_FILE_SIZE');
  if (maxFile) out.maxFileSize = parseBytes(maxFile.value, maxFile.source === 'flag' ? '--max-file-size' : maxFile.source, MIN_FILE_BYTES);
  const quota = pick(flags.userQuota, 'BLINDRELAY_USER_QUOTA');
  if (quota) out.userQuota = parseBytes(quota.value, quota.source === 'flag' ? '--user-quota' : quota.source, 0);
  const rateLimits: Partial<Record<RateLimitFlag, RateLimitRule | false>> = {};
  for (const key of Object.keys(RATE_LIMIT_FLAGS) as RateLimitFlag[]) {
    const given = pick(flags[key], rateLimitEnv(key));
    if (given) rateLimits[key] = parseRateLimit(String(given.value), given.source === 'flag' ? `--${RATE_LIMIT_FLAGS[key]}` : given.source);
  }
  if (Object.keys(rateLimits).length > 0) out.rateLimits = rateLimits;
  const webRoot = env.BLINDRELAY_WEB_ROOT;
  if (webRoot) out.webRoot = webRoot === 'off' ? false : webRoot;
  return out;
}
