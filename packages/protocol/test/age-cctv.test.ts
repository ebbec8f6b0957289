/**
 * C2SP CCTV age vectors (cctv-age 0.2.0): every vector in the implemented feature set is run, its
 * outcome class and the SHA-256 of all plaintext released (even before a failure) checked.
 */
import { describe, expect, it } from 'vitest';
import { createNodePrimitives } from '../src/primitives/node.js';
import { createWebPrimitives } from '../src/primitives/web.js';
import { loadVectors, runVector, skipReason } from './age/cctv.js';

const vectors = loadVectors();
const runnable = vectors.filter((v) => !skipReason(v));
const skipped = vectors.filter((v) => skipReason(v));
const reasons = new Map<string, number>();
for (const v of skipped) reasons.set(skipReason(v) as string, (reasons.get(skipReason(v) as string) ?? 0) + 1);
console.log(`CCTV age vectors: ${vectors.length} total, ${runnable.length} run, ${skipped.length} skipped`);
for (const [reason, n] of reasons) console.log(`  skipped ${n}: ${reason}`);

describe('CCTV age vectors', () => {
  it('covers the whole feature set (X25519, mlkem768x25519, scrypt, STREAM, armor): nothing skipped', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(143);
    expect(vectors.filter((v) => v.identities.some((i) => i.startsWith('AGE-SECRET-KEY-PQ-'))).length).toBeGreaterThanOrEqual(19);
    expect(skipped).toEqual([]);
    expect(runnable.length).toBe(vectors.length);
  });

  const p = createNodePrimitives();
  it.each(runnable.map((v) => [v.name, v] as const))('%s', async (_name, v) => {
    const r = await runVector(p, v);
    expect(r.outcome, String((r.error as Error | undefined)?.message)).toBe(v.expect);
    if (v.payload) expect(r.released).toBe(v.payload);
  });

  it('the success vectors also pass with the web primitives', async () => {
    const web = createWebPrimitives();
    const success = runnable.filter((v) => v.expect === 'success' && !v.passphrases.length);
    expect(success.length).toBeGreaterThan(10);
    for (const v of success) expect((await runVector(web, v)).released, v.name).toBe(v.payload);
  });
});
