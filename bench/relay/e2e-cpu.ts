// The end-to-end closed loop of `npm run bench -- relay` alone (10 listening SDK senders, 10
// receivers in this process, one relay process), for profiling the SDK side:
//   [SPLIT=1] [SEALED=0|1] [PROFILE=FILE.cpuprofile] npx tsx bench/relay/e2e-cpu.ts [SECONDS=8] [RATE]
// Prints delivered/s and SDK CPU µs per delivered message (process.cpuUsage); with RATE, then
// RATE messages/s offered for SECONDS and the p50/p99 latency (send call → onMessage). A PROFILE is
// read with `node scripts/cpuprofile-summary.mjs FILE MESSAGES self|inclusive|ours|tree`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnRelay, stopRelay } from '../cluster/relays.js';
import { fixedRate, percentile, windowed } from './load.js';
import { sdkPairs } from './sdk-pairs.js';

const seconds = Number(process.argv[2] ?? 8);
const rate = process.argv[3] ? Number(process.argv[3]) : undefined;
/** SPLIT=1: the receivers in their own process (bench/relay/receivers.ts), as the bench's `split` rows. */
const split = process.env.SPLIT === '1';
/** SEALED=1: senders with sealed sends on (the SDK default); otherwise off, as `npm run bench -- relay` runs them. */
const sealedSends = process.env.SEALED === '1';
const dir = await mkdtemp(join(tmpdir(), 'br-e2e-cpu-'));
// Every sender shares one address and each receiver takes ~1/10 of the load: with sealed sends the
// per-address and per-recipient sealed budgets are the ones a one-machine load trips (the
// authenticated path's per-device budgets are off for the same reason).
const sealedLimits = sealedSends ? ['--sealed-per-ip', 'off', '--sealed-per-recipient', 'off'] : [];
const { child, url } = await spawnRelay(['--data', join(dir, 'data'), '--messages-per-device', 'off', '--acks-per-device', 'off', ...sealedLimits]);
try {
  const pairs = await sdkPairs(10, () => [url], console.log, {
    listenSenders: true,
    receivers: split ? 'process' : 'in-process',
    sealedSends,
  });
  const r0 = (await pairs.receiverCpuUs?.()) ?? 0;
  // PROFILE=FILE: a CPU profile of the closed loop only (not the set-up), for chrome://inspect or a script.
  const inspector = process.env.PROFILE ? new Session() : undefined;
  if (inspector) {
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.setSamplingInterval', { interval: Number(process.env.PROFILE_INTERVAL_US ?? 250) });
    await inspector.post('Profiler.start');
  }
  const c0 = process.cpuUsage();
  const r = await windowed(pairs.senders, pairs.tracker, seconds, 64, (e) => console.error(e.message));
  const c = process.cpuUsage(c0);
  const receiverCpu = ((await pairs.receiverCpuUs?.()) ?? 0) - r0;
  if (inspector) {
    const { profile } = await inspector.post('Profiler.stop');
    await writeFile(process.env.PROFILE as string, JSON.stringify(profile));
  }
  const out: Record<string, number> = {
    delivered_per_s: Math.round(r.delivered / r.seconds),
    sdk_cpu_us_per_msg: Math.round((c.user + c.system + receiverCpu) / r.delivered),
    receivers_cpu_us_per_msg: Math.round(receiverCpu / r.delivered),
    load1: +(loadavg()[0] as number).toFixed(2),
  };
  if (rate) {
    const f = await fixedRate(pairs.senders, pairs.tracker, seconds, rate);
    const lat = [...f.latenciesMs].sort((a, b) => a - b);
    const acc = [...(f.acceptedMs ?? [])].sort((a, b) => a - b);
    Object.assign(out, {
      delivered: f.delivered,
      p50_ms: +percentile(lat, 50).toFixed(1),
      p99_ms: +percentile(lat, 99).toFixed(1),
      accepted_p50_ms: +percentile(acc, 50).toFixed(1),
      accepted_p99_ms: +percentile(acc, 99).toFixed(1),
    });
  }
  console.log(JSON.stringify(out));
  await pairs.stop();
} finally {
  await stopRelay(child);
  await rm(dir, { recursive: true, force: true });
}
