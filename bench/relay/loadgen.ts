// The load generator of `relay_capacity_per_s` (bench/relay.ts), a process of its own so the relay
// (or NATS) under test gets the machine's cores to itself minus this one's work.
//
//   tsx bench/relay/loadgen.ts ours URL SECONDS      our relay at URL (blindrelay.v2 send frames)
//   tsx bench/relay/loadgen.ts nats NATS_URL SECONDS  NATS JetStream
//
// Both: MAILBOXES mailboxes, each with one sender and one connected receiver; 200-byte bodies made
// before the run (random bytes: to the relay, as to NATS, a ciphertext is opaque bytes of a size);
// every message published with an acknowledgement of its storage, delivered to the receiver and
// acknowledged by it; at most WINDOW messages per mailbox published and not yet received.
// Prints `measuring` and `measured` lines when the counted seconds start and end (so the parent can
// read the CPU time of the process under test over exactly them), then one JSON line:
// {delivered, seconds, p50, p99, loadgenCpuUs, peer?} (loadgenCpuUs: this process's CPU time over
// the counted seconds).
import { randomBytes } from 'node:crypto';
import { AckPolicy, connect, StorageType } from 'nats';
import WebSocket from 'ws';
import { Api, account, ackFrame } from '../../packages/server/test/helpers.js';

export const MAILBOXES = 10;
export const BODY_BYTES = 200;
export const WINDOW = 256;
/** Messages per send frame (ours); NATS publishes one message per request, pipelined. */
const FRAME = 64;

const [mode, url, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? '5');
const bodies = Array.from({ length: 1024 }, () => randomBytes(BODY_BYTES));
/** Send times by message number; the number is written into the first 6 bytes of the body. */
const times = new Map<number, number>();
let counter = 0;
function nextBody(): Buffer {
  const n = counter++;
  const b = Buffer.from(bodies[n % bodies.length] as Buffer);
  b.writeUIntBE(n, 0, 6);
  times.set(n, performance.now());
  return b;
}
/** Count a delivery of the message whose body (or base64url body) is `body`. */
function delivered(stats: Stats, body: Uint8Array, measuring: boolean): void {
  const n = Buffer.from(body.buffer, body.byteOffset, 6).readUIntBE(0, 6);
  const t = times.get(n);
  times.delete(n);
  if (!measuring) return;
  stats.delivered++;
  if (t !== undefined) stats.latencies.push(performance.now() - t);
}

interface Stats {
  delivered: number;
  latencies: number[];
}

function summary(s: Stats, elapsed: number, extra: Record<string, unknown> = {}) {
  const sorted = [...s.latencies].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
  return { delivered: s.delivered, seconds: elapsed, p50: pct(50), p99: pct(99), loadgenCpuUs, ...extra };
}

/** This process's own CPU time over the counted seconds, µs (is the load generator the bottleneck?). */
let loadgenCpuUs = 0;

/** The counted seconds, marked on stdout for the parent; resolves with their length in seconds. */
async function measure(begin: () => void, end: () => void): Promise<number> {
  process.stdout.write('measuring\n');
  begin();
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  end();
  const cpu = process.cpuUsage(cpu0);
  loadgenCpuUs = cpu.user + cpu.system;
  const elapsed = (performance.now() - start) / 1000;
  process.stdout.write('measured\n');
  return elapsed;
}

async function ours(): Promise<unknown> {
  const api = new Api(url as string);
  const run = randomBytes(3).toString('hex');
  const open = (token: string) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${(url as string).replace(/^http/, 'ws')}/v1/ws`, ['blindrelay.v2'], { headers: { authorization: `Bearer ${token}` } });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  const stats: Stats = { delivered: 0, latencies: [] };
  let measuring = false;
  let stopping = false;
  const mailboxes: { rx: Awaited<ReturnType<typeof account>>; rxWs: WebSocket; txWs: WebSocket; outstanding: number }[] = [];
  // Set up side by side (twenty accounts: the relay's limit per address); measured after.
  mailboxes.push(
    ...(await Promise.all(
      Array.from({ length: MAILBOXES }, async (_, i) => {
        const [rx, tx] = await Promise.all([account(api, `r${i}-${run}`), account(api, `s${i}-${run}`)]);
        const [rxWs, txWs] = await Promise.all([open(rx.token), open(tx.token)]);
        return { rx, rxWs, txWs, outstanding: 0 };
      }),
    )),
  );
  let frameId = 0;
  const pump = (m: (typeof mailboxes)[number]) => {
    while (!stopping && m.outstanding < WINDOW) {
      const n = Math.min(FRAME, WINDOW - m.outstanding);
      const items = [];
      for (let k = 0; k < n; k++) items.push({ to: m.rx.u.user, messages: [{ deviceId: m.rx.d.keys.deviceId, body: nextBody().toString('base64url') }] });
      m.outstanding += n;
      m.txWs.send(JSON.stringify({ type: 'send', id: `f${frameId++}`, items }));
    }
  };
  for (const m of mailboxes) {
    m.txWs.on('message', (data: Buffer) => {
      const f = JSON.parse(data.toString());
      if (f.type !== 'sent') return;
      if (f.error) throw new Error(`send refused: ${JSON.stringify(f.error)}`);
      for (const r of f.results) if (!r.ok) throw new Error(`send refused: ${JSON.stringify(r)}`);
    });
    m.rxWs.on('message', async (data: Buffer) => {
      const f = JSON.parse(data.toString());
      if (f.type !== 'messages') return;
      const ids: string[] = f.messages.map((e: { id: string }) => e.id);
      for (const e of f.messages as { body: string }[]) delivered(stats, Buffer.from(e.body, 'base64url'), measuring);
      m.outstanding -= ids.length;
      for (let k = 0; k < ids.length; k += 500) m.rxWs.send(JSON.stringify(await ackFrame(m.rx.u, ids.slice(k, k + 500))));
      pump(m);
    });
  }
  for (const m of mailboxes) pump(m);
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  const elapsed = await measure(
    () => {
      measuring = true;
    },
    () => {
      measuring = false;
    },
  );
  stopping = true;
  await new Promise((r) => setTimeout(r, 300));
  await Promise.all(
    mailboxes
      .flatMap((m) => [m.txWs, m.rxWs])
      .map(
        (ws) =>
          new Promise<void>((resolve) => {
            ws.once('close', () => resolve());
            ws.close(1000, 'done');
          }),
      ),
  );
  return summary(stats, elapsed);
}

async function nats(): Promise<unknown> {
  const nc = await connect({ servers: url as string });
  const version = nc.info?.version ?? 'unknown';
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  const run = randomBytes(3).toString('hex');
  const stream = `BRBENCH_${run}`;
  await jsm.streams.add({ name: stream, subjects: [`brbench.${run}.>`], storage: StorageType.File });
  const stats: Stats = { delivered: 0, latencies: [] };
  let measuring = false;
  let stopping = false;
  const consumers: { stop: () => void }[] = [];
  const loops: Promise<void>[] = [];
  try {
    // The durable consumers are created side by side (each one is a JetStream API round trip that
    // writes the consumer's state); the measurement starts after all of them exist.
    const durable = await Promise.all(
      Array.from({ length: MAILBOXES }, async (_, i) => {
        await jsm.consumers.add(stream, {
          durable_name: `m${i}`,
          filter_subject: `brbench.${run}.m${i}`,
          ack_policy: AckPolicy.Explicit,
          max_ack_pending: 4 * WINDOW,
        });
        return js.consumers.get(stream, `m${i}`);
      }),
    );
    for (let i = 0; i < MAILBOXES; i++) {
      const subject = `brbench.${run}.m${i}`;
      const consumer = durable[i] as (typeof durable)[number];
      const messages = await consumer.consume({ max_messages: WINDOW });
      consumers.push({ stop: () => void messages.stop() });
      const box = { outstanding: 0 };
      const pump = () => {
        while (!stopping && box.outstanding < WINDOW) {
          box.outstanding++;
          // Publish with ack: resolves once the stream stored it (PubAck).
          js.publish(subject, nextBody()).catch((e) => {
            if (!stopping) throw e;
          });
        }
      };
      loops.push(
        (async () => {
          for await (const m of messages) {
            m.ack();
            delivered(stats, m.data, measuring);
            box.outstanding--;
            pump();
          }
        })(),
      );
      pump();
    }
    await new Promise((r) => setTimeout(r, 1000)); // warm-up
    const elapsed = await measure(
      () => {
        measuring = true;
      },
      () => {
        measuring = false;
      },
    );
    stopping = true;
    await new Promise((r) => setTimeout(r, 300));
    return summary(stats, elapsed, { peer: `nats-server@${version}` });
  } finally {
    stopping = true;
    for (const c of consumers) c.stop();
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.drain();
  }
}

const result = mode === 'ours' ? await ours() : mode === 'nats' ? await nats() : Promise.reject(new Error(`unknown mode ${mode}`));
process.stdout.write(`${JSON.stringify(await result)}\n`);
process.exit(0);
