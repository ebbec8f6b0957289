// N sender → receiver pairs of SDK devices (in-memory profiles), receivers listening on the
// WebSocket, sessions set up by one unmeasured warm-up message each. Shared by the relay and
// cluster benches so both drive the relay the same way.
import { setMaxListeners } from 'node:events';
import { BlindrelayClient, MemoryStorage } from '@blindrelay/client';
import { nodeSocketFactory } from '@blindrelay/client/node';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { type Sender, Tracker } from './load.js';

export const TEXT_BYTES = 100;
export const textFor = (id: string) => `${id} `.padEnd(TEXT_BYTES, 'x');
const idOf = (text: string) => text.slice(0, text.indexOf(' '));

export interface SdkPairs {
  senders: Sender[];
  tracker: Tracker;
  /** Stop the receivers' listeners. */
  stop(): Promise<void>;
}

/**
 * `servers(i, 'sender' | 'receiver')` gives the URL list device i of that role uses (first = home).
 * User names get a random suffix so runs never collide.
 */
export async function sdkPairs(
  pairs: number,
  servers: (i: number, role: 'sender' | 'receiver') => string[],
  log: (l: string) => void,
  options: { listenSenders?: boolean } = {},
): Promise<SdkPairs> {
  const p = createNodePrimitives();
  const tracker = new Tracker();
  const env = () => ({ primitives: p, storage: new MemoryStorage(), socket: nodeSocketFactory });
  const run = Math.random().toString(36).slice(2, 8);
  const controller = new AbortController();
  setMaxListeners(4 * pairs, controller.signal);
  const listeners: Promise<void>[] = [];
  const senders: Sender[] = [];
  for (let i = 0; i < pairs; i++) {
    const from = await BlindrelayClient.createAccount(env(), { servers: servers(i, 'sender'), user: `s${i}-${run}` });
    const to = await BlindrelayClient.createAccount(env(), { servers: servers(i, 'receiver'), user: `r${i}-${run}` });
    let open!: () => void;
    const opened = new Promise<void>((r) => {
      open = r;
    });
    listeners.push(
      to.listen({
        signal: controller.signal,
        onMessage: (m) => tracker.delivered(idOf(m.text)),
        onStatus: (s) => s.state === 'open' && open(),
        onError: (e) => log(`  receiver error: ${e.message}`),
      }),
    );
    await opened;
    if (options.listenSenders) {
      // A listening sender sends over its WebSocket, batched (docs/API.md §12).
      let up!: () => void;
      const ready = new Promise<void>((r) => {
        up = r;
      });
      listeners.push(
        from.listen({
          signal: controller.signal,
          onMessage: () => undefined,
          onStatus: (s) => s.state === 'open' && up(),
          onError: (e) => log(`  sender error: ${e.message}`),
        }),
      );
      await ready;
    }
    senders.push({ send: async (id) => void (await from.send(to.user, textFor(id))) });
  }
  // First messages set up the sessions (PQXDH); not measured.
  await Promise.all(
    senders.map((s, i) => {
      tracker.sent(`warm${i}`);
      return s.send(`warm${i}`);
    }),
  );
  for (let i = 0; i < 100 && tracker.inFlight > 0; i++) await tracker.drained(100);
  tracker.latencies.length = 0;
  return {
    senders,
    tracker,
    stop: async () => {
      controller.abort();
      await Promise.all(listeners);
    },
  };
}
