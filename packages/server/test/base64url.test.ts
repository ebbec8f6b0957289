import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeBase64url, tryDecodeBase64url } from '../src/http/base64url.js';

/** The definition the decoder implements: Node's lenient decoder, then encoding again must give the same text. */
function reference(text: string): Uint8Array | undefined {
  if (text.length % 4 === 1 || !/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const buf = Buffer.from(text, 'base64url');
  return buf.toString('base64url') === text ? new Uint8Array(buf) : undefined;
}

describe('strict base64url', () => {
  it('round-trips any bytes, each value in its own exact-size buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const out = tryDecodeBase64url(encodeBase64url(bytes)) as Uint8Array;
        expect(out).toEqual(bytes);
        expect(out.byteOffset).toBe(0);
        expect(out.buffer.byteLength).toBe(bytes.length);
      }),
    );
  });

  it('accepts and refuses exactly what decoding then encoding again accepts (non-canonical trailing bits, padding, alphabet, length)', () => {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.';
    const text = fc.array(fc.constantFrom(...chars), { maxLength: 12 }).map((a) => a.join(''));
    fc.assert(
      fc.property(text, (t) => {
        expect(tryDecodeBase64url(t)).toEqual(reference(t));
      }),
      { numRuns: 5000 },
    );
    // Every last character after one byte (2 characters) and after two bytes (3 characters).
    for (const c of chars.slice(0, 64)) {
      expect(tryDecodeBase64url(`A${c}`)).toEqual(reference(`A${c}`));
      expect(tryDecodeBase64url(`AA${c}`)).toEqual(reference(`AA${c}`));
    }
    expect(tryDecodeBase64url('AA')).toEqual(new Uint8Array([0]));
    expect(tryDecodeBase64url('AB')).toBeUndefined();
    expect(tryDecodeBase64url('AAA')).toEqual(new Uint8Array([0, 0]));
    expect(tryDecodeBase64url('AAB')).toBeUndefined();
    expect(tryDecodeBase64url('AA==')).toBeUndefined();
    expect(tryDecodeBase64url('A')).toBeUndefined();
    expect(tryDecodeBase64url(42 as unknown as string)).toBeUndefined();
  });
});
