/**
 * Acks of live receiving (listen.ts): batches processed back to back share one signed ack frame,
 * never one above the relay's limit (bounds.MAX_ACK_IDS), every id acked exactly once and only
 * after its batch was processed; a batch alone is acked at once. With fake relay API and socket:
 * what is judged is the ack frames listen() writes.
 */
import { bounds } from '@blindrelay/protocol/wire';
import { describe, expect, it } from 'vitest';
import type { RelayApi, RelayEnvelope } from '../src/api.js';
import { type ListenDeps, listen } from '../src/listen.js';
import type { BatchResult } from '../src/receive.js';
import { BATCH_SUBPROTOCOL, type SocketHandlers } from '../src/socket.js';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const relayId = (n: number) => b64(new Uint8Array(16).map((_, i) => (i < 4 ? (n >>> (8 * i)) & 0xff : 7)));
const envelope = (n: number) => ({ id: relayId(n), from: 'alice', fromDevice: 1, sentAt: 1, body: b64(new Uint8Array([2, n & 0xff])) });

interface Run {
  /** The ids of each ack frame written, in order. */
  acks: string[][];
  /** The batches processed, in order. */
  batches: number;
  /** Ids acked before their batch was processed (must stay empty). */
  early: string[];
}

/**
 * listen() against a socket that pushes `frames` (each a `messages` frame) on open, leaving out
 * what was acked (as the relay pushes what is still queued), until all are acked. `failAt`: that
 * batch (1-based, counted over the whole run) throws once, which closes the socket to reconnect.
 */
async function run(frames: number[][], failAt?: number): Promise<Run & { connections: number }> {
  const out: Run & { connections: number } = { acks: [], batches: 0, early: [], connections: 0 };
  const done = new Set<string>();
  const total = frames.flat().length;
  const controller = new AbortController();
  const api = {
    server: 'http://relay.test',
    session: async () => ({ server: 'http://relay.test', token: 't' }),
    forgetToken: async () => undefined,
    ackFrame: async (_server: string, ids: readonly string[]) => JSON.stringify({ type: 'ack', ids, signature: 'sig' }),
    ack: async () => {
      throw new Error('acks go over the open socket');
    },
  } as unknown as RelayApi;
  const deps: ListenDeps = {
    api,
    socket: (_url: string, _token: string, h: SocketHandlers) => {
      const socket = {
        send(text: string) {
          const f = JSON.parse(text) as { type: string; ids: string[] };
          expect(f.type).toBe('ack');
          out.acks.push(f.ids);
          out.early.push(...f.ids.filter((id) => !done.has(id)));
          if (out.acks.flat().length === total) controller.abort();
        },
        close(code = 1000) {
          queueMicrotask(() => h.close(code, ''));
        },
      };
      out.connections++;
      queueMicrotask(() => {
        h.open(BATCH_SUBPROTOCOL);
        // All frames arrive before the first batch is processed: a backlog pushed on connect.
        const acked = new Set(out.acks.flat());
        for (const f of frames) {
          const left = f.filter((n) => !acked.has(relayId(n)));
          if (left.length > 0) h.message(JSON.stringify({ type: 'messages', messages: left.map(envelope) }));
        }
      });
      return socket;
    },
    async process(envelopes: RelayEnvelope[]): Promise<BatchResult> {
      out.batches++;
      await new Promise((r) => setImmediate(r));
      if (out.batches === failAt) throw new Error('the profile could not be written');
      for (const e of envelopes) done.add(e.id);
      return { ack: envelopes.map((e) => e.id), received: [], failures: [], usedPreKeys: false };
    },
    onPreKeysLow: async () => undefined,
  };
  await listen(deps, { signal: controller.signal, minDelayMs: 1, maxDelayMs: 2 });
  return out;
}

const range = (from: number, n: number) => [...Array(n).keys()].map((i) => from + i);

describe('listen: acks', () => {
  it('a backlog processed in batches back to back is acked in as few frames as the relay limit allows, each id once', async () => {
    const frames = [range(0, 100), range(100, 100), range(200, 100), range(300, 100), range(400, 100), range(500, 100), range(600, 37)];
    const r = await run(frames);
    const all = r.acks.flat();
    expect(all).toEqual(frames.flat().map(relayId));
    expect(new Set(all).size).toBe(all.length);
    for (const a of r.acks) expect(a.length).toBeLessThanOrEqual(bounds.MAX_ACK_IDS);
    // 637 ids in batches of 100: one frame per batch would be 7; merged they take 2.
    expect(r.batches).toBe(7);
    expect(r.acks.length).toBe(2);
    expect(r.early).toEqual([]);
  });

  it('a batch that fails: the batches before it are acked before the socket closes, the rest after reconnecting, each id once', async () => {
    const frames = [range(0, 100), range(100, 100), range(200, 100), range(300, 50)];
    const r = await run(frames, 3);
    expect(r.connections).toBe(2);
    // First connection: batches 1 and 2 acked together, before the close; then 3 and 4 again.
    expect(r.acks[0]).toEqual([...range(0, 200)].map(relayId));
    const all = r.acks.flat();
    expect(all.length).toBe(350);
    expect(new Set(all).size).toBe(350);
    expect(r.early).toEqual([]);
  });

  it('a batch with nothing behind it is acked at once', async () => {
    const r = await run([range(0, 3)]);
    expect(r.acks).toEqual([range(0, 3).map(relayId)]);
  });
});
