// How long a `blindrelay` command takes from spawn to exit, repeated (hyperfine-style):
//
//   node_modules/.bin/node scripts/cli-start.mjs [--runs 20] [--bin PATH] [--json]
//
// Runs `--version`, `--help` and `whoami` on an unencrypted profile (created in a temporary home
// by writing nothing but what `account create` writes is not possible offline, so `whoami` runs
// against a profile made by the SDK's own MemoryStorage-free path: see profileHome below), plus
// `node -e 0` as the floor, interleaved round by round so load on the machine hits them alike.
// Prints median, min and p90 in ms per command. BIN defaults to packages/cli/bin/blindrelay.mjs
// (the built dist/: run `npm run build` first), or an installed one (`--bin node_modules/.bin/blindrelay`).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const runs = Number(arg('--runs', '20'));
const bin = arg('--bin', fileURLToPath(new URL('../packages/cli/bin/blindrelay.mjs', import.meta.url)));
const home = arg('--home', undefined);
const json = process.argv.includes('--json');

const env = { ...process.env, NODE_OPTIONS: '', BLINDRELAY_PASSPHRASE: '' };
const commands = [
  { name: 'node -e 0 (floor)', args: ['-e', '0'] },
  { name: 'blindrelay --version', args: [bin, '--version'] },
  { name: 'blindrelay --help', args: [bin, '--help'] },
];
if (home) commands.push({ name: 'blindrelay whoami', args: [bin, '--home', home, 'whoami'] });

const times = commands.map(() => []);
// One warm-up round (fills the compile cache), then `runs` measured rounds.
for (let round = -1; round < runs; round++) {
  commands.forEach((c, i) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, c.args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}: ${r.stderr}`);
    if (round >= 0) times[i].push(ms);
  });
}
const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const rows = commands.map((c, i) => ({ command: c.name, median_ms: q(times[i], 0.5), min_ms: q(times[i], 0), p90_ms: q(times[i], 0.9) }));
if (json) process.stdout.write(`${JSON.stringify({ runtime: `node@${process.versions.node}`, runs, rows })}\n`);
else {
  process.stdout.write(`node ${process.versions.node}, ${runs} runs each (spawn to exit)\n`);
  for (const r of rows)
    process.stdout.write(
      `${r.command.padEnd(28)} median ${r.median_ms.toFixed(0).padStart(4)} ms  min ${r.min_ms.toFixed(0).padStart(4)}  p90 ${r.p90_ms.toFixed(0).padStart(4)}\n`,
    );
}
