// The timing loop both peers use, so ours and libsignal are measured identically.

/** Runs `step(i)` until at least `durationMs` of timed wall time and `minIters` iterations, after a short warm-up. */
export async function rate(durationMs: number, step: (i: number) => Promise<void>, minIters = 5): Promise<number> {
  const warmupEnd = performance.now() + Math.min(200, durationMs / 5);
  let i = 0;
  while (performance.now() < warmupEnd || i < 3) await step(i++);
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < durationMs || n < minIters) {
    await step(i++);
    n++;
    elapsed = performance.now() - start;
  }
  return (n * 1000) / elapsed;
}
