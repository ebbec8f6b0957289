// The relay-CPU phase of `npm run bench -- cluster` for one cluster alone, for profiling:
//   [PROFILE_DIR=DIR] npx tsx bench/cluster/cpu-profile.ts RELAYS [SECONDS=20] [RATE=150]
// Starts RELAYS relays on a fresh PostgreSQL database and NATS (as bench/cluster/relay-cpu.ts),
// 10 SDK sender/receiver pairs, a closed-loop warm-up of 1,500 messages per relay, then RATE
// messages/s for SECONDS. Prints relay CPU µs per delivered message, and the idle CPU of the
// relays (µs per second) over 5 s before the load. With PROFILE_DIR, every relay writes a V8 CPU
// profile there when it stops (--cpu-prof; the warm-up is in it too).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixedRate, maxThroughput } from '../relay/load.js';
import { sdkPairs } from '../relay/sdk-pairs.js';
import { cpuMicros, cpuMicrosByThread } from './cpu.js';
import { createDatabase, dropDatabase, NATS_URL, type Relay, spawnRelay, stopRelay } from './relays.js';

const count = Number(process.argv[2] ?? 1);
const seconds = Number(process.argv[3] ?? 20);
const rate = Number(process.argv[4] ?? 150);
if (process.env.PROFILE_DIR) process.env.BLINDRELAY_RELAY_NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${process.env.PROFILE_DIR}`;
const dir = await mkdtemp(join(tmpdir(), 'br-cpu-profile-'));
const db = await createDatabase('br_bench_prof');
const relays: Relay[] = [];
try {
  for (let i = 0; i < count; i++)
    relays.push(await spawnRelay(['--data', join(dir, `r${i}`), '--database', db.url, '--nats', NATS_URL, '--nats-prefix', `blindrelay.prof${count}`]));
  const pids = relays.map((r) => r.child.pid as number);
  const urls = relays.map((r) => r.url);
  const serversFrom = (home: number) => urls.map((_, k) => urls[(home + k) % urls.length] as string);
  const idle0 = cpuMicros(pids);
  await new Promise((r) => setTimeout(r, 5000));
  const idle = (cpuMicros(pids) - idle0) / 5;
  const pairs = await sdkPairs(10, (i, role) => serversFrom(role === 'sender' ? i : i + 1), console.log, { listenSenders: process.env.LISTEN === '1' });
  let warmed = 0;
  while (warmed < 1500 * count) warmed += (await maxThroughput(pairs.senders, pairs.tracker, 2, 16)).delivered;
  const before = cpuMicros(pids);
  const threads = cpuMicrosByThread(pids);
  const r = await fixedRate(pairs.senders, pairs.tracker, seconds, rate);
  const per = (cpuMicros(pids) - before) / r.delivered;
  const split = [...cpuMicrosByThread(pids)].map(([n, us]) => `${n} ${((us - (threads.get(n) ?? 0)) / r.delivered).toFixed(0)}`);
  console.log(
    JSON.stringify({ relays: count, rate, delivered: r.delivered, relay_cpu_us_per_msg: Math.round(per), idle_cpu_us_per_s: Math.round(idle), split }),
  );
  await pairs.stop();
} finally {
  await Promise.all(relays.map((r) => stopRelay(r.child)));
  await dropDatabase(db.name);
  await rm(dir, { recursive: true, force: true });
}
