/**
 * age payload STREAM: the whole-chunk APIs (seal/open, sealInto/openInto, in place), resuming at
 * a chunk (encryptor and decryptor), the size/offset helpers, and the synchronous primitive fast
 * path against the async one, on node and web primitives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as age from '../src/age/index.js';
import { concat } from '../src/bytes.js';
import { createNodePrimitives } from '../src/primitives/node.js';
import type { Primitives } from '../src/primitives/types.js';
import { createWebPrimitives } from '../src/primitives/web.js';

const node = createNodePrimitives();
const web = createWebPrimitives();
/** The node primitives without their synchronous ChaCha20-Poly1305: the stream's async path. */
const asyncOnly: Primitives = { ...node, name: 'node-async', chacha20Poly1305SealSync: undefined, chacha20Poly1305OpenSync: undefined };
const PRIMITIVES = [node, web, asyncOnly];
const C = age.CHUNK_BYTES;
const ENC = age.ENCRYPTED_CHUNK_BYTES;
const SIZES = [0, 1, C - 1, C, C + 1, 3 * C];

const fileKey = node.randomBytes(16);
const nonce = node.randomBytes(16);
const plaintexts = new Map<number, Uint8Array>();
const payloads = new Map<number, Uint8Array>();
function plaintextOf(size: number): Uint8Array {
  let p = plaintexts.get(size);
  if (!p) {
    p = new Uint8Array(size);
    for (let i = 0; i < size; i++) p[i] = (i * 31 + (i >> 16)) & 0xff;
    plaintexts.set(size, p);
  }
  return p;
}
/** The one-shot payload of plaintextOf(size) under fileKey and nonce (node primitives). */
async function payloadOf(size: number): Promise<Uint8Array> {
  let w = payloads.get(size);
  if (!w) {
    w = await age.encryptPayload(node, fileKey, plaintextOf(size), nonce);
    payloads.set(size, w);
  }
  return w;
}
/** Where an encryptor started at chunk n begins in the payload (the nonce comes with chunk 0). */
const resumeOffset = (n: number) => (n === 0 ? 0 : age.payloadOffsetOfChunk(n));

/** Byte equality without vitest's element-by-element deep equality (slow on 200 KB arrays); shows the first difference. */
function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.equals(b)) return;
  let i = 0;
  while (i < Math.min(a.length, b.length) && a[i] === b[i]) i++;
  expect({ length: a.length, at: i, bytes: a.subarray(i, i + 16).toString('hex') }).toEqual({
    length: b.length,
    at: i,
    bytes: b.subarray(i, i + 16).toString('hex'),
  });
}

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await expect(promise).rejects.toSatisfy((e: unknown) => (e as { code?: string }).code === code && (!message || message.test((e as Error).message)));
}

describe('age payload sizes and offsets', () => {
  it('payloadSize, plaintextSize and chunkCount match real payloads', async () => {
    for (const size of [...SIZES, 2 * C, 2 * C + 7, 5 * C - 3]) {
      const payload = await age.encryptPayload(node, fileKey, plaintextOf(size), nonce);
      expect(age.payloadSize(size)).toBe(payload.length);
      expect(age.plaintextSize(payload.length)).toBe(size);
      expect(age.chunkCount(size)).toBe(Math.max(1, Math.ceil(size / C)));
      expect(age.sealedLength(size)).toBe(payload.length - age.PAYLOAD_NONCE_BYTES);
    }
    // An empty plaintext still has one (empty) final chunk.
    expect(age.payloadSize(0)).toBe(32);
    expect(age.payloadSize(C)).toBe(16 + ENC);
    expect(age.payloadSize(C + 1)).toBe(16 + ENC + 17);
  });

  it('plaintextSize rejects sizes no payload has', () => {
    for (const bad of [0, 15, 16, 31, 16 + ENC + 16, 16 + 2 * ENC + 5, -1, 0.5, Number.NaN]) {
      expect(() => age.plaintextSize(bad), String(bad)).toThrow(/payload size/);
    }
    expect(() => age.payloadSize(-1)).toThrow();
  });

  it('chunk offsets', () => {
    expect(age.payloadOffsetOfChunk(0)).toBe(16);
    expect(age.payloadOffsetOfChunk(3)).toBe(16 + 3 * ENC);
    expect(age.plaintextOffsetOfChunk(3)).toBe(3 * C);
    expect(age.chunkIndexOfPayloadOffset(0)).toBe(0);
    expect(age.chunkIndexOfPayloadOffset(15)).toBe(0);
    expect(age.chunkIndexOfPayloadOffset(16)).toBe(0);
    expect(age.chunkIndexOfPayloadOffset(16 + ENC - 1)).toBe(0);
    expect(age.chunkIndexOfPayloadOffset(16 + ENC)).toBe(1);
    for (const i of [0, 1, 7, 1e6]) expect(age.chunkIndexOfPayloadOffset(age.payloadOffsetOfChunk(i))).toBe(i);
    expect(() => age.payloadOffsetOfChunk(-1)).toThrow();
  });
});

describe('age payload resuming at a chunk', () => {
  it('encrypting from chunk N equals the suffix of the full encryption (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...SIZES, 2 * C + 7),
        fc.nat(),
        fc.array(fc.integer({ min: 0, max: 3 * C }), { maxLength: 4 }),
        fc.constantFrom(...PRIMITIVES),
        async (size, pick, cuts, p) => {
          const plaintext = plaintextOf(size);
          const whole = await payloadOf(size);
          const start = pick % age.chunkCount(size);
          const rest = plaintext.subarray(age.plaintextOffsetOfChunk(start));
          const want = whole.subarray(resumeOffset(start));

          // push(), with arbitrary splits.
          const e = await age.createPayloadEncryptor(p, fileKey, nonce, { startChunk: start });
          expect(e.nextChunk).toBe(start);
          const parts: Uint8Array[] = [];
          let prev = 0;
          for (const c of [...new Set(cuts.map((x) => Math.min(x, rest.length)))].sort((a, b) => a - b)) {
            parts.push(await e.push(rest.subarray(prev, c)));
            prev = c;
          }
          parts.push(await e.push(rest.subarray(prev), true));
          expectBytes(concat(...parts), want);
          expect(e.nextChunk).toBe(age.chunkCount(size));

          // seal() in one call, and sealInto().
          const s = await age.createPayloadEncryptor(p, fileKey, nonce, { startChunk: start });
          expectBytes(concat(...(await s.seal(rest, true))), want);
          const i = await age.createPayloadEncryptor(p, fileKey, nonce, { startChunk: start });
          const out = new Uint8Array(want.length + 100);
          expect(await i.sealInto(rest, out, true)).toBe(want.length);
          expectBytes(out.subarray(0, want.length), want);

          // The decryptor resumed at the same chunk, given the nonce.
          const d = age.createPayloadDecryptor(p, fileKey, { nonce, startChunk: start });
          const back = start === 0 ? whole.subarray(16) : want;
          expectBytes(await d.push(back, true), rest);
          const o = age.createPayloadDecryptor(p, fileKey, { nonce, startChunk: start });
          expectBytes(concat(...(await o.open(back, true))), rest);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('every start chunk of a 3-chunk-and-a-bit payload, chunk by chunk', async () => {
    const plaintext = plaintextOf(3 * C + 10);
    const whole = await age.encryptPayload(node, fileKey, plaintext, nonce);
    for (let start = 0; start < 4; start++) {
      const e = await age.createPayloadEncryptor(node, fileKey, nonce, { startChunk: start });
      const parts: Uint8Array[] = [];
      for (let c = start; c < 4; c++) parts.push(...(await e.seal(plaintext.subarray(c * C, (c + 1) * C), c === 3)));
      expectBytes(concat(...parts), whole.subarray(resumeOffset(start)));
    }
  });

  it('a resumed decryptor still rejects tampering, truncation and a wrong start chunk', async () => {
    const plaintext = plaintextOf(3 * C);
    const whole = await age.encryptPayload(node, fileKey, plaintext, nonce);
    const from1 = whole.subarray(age.payloadOffsetOfChunk(1));
    const flipped = from1.slice();
    flipped[5] = (flipped[5] as number) ^ 1;
    await rejectsWith(age.createPayloadDecryptor(node, fileKey, { nonce, startChunk: 1 }).push(flipped, true), 'ERR_AGE_PAYLOAD');
    await rejectsWith(age.createPayloadDecryptor(node, fileKey, { nonce, startChunk: 2 }).push(from1, true), 'ERR_AGE_PAYLOAD');
    await rejectsWith(
      age.createPayloadDecryptor(node, fileKey, { nonce, startChunk: 1 }).push(from1.subarray(0, ENC), true),
      'ERR_AGE_PAYLOAD',
      /missing final/,
    );
  });

  it('resuming needs the nonce; a resumed encryptor cannot end on an empty chunk', async () => {
    await expect(age.createPayloadEncryptor(node, fileKey, undefined, { startChunk: 1 })).rejects.toThrow(/nonce/);
    expect(() => age.createPayloadDecryptor(node, fileKey, { startChunk: 1 })).toThrow(/nonce/);
    await expect(age.createPayloadEncryptor(node, fileKey, nonce, { startChunk: -1 })).rejects.toThrow(/start chunk/);
    const e = await age.createPayloadEncryptor(node, fileKey, nonce, { startChunk: 2 });
    await expect(e.push(new Uint8Array(0), true)).rejects.toThrow(/must not be empty/);
    const s = await age.createPayloadEncryptor(node, fileKey, nonce, { startChunk: 2 });
    await expect(s.seal(new Uint8Array(0), true)).rejects.toThrow(/must not be empty/);
  });
});

describe('age payload whole-chunk APIs', () => {
  for (const p of PRIMITIVES) {
    it(`seal/open and sealInto/openInto in place match one-shot, every size (${p.name})`, async () => {
      for (const size of SIZES) {
        const plaintext = plaintextOf(size);
        const whole = await payloadOf(size);

        // Blocks of two chunks; a full block's last chunk waits until the end of input is known.
        const e = await age.createPayloadEncryptor(p, fileKey, nonce);
        const parts: Uint8Array[] = [];
        const whole2 = Math.max(0, Math.ceil(size / C) - 1) * C;
        for (let at = 0; at < whole2; at += 2 * C) parts.push(...(await e.seal(plaintext.subarray(at, Math.min(at + 2 * C, whole2)))));
        parts.push(...(await e.seal(plaintext.subarray(whole2), true)));
        expectBytes(concat(...parts), whole);

        // sealInto in place: the plaintext sits far enough into the buffer.
        const headroom = 16 + 16 * age.chunkCount(size);
        const buf = new Uint8Array(headroom + size);
        buf.set(plaintext, headroom);
        const i = await age.createPayloadEncryptor(p, fileKey, nonce);
        const n = await i.sealInto(buf.subarray(headroom), buf, true);
        expectBytes(buf.subarray(0, n), whole);

        // open / openInto in place, after the nonce was pushed.
        const d = age.createPayloadDecryptor(p, fileKey);
        expect((await d.push(whole.subarray(0, 16))).length).toBe(0);
        expectBytes(concat(...(await d.open(whole.subarray(16), true))), plaintext);
        const sealed = whole.slice(16);
        const o = age.createPayloadDecryptor(p, fileKey, { nonce });
        const m = await o.openInto(sealed, sealed, true);
        expectBytes(sealed.subarray(0, m), plaintext);
      }
    });
  }

  it('the synchronous primitives agree with the async ones (node and web)', async () => {
    const key = node.randomBytes(32);
    const n12 = node.randomBytes(12);
    for (const size of [0, 1, 100, C]) {
      const pt = node.randomBytes(size);
      const sealed = await node.chacha20Poly1305Seal(key, n12, pt);
      for (const p of [node, web]) {
        const [body, tag] = p.chacha20Poly1305SealSync?.(key, n12, pt) ?? [];
        expect(concat(body as Uint8Array, tag as Uint8Array)).toEqual(sealed);
        expect(p.chacha20Poly1305OpenSync?.(key, n12, sealed)).toEqual(pt);
        const bad = sealed.slice();
        bad[0] = (bad[0] as number) ^ 1;
        expect(p.chacha20Poly1305OpenSync?.(key, n12, bad)).toBeNull();
        expect(p.chacha20Poly1305OpenSync?.(key, n12, sealed.subarray(0, 15))).toBeNull();
      }
    }
  });

  it('misuse: partial chunks without last, mixing with buffered push, open before the nonce, small output', async () => {
    const e = await age.createPayloadEncryptor(node, fileKey, nonce);
    await expect(e.seal(new Uint8Array(C + 1))).rejects.toThrow(/whole chunks/);
    await e.push(new Uint8Array(10));
    await expect(e.seal(new Uint8Array(C))).rejects.toThrow(/buffered/);
    const f = await age.createPayloadEncryptor(node, fileKey, nonce);
    await expect(f.sealInto(new Uint8Array(C), new Uint8Array(C), true)).rejects.toThrow(/too small/);
    await f.seal(new Uint8Array(C));
    await expect(f.seal(new Uint8Array(0), true)).rejects.toThrow(/must not be empty/);
    await f.seal(new Uint8Array(1), true);
    await expect(f.seal(new Uint8Array(1), true)).rejects.toThrow(/finished/);

    const d = age.createPayloadDecryptor(node, fileKey);
    await expect(d.open(new Uint8Array(ENC))).rejects.toThrow(/before the payload nonce/);
    await d.push(nonce);
    await expect(d.open(new Uint8Array(ENC + 1))).rejects.toThrow(/whole chunks/);
    await expect(d.openInto(new Uint8Array(ENC), new Uint8Array(10), true)).rejects.toThrow(/too small/);
  });

  it('open/openInto failures carry the plaintext that authenticated before them', async () => {
    const plaintext = plaintextOf(3 * C);
    const whole = await age.encryptPayload(node, fileKey, plaintext, nonce);
    const sealed = whole.slice(16);
    sealed[2 * ENC + 3] = (sealed[2 * ENC + 3] as number) ^ 1;
    for (const into of [false, true]) {
      const d = age.createPayloadDecryptor(node, fileKey, { nonce });
      const err = await (into ? d.openInto(sealed, new Uint8Array(sealed.length), true) : d.open(sealed, true)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(age.AgePayloadError);
      expectBytes((err as age.AgePayloadError).released, plaintext.subarray(0, 2 * C));
      await rejectsWith(d.open(new Uint8Array(0), true), 'ERR_AGE_PAYLOAD', /failed earlier/);
    }
    // Many chunks per call (on Node 24 opened together on the thread pool): a bad middle chunk
    // releases exactly the chunks before it, in order, whichever finished first.
    const six = await age.encryptPayload(node, fileKey, plaintextOf(6 * C), nonce);
    for (const bad of [0, 3, 4]) {
      const tampered = six.slice(16);
      tampered[bad * ENC + 100] = (tampered[bad * ENC + 100] as number) ^ 1;
      const d6 = age.createPayloadDecryptor(node, fileKey, { nonce });
      const err = await d6.open(tampered, true).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(age.AgePayloadError);
      expect((err as age.AgePayloadError).message).toMatch(/failed to authenticate/);
      expectBytes((err as age.AgePayloadError).released, plaintextOf(6 * C).subarray(0, bad * C));
    }
    // The final chunk among middle ones: released, then rejected.
    const f3 = await age.encryptPayload(node, fileKey, plaintextOf(3 * C), nonce);
    const d3 = age.createPayloadDecryptor(node, fileKey, { nonce });
    const after = await d3.open(concat(f3.subarray(16), f3.subarray(16, 16 + ENC))).catch((e: unknown) => e);
    expect((after as age.AgePayloadError).message).toMatch(/after the final chunk/);
    expectBytes((after as age.AgePayloadError).released, plaintextOf(3 * C));
    // Cut at a chunk boundary: the last full chunk is not final.
    const d = age.createPayloadDecryptor(node, fileKey, { nonce });
    await rejectsWith(d.open(whole.subarray(16, 16 + 2 * ENC), true), 'ERR_AGE_PAYLOAD', /missing final chunk/);
    // A final chunk presented as a middle one (more data claimed to follow).
    const m = age.createPayloadDecryptor(node, fileKey, { nonce, startChunk: 2 });
    await rejectsWith(m.open(concat(whole.subarray(age.payloadOffsetOfChunk(2)), new Uint8Array(0))), 'ERR_AGE_PAYLOAD', /after the final chunk/);
  });
});
