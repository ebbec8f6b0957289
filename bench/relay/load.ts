// Load generation and latency statistics shared by both sides of the relay benchmark.

export interface LoadResult {
  delivered: number;
  seconds: number;
  latenciesMs: number[];
  /** fixedRate only: per message, from the send call until the relay accepted it (the send resolved). */
  acceptedMs?: number[];
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Tracks messages in flight: `sent(id)` when a send starts, `delivered(id)` when the receiver has it. */
export class Tracker {
  private readonly started = new Map<string, number>();
  readonly latencies: number[] = [];
  private waiters: (() => void)[] = [];
  sent(id: string): void {
    this.started.set(id, performance.now());
  }
  /** `at`: when it was delivered (performance.now() time of this process), if not now. */
  delivered(id: string, at = performance.now()): void {
    const t = this.started.get(id);
    if (t === undefined) return; // duplicate delivery (at-least-once): counted once
    this.started.delete(id);
    this.latencies.push(at - t);
    for (const w of this.waiters.splice(0)) w();
  }
  get inFlight(): number {
    return this.started.size;
  }
  /** Resolves when the number in flight drops (or after `ms`). */
  drained(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

export interface Sender {
  /** Send message `id` to this sender's partner; resolves when the relay accepted it. */
  send(id: string): Promise<void>;
}

/**
 * Closed loop for `seconds`: every sender keeps `window` messages in flight (sent, not yet
 * delivered). Returns delivered count and latencies.
 */
export async function maxThroughput(senders: Sender[], tracker: Tracker, seconds: number, window: number): Promise<LoadResult> {
  const start = performance.now();
  const end = start + seconds * 1000;
  let seq = 0;
  const before = tracker.latencies.length;
  await Promise.all(
    senders.map(async (s, i) => {
      const mine = new Set<string>();
      while (performance.now() < end) {
        if (tracker.inFlight >= window * senders.length) {
          await tracker.drained(50);
          continue;
        }
        const id = `${i}-${seq++}`;
        tracker.sent(id);
        mine.add(id);
        await s.send(id);
      }
    }),
  );
  // Let what is in flight land (bounded).
  for (let i = 0; i < 100 && tracker.inFlight > 0; i++) await tracker.drained(50);
  const seconds_ = (performance.now() - start) / 1000;
  return { delivered: tracker.latencies.length - before, seconds: seconds_, latenciesMs: tracker.latencies.slice(before) };
}

/** Open loop: `rate` messages per second in total, spread over the senders, for `seconds`. */
export async function fixedRate(senders: Sender[], tracker: Tracker, seconds: number, rate: number): Promise<LoadResult> {
  const start = performance.now();
  const total = Math.round(rate * seconds);
  const before = tracker.latencies.length;
  const pending: Promise<number>[] = [];
  for (let n = 0; n < total; n++) {
    const due = start + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const id = `r${n}`;
    tracker.sent(id);
    const t = performance.now();
    pending.push((senders[n % senders.length] as Sender).send(id).then(() => performance.now() - t));
  }
  const acceptedMs = await Promise.all(pending);
  for (let i = 0; i < 100 && tracker.inFlight > 0; i++) await tracker.drained(50);
  return {
    delivered: tracker.latencies.length - before,
    seconds: (performance.now() - start) / 1000,
    latenciesMs: tracker.latencies.slice(before),
    acceptedMs,
  };
}

/**
 * Closed loop for `seconds` without waiting for each send: at most `window` messages per sender in
 * flight (sent, not yet delivered), sends started as soon as there is room, so a client that
 * batches concurrent sends (send-coalescer.ts) can.
 */
export async function windowed(senders: Sender[], tracker: Tracker, seconds: number, window: number, onError: (e: Error) => void): Promise<LoadResult> {
  const start = performance.now();
  const end = start + seconds * 1000;
  let seq = 0;
  const before = tracker.latencies.length;
  const pending = new Set<Promise<void>>();
  while (performance.now() < end) {
    if (tracker.inFlight >= window * senders.length) {
      await tracker.drained(50);
      continue;
    }
    for (const [i, s] of senders.entries()) {
      const id = `w${i}-${seq++}`;
      tracker.sent(id);
      const p: Promise<void> = s
        .send(id)
        .catch((e: Error) => onError(e))
        .finally(() => pending.delete(p));
      pending.add(p);
    }
    // Let the clients batch what was started and the deliveries come in.
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pending);
  for (let i = 0; i < 100 && tracker.inFlight > 0; i++) await tracker.drained(50);
  return { delivered: tracker.latencies.length - before, seconds: (performance.now() - start) / 1000, latenciesMs: tracker.latencies.slice(before) };
}
