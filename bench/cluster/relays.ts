// Relay child processes and throwaway PostgreSQL databases for the cluster bench and the cluster
// fault test (test/cluster-fault.test.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { relayNode } from '../../test/runtime.js';

export const CLI = fileURLToPath(new URL('../../packages/cli/bin/blindrelay.mjs', import.meta.url));
export const DATABASE_URL = process.env.BLINDRELAY_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
export const NATS_URL = process.env.BLINDRELAY_TEST_NATS_URL || 'nats://127.0.0.1:4222';

export interface Relay {
  child: ChildProcess;
  url: string;
}

/**
 * Load from one address: many accounts (more than the per-address account limit, shared by the
 * relays of a cluster) and more messages per sender and recipient than the flooding limit allows.
 */
export const LOAD_LIMITS_OFF = ['--accounts-per-ip', 'off', '--messages-per-pair', 'off'];

/**
 * Starts `blindrelay server` with `args` and resolves once it prints its address. Unless
 * `defaultLimits` (attack tests), with LOAD_LIMITS_OFF. With `netns`, inside that network
 * namespace (`ip netns exec`, which execs the relay: the child's pid is the relay's).
 */
export function spawnRelay(args: string[], options: { defaultLimits?: boolean; netns?: string } = {}): Promise<Relay> {
  const limits = options.defaultLimits ? [] : LOAD_LIMITS_OFF;
  const argv = [relayNode(), CLI, 'server', '--port', '0', '--log-level', 'warn', ...limits, ...args];
  if (options.netns) argv.unshift('ip', 'netns', 'exec', options.netns);
  // BLINDRELAY_RELAY_NODE_OPTIONS: Node flags for the relays only (profiling: `--cpu-prof --cpu-prof-dir=DIR`).
  const nodeOptions = process.env.BLINDRELAY_RELAY_NODE_OPTIONS;
  const env = nodeOptions ? { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${nodeOptions}`.trim() } : process.env;
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], env });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] as string });
    });
    child.once('exit', (code, signal) => reject(new Error(`relay exited with ${code ?? signal}`)));
  });
}

/** SIGTERM (or `signal`), resolving once the process is gone. */
export const stopRelay = (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });

/** `url` with its database name replaced. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(f: (c: pg.Client) => Promise<T>, url = DATABASE_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await f(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Creates a fresh database `<prefix>_<random>` on the server of DATABASE_URL; returns its name and
 * URL. `synchronousCommit: false` sets it on the database (commits do not wait for the WAL flush:
 * only a PostgreSQL crash could lose the last ones — not what a relay's kill -9 tests).
 */
export async function createDatabase(prefix: string, options: { synchronousCommit?: boolean } = {}): Promise<{ name: string; url: string }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await admin(async (c) => {
    await c.query(`CREATE DATABASE "${name}"`);
    if (options.synchronousCommit === false) await c.query(`ALTER DATABASE "${name}" SET synchronous_commit = off`);
  });
  return { name, url: withDatabase(DATABASE_URL, name) };
}

/** Drops a database made by createDatabase, disconnecting anyone still on it. */
export async function dropDatabase(name: string): Promise<void> {
  await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}
