/**
 * For the cluster fault tests: a socket factory that counts the message frames each receiver gets
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
            const f = JSON.parse(text) as { type?: string; message?: { body?: string } };
            if (f.type === 'message' && f.message?.body) {
              count.frames++;
              if (seen.has(f.message.body)) count.duplicates++;
              else seen.add(f.message.body);
            }
            h.message(text);
          },
        });
    },
  };
  return count;
}
