// `npm run bench -- relay` (issue 12), in one run:
// - relay_capacity_per_s: the relay process alone, driven by a separate load-generator process
//   (bench/relay/loadgen.ts): 200-byte bodies made beforehand to 10 mailboxes, each stored, pushed
//   to a connected receiver and acknowledged; against NATS JetStream (the server at
//   127.0.0.1:4222, BLINDRELAY_TEST_NATS_URL) doing the same with a file-storage stream, publish
//   with ack and one durable consumer per mailbox with explicit acks, same sizes and window.
// - relay_cpu_us_per_msg: CPU time of the relay process, and of the local nats-server, per message
//   delivered over those counted seconds (/proc): on a shared machine a steadier figure than the rate.
// - e2e_delivered_per_s: SDK senders and receivers (this process) doing all the cryptography over
//   WebSockets to a relay process, against protocol_oneway_per_s, the protocol's one-way
//   encrypt + decrypt rate measured in the same run (bench/peers/blindrelay.ts).
// - p99_ms_at_1000_per_s (and p50): end to end, 1,000 messages/s offered, send call to onMessage.
// - e2e_sdk_cpu_us_per_msg: CPU time of the SDK side per delivered message over the closed loop,
//   against the protocol's CPU time per one-way message (the peer run above).
// - e2e_split_delivered_per_s, p50/p99_ms_at_1000_per_s_split: the same with the receivers in their
//   own process (bench/relay/receivers.ts; real senders and receivers are different machines),
//   still doing all the cryptography; the peer rate stays one thread doing both sides.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { relayNode } from '../test/runtime.js';
import { LOAD_LIMITS_OFF } from './cluster/relays.js';
import { onewayPerSecond } from './peers/blindrelay.js';
import { findProcess, type LoadgenResult, loadgen } from './relay/capacity.js';
import { fixedRate, percentile, windowed } from './relay/load.js';
import { sdkPairs } from './relay/sdk-pairs.js';
import type { BenchOptions, BenchResult } from './run.js';

const CLI = fileURLToPath(new URL('../packages/cli/bin/blindrelay.mjs', import.meta.url));
const NATS_URL = process.env.BLINDRELAY_TEST_NATS_URL || 'nats://127.0.0.1:4222';
/**
 * A load test, not an abuse test: the per-device and per-pair message budgets are off, and so are
 * the sealed budgets per address and per recipient (every sealed sender here shares one address).
 */
const BENCH_LIMITS = [
  ...LOAD_LIMITS_OFF,
  '--messages-per-device',
  'off',
  '--acks-per-device',
  'off',
  '--sealed-per-ip',
  'off',
  '--sealed-per-recipient',
  'off',
];

/** Undefined when NATS answers (connect + flush within 2 s), else why not. */
async function natsUnreachable(url: string): Promise<string | undefined> {
  try {
    const nc = await connect({ servers: url, timeout: 2000, reconnect: false });
    await nc.flush();
    await nc.close();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function spawnRelay(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const args = [CLI, 'server', '--port', '0', '--data', join(dir, 'data'), '--log-level', 'warn', ...BENCH_LIMITS];
  const child = spawn(relayNode(), args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] as string });
    });
    child.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
  });
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

/** A relay child process on a fresh data directory; `close` stops it and removes the directory. */
async function startRelay(): Promise<{ url: string; pid: number | undefined; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'br-bench-relay-'));
  const { child, url } = await spawnRelay(dir);
  return {
    url,
    pid: child.pid,
    close: async () => {
      await stop(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function withRelay<T>(fn: (url: string, pid: number | undefined) => Promise<T>): Promise<T> {
  const relay = await startRelay();
  try {
    return await fn(relay.url, relay.pid);
  } finally {
    await relay.close();
  }
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const { log } = opts;
  const seconds = opts.quick ? 1 : 8;
  /** SDK sender → receiver pairs end to end (2 in the --quick smoke test: account set-up dominates it). */
  const pairCount = opts.quick ? 2 : 10;

  log('  protocol: one-way encrypt + decrypt, 100 bytes, one process');
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const oneway = await onewayPerSecond(100, opts.quick ? 300 : 3000);
  const onewayCpu = process.cpuUsage(cpu0);
  /** CPU µs per one-way message of the protocol alone (this thread's CPU time over the messages it did). */
  const protocolCpuUs = (onewayCpu.user + onewayCpu.system) / ((oneway * (performance.now() - wall0)) / 1000);

  log(`  relay capacity, ours: load generator process, 10 mailboxes, ${seconds} s`);
  const ours = await withRelay((url, pid) => loadgen('ours', url, seconds, pid));
  let nats: LoadgenResult | undefined;
  const why = await natsUnreachable(NATS_URL);
  if (why) log(`  warning: NATS at ${NATS_URL} unreachable (${why}): no peer figure for relay_capacity_per_s`);
  else {
    log(`  relay capacity, NATS JetStream at ${NATS_URL}: the same load, ${seconds} s`);
    // Its CPU time is read when it runs on this machine (the usual set-up), else left out.
    nats = await loadgen('nats', NATS_URL, seconds, findProcess('nats-server'));
  }

  // The --quick smoke test runs the four end-to-end phases (each with its own accounts, 16 in
  // all, inside the relay's 20 per address) on one relay; a measurement gives each its own.
  const quickRelay = opts.quick ? await startRelay() : undefined;
  const onRelay = <T>(fn: (url: string) => Promise<T>): Promise<T> => (quickRelay ? fn(quickRelay.url) : withRelay(fn));
  try {
    log(`  end to end, before (A/B): ${pairCount} SDK senders not listening (one HTTP POST and profile write per send) and ${pairCount} receivers`);
    const http = await onRelay(async (url) => {
      const pairs = await sdkPairs(pairCount, () => [url], log);
      try {
        const max = await windowed(pairs.senders, pairs.tracker, seconds, 64, () => undefined);
        return max.delivered / max.seconds;
      } finally {
        await pairs.stop();
      }
    });

    /**
     * Closed loop, then 1,000 messages/s offered, with the receivers in this process or in their own
     * (`split`). CPU µs per delivered message: of this process (senders, and receivers unless split)
     * and of the receivers' process, over the closed loop.
     */
    const endToEnd = (receivers: 'in-process' | 'process') =>
      onRelay(async (url) => {
        const pairs = await sdkPairs(pairCount, () => [url], log, { listenSenders: true, receivers });
        try {
          const errors: string[] = [];
          const onError = (e: Error) => errors.length < 5 && errors.push(e.message);
          log(`  end to end: closed loop, 64 in flight per sender, ${seconds} s`);
          const c0 = process.cpuUsage();
          const r0 = (await pairs.receiverCpuUs?.()) ?? 0;
          const max = await windowed(pairs.senders, pairs.tracker, seconds, 64, onError);
          const c = process.cpuUsage(c0);
          const receiverCpu = ((await pairs.receiverCpuUs?.()) ?? 0) - r0;
          log(`  end to end: 1,000 messages/s offered for ${seconds} s`);
          const fixed = await fixedRate(pairs.senders, pairs.tracker, seconds, 1000);
          if (errors.length > 0) log(`  send errors: ${errors.join('; ')}`);
          const expected = Math.round(1000 * seconds);
          if (fixed.delivered !== expected) log(`  warning: delivered ${fixed.delivered} of ${expected} messages at 1,000/s`);
          const sorted = [...fixed.latenciesMs].sort((a, b) => a - b);
          // Where messages wait: until the relay accepted the send (coalescer, encryption, profile
          // write, frame, the relay's group commit and fsync, the answer), and the whole way.
          const accepted = [...(fixed.acceptedMs ?? [])].sort((a, b) => a - b);
          log(
            `  at 1,000/s: send call → relay accepted p50 ${percentile(accepted, 50).toFixed(1)} / p99 ${percentile(accepted, 99).toFixed(1)} ms; ` +
              `send call → onMessage p50 ${percentile(sorted, 50).toFixed(1)} / p99 ${percentile(sorted, 99).toFixed(1)} ms`,
          );
          const cpuUs = (c.user + c.system + receiverCpu) / max.delivered;
          log(
            `  end to end (receivers ${receivers}): ${Math.round(cpuUs)} µs SDK CPU per delivered message (${Math.round(receiverCpu / max.delivered)} of it in the receivers' process)`,
          );
          return { perSecond: max.delivered / max.seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), cpuUs };
        } finally {
          await pairs.stop();
        }
      });

    log(`  end to end: ${pairCount} SDK senders (listening, so sends go over the WebSocket) and ${pairCount} receivers, one process`);
    const e2e = await endToEnd('in-process');
    log(`  end to end, split: the same ${pairCount} senders in this process, the ${pairCount} receivers in their own (bench/relay/receivers.ts)`);
    const split = await endToEnd('process');
    log(`  end to end, sealed (the SDK default): ${pairCount} listening senders seal every send (docs/PROTOCOL.md §20), closed loop, ${seconds} s`);
    const sealed = await onRelay(async (url) => {
      const pairs = await sdkPairs(pairCount, () => [url], log, { listenSenders: true, sealedSends: true });
      try {
        const c0 = process.cpuUsage();
        const max = await windowed(pairs.senders, pairs.tracker, seconds, 64, () => undefined);
        const c = process.cpuUsage(c0);
        return { perSecond: max.delivered / max.seconds, cpuUs: (c.user + c.system) / max.delivered };
      } finally {
        await pairs.stop();
      }
    });
    log(`  end to end, sealed: ${Math.round(sealed.perSecond)} msg/s, ${Math.round(sealed.cpuUs)} µs SDK CPU per delivered message`);
    return result(ours, nats, oneway, protocolCpuUs, http, e2e, split, sealed);
  } finally {
    await quickRelay?.close();
  }
}

interface EndToEnd {
  perSecond: number;
  p50: number;
  p99: number;
  cpuUs: number;
}

function result(
  ours: LoadgenResult,
  nats: LoadgenResult | undefined,
  oneway: number,
  protocolCpuUs: number,
  http: number,
  e2e: EndToEnd,
  split: EndToEnd,
  sealed: { perSecond: number; cpuUs: number },
): BenchResult {
  const capacity = ours.delivered / ours.seconds;
  const natsCapacity = nats ? nats.delivered / nats.seconds : null;
  const ratio = (a: number, b: number | null) => (b === null ? null : a / b);
  /** CPU time of the process under test (relay or nats-server) per delivered message over the counted seconds. */
  const cpuPerMsg = (r: LoadgenResult | undefined) => (r?.cpuUs === undefined ? null : r.cpuUs / r.delivered);
  return {
    bench: 'relay',
    peer: nats?.peer ?? 'nats-server@unreachable',
    rows: [
      { metric: 'relay_capacity_per_s', unit: 'msg/s', ours: capacity, peer: natsCapacity, ratio: ratio(capacity, natsCapacity) },
      { metric: 'relay_p99_ms_at_capacity', unit: 'ms', ours: ours.p99, peer: nats?.p99 ?? null, ratio: ratio(ours.p99, nats?.p99 ?? null) },
      {
        metric: 'relay_cpu_us_per_msg',
        unit: 'µs',
        ours: cpuPerMsg(ours) ?? Number.NaN,
        peer: cpuPerMsg(nats),
        ratio: ratio(cpuPerMsg(ours) ?? Number.NaN, cpuPerMsg(nats)),
      },
      { metric: 'e2e_delivered_per_s', unit: 'msg/s', ours: e2e.perSecond, peer: oneway, ratio: e2e.perSecond / oneway },
      { metric: 'e2e_http_one_by_one_per_s', unit: 'msg/s', ours: http, peer: oneway, ratio: http / oneway },
      { metric: 'protocol_oneway_per_s', unit: 'msg/s', ours: oneway, peer: null, ratio: null },
      { metric: 'p50_ms_at_1000_per_s', unit: 'ms', ours: e2e.p50, peer: null, ratio: null },
      { metric: 'p99_ms_at_1000_per_s', unit: 'ms', ours: e2e.p99, peer: null, ratio: null },
      { metric: 'e2e_sdk_cpu_us_per_msg', unit: 'µs', ours: e2e.cpuUs, peer: protocolCpuUs, ratio: e2e.cpuUs / protocolCpuUs },
      { metric: 'e2e_split_delivered_per_s', unit: 'msg/s', ours: split.perSecond, peer: oneway, ratio: split.perSecond / oneway },
      { metric: 'p50_ms_at_1000_per_s_split', unit: 'ms', ours: split.p50, peer: null, ratio: null },
      { metric: 'p99_ms_at_1000_per_s_split', unit: 'ms', ours: split.p99, peer: null, ratio: null },
      { metric: 'e2e_sealed_delivered_per_s', unit: 'msg/s', ours: sealed.perSecond, peer: oneway, ratio: sealed.perSecond / oneway },
      { metric: 'e2e_sealed_sdk_cpu_us_per_msg', unit: 'µs', ours: sealed.cpuUs, peer: protocolCpuUs, ratio: sealed.cpuUs / protocolCpuUs },
    ],
  };
}
