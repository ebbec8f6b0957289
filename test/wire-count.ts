/**
 * For the cluster fault tests: a socket factory that counts the pushed envelopes each receiver gets
 * on the wire, and how many of them repeat a body it already saw (duplicates the SDK must drop
 * before the application; at-least-once delivery plus dedup is exactly once).
 */
import type { SocketFactory } from '@blindrelay/client';
import { nodeSocketFactory } from '@blindrelay/client/node';

export interface WireCount {
  frames: number;
  duplicates: number;
  /** A socket factory for one receiver (its own set of seen bodies). */
  receiver(): SocketFactory;
}

export function wireCount(): WireCount {
  const count: WireCount = {
    frames: 0,
    duplicates: 0,
    receiver() {
      const seen = new Set<string>();
      return (url, token, h) =>
        nodeSocketFactory(url, token, {
          ...h,
          message: (text) => {
            // v1 pushes one message per frame; blindrelay.v2 pushes batches (`messages`). Counted per message.
            const f = JSON.parse(text) as { type?: string; message?: { body?: string }; messages?: { body?: string }[] };
            const bodies = f.type === 'message' ? [f.message?.body] : f.type === 'messages' && Array.isArray(f.messages) ? f.messages.map((m) => m?.body) : [];
            for (const body of bodies) {
              if (!body) continue;
              count.frames++;
              if (seen.has(body)) count.duplicates++;
              else seen.add(body);
            }
            h.message(text);
          },
        });
    },
  };
  return count;
}
