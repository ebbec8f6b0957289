/**
 * Three relays in three network namespaces, 1 ms of added latency on every link, kill -9 of one
 * relay mid-stream: every message sent is delivered to its recipient's application exactly once.
 *
 * Topology (test/netns/topology.ts): a bridge in the root namespace, one namespace per relay on a
 * veth pair, each relay bound to its namespace's address. The relays meet only through PostgreSQL
 * and NATS, which listen on 127.0.0.1 of the root namespace; they reach them through a forwarder
 * on the bridge's root address (test/netns/delay-proxy.ts, its own process). The 1 ms: `tc netem
 * delay 1ms` on both ends of every veth where the kernel has sch_netem, else the forwarder holds
 * every chunk 1 ms in each direction. This machine's kernel (6.18.44-fc-v1252) is built without
 * it and cannot load it, checked again 2026-12-03: /proc/config.gz has `# CONFIG_NET_SCH_NETEM is
 * not set` and `# CONFIG_MODULES is not set` (no modprobe, no /lib/modules), and
 * `tc qdisc add dev <veth> root netem delay 1ms` answers `Error: Specified qdisc kind is unknown.`
 * (only htb, tbf and ingress are built in). Either
 * way every path from one relay to another (relay → NATS/PostgreSQL → relay) gains at least 2 ms,
 * and the test measures that it did. Clients run in this process in the root namespace; the
 * bridge is not loopback, so they are told plain HTTP is fine here (allowInsecureHttp).
 *
 * Needs root, iproute2, PostgreSQL and NATS: skips loudly without them, fails instead under
 * BLINDRELAY_REQUIRE_SERVICES=1. Removes its namespaces, links, database and data directories.
 * Size: BLINDRELAY_NETNS_MESSAGES (default 1,000) at BLINDRELAY_NETNS_RATE msg/s (default 150).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlindrelayClient, MemoryStorage, type SocketFactory } from '@blindrelay/client';
import { nodeSocketFactory } from '@blindrelay/client/node';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, DATABASE_URL, dropDatabase, NATS_URL, type Relay, spawnRelay, stopRelay } from '../bench/cluster/relays.js';
import { requireNats } from '../packages/server/test/nats-service.js';
import { REQUIRED, requirePostgres } from '../packages/server/test/postgres-service.js';
import { createTopology, netnsUnavailable, type Topology } from './netns/topology.js';
import { wireCount } from './wire-count.js';

const DELAY_MS = 1;
const TOTAL = Number(process.env.BLINDRELAY_NETNS_MESSAGES || 1000);
const RATE = Number(process.env.BLINDRELAY_NETNS_RATE || 150);
const PAIRS = 9;
const MAX_IN_FLIGHT = 100;
const KILL_AT = 0.4;
const DRAIN_MS = 20_000;
const PROXY = fileURLToPath(new URL('./netns/delay-proxy.ts', import.meta.url));

const p = createNodePrimitives();
const log = (l: string) => process.stderr.write(`[cluster-netns] ${l}\n`);

function netnsAvailable(): boolean {
  const why = netnsUnavailable();
  if (!why) return true;
  if (REQUIRED) {
    describe('cluster netns (required by BLINDRELAY_REQUIRE_SERVICES=1)', () => {
      it('needs network namespaces', () => {
        throw new Error(`network namespaces are required (BLINDRELAY_REQUIRE_SERVICES=1) but cannot be made here: ${why}`);
      });
    });
  } else {
    const bar = '!'.repeat(100);
    console.warn(
      `\n${bar}\n!!! CLUSTER NETNS TEST SKIPPED: ${why}\n!!! Run as root with iproute2; set BLINDRELAY_REQUIRE_SERVICES=1 to make this a failure.\n${bar}\n`,
    );
  }
  return false;
}

const available = (await requirePostgres('cluster netns')) && (await requireNats('cluster netns')) && netnsAvailable();

/** Starts the forwarder; resolves with the bound port of each route, in order. */
function startProxy(delayMs: number, routes: string[]): Promise<{ child: ChildProcess; ports: number[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', PROXY, String(delayMs), ...routes], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /^ready ([\d ]+)\n/.exec(out);
      if (m) resolve({ child, ports: (m[1] as string).split(' ').map(Number) });
    });
    child.once('exit', (code, signal) => reject(new Error(`delay proxy exited with ${code ?? signal}`)));
  });
}

/** `url` with host and port replaced. */
function via(url: string, host: string, port: number): string {
  const u = new URL(url);
  u.hostname = host;
  u.port = String(port);
  return u.toString();
}

const hostPort = (url: string, defaultPort: number) => {
  const u = new URL(url);
  return `${u.hostname}:${u.port || defaultPort}`;
};

/** The fastest of `n` timed runs of `f`, in ms (a delay is a floor under every run). */
async function fastestMs(n: number, f: () => Promise<unknown>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

describe.skipIf(!available)('cluster in network namespaces: 1 ms between relays, kill -9', () => {
  let topology: Topology | undefined;
  let proxy: ChildProcess | undefined;
  let db: { name: string; url: string } | undefined;
  let dir: string | undefined;
  let pgVia = '';
  const relays: Relay[] = [];
  const controller = new AbortController();
  setMaxListeners(4 * PAIRS, controller.signal);
  const listeners: Promise<void>[] = [];

  beforeAll(async () => {
    topology = createTopology(3, DELAY_MS);
    const { gateway } = topology;
    const started = await startProxy(topology.netem ? 0 : DELAY_MS, [
      `${gateway}:0=${hostPort(DATABASE_URL, 5432)}`,
      `${gateway}:0=${hostPort(NATS_URL, 4222)}`,
    ]);
    proxy = started.child;
    const [pgPort, natsPort] = started.ports as [number, number];
    db = await createDatabase('br_netns');
    pgVia = via(db.url, gateway, pgPort);
    const natsVia = via(NATS_URL, gateway, natsPort).replace(/\/$/, '');
    dir = await mkdtemp(join(tmpdir(), 'br-netns-'));
    log(`namespaces ${topology.nodes.map((n) => `${n.ns} (${n.address})`).join(', ')}; added delay by ${topology.netem ? 'tc netem' : 'the forwarder'}`);
    // The first start migrates the database; the others start after it.
    for (const [i, node] of topology.nodes.entries())
      relays.push(await spawnRelay(['--data', join(dir, `r${i}`), '--database', pgVia, '--nats', natsVia, '--host', node.address], { netns: node.ns }));
    log(`relays: ${relays.map((r) => r.url).join(' ')}`);
  }, 60_000);

  afterAll(async () => {
    controller.abort();
    await Promise.all(listeners);
    await Promise.all(relays.map((r) => stopRelay(r.child)));
    if (proxy) await stopRelay(proxy);
    topology?.remove();
    if (db) await dropDatabase(db.name);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('every relay is in its own namespace, and the links between them are ≥ 1 ms slower each way', { timeout: 20_000 }, async () => {
    const t = topology as Topology;
    // Bound to their namespace addresses, reachable from here only over the bridge.
    expect(relays.map((r) => new URL(r.url).hostname)).toEqual(t.nodes.map((n) => n.address));
    for (const r of relays) expect((await fetch(`${r.url}/healthz`)).ok).toBe(true);
    // The added latency is there: a round trip that crosses a delayed link takes ≥ 2 × DELAY_MS.
    const client = new pg.Client({ connectionString: t.netem ? (db as { url: string }).url : pgVia });
    await client.connect();
    try {
      const direct = new pg.Client({ connectionString: (db as { url: string }).url });
      await direct.connect();
      const base = await fastestMs(9, () => direct.query('SELECT 1'));
      await direct.end();
      const delayed = t.netem ? await fastestMs(9, () => fetch(`${relays[0]?.url}/healthz`)) : await fastestMs(9, () => client.query('SELECT 1'));
      log(
        `fastest round trip: ${delayed.toFixed(2)} ms across a delayed link (${t.netem ? 'HTTP to relay 0' : 'PostgreSQL via the forwarder'}), ${base.toFixed(2)} ms direct`,
      );
      expect(delayed).toBeGreaterThanOrEqual(2 * DELAY_MS);
    } finally {
      await client.end();
    }
  });

  it(`delivers ${TOTAL.toLocaleString('en-US')} messages exactly once across a kill -9 of a relay`, { timeout: 90_000 }, async () => {
    const urls = relays.map((r) => r.url);
    const serversFrom = (home: number) => [0, 1, 2].map((k) => urls[(home + k) % 3] as string);
    const run = Math.random().toString(36).slice(2, 8);
    // Per receiver: ids handed to the application (each must come exactly once).
    const delivered = new Map<string, number>();
    const wire = wireCount();
    const senders: BlindrelayClient[] = [];
    const receivers: BlindrelayClient[] = [];
    const homes: number[] = [];
    const reconnects: string[] = [];
    const errors: string[] = [];
    for (let i = 0; i < PAIRS; i++) {
      // Sender and receiver always on different relays: every message crosses namespaces.
      const sHome = i % 3;
      const rHome = (i + 1) % 3;
      const env = (socket: SocketFactory) => ({ primitives: p, storage: new MemoryStorage(), socket, allowInsecureHttp: true });
      const from = await BlindrelayClient.createAccount(env(nodeSocketFactory), { servers: serversFrom(sHome), user: `ns${i}-${run}` });
      const to = await BlindrelayClient.createAccount(env(wire.receiver()), { servers: serversFrom(rHome), user: `nr${i}-${run}` });
      senders.push(from);
      receivers.push(to);
      homes.push(sHome, rHome);
      let open!: () => void;
      const opened = new Promise<void>((r) => {
        open = r;
      });
      let wasOpen = false;
      listeners.push(
        to.listen({
          signal: controller.signal,
          onMessage: (m) => void delivered.set(m.text, (delivered.get(m.text) ?? 0) + 1),
          onStatus: (s) => {
            if (s.state !== 'open') return;
            if (wasOpen) reconnects.push(`r${i} → ${s.server}`);
            wasOpen = true;
            open();
          },
          onError: (e) => errors.push(`receiver ${i}: ${e.message}`),
        }),
      );
      await opened;
    }
    log(`${PAIRS} senders, ${PAIRS} receivers ready`);

    // Open loop at RATE msg/s, at most MAX_IN_FLIGHT outstanding; kill -9 after KILL_AT of them.
    const victim = 1;
    let killedAt = 0;
    const sendErrors: string[] = [];
    let inFlight = 0;
    let wake: (() => void) | undefined;
    const pending = new Set<Promise<void>>();
    const start = performance.now();
    for (let n = 0; n < TOTAL; n++) {
      if (!killedAt && n >= Math.floor(TOTAL * KILL_AT)) {
        log(`kill -9 relay ${victim} (${urls[victim]}) after ${n} messages`);
        killedAt = performance.now();
        (relays[victim] as Relay).child.kill('SIGKILL');
      }
      const wait = start + (n * 1000) / RATE - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      while (inFlight >= MAX_IN_FLIGHT)
        await new Promise<void>((r) => {
          wake = r;
        });
      const i = n % PAIRS;
      const id = `m${n}`;
      inFlight++;
      const task = (senders[i] as BlindrelayClient)
        .send((receivers[i] as BlindrelayClient).user, id)
        .then(
          () => {},
          (e: unknown) => void sendErrors.push(`${id}: ${e instanceof Error ? e.message : String(e)}`),
        )
        .finally(() => {
          inFlight--;
          pending.delete(task);
          wake?.();
          wake = undefined;
        });
      pending.add(task);
    }
    await Promise.all(pending);
    const sentSeconds = (performance.now() - start) / 1000;
    log(`sent ${TOTAL} in ${sentSeconds.toFixed(1)} s (${(TOTAL / sentSeconds).toFixed(0)} msg/s); ${sendErrors.length} send errors`);

    const drainStart = performance.now();
    while (delivered.size < TOTAL && performance.now() - drainStart < DRAIN_MS) await new Promise((r) => setTimeout(r, 100));
    const twice = [...delivered].filter(([, c]) => c > 1);
    const missing: string[] = [];
    for (let n = 0; n < TOTAL && missing.length < 20; n++) if (!delivered.has(`m${n}`)) missing.push(`m${n}`);
    const unexpected = [...delivered.keys()].filter((id) => !/^m\d+$/.test(id) || Number(id.slice(1)) >= TOTAL);
    log(
      `delivered ${delivered.size}/${TOTAL} in ${((performance.now() - start) / 1000).toFixed(1)} s; ${twice.length} delivered twice; ` +
        `${wire.frames} message frames on the wire, ${wire.duplicates} duplicates (dropped by the SDK); ` +
        `${reconnects.length} receiver reconnects; ${errors.length} listener errors`,
    );
    expect(sendErrors.slice(0, 10)).toEqual([]);
    expect(twice.slice(0, 10)).toEqual([]);
    expect(missing).toEqual([]);
    expect(unexpected).toEqual([]);
    expect(delivered.size).toBe(TOTAL);
    expect(killedAt).toBeGreaterThan(0);
    expect((relays[victim] as Relay).child.signalCode).toBe('SIGKILL');
    // The victim's receivers came back, on another relay.
    const victimReceivers = receivers.filter((_, i) => homes[2 * i + 1] === victim).length;
    expect(victimReceivers).toBeGreaterThan(0);
    expect(reconnects.filter((r) => !r.endsWith(urls[victim] as string)).length).toBeGreaterThanOrEqual(victimReceivers);
  });
});
