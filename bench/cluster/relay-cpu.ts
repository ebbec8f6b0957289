// Relay CPU per delivered message, one relay against three (`npm run bench -- cluster`, rows
// relay_cpu_us_per_msg_1 and _3, and _http_1 and _http_3). Both clusters run at once, each on its
// own fresh PostgreSQL database and NATS subject prefix, each with its own SDK senders and
// receivers (the caller's driver: senders on their WebSocket, or over HTTP). After an unmeasured closed-loop warm-up of each, rounds alternate
// between them (1, 3, then 3, 1, ...) at the same fixed offered rate; each phase charges the CPU
// time of that cluster's relay processes (every thread, from /proc) to the messages its receivers
// got (BLINDRELAY_CLUSTER_CPU_RATE, _ROUNDS, _WARMUP override rate, rounds, warm-up messages per
// relay). Interleaving puts both under the same background load on these shared cores, which moves
// absolute figures by ±30 % from minute to minute; the figure per cluster is the median over rounds
// (6: with 4, two runs a few minutes apart gave ratios of 1.14 and 1.47 for the same code).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixedRate, maxThroughput } from '../relay/load.js';
import type { SdkPairs, sdkPairs } from '../relay/sdk-pairs.js';
import type { BenchOptions } from '../run.js';
import { cpuMicros, cpuMicrosByThread } from './cpu.js';
import { createDatabase, dropDatabase, NATS_URL, type Relay, spawnRelay, stopRelay } from './relays.js';

/** Warm-up messages per relay process (see measureRelayCpu), and the most seconds spent on it per cluster. */
const WARMUP_PER_RELAY = 1500;
const WARMUP_CAP_S = 180;

export interface RelayCpu {
  /** Median relay CPU per delivered message, µs, of one relay and of three. */
  one: number;
  three: number;
  rate: number;
}

interface Cluster {
  count: number;
  relays: Relay[];
  db: { name: string };
  clients?: SdkPairs;
  perRound: number[];
}

async function startCluster(count: number, dir: string): Promise<Cluster> {
  const db = await createDatabase('br_bench_cpu');
  const cluster: Cluster = { count, relays: [], db, perRound: [] };
  const prefix = `blindrelay.cpu${count}`;
  try {
    for (let i = 0; i < count; i++)
      cluster.relays.push(await spawnRelay(['--data', join(dir, `c${count}r${i}`), '--database', db.url, '--nats', NATS_URL, '--nats-prefix', prefix]));
  } catch (err) {
    await stopCluster(cluster);
    throw err;
  }
  return cluster;
}

async function stopCluster(c: Cluster): Promise<void> {
  await c.clients?.stop();
  await Promise.all(c.relays.map((r) => stopRelay(r.child)));
  await dropDatabase(c.db.name);
}

export async function measureRelayCpu(opts: BenchOptions, driver: typeof sdkPairs, pairs: number): Promise<RelayCpu> {
  const rate = Number(process.env.BLINDRELAY_CLUSTER_CPU_RATE) || 150;
  const seconds = opts.quick ? 1 : 5;
  const rounds = opts.quick ? 1 : Number(process.env.BLINDRELAY_CLUSTER_CPU_ROUNDS) || 6;
  // Steady state is what scale-out efficiency is about. Each relay process warms its own JIT, heap
  // and connection pool, and each of three sees a third of the messages. A warm-up of equal time
  // (15 s before) gave each of three relays a third of one relay's, and on a loaded machine left
  // them still warming during the rounds (their CPU per message falling round after round,
  // BENCHMARKS.md). So the warm-up is counted in messages per relay process: each relay of either
  // cluster has handled `warmup` messages before the first round (one relay `warmup`, three
  // relays 3 × `warmup`), closed loop, capped at WARMUP_CAP_S per cluster.
  const warmup = opts.quick ? 20 : Number(process.env.BLINDRELAY_CLUSTER_CPU_WARMUP) || WARMUP_PER_RELAY;
  const dir = await mkdtemp(join(tmpdir(), 'br-bench-cpu-'));
  const clusters: Cluster[] = [];
  try {
    for (const count of [1, 3]) {
      const c = await startCluster(count, dir);
      clusters.push(c);
      const urls = c.relays.map((r) => r.url);
      const serversFrom = (home: number) => urls.map((_, k) => urls[(home + k) % urls.length] as string);
      c.clients = await driver(pairs, (i, role) => serversFrom(role === 'sender' ? i : i + 1), opts.log);
    }
    const [one, three] = clusters as [Cluster, Cluster];
    opts.log(`  relay CPU: 1 and 3 relays side by side; warm-up ${warmup} messages per relay at full load`);
    for (const c of clusters) {
      const clients = c.clients as SdkPairs;
      const target = warmup * c.count;
      const start = performance.now();
      let warmed = 0;
      while (warmed < target && performance.now() - start < WARMUP_CAP_S * 1000)
        warmed += (await maxThroughput(clients.senders, clients.tracker, 2, 16)).delivered;
      opts.log(`  relay CPU warm-up, ${c.count} relay(s): ${warmed} messages in ${((performance.now() - start) / 1000).toFixed(0)} s`);
    }
    for (let round = 0; round < rounds; round++) {
      for (const c of round % 2 === 0 ? [one, three] : [three, one]) {
        const clients = c.clients as SdkPairs;
        const pids = c.relays.map((r) => r.child.pid as number);
        const before = cpuMicros(pids);
        const threadsBefore = cpuMicrosByThread(pids);
        const r = await fixedRate(clients.senders, clients.tracker, seconds, rate);
        const delivered = Math.max(1, r.delivered);
        const perMsg = (cpuMicros(pids) - before) / delivered;
        const split = [...cpuMicrosByThread(pids)]
          .map(([name, us]) => [name, (us - (threadsBefore.get(name) ?? 0)) / delivered] as const)
          .filter(([, us]) => us >= 1)
          .map(([name, us]) => `${name} ${us.toFixed(0)}`);
        c.perRound.push(perMsg);
        opts.log(
          `  relay CPU round ${round + 1}, ${c.count} relay(s): ${r.delivered} delivered in ${r.seconds.toFixed(1)} s, ${perMsg.toFixed(0)} µs/msg (${split.join(', ')})`,
        );
      }
    }
    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      const mid = s.length >> 1;
      return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
    };
    const result = { one: median(one.perRound), three: median(three.perRound), rate };
    opts.log(
      `  relay CPU at ${rate} msg/s: 1 relay ${result.one.toFixed(0)} µs/msg, 3 relays ${result.three.toFixed(0)} µs/msg (${(result.three / result.one).toFixed(2)}×)`,
    );
    return result;
  } finally {
    await Promise.all(clusters.map(stopCluster));
    await rm(dir, { recursive: true, force: true });
  }
}
