/**
 * Server-side load: `npx tsx packages/server/test/load.ts [--seconds 5] [--concurrency 64] [--pairs 20] [--only send,deliver,directory]`.
 * Not a test file (vitest does not pick it up). `LOAD_SERVER_NODE_ARGS="--cpu-prof"` profiles the relay,
 * `LOAD_LOG_LEVEL=info` sets its log level (default warn; logs go to this process's stderr). The relay runs in a child process (rate limits off,
 * log level warn) so the load generator does not share its event loop; the load is raw HTTP over
 * keep-alive sockets and plain WebSockets, no client SDK and no crypto on the hot path.
 *
 * Scenarios, each for `--seconds`:
 * - send:      `concurrency` workers POST /v1/messages (100-byte bodies) round-robin over `pairs`
 *              sender→receiver pairs; nobody reads (queues only grow).
 * - deliver:   the same sends while every receiver holds a WebSocket and acks each pushed frame;
 *              reports messages pushed and acked per second.
 * - directory: `concurrency` workers GET /v1/users/:user (auth + read only).
 * Each line also gives the relay's CPU time per request (its process metrics, before and after),
 * which other load on the machine moves far less than req/s.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Api, account, ackFrame, b64 } from './helpers.js';

const args = process.argv.slice(2);
const flag = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};

if (args[0] === '--serve') {
  // LOAD_SERVER_SRC: another copy of src/ (relative to this file), for before/after comparisons.
  const { startServer } = (await import(
    process.env.LOAD_SERVER_SRC ? `${process.env.LOAD_SERVER_SRC}/index.ts` : '../src/index.js'
  )) as typeof import('../src/index.js');
  const { NO_RATE_LIMITS } = await import('./helpers.js');
  const server = await startServer({
    port: 0,
    dataDir: args[1] as string,
    logLevel: (process.env.LOAD_LOG_LEVEL ?? 'warn') as 'warn',
    rateLimits: NO_RATE_LIMITS,
    metricsPort: 0,
  });
  // Copies of src/ from before the metrics listener serve /metrics on the API port.
  process.stdout.write(`metrics on ${server.metricsUrl ?? `${server.url}/metrics`}\n`);
  process.stdout.write(`listening on ${server.url}\n`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
} else {
  await main();
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
}

async function spawnServer(dataDir: string): Promise<{ child: ChildProcess; url: string; metricsUrl: string }> {
  const child = spawn(
    process.execPath,
    [...(process.env.LOAD_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', fileURLToPath(import.meta.url), '--serve', dataDir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      const metricsUrl = /metrics on (http:\/\/\S+)/.exec(out)?.[1];
      if (m) resolve({ child, url: m[1] as string, metricsUrl: metricsUrl ?? `${m[1]}/metrics` });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

function post(agent: Agent, url: URL, path: string, token: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path, method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function get(agent: Agent, url: URL, path: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: url.hostname, port: url.port, path, method: 'GET', headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

async function closedLoop(seconds: number, concurrency: number, op: (i: number) => Promise<number>) {
  const end = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let n = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        const status = await op(n++);
        latencies.push(performance.now() - t);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), statuses: Object.fromEntries(statuses) };
}

async function main() {
  const seconds = flag('seconds', 5);
  const concurrency = flag('concurrency', 64);
  const pairs = flag('pairs', 20);
  const i = args.indexOf('--only');
  const only = (name: string) => i < 0 || (args[i + 1] ?? '').split(',').includes(name);
  const dir = mkdtempSync(join(tmpdir(), 'br-server-load-'));
  const { child, url, metricsUrl } = await spawnServer(join(dir, 'data'));
  const base = new URL(url);
  const api = new Api(url);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    const senders: Awaited<ReturnType<typeof account>>[] = [];
    const receivers: Awaited<ReturnType<typeof account>>[] = [];
    for (let i = 0; i < pairs; i++) {
      senders.push(await account(api, `s${i}`));
      receivers.push(await account(api, `r${i}`));
    }
    const body = b64(new Uint8Array(100).fill(7));
    const sendBody = receivers.map((r) => JSON.stringify({ to: r.u.user, messages: [{ deviceId: r.d.keys.deviceId, body }] }));
    const send = (i: number) => post(agent, base, '/v1/messages', senders[i % pairs]!.token, sendBody[i % pairs]!);
    // The relay's CPU time (user + system, from its process metrics) per request: unlike req/s,
    // barely moved by whatever else runs on the machine.
    const relayCpuSeconds = async () => {
      const text = await (await fetch(metricsUrl)).text();
      return Number(/^\w*process_cpu_seconds_total(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
    };
    const measured = async (run: () => ReturnType<typeof closedLoop>) => {
      const cpu = await relayCpuSeconds();
      const r = await run();
      const requests = Object.values(r.statuses).reduce((a, n) => a + n, 0);
      return { ...r, cpuMicros: (((await relayCpuSeconds()) - cpu) / requests) * 1e6 };
    };
    const report = (name: string, r: Awaited<ReturnType<typeof measured>>, extra = '') =>
      console.log(
        `${name.padEnd(10)} ${r.perSecond.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  relay CPU ${r.cpuMicros.toFixed(0)} µs/req  ${JSON.stringify(r.statuses)}${extra}`,
      );

    console.log(`relay ${url}: ${pairs} pairs, concurrency ${concurrency}, ${seconds} s per scenario`);
    await closedLoop(0.5, concurrency, send); // warm-up (JIT)
    if (only('send')) report('send', await measured(() => closedLoop(seconds, concurrency, send)));

    if (only('deliver')) {
      // deliver: receivers on WebSockets, one ack per pushed message (as soon as it arrives).
      let pushed = 0;
      const sockets = await Promise.all(
        receivers.map(
          (r) =>
            new Promise<WebSocket>((resolve, reject) => {
              const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`, ['blindrelay.v1'], { headers: { authorization: `Bearer ${r.token}` } });
              ws.on('message', async (data) => {
                const f = JSON.parse(data.toString()) as { type: string; message?: { id: string } };
                if (f.type === 'message' && f.message) {
                  pushed++;
                  ws.send(JSON.stringify(await ackFrame(r.u, [f.message.id])));
                }
              });
              ws.once('open', () => resolve(ws));
              ws.once('error', reject);
            }),
        ),
      );
      // Drain the backlog of the send scenario first.
      for (let last = -1; last !== pushed; ) {
        last = pushed;
        await new Promise((r) => setTimeout(r, 500));
      }
      const before = pushed;
      const t0 = performance.now();
      const r = await measured(() => closedLoop(seconds, concurrency, send));
      const delivered = pushed - before;
      report('deliver', r, `  pushed+acked ${(delivered / ((performance.now() - t0) / 1000)).toFixed(0)} msg/s`);
      for (const ws of sockets) ws.close();
    }

    const metrics = await (await fetch(metricsUrl)).text();
    const metric = (name: string) => [...metrics.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
    const commits = metric('blindrelay_storage_commits_total');
    if (commits > 0) {
      const ops = metric('blindrelay_storage_commit_operations_sum');
      const ms = metric('blindrelay_storage_commit_duration_seconds_sum') * 1000;
      console.log(`storage    ${commits} commits, ${(ops / commits).toFixed(1)} writes per commit, ${(ms / commits).toFixed(2)} ms per commit`);
    }

    if (only('directory'))
      report(
        'directory',
        await measured(() => closedLoop(seconds, concurrency, (i) => get(agent, base, `/v1/users/r${i % pairs}`, senders[i % pairs]!.token))),
      );
  } finally {
    agent.destroy();
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
    rmSync(dir, { recursive: true, force: true });
  }
}
