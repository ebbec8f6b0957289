// `npm test` after lint and types: the whole suite on this Node (the platform, Node 24), then the
// protocol, SDK and CLI suites again on an older Node the published SDK still supports (the
// system Node 20 on this project's machines), and last the combined tally of both runs:
// `N passed, N failed[, N skipped]`, each count added up from the test runner's own.
//
// The older Node is BLINDRELAY_OLD_NODE, else the first `node` on PATH outside node_modules whose
// major version is below this one's. None found: the second pass is skipped with a warning, or,
// with BLINDRELAY_REQUIRE_SERVICES=1 (CI), counted as a failure.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
// test/attacks: on the older Node, the attacks whose outcome depends on the runtime's primitives:
// small-order Ed25519 keys (OpenSSL 3.0 on Node 20 accepts what 3.5 refuses) and the Node
// primitives' key cache. The other attacks exercise SDK logic that is the same JavaScript on both
// runtimes, through the same primitives the client suite already runs on the older Node; they run
// on the platform only (about 100 s of file time saved from the 15-minute budget).
// test/attacks/relay/ attacks the relay itself, which runs on the platform only (node:sqlite).
// The CLI on the older Node: its unit tests and `--version` (its end-to-end files drive the SDK
// paths the client suite already covers there, and would add minutes to the suite's 15-minute budget).
const OLD_NODE_CLI = ['packages/cli/test/display.test.ts', 'packages/cli/test/version.test.ts'];
const OLD_NODE_ATTACKS = ['test/attacks/l1-small-order-ed25519.test.ts', 'test/attacks/l6-key-cache.test.ts'];
const OLD_NODE_SUITES = ['packages/protocol/', 'packages/client/', ...OLD_NODE_CLI, ...OLD_NODE_ATTACKS];
const major = (v) => Number.parseInt(v.replace(/^v/, ''), 10);

function olderNode() {
  if (process.env.BLINDRELAY_OLD_NODE) return process.env.BLINDRELAY_OLD_NODE;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || dir.includes('node_modules')) continue;
    const node = join(dir, 'node');
    if (!existsSync(node)) continue;
    const r = spawnSync(node, ['--version'], { encoding: 'utf8' });
    if (r.status === 0 && major(r.stdout.trim()) < major(process.version)) return node;
  }
  return undefined;
}

/** Run vitest on `node` with `args`; returns its counts (a run that wrote none counts as one failure). */
function runVitest(node, args, dir, name) {
  const file = join(dir, `${name}.json`);
  const r = spawnSync(node, [vitest, 'run', ...args], { cwd: root, stdio: 'inherit', env: { ...process.env, BLINDRELAY_TALLY_FILE: file } });
  if (!existsSync(file)) return { passed: 0, failed: 1, skipped: 0, status: r.status ?? 1 };
  return { ...JSON.parse(readFileSync(file, 'utf8')), status: r.status ?? 1 };
}

const dir = mkdtempSync(join(tmpdir(), 'br-tally-'));
try {
  const runs = [runVitest(process.execPath, process.argv.slice(2), dir, 'platform')];
  const old = olderNode();
  if (old) {
    const version = spawnSync(old, ['--version'], { encoding: 'utf8' }).stdout.trim();
    process.stdout.write(`\ntest: the protocol, SDK and CLI suites again on Node ${version} (${old})\n`);
    runs.push(runVitest(old, OLD_NODE_SUITES, dir, 'old'));
  } else if (process.env.BLINDRELAY_REQUIRE_SERVICES === '1') {
    process.stderr.write('test: FAILED: no older Node found for the SDK pass (set BLINDRELAY_OLD_NODE)\n');
    runs.push({ passed: 0, failed: 1, skipped: 0, status: 1 });
  } else {
    process.stderr.write('\ntest: WARNING: no older Node on PATH: the protocol, SDK and CLI suites ran on this Node only (set BLINDRELAY_OLD_NODE)\n');
  }
  const sum = (k) => runs.reduce((n, r) => n + r[k], 0);
  const [passed, failed, skipped] = [sum('passed'), sum('failed'), sum('skipped')];
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exitCode = failed > 0 || runs.some((r) => r.status !== 0) ? 1 : 0;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
