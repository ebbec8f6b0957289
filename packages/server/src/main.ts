/**
 * The process entry used by `blindrelay server` and `npm start`: parse flags, start, print
 * `listening on http://HOST:PORT` on stdout, and shut down gracefully on SIGTERM / SIGINT.
 * Logs go to stderr (JSON), so stdout carries only that line.
 */
import {
  ConfigError,
  DEFAULT_RATE_LIMITS,
  formatRateLimit,
  RATE_LIMIT_FLAGS,
  type RateLimitFlag,
  rateLimitEnv,
  resolveServerOptions,
  type ServerFlags,
  type ServerOptions,
} from './config.js';
import { type RunningServer, startServer } from './server.js';

/** How often a relay under npm checks that npm is still there. */
const PARENT_POLL_MS = 200;

const USAGE = `usage: blindrelay server [--host HOST] [--port PORT] [--data DIR] [--database URL] [--nats URL] [--log-level LEVEL]
                         [--nats-prefix PREFIX] [--trust-proxy true|false|HOPS|CIDR,...] [--metrics-port PORT]
                         [--max-file-size BYTES] [--user-quota BYTES] [--<rate limit> off|CAPACITY,COUNT/UNIT]
  --host       interface to bind (env BLINDRELAY_HOST, default 127.0.0.1)
  --port       TCP port, 0 = any free port (env BLINDRELAY_PORT, default 8787)
  --data       data directory (env BLINDRELAY_DATA, default ./data)
  --database   postgres://… to store in PostgreSQL instead of SQLite (env BLINDRELAY_DATABASE_URL)
  --nats       nats://… to carry push wake-ups between relays over NATS; needs --database
               (env BLINDRELAY_NATS_URL; default: in-process bus)
  --nats-prefix   NATS subject prefix, tokens of letters, digits, _ or - joined by . (env
                  BLINDRELAY_NATS_PREFIX, default blindrelay); relays of one cluster share it
  --log-level  fatal|error|warn|info|debug|trace|silent (env BLINDRELAY_LOG_LEVEL, default info)
  --trust-proxy   take the client address from X-Forwarded-For: true, false, a hop count, or the
                  proxies' addresses / CIDR ranges (env BLINDRELAY_TRUST_PROXY, default false)
  --metrics-port  serve Prometheus /metrics on this port of --host (env BLINDRELAY_METRICS_PORT,
                  default: no metrics endpoint)
  --max-file-size largest payload of one file version, bytes (env BLINDRELAY_MAX_FILE_SIZE,
                  default 4294967296 = 4 GiB)
  --user-quota    payload bytes one user may store over all files and versions (env
                  BLINDRELAY_USER_QUOTA, default 21474836480 = 20 GiB)
rate limits (docs/API.md): off, or CAPACITY,COUNT/UNIT (UNIT s, m, h or d; e.g. 4,4/h)
${(Object.keys(RATE_LIMIT_FLAGS) as RateLimitFlag[])
  .map((key) => `  --${RATE_LIMIT_FLAGS[key]} (env ${rateLimitEnv(key)}, default ${formatRateLimit(DEFAULT_RATE_LIMITS[key])})`)
  .join('\n')}`;

const FLAG_NAMES: Record<string, keyof ServerFlags> = {
  '--host': 'host',
  '--port': 'port',
  '--data': 'data',
  '--database': 'database',
  '--nats': 'nats',
  '--nats-prefix': 'natsPrefix',
  '--log-level': 'logLevel',
  '--trust-proxy': 'trustProxy',
  '--metrics-port': 'metricsPort',
  '--max-file-size': 'maxFileSize',
  '--user-quota': 'userQuota',
  ...Object.fromEntries((Object.keys(RATE_LIMIT_FLAGS) as RateLimitFlag[]).map((key) => [`--${RATE_LIMIT_FLAGS[key]}`, key])),
};

/** `--flag value` and `--flag=value`; throws ConfigError on anything else. */
export function parseServerArgs(argv: readonly string[]): ServerFlags {
  const flags: ServerFlags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') throw new ConfigError(USAGE);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const key = FLAG_NAMES[name];
    if (!key) throw new ConfigError(`unknown argument ${JSON.stringify(arg.slice(0, 40))}\n${USAGE}`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`${name} needs a value\n${USAGE}`);
    flags[key] = value;
  }
  return flags;
}

export interface MainIo {
  readonly stdout?: { write(text: string): unknown };
  readonly stderr?: { write(text: string): unknown };
  readonly exit?: (code: number) => void;
  /** Extra options (tests): merged over the flags and environment. */
  readonly options?: ServerOptions;
}

/**
 * Start from argv (or already-parsed flags) and the environment. Resolves with the running
 * server once it listens; exits 0 after a signal-triggered shutdown, 1 if that fails. On a
 * configuration or start-up error it prints to stderr and exits 2 (config) or 1 (start).
 */
export async function runServerMain(
  argv: readonly string[] | ServerFlags = process.argv.slice(2),
  env: Record<string, string | undefined> = process.env,
  io: MainIo = {},
): Promise<RunningServer | undefined> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const exit = io.exit ?? ((code: number) => process.exit(code));
  let server: RunningServer | undefined;
  // Under `npm start` or `npx blindrelay server`, npm (and its `sh -c`) exit on SIGTERM without
  // passing it on, which left the relay running as an orphan holding the port (review ux-2026-12
  // F3). There, the relay also shuts down when its parent is gone (watched from the start, so also
  // during start-up). Only under npm: a relay started with `nohup … &` must outlive its shell.
  let orphaned = false;
  let parentWatch: ReturnType<typeof setInterval> | undefined;
  if (env.npm_execpath !== undefined || env.npm_lifecycle_event !== undefined) {
    // The parent when the command was launched (bin/blindrelay.mjs records it before loading anything).
    const launched = (globalThis as Record<symbol, unknown>)[Symbol.for('blindrelay.launchPpid')];
    const parent = typeof launched === 'number' ? launched : process.ppid;
    orphaned = process.ppid !== parent;
    parentWatch = setInterval(() => {
      if (process.ppid === parent || orphaned) return;
      orphaned = true;
      if (server) shutDown('parent process (npm) exited');
    }, PARENT_POLL_MS);
    parentWatch.unref();
  }
  try {
    const flags = Array.isArray(argv) ? parseServerArgs(argv as readonly string[]) : (argv as ServerFlags);
    server = await startServer({ ...resolveServerOptions(flags, env), ...io.options });
  } catch (err) {
    if (parentWatch) clearInterval(parentWatch);
    stderr.write(`blindrelay server: ${err instanceof Error ? err.message : String(err)}\n`);
    exit(err instanceof ConfigError ? 2 : 1);
    return undefined;
  }
  const running = server;
  const shutDown = (reason: string) => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    if (parentWatch) clearInterval(parentWatch);
    // Through the logger, so stderr stays JSON lines (review ux-2026-12 F19).
    running.app.log.info({ reason }, 'shutting down');
    running.close().then(
      () => exit(0),
      (err) => {
        stderr.write(`blindrelay server: shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`);
        exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => shutDown(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (orphaned) shutDown('parent process (npm) exited');
  stdout.write(`listening on ${running.url}\n`);
  return running;
}
