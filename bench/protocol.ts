// `npm run bench -- protocol`: our protocol core and @signalapp/libsignal-client side by side in
// one run, measured the same way (peers/blindrelay.ts, peers/libsignal.ts). Each measurement runs
// in a fresh process; ours and libsignal alternate, three rounds each, and the median is reported.
// Both peers' processes run with the same V8 flag, --external-memory-accounted-in-global-limit:
// without it V8 runs a full collection after every 64 MB of memory outside its heap (message
// buffers, native results), which for 64 KiB messages is a quarter of the time (docs/DECISIONS.md).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { peerName } from './peers/libsignal.js';
import { METRICS, type Metric, type PeerName } from './peers/measure.js';
import type { BenchOptions, BenchResult, Row } from './run.js';

const UNITS: Record<Metric, string> = {
  setup_per_s: 'setups/s',
  oneway_100b_per_s: 'msg/s',
  pingpong_100b_per_s: 'msg/s',
  oneway_64k_mb_per_s: 'MB/s',
  wire_bytes_100b: 'bytes',
};
const measureScript = fileURLToPath(new URL('./peers/measure.ts', import.meta.url));
/** tsx's loader: the measuring process is node itself (tsx's CLI would put flags on a parent only). */
const tsx = import.meta.resolve('tsx');
/** The flag is V8's since Node 24; older Node refuses it. */
export const NODE_FLAGS = Number.parseInt(process.versions.node, 10) >= 24 ? ['--external-memory-accounted-in-global-limit'] : [];

/** The values of `metrics` (in order) measured by one process of `peer`. */
function measureIn(peer: PeerName, metrics: readonly Metric[], ms: number): number[] {
  const args = [...NODE_FLAGS, '--import', tsx, measureScript, peer, metrics.join(','), String(ms)];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const values = out.trim().split('\n').slice(-metrics.length).map(Number);
  if (values.length !== metrics.length || !values.every(Number.isFinite)) throw new Error(`${peer} ${metrics.join(',')}: no result`);
  return values;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const ms = opts.quick ? 300 : 1500;
  const rounds = opts.quick ? 1 : 3;
  const rows: Row[] = [];
  const row = (metric: Metric, o: number, l: number): Row => ({ metric, unit: UNITS[metric], ours: o, peer: l, ratio: o / l });
  if (opts.quick) {
    // The smoke test checks the shape: one process per peer measures every metric in turn.
    opts.log('  every metric, one process per peer');
    const ours = measureIn('blindrelay', METRICS, ms);
    const peer = measureIn('libsignal', METRICS, ms);
    return { bench: 'protocol', peer: peerName, rows: METRICS.map((m, i) => row(m, ours[i] as number, peer[i] as number)) };
  }
  for (const metric of METRICS) {
    const ours: number[] = [];
    const peer: number[] = [];
    const n = metric === 'wire_bytes_100b' ? 1 : rounds;
    for (let i = 0; i < n; i++) {
      opts.log(`  ${metric} round ${i + 1}/${n}`);
      ours.push(...measureIn('blindrelay', [metric], ms));
      peer.push(...measureIn('libsignal', [metric], ms));
    }
    rows.push(row(metric, median(ours), median(peer)));
  }
  return { bench: 'protocol', peer: peerName, rows };
}
