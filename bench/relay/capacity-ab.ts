// A/B of relay capacity between builds, for judging a server change on a shared machine
// (docs/BENCHMARKS.md, relay section): the `relay_capacity_per_s` run (bench/relay/loadgen.ts, this
// tree's) against a fresh relay process of each source tree in turn, alternating the order every
// round so machine load hits all alike; optionally NATS too. Reports per run the rate and the CPU
// time of the process under test per delivered message (/proc, over the counted seconds only).
//   npx tsx bench/relay/capacity-ab.ts [--rounds=N] [--seconds=S] [--nats] [--relay-args="..."] ROOT...
// A ROOT is a built source tree (its packages/*/dist: `npm ci` builds them), e.g. `git archive main
// | tar -x -C /tmp/a && (cd /tmp/a && npm ci)`, or this worktree. The relays run the built
// JavaScript (NODE_OPTIONS without the source condition). Set BLINDRELAY_RELAY_NODE_OPTIONS to
// profile them (`--cpu-prof --cpu-prof-dir=DIR`). `ROOT::ARGS` appends relay arguments for that root.
// Prints one JSON line per run, then a summary line with the medians.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { relayNode } from '../../test/runtime.js';
import { LOAD_LIMITS_OFF } from '../cluster/relays.js';
import { findProcess, type LoadgenResult, loadgen } from './capacity.js';

const argv = process.argv.slice(2);
const opt = (name: string, fallback: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const rounds = Number(opt('rounds', '3'));
const seconds = Number(opt('seconds', '8'));
const withNats = argv.includes('--nats');
const extra = opt('relay-args', '').split(' ').filter(Boolean);
const targets = argv
  .filter((a) => !a.startsWith('--'))
  .map((t) => {
    const [root, args] = t.split('::') as [string, string | undefined];
    return { name: t, root, args: (args ?? '').split(' ').filter(Boolean) };
  });
const NATS_URL = process.env.BLINDRELAY_TEST_NATS_URL || 'nats://127.0.0.1:4222';
const BENCH_LIMITS = [...LOAD_LIMITS_OFF, '--messages-per-device', 'off', '--acks-per-device', 'off'];

async function withRelay<T>(root: string, args: string[], fn: (url: string, pid: number | undefined) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'br-capacity-ab-'));
  const cli = join(root, 'packages/cli/bin/blindrelay.mjs');
  const nodeOptions = process.env.BLINDRELAY_RELAY_NODE_OPTIONS ?? '';
  const env = { ...process.env, NODE_OPTIONS: nodeOptions };
  const child: ChildProcess = spawn(
    relayNode(),
    [cli, 'server', '--port', '0', '--data', join(dir, 'data'), '--log-level', 'warn', ...BENCH_LIMITS, ...extra, ...args],
    { stdio: ['ignore', 'pipe', 'inherit'], env },
  );
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1] as string);
      });
      child.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
    });
    return await fn(url, child.pid);
  } finally {
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
    await rm(dir, { recursive: true, force: true });
  }
}

const row = (name: string, r: LoadgenResult) => ({
  name,
  perSecond: Math.round(r.delivered / r.seconds),
  cpuUsPerMsg: r.cpuUs === undefined ? null : +(r.cpuUs / r.delivered).toFixed(1),
  loadgenCpuUsPerMsg: r.loadgenCpuUs === undefined ? null : +(r.loadgenCpuUs / r.delivered).toFixed(1),
  p50: +r.p50.toFixed(1),
  p99: +r.p99.toFixed(1),
  load1: +(loadavg()[0] as number).toFixed(2),
});

const results = new Map<string, ReturnType<typeof row>[]>();
const record = (r: ReturnType<typeof row>) => {
  console.log(JSON.stringify(r));
  results.set(r.name, [...(results.get(r.name) ?? []), r]);
};
const natsPid = withNats ? findProcess('nats-server') : undefined;
for (let i = 0; i < rounds; i++) {
  const order = i % 2 === 0 ? targets : [...targets].reverse();
  for (const t of order) record(row(t.name, await withRelay(t.root, t.args, (url, pid) => loadgen('ours', url, seconds, pid))));
  if (withNats) record(row('nats', await loadgen('nats', NATS_URL, seconds, natsPid)));
}
const med = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)] as number;
const summary: Record<string, unknown> = {};
for (const [name, rs] of results) {
  summary[name] = {
    perSecond: med(rs.map((r) => r.perSecond)),
    cpuUsPerMsg: rs.every((r) => r.cpuUsPerMsg !== null) ? med(rs.map((r) => r.cpuUsPerMsg as number)) : null,
  };
}
console.log(JSON.stringify({ summary, rounds, seconds }));
