// A/B of SDK CPU per delivered message between two builds, for judging a change on a shared
// machine (docs/BENCHMARKS.md, relay section): the built SDK (packages/*/dist) of source tree A and
// of source tree B are loaded into ONE process, 10 sender/receiver pairs of each (senders listening:
// batched WebSocket sends) against one relay process, and rounds of the two alternate (each round:
// every sender sends K messages at once, then all are awaited), so machine load hits both alike.
// Prints one JSON line: medians and means of CPU µs per message, and in how many rounds B was cheaper.
//   npx tsx bench/relay/ab-cpu.ts ROOT_A ROOT_B [ROUNDS=10] [K=32]
// (ROOT_A: e.g. `git archive main | tar -x -C /tmp/a`, its node_modules linked, `node scripts/build.mjs --js`.)
import { spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { relayNode } from '../../test/runtime.js';
import { LOAD_LIMITS_OFF } from '../cluster/relays.js';
import { Tracker } from './load.js';

const [rootA, rootB] = [process.argv[2] as string, process.argv[3] as string];
const rounds = Number(process.argv[4] ?? 10);
const K = Number(process.argv[5] ?? 32);
const PAIRS = 10;
const CLI = fileURLToPath(new URL('../../packages/cli/bin/blindrelay.mjs', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'br-ab-'));
const args = [
  CLI,
  'server',
  '--port',
  '0',
  '--data',
  join(dir, 'data'),
  '--log-level',
  'warn',
  ...LOAD_LIMITS_OFF,
  '--messages-per-device',
  'off',
  '--acks-per-device',
  'off',
];
const child = spawn(relayNode(), args, { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve) => {
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) resolve(m[1] as string);
  });
});
const controller = new AbortController();
setMaxListeners(100, controller.signal);

async function setup(root: string, tag: string) {
  const c = await import(`${root}/packages/client/dist/index.js`);
  const n = await import(`${root}/packages/client/dist/node.js`);
  const pr = await import(`${root}/packages/protocol/dist/primitives/node.js`);
  const p = pr.createNodePrimitives();
  const env = () => ({ primitives: p, storage: new c.MemoryStorage(), socket: n.nodeSocketFactory });
  const tracker = new Tracker();
  const run = Math.random().toString(36).slice(2, 8);
  const senders: ((id: string) => Promise<unknown>)[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const from = await c.BlindrelayClient.createAccount(env(), { servers: [url], user: `${tag}s${i}-${run}` });
    const to = await c.BlindrelayClient.createAccount(env(), { servers: [url], user: `${tag}r${i}-${run}` });
    for (const [who, onMessage] of [
      [to, (m: { text: string }) => tracker.delivered(m.text.slice(0, m.text.indexOf(' ')))],
      [from, () => undefined],
    ] as const) {
      await new Promise<void>((up) => {
        void who.listen({
          signal: controller.signal,
          onMessage,
          onStatus: (s: { state: string }) => s.state === 'open' && up(),
          onError: (e: Error) => console.error(e.message),
        });
      });
    }
    senders.push((id) => from.send(to.user, `${id} `.padEnd(100, 'x')));
  }
  return { senders, tracker };
}

async function round(side: Awaited<ReturnType<typeof setup>>, tag: string, r: number) {
  const sends = [];
  for (const [i, s] of side.senders.entries())
    for (let j = 0; j < K; j++) {
      const id = `${tag}${r}-${i}-${j}`;
      side.tracker.sent(id);
      sends.push(s(id));
    }
  const c0 = process.cpuUsage();
  await Promise.all(sends);
  while (side.tracker.inFlight > 0) await side.tracker.drained(100);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / (PAIRS * K);
}

const A = await setup(rootA, 'a');
const B = await setup(rootB, 'b');
await round(A, 'wa', 0);
await round(B, 'wb', 0);
const ra: number[] = [];
const rb: number[] = [];
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) {
    ra.push(await round(A, 'a', r));
    rb.push(await round(B, 'b', r));
  } else {
    rb.push(await round(B, 'b', r));
    ra.push(await round(A, 'a', r));
  }
}
const med = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)] as number;
const sum = (x: number[]) => x.reduce((a, b) => a + b, 0);
console.log(
  JSON.stringify({
    K,
    rounds,
    medA: Math.round(med(ra)),
    medB: Math.round(med(rb)),
    meanA: Math.round(sum(ra) / ra.length),
    meanB: Math.round(sum(rb) / rb.length),
    ratioMed: +(med(rb) / med(ra)).toFixed(3),
    wins: ra.filter((a, i) => (rb[i] as number) < a).length,
  }),
);
controller.abort();
child.kill('SIGTERM');
process.exit(0);
