/**
 * A TCP forwarder that adds a fixed delay to every byte in both directions, for the network
 * namespace test (test/cluster-netns.test.ts), run as its own process:
 *
 *   node --import tsx test/netns/delay-proxy.ts DELAY_MS LISTEN_HOST:PORT=TARGET_HOST:PORT ...
 *
 * It prints `ready PORT...` on stdout once every listener is up (the bound ports, in order: a
 * listen port of 0 picks a free one). Each chunk read from one side is written
 * to the other no earlier than DELAY_MS after it arrived, in order (a FIFO per direction), so a
 * round trip through it gains at least 2 × DELAY_MS. Stands in for `tc qdisc … netem delay` on
 * kernels built without sch_netem. Half-closes and resets are passed on after the same delay.
 */
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

function parseEndpoint(s: string, minPort: number): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const port = Number(s.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < minPort || port > 65535) throw new Error(`bad endpoint ${s}`);
  return { host: s.slice(0, i), port };
}

/** Copies `from` to `to`, each chunk (and the end) held back until `delayMs` after its arrival. */
function delayedPipe(from: Socket, to: Socket, delayMs: number): void {
  const queue: { due: number; chunk: Buffer | null }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const pump = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && (queue[0] as { due: number }).due <= now) {
      const { chunk } = queue.shift() as { chunk: Buffer | null };
      if (chunk === null) to.end();
      else if (!to.destroyed) to.write(chunk);
    }
    if (queue.length > 0) timer = setTimeout(pump, Math.max(0, (queue[0] as { due: number }).due - now));
  };
  const push = (chunk: Buffer | null) => {
    queue.push({ due: performance.now() + delayMs, chunk });
    if (timer === undefined) timer = setTimeout(pump, delayMs);
  };
  from.on('data', (chunk: Buffer) => push(chunk));
  from.on('end', () => push(null));
  from.on('close', () => setTimeout(() => to.destroy(), delayMs + 5));
  from.on('error', () => {});
}

const [delayArg, ...routes] = process.argv.slice(2);
const delayMs = Number(delayArg);
if (!Number.isFinite(delayMs) || delayMs < 0 || routes.length === 0) {
  process.stderr.write('usage: delay-proxy DELAY_MS LISTEN_HOST:PORT=TARGET_HOST:PORT ...\n');
  process.exit(2);
}
const ports = await Promise.all(
  routes.map((route) => {
    const [listen, target] = route.split('=') as [string, string];
    const l = parseEndpoint(listen, 0);
    const t = parseEndpoint(target, 1);
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
      const upstream = tcpConnect({ host: t.host, port: t.port, noDelay: true, allowHalfOpen: true });
      delayedPipe(client, upstream, delayMs);
      delayedPipe(upstream, client, delayMs);
    });
    return new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(l.port, l.host, () => resolve((server.address() as { port: number }).port));
    });
  }),
);
process.stdout.write(`ready ${ports.join(' ')}\n`);
