// N sender → receiver pairs of SDK devices (in-memory profiles), receivers listening on the
// WebSocket, sessions set up by one unmeasured warm-up message each. Shared by the relay and
// cluster benches so both drive the relay the same way.
import { spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { BlindrelayClient, MemoryStorage } from '@blindrelay/client';
import { nodeSealedSocketFactory, nodeSocketFactory } from '@blindrelay/client/node';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { type Sender, Tracker } from './load.js';

export const TEXT_BYTES = 100;
export const textFor = (id: string) => `${id} `.padEnd(TEXT_BYTES, 'x');
const idOf = (text: string) => text.slice(0, text.indexOf(' '));
/** Ids of the unmeasured first messages; a receiver answers each with `REPLY` (see sdkPairs). */
export const WARM = 'warm';
export const REPLY = 'reply';

export interface SdkPairs {
  senders: Sender[];
  tracker: Tracker;
  /** CPU time (µs) of the receivers' process so far, when they run in their own (`receivers: 'process'`). */
  receiverCpuUs?: () => Promise<number>;
  /** Stop the receivers' listeners. */
  stop(): Promise<void>;
}

const RECEIVERS = fileURLToPath(new URL('./receivers.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The receivers in a child process (bench/relay/receivers.ts); deliveries reach `tracker` over IPC. */
async function receiverProcess(url: string, count: number, run: string, tracker: Tracker) {
  const child = spawn(process.execPath, ['--import', 'tsx', RECEIVERS, url, String(count), run], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const cpuWaiters: ((us: number) => void)[] = [];
  let stopped!: () => void;
  const done = new Promise<void>((r) => {
    stopped = r;
  });
  const users = await new Promise<string[]>((resolve, reject) => {
    child.once('exit', (code) => {
      stopped();
      reject(new Error(`the receivers' process exited with ${code}`));
    });
    child.on('message', (m: { type: string; users?: string[]; d?: [string, number][]; us?: number }) => {
      if (m.type === 'ready') resolve(m.users as string[]);
      else if (m.type === 'delivered') for (const [id, at] of m.d ?? []) tracker.delivered(id, at - performance.timeOrigin);
      else if (m.type === 'cpu') cpuWaiters.shift()?.(m.us as number);
      else if (m.type === 'stopped') stopped();
    });
  });
  return {
    users,
    cpuUs: () =>
      new Promise<number>((resolve) => {
        cpuWaiters.push(resolve);
        child.send({ type: 'cpu' });
      }),
    stop: async () => {
      if (child.connected) child.send({ type: 'stop' });
      await done;
    },
  };
}

/**
 * `servers(i, 'sender' | 'receiver')` gives the URL list device i of that role uses (first = home).
 * User names get a random suffix so runs never collide.
 */
export async function sdkPairs(
  pairs: number,
  servers: (i: number, role: 'sender' | 'receiver') => string[],
  log: (l: string) => void,
  options: { listenSenders?: boolean; receivers?: 'in-process' | 'process'; sealedSends?: boolean } = {},
): Promise<SdkPairs> {
  const p = createNodePrimitives();
  const tracker = new Tracker();
  const env = () => ({ primitives: p, storage: new MemoryStorage(), socket: nodeSocketFactory, sealedSocket: nodeSealedSocketFactory });
  const run = Math.random().toString(36).slice(2, 8);
  const controller = new AbortController();
  setMaxListeners(4 * pairs, controller.signal);
  const listeners: Promise<void>[] = [];
  const senders: Sender[] = [];
  /** Per sender: resolves once the receiver's answer to the first message arrived. */
  const replies: Promise<void>[] = [];
  const pollers: (() => Promise<void>)[] = [];
  // Receivers in their own process: all on the first receiver URL list (one relay).
  const remote = options.receivers === 'process' ? await receiverProcess(servers(0, 'receiver')[0] as string, pairs, run, tracker) : undefined;
  for (let i = 0; i < pairs; i++) {
    // The authenticated path: once the receiver's answer brought its delivery token, a sender with
    // sealed sends on (the default) would send sealed, one HTTP POST each (docs/PROTOCOL.md §20),
    // which is not the batched path this measures (that is `npm run bench -- sealed`). The
    // `sealedSends` option (e2e-cpu.ts SEALED=1) turns the default on.
    const from = await BlindrelayClient.createAccount(
      { ...env(), sealedSends: options.sealedSends ?? false },
      { servers: servers(i, 'sender'), user: `s${i}-${run}` },
    );
    let toUser: string;
    if (remote) toUser = remote.users[i] as string;
    else {
      const to = await BlindrelayClient.createAccount(env(), { servers: servers(i, 'receiver'), user: `r${i}-${run}` });
      toUser = to.user;
      let open!: () => void;
      const opened = new Promise<void>((r) => {
        open = r;
      });
      listeners.push(
        to.listen({
          signal: controller.signal,
          onMessage: (m) => {
            tracker.delivered(idOf(m.text));
            if (m.text.startsWith(WARM)) void to.send(m.from, REPLY).catch((e: Error) => log(`  receiver error: ${e.message}`));
          },
          onStatus: (s) => s.state === 'open' && open(),
          onError: (e) => log(`  receiver error: ${e.message}`),
        }),
      );
      await opened;
    }
    let replied!: () => void;
    replies.push(
      new Promise<void>((r) => {
        replied = r;
      }),
    );
    if (options.listenSenders) {
      // A listening sender sends over its WebSocket, batched (docs/API.md §12).
      let up!: () => void;
      const ready = new Promise<void>((r) => {
        up = r;
      });
      listeners.push(
        from.listen({
          signal: controller.signal,
          onMessage: (m) => {
            if (m.text === REPLY) replied();
          },
          onStatus: (s) => s.state === 'open' && up(),
          onError: (e) => log(`  sender error: ${e.message}`),
        }),
      );
      await ready;
    }
    // Not listening: it fetches the reply (HTTP) once the receiver sent it.
    else
      pollers.push(async () => {
        for (let t = 0; t < 100; t++) {
          let got = false;
          await from.receive({
            onMessage: (m) => {
              if (m.text === REPLY) got = true;
            },
          });
          if (got) return replied();
          await new Promise((r) => setTimeout(r, 50));
        }
      });
    senders.push({ send: async (id) => void (await from.send(toUser, textFor(id))) });
  }
  // First messages set up the sessions (PQXDH); not measured. Each receiver answers its first
  // message, so the sender's session is acknowledged and what follows are RatchetMessages, the
  // kind protocol_oneway_per_s measures (bench/peers/blindrelay.ts `establish` does the same
  // round trip). Without the answer every message would stay a PreKeyMessage, carrying the PQXDH
  // header (the ML-KEM ciphertext alone is 1,088 bytes) until the recipient writes back.
  await Promise.all(
    senders.map((s, i) => {
      tracker.sent(`${WARM}${i}`);
      return s.send(`${WARM}${i}`);
    }),
  );
  for (let i = 0; i < 100 && tracker.inFlight > 0; i++) await tracker.drained(100);
  await Promise.all(pollers.map((poll) => poll()));
  await Promise.race([Promise.all(replies), new Promise((r) => setTimeout(r, 20_000))]);
  tracker.latencies.length = 0;
  return {
    senders,
    tracker,
    ...(remote ? { receiverCpuUs: remote.cpuUs } : {}),
    stop: async () => {
      controller.abort();
      await Promise.all([...listeners, remote?.stop()]);
    },
  };
}
