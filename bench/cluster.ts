// `npm run bench -- cluster`: end-to-end delivery (encrypt, send, persist, push, decrypt, ack)
// through one relay on SQLite, one relay on PostgreSQL + NATS, and three relays on one PostgreSQL
// database + NATS, in one run. Relays are child processes; the clients (N senders, N receivers,
// each its own user) run in this process. With three relays each sender's home relay differs from
// its receiver's, so every message crosses relays over NATS. Every PostgreSQL run gets a fresh
// database (`br_bench_<random>`, dropped afterwards). Needs PostgreSQL (BLINDRELAY_TEST_DATABASE_URL,
// default postgres://postgres@127.0.0.1:5432/test) and NATS (BLINDRELAY_TEST_NATS_URL, default
// nats://127.0.0.1:4222). Load generation: bench/relay/load.ts. Messages carry 100 bytes of text.
// Each setup gets the same clients, the same unmeasured warm-up at full load, then the same two
// measurements; with three relays each runs at a third of one relay's CPU weight (NICE_BY_COUNT).
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMicros } from './cluster/cpu.js';
import { measureRelayCpu } from './cluster/relay-cpu.js';
import { createDatabase, dropDatabase, NATS_URL, type Relay, spawnRelay, stopRelay } from './cluster/relays.js';
import { fixedRate, type LoadResult, maxThroughput, percentile } from './relay/load.js';
import { type SdkPairs, sdkPairs } from './relay/sdk-pairs.js';
import type { BenchOptions, BenchResult, Row } from './run.js';

// Twenty accounts: the per-address account limit (accountsPerIp, 20) of a single relay.
const PAIRS = 10;
/** The --quick smoke test checks the shape: two pairs still send across relays with three. */
const QUICK_PAIRS = 2;
/** Fixed rate for the latency figures: well inside what three relays on two cores sustain. */
const LATENCY_RATE = 100;
/**
 * Scheduling weight of each relay process, by number of relays: the relay tier as a whole gets the
 * weight of one process (nice 0 = 1024; nice 5 = 335, three of them 1005), so adding relays on
 * these shared cores does not take CPU away from the load generator (and PostgreSQL, NATS) that
 * one relay would have left them. Only matters while the cores are contended.
 */
const NICE_BY_COUNT: Record<number, number> = { 1: 0, 3: 5 };
/**
 * The clients: SDK senders and receivers doing all the cryptography. DRIVER's senders do not
 * listen, so the SDK sends each message as an HTTP POST (a one-shot client, the CLI's `send`);
 * every setup's throughput and latency rows use it.
 */
const DRIVER: typeof sdkPairs = sdkPairs;
/**
 * Senders that listen, as a connected app does: the SDK sends over the device's authenticated
 * WebSocket (`send` frames, docs/API.md §12), the path issue "relay v2" made the connected
 * client's. The relay CPU rows are measured with both drivers.
 */
const WS_DRIVER: typeof sdkPairs = (pairs, servers, log) => sdkPairs(pairs, servers, log, { listenSenders: true });

interface Measured {
  perSecond: number;
  p50: number;
  p99: number;
  delivered: number;
  expected: number;
  /** CPU time of all the relay processes (user + system) per message delivered, in µs: closed loop, and at LATENCY_RATE. */
  cpuPerMsgMax: number;
  cpuPerMsgFixed: number;
}

type Setup = 'sqlite_1' | 'pg_1' | 'pg_3';

/** Linux niceness is per thread: set it on every thread of the process (threads started later inherit it). */
async function renice(pid: number, nice: number): Promise<void> {
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [String(pid)]);
  for (const tid of tids) setPriority(Number(tid), nice);
}

async function measureSetup(setup: Setup, opts: BenchOptions): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), 'br-bench-cluster-'));
  const db = setup === 'sqlite_1' ? undefined : await createDatabase('br_bench');
  const relays: Relay[] = [];
  let clients: SdkPairs | undefined;
  try {
    const count = setup === 'pg_3' ? 3 : 1;
    for (let i = 0; i < count; i++) {
      const args = ['--data', join(dir, `r${i}`)];
      if (db) args.push('--database', db.url, '--nats', NATS_URL);
      const relay = await spawnRelay(args);
      relays.push(relay);
      const nice = NICE_BY_COUNT[count] ?? 0;
      if (nice !== 0 && relay.child.pid !== undefined) await renice(relay.child.pid, nice);
    }
    const urls = relays.map((r) => r.url);
    const serversFrom = (home: number) => urls.map((_, k) => urls[(home + k) % urls.length] as string);
    opts.log(`  ${setup}: ${PAIRS} senders and ${PAIRS} receivers on ${urls.join(' ')}`);
    clients = await DRIVER(opts.quick ? QUICK_PAIRS : PAIRS, (i, role) => serversFrom(role === 'sender' ? i : i + 1), opts.log);
    const { senders, tracker } = clients;

    const seconds = Number(process.env.BLINDRELAY_CLUSTER_SECONDS) || (opts.quick ? 1 : 10);
    // Unmeasured warm-up at full load: JIT-compiled relay code, prepared statements on every
    // pooled connection, grown pools. Each of three relays sees a third of the traffic, so without
    // it they would spend more of the measured window cold than one relay does.
    const warmup = Number(process.env.BLINDRELAY_CLUSTER_WARMUP) || (opts.quick ? 0.5 : 3);
    opts.log(`  ${setup}: warm-up for ${warmup} s`);
    await maxThroughput(senders, tracker, warmup, 16);
    tracker.latencies.length = 0;
    // Relay CPU per delivered message: the relays' CPU time over a phase (from /proc, every thread
    // of every relay process) over the messages the receivers got in it.
    const pids = relays.map((r) => r.child.pid as number);
    const charged = async (phase: () => Promise<LoadResult>) => {
      const before = cpuMicros(pids);
      const result = await phase();
      return { result, cpuPerMsg: (cpuMicros(pids) - before) / Math.max(1, result.delivered) };
    };
    opts.log(`  ${setup}: max throughput for ${seconds} s`);
    const { result: max, cpuPerMsg: cpuPerMsgMax } = await charged(() => maxThroughput(senders, tracker, seconds, 16));
    opts.log(`  ${setup}: ${LATENCY_RATE} messages/s for ${seconds} s`);
    const { result: fixed, cpuPerMsg: cpuPerMsgFixed } = await charged(() => fixedRate(senders, tracker, seconds, LATENCY_RATE));
    const sorted = [...fixed.latenciesMs].sort((a, b) => a - b);
    const m = {
      perSecond: max.delivered / max.seconds,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      delivered: fixed.delivered,
      expected: Math.round(LATENCY_RATE * seconds),
      cpuPerMsgMax,
      cpuPerMsgFixed,
    };
    opts.log(
      `  ${setup}: ${m.perSecond.toFixed(0)} msg/s, relay CPU ${cpuPerMsgMax.toFixed(0)} µs/msg; ` +
        `at ${LATENCY_RATE}/s p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms, relay CPU ${cpuPerMsgFixed.toFixed(0)} µs/msg`,
    );
    if (m.delivered !== m.expected) opts.log(`  warning: ${setup} delivered ${m.delivered} of ${m.expected} messages at ${LATENCY_RATE}/s`);
    return m;
  } finally {
    await clients?.stop();
    await Promise.all(relays.map((r) => stopRelay(r.child)));
    if (db) await dropDatabase(db.name);
    await rm(dir, { recursive: true, force: true });
  }
}

const ratio = (a: number, b: number | null) => (b === null || b === 0 ? null : a / b);

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const sqlite = await measureSetup('sqlite_1', opts);
  const pg1 = await measureSetup('pg_1', opts);
  const pg3 = await measureSetup('pg_3', opts);
  // Relay CPU per message, one relay against three side by side (cluster/relay-cpu.ts), senders on
  // the WebSocket, then senders over HTTP. Quick (the smoke test, which checks the shape): the
  // WebSocket rounds cut short, and for HTTP the fixed-rate phases above (the same driver),
  // measured one setup after the other instead of side by side.
  opts.log('  relay CPU, senders on their WebSocket:');
  const cpu = await measureRelayCpu(opts, WS_DRIVER, opts.quick ? QUICK_PAIRS : PAIRS);
  opts.log('  relay CPU, senders over HTTP:');
  const http = opts.quick ? { one: pg1.cpuPerMsgFixed, three: pg3.cpuPerMsgFixed, rate: LATENCY_RATE } : await measureRelayCpu(opts, DRIVER, PAIRS);
  const row = (metric: string, unit: string, ours: number, peer: number | null): Row => ({ metric, unit, ours, peer, ratio: ratio(ours, peer) });
  return {
    bench: 'cluster',
    // Each row's peer: the single-instance figure it is compared against (pg_1 vs sqlite_1, pg_3 vs pg_1).
    peer: `blindrelay-single-instance@${(await import('../packages/server/package.json', { with: { type: 'json' } })).default.version}`,
    rows: [
      row('sqlite_1_per_s', 'msg/s', sqlite.perSecond, null),
      row('pg_1_per_s', 'msg/s', pg1.perSecond, sqlite.perSecond),
      row('pg_3_per_s', 'msg/s', pg3.perSecond, pg1.perSecond),
      row('sqlite_1_p99_ms', `ms at ${LATENCY_RATE} msg/s`, sqlite.p99, null),
      row('pg_1_p99_ms', `ms at ${LATENCY_RATE} msg/s`, pg1.p99, sqlite.p99),
      row('pg_3_p99_ms', `ms at ${LATENCY_RATE} msg/s`, pg3.p99, pg1.p99),
      // Scale-out efficiency on shared cores: the relay tier's CPU per delivered message (summed
      // over its processes), three relays against one, measured side by side
      // (cluster/relay-cpu.ts); target ratio ≤ 1.25. Senders on their WebSocket (a connected
      // client), then over HTTP (a one-shot client).
      row('relay_cpu_us_per_msg_1', `µs/msg at ${cpu.rate} msg/s, WebSocket sends`, cpu.one, null),
      row('relay_cpu_us_per_msg_3', `µs/msg at ${cpu.rate} msg/s, WebSocket sends`, cpu.three, cpu.one),
      row('relay_cpu_us_per_msg_http_1', `µs/msg at ${http.rate} msg/s, HTTP sends`, http.one, null),
      row('relay_cpu_us_per_msg_http_3', `µs/msg at ${http.rate} msg/s, HTTP sends`, http.three, http.one),
    ],
  };
}
