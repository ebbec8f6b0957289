// One measurement in a fresh process, so no run inherits another's heap, JIT state or GC debt:
// `tsx bench/peers/measure.ts PEER METRIC DURATION_MS` prints one number on stdout. The --quick
// smoke test passes several metrics (`METRIC,METRIC,...`) to one process and gets one line each.
import * as ours from './blindrelay.js';
import * as libsignal from './libsignal.js';

export const METRICS = ['setup_per_s', 'oneway_100b_per_s', 'pingpong_100b_per_s', 'oneway_64k_mb_per_s', 'wire_bytes_100b'] as const;
export type Metric = (typeof METRICS)[number];
export type PeerName = 'blindrelay' | 'libsignal';

type Impl = typeof ours | typeof libsignal;

export async function measure(impl: Impl, metric: Metric, ms: number): Promise<number> {
  switch (metric) {
    case 'setup_per_s':
      return impl.setupsPerSecond(ms);
    case 'oneway_100b_per_s':
      return impl.onewayPerSecond(100, ms);
    case 'pingpong_100b_per_s':
      return impl.pingpongPerSecond(100, ms);
    case 'oneway_64k_mb_per_s':
      return ((await impl.onewayPerSecond(65536, ms)) * 65536) / 1e6;
    case 'wire_bytes_100b':
      return impl.wireBytesPerMessage(100);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [peer, list = '', ms] = process.argv.slice(2);
  const metrics = list.split(',');
  if ((peer !== 'blindrelay' && peer !== 'libsignal') || !metrics.every((m) => METRICS.includes(m as Metric))) {
    process.stderr.write('usage: measure.ts blindrelay|libsignal METRIC[,METRIC...] DURATION_MS\n');
    process.exit(2);
  }
  for (const metric of metrics) {
    const value = await measure(peer === 'blindrelay' ? ours : libsignal, metric as Metric, Number(ms) || 2000);
    process.stdout.write(`${value}\n`);
  }
}
