/**
 * New file, group, collection and record ids never start with "-" in base64url: a command line would read
 * `-AbC…` as an option (`blindrelay records get NAME -AbC…` failed for one id in 64).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toBase64url } from '../src/base64url.js';
import { freshId } from '../src/ids.js';

describe('fresh ids', () => {
  it('draws again when the base64url would start with "-"', () => {
    const dash = new Uint8Array(16).fill(0xfb); // first six bits 111110 = 62, "-"
    const next = new Uint8Array(16).fill(0x07);
    const queue = [dash, dash, next];
    const p = { randomBytes: (n: number) => (queue.shift() as Uint8Array).slice(0, n) };
    expect(toBase64url(dash).startsWith('-')).toBe(true);
    expect(freshId(p)).toEqual(next);
    expect(queue).toEqual([]);
  });

  it('16 bytes, and none of 20,000 starts with "-" (about 312 would by chance)', () => {
    const ids = Array.from({ length: 20_000 }, () => freshId({ randomBytes: (n) => new Uint8Array(randomBytes(n)) }));
    expect(ids.every((b) => b.length === 16)).toBe(true);
    expect(ids.filter((b) => toBase64url(b).startsWith('-'))).toEqual([]);
    // "_" (63) is still drawn: the ids keep the other 63/64 of the space.
    expect(ids.some((b) => toBase64url(b).startsWith('_'))).toBe(true);
  });
});
