// Benchmark runner: `npm run bench -- NAME [--json] [--quick]`.
// Prints a table of ours vs the peer with ratios (ours/peer); with --json, exactly one JSON object
// on stdout: {"bench", "peer", "runtime", "rows": [{"metric", "unit", "ours", "peer", "ratio"}]}
// (runtime: the Node that ran ours, `node@VERSION`).
// Progress goes to stderr so stdout stays machine-readable.

export interface Row {
  metric: string;
  unit: string;
  ours: number;
  peer: number | null;
  ratio: number | null;
}
export interface BenchResult {
  bench: string;
  peer: string | null;
  rows: Row[];
}
export interface BenchOptions {
  quick: boolean;
  log: (line: string) => void;
}

const BENCHES: Record<string, () => Promise<{ run: (o: BenchOptions) => Promise<BenchResult> }>> = {
  protocol: () => import('./protocol.js'),
  relay: () => import('./relay.js'),
  files: () => import('./files.js'),
  cluster: () => import('./cluster.js'),
  backup: () => import('./backup.js'),
  search: () => import('./search.js'),
  web: () => import('./web.js'),
  sealed: () => import('./sealed.js'),
  groups: () => import('./groups.js'),
};

function fmt(x: number | null): string {
  if (x === null) return '—';
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  return x.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export function table(r: BenchResult): string {
  const head = ['metric', 'unit', 'ours', r.peer ?? 'peer', 'ratio'];
  const body = r.rows.map((x) => [x.metric, x.unit, fmt(x.ours), fmt(x.peer), x.ratio === null ? '—' : `${x.ratio.toFixed(2)}×`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i < 2 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const quick = argv.includes('--quick');
  const names = argv.filter((a) => !a.startsWith('--'));
  const name = names[0];
  const load = name ? BENCHES[name] : undefined;
  if (!name || !load || names.length > 1) {
    process.stderr.write(`usage: npm run bench -- NAME [--json] [--quick]\navailable: ${Object.keys(BENCHES).join(', ')}\n`);
    return 2;
  }
  const log = (l: string) => process.stderr.write(`${l}\n`);
  log(`bench ${name}${quick ? ' (quick)' : ''}: node ${process.version}`);
  const { bench, peer, rows } = await (await load()).run({ quick, log });
  const result = { bench, peer, runtime: `node@${process.versions.node}`, rows };
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `\n${result.runtime}\n${table(result)}\n`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
