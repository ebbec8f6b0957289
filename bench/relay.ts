// `npm run bench -- relay`: end-to-end delivery through our relay — encrypt, send, persist, push,
// decrypt, ack — against a plain WebSocket relay with no crypto and no persistence, in one run.
// Each relay runs as its own process; the clients (N senders, N receivers, each its own device)
// run in this process. Messages carry 100 bytes of text.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { relayNode } from '../test/runtime.js';
import { LOAD_LIMITS_OFF } from './cluster/relays.js';
import { fixedRate, type LoadResult, maxThroughput, percentile, type Sender, Tracker } from './relay/load.js';
import { sdkPairs, textFor } from './relay/sdk-pairs.js';
import type { BenchOptions, BenchResult } from './run.js';

const CLI = fileURLToPath(new URL('../packages/cli/bin/blindrelay.mjs', import.meta.url));
const PLAIN = fileURLToPath(new URL('./relay/plain-relay.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url));

function spawnListening(args: string[]): Promise<{ child: ChildProcess; url: string }> {
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

interface Side {
  senders: Sender[];
  tracker: Tracker;
  close(): Promise<void>;
}

async function oursSide(pairs: number, log: (l: string) => void): Promise<Side> {
  const dir = await mkdtemp(join(tmpdir(), 'br-bench-relay-'));
  const { child, url } = await spawnListening([CLI, 'server', '--port', '0', '--data', join(dir, 'data'), '--log-level', 'warn', ...LOAD_LIMITS_OFF]);
  log(`  ours: ${pairs} senders and ${pairs} receivers on ${url}`);
  const clients = await sdkPairs(pairs, () => [url], log);
  return {
    senders: clients.senders,
    tracker: clients.tracker,
    close: async () => {
      await clients.stop();
      await stop(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function plainSide(pairs: number): Promise<Side> {
  const { child, url } = await spawnListening([TSX, PLAIN]);
  const tracker = new Tracker();
  const sockets: WebSocket[] = [];
  const connect = (id: string) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/?id=${id}`);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
      sockets.push(ws);
    });
  const senders: Sender[] = [];
  for (let i = 0; i < pairs; i++) {
    const from = await connect(`s${i}`);
    const to = await connect(`r${i}`);
    to.on('message', (data: Buffer) => tracker.delivered((JSON.parse(data.toString()) as { id: string }).id));
    senders.push({
      send: (id) =>
        new Promise<void>((resolve, reject) => from.send(JSON.stringify({ to: `r${i}`, id, text: textFor(id) }), (e) => (e ? reject(e) : resolve()))),
    });
  }
  return {
    senders,
    tracker,
    close: async () => {
      for (const ws of sockets) ws.terminate();
      await stop(child);
    },
  };
}

interface Measured {
  perSecond: number;
  p50: number;
  p99: number;
  p99At500: number;
  delivered1000: number;
  expected1000: number;
}

async function measure(side: Side, opts: BenchOptions, name: string): Promise<Measured> {
  const seconds = opts.quick ? 2 : 8;
  opts.log(`  ${name}: max throughput for ${seconds} s`);
  const max: LoadResult = await maxThroughput(side.senders, side.tracker, seconds, 16);
  opts.log(`  ${name}: 1,000 messages/s for ${seconds} s`);
  const fixed = await fixedRate(side.senders, side.tracker, seconds, 1000);
  const sorted = [...fixed.latenciesMs].sort((a, b) => a - b);
  opts.log(`  ${name}: 500 messages/s for ${seconds} s`);
  const half = await fixedRate(side.senders, side.tracker, seconds, 500);
  const sortedHalf = [...half.latenciesMs].sort((a, b) => a - b);
  return {
    perSecond: max.delivered / max.seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p99At500: percentile(sortedHalf, 99),
    delivered1000: fixed.delivered,
    expected1000: Math.round(1000 * seconds),
  };
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const pairs = 10;
  const oursSideRun = await oursSide(pairs, opts.log);
  let ours: Measured;
  try {
    ours = await measure(oursSideRun, opts, 'ours');
  } finally {
    await oursSideRun.close();
  }
  const plain = await plainSide(pairs);
  let peer: Measured;
  try {
    peer = await measure(plain, opts, 'plain relay');
  } finally {
    await plain.close();
  }
  for (const [name, m] of [
    ['ours', ours],
    ['plain relay', peer],
  ] as const) {
    if (m.delivered1000 !== m.expected1000) opts.log(`  warning: ${name} delivered ${m.delivered1000} of ${m.expected1000} messages at 1,000/s`);
  }
  return {
    bench: 'relay',
    // name@version: a plain relay on the `ws` package (no crypto, no persistence; bench/relay/plain-relay.ts).
    peer: `ws@${(await import('ws/package.json', { with: { type: 'json' } })).default.version}`,
    rows: [
      { metric: 'delivered_per_s', unit: 'msg/s', ours: ours.perSecond, peer: peer.perSecond, ratio: ours.perSecond / peer.perSecond },
      { metric: 'p50_ms', unit: 'ms at 1,000 msg/s', ours: ours.p50, peer: peer.p50, ratio: ours.p50 / peer.p50 },
      { metric: 'p99_ms_at_1000_per_s', unit: 'ms', ours: ours.p99, peer: peer.p99, ratio: ours.p99 / peer.p99 },
      { metric: 'p99_ms_at_500_per_s', unit: 'ms', ours: ours.p99At500, peer: peer.p99At500, ratio: ours.p99At500 / peer.p99At500 },
    ],
  };
}
