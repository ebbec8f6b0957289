/** @blindrelay/server: the blind relay (docs/API.md), embedded default: SQLite + in-process bus; PostgreSQL storage with `databaseUrl`. */

export type { BlobKey, BlobStore } from './blobs/types.js';
export { MemoryBus } from './bus/memory.js';
export type { Bus, BusEvent, DeviceEvent } from './bus/types.js';
export {
  ConfigError,
  DEFAULT_RATE_LIMITS,
  LIMITS,
  type Limits,
  type LogLevel,
  RATE_LIMIT_FLAGS,
  type RateLimitFlag,
  type RateLimitRule,
  type RateLimits,
  rateLimitEnv,
  resolveServerOptions,
  type ServerFlags,
  type ServerOptions,
} from './config.js';
export { type MainIo, parseServerArgs, runServerMain } from './main.js';
export { type RunningServer, startServer } from './server.js';
export { openPostgresStorage, type PostgresStorageOptions } from './storage/postgres/postgres-storage.js';
export { SqliteUnavailableError } from './storage/sqlite/node-sqlite.js';
export { openSqliteStorage } from './storage/sqlite/sqlite-storage.js';
export type * from './storage/types.js';
