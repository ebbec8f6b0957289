/**
 * Encrypted records and blind indexes (docs/PROTOCOL.md §19): round trips (property tests),
 * tampering (a sealed field moved to another record, column, collection or epoch, any flipped
 * byte), bad input, the planner's numbers and token statistics.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodePrimitives as p } from './helpers.js';
import * as P from './internals.js';

const key = p.randomBytes(32);
const collectionId = p.randomBytes(16);
const rid = () => p.randomBytes(16);

async function cipher(epoch = 1, k = key, id = collectionId) {
  return P.RecordCipher.create(p, { collectionId: id, epoch, key: k });
}

/** Split a sealed record into its length-prefixed parts (format 0x01 ‖ epoch ‖ bytes32...). */
function parts(sealed: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new DataView(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  let pos = 5;
  while (pos < sealed.length) {
    const n = view.getUint32(pos);
    out.push(sealed.subarray(pos + 4, pos + 4 + n));
    pos += 4 + n;
  }
  return out;
}
function join(head: Uint8Array, seals: Uint8Array[]): Uint8Array {
  const w = [head.subarray(0, 5)];
  for (const s of seals) {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, s.length);
    w.push(len, s);
  }
  return P.concat(...w);
}

const jsonValue = fc.jsonValue() as fc.Arbitrary<P.RecordValue>;
const recordArb = fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), jsonValue, { maxKeys: 8 });

describe('record seal', () => {
  it('round-trips any JSON object (property)', async () => {
    const c = await cipher();
    await fc.assert(
      fc.asyncProperty(recordArb, async (record) => {
        const id = rid();
        const opened = await c.openRecord(id, await c.sealRecord(id, record));
        expect(opened).toEqual(JSON.parse(JSON.stringify(record)));
      }),
      { numRuns: 150 },
    );
  });

  it('keeps a "__proto__" field as data', async () => {
    const c = await cipher();
    const id = rid();
    const record = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as P.JsonRecord;
    const opened = await c.openRecord(id, await c.sealRecord(id, record));
    expect(Object.keys(opened)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('seals the same record differently each time and hides names and values', async () => {
    const c = await cipher();
    const id = rid();
    const a = await c.sealRecord(id, { secretname: 'canaryvalue' });
    const b = await c.sealRecord(id, { secretname: 'canaryvalue' });
    expect(P.toHex(a)).not.toBe(P.toHex(b));
    const text = Buffer.from(a).toString('latin1');
    expect(text).not.toContain('secretname');
    expect(text).not.toContain('canaryvalue');
  });

  it('refuses a field moved to another record, column, collection or epoch', async () => {
    const c = await cipher();
    const idA = rid();
    const idB = rid();
    const a = await c.sealRecord(idA, { name: 'alice', city: 'paris' });
    const b = await c.sealRecord(idB, { name: 'bob', city: 'paris' });
    const [ha, na, ca] = parts(a) as [Uint8Array, Uint8Array, Uint8Array];
    const [, nb] = parts(b) as [Uint8Array, Uint8Array];
    // Sanity: re-joining the parts unchanged opens.
    expect(await c.openRecord(idA, join(a, [ha, na, ca]))).toEqual({ name: 'alice', city: 'paris' });
    // Another record's field in this record.
    await expect(c.openRecord(idA, join(a, [ha, nb, ca]))).rejects.toBeInstanceOf(P.DecryptError);
    // Columns swapped within the record.
    await expect(c.openRecord(idA, join(a, [ha, ca, na]))).rejects.toBeInstanceOf(P.DecryptError);
    // The whole record under another id.
    await expect(c.openRecord(idB, a)).rejects.toBeInstanceOf(P.DecryptError);
    // Another collection with the same key, another epoch, another key.
    await expect((await cipher(1, key, p.randomBytes(16))).openRecord(idA, a)).rejects.toBeInstanceOf(P.DecryptError);
    const otherEpoch = P.concat(a);
    otherEpoch[4] = 2;
    await expect((await cipher(2)).openRecord(idA, otherEpoch)).rejects.toBeInstanceOf(P.DecryptError);
    await expect((await cipher(1, p.randomBytes(32))).openRecord(idA, a)).rejects.toBeInstanceOf(P.DecryptError);
    // A field dropped or duplicated.
    await expect(c.openRecord(idA, join(a, [ha, na]))).rejects.toBeInstanceOf(P.DecryptError);
    await expect(c.openRecord(idA, join(a, [ha, na, ca, ca]))).rejects.toBeInstanceOf(P.DecryptError);
  });

  it('refuses every flipped byte and every truncation with the same error', async () => {
    const c = await cipher();
    const id = rid();
    const sealed = await c.sealRecord(id, { n: 1, s: 'x' });
    for (let i = 0; i < sealed.length; i++) {
      const t = sealed.slice();
      t[i] = (t[i] as number) ^ 0x01;
      const err = await c.openRecord(id, t).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, `byte ${i}`).toBeInstanceOf(P.DecryptError);
      expect((err as Error).message).toBe(new P.DecryptError().message);
    }
    for (let n = 0; n < sealed.length; n += 7) await expect(c.openRecord(id, sealed.subarray(0, n))).rejects.toBeInstanceOf(P.DecryptError);
  });

  it('seals and opens metadata, bound to the epoch', async () => {
    const c = await cipher(4);
    const sealed = await c.sealMeta({ indexes: [{ name: 'x' }] });
    expect(await c.openMeta(sealed)).toEqual({ indexes: [{ name: 'x' }] });
    await expect((await cipher(5)).openMeta(sealed)).rejects.toBeInstanceOf(P.DecryptError);
    const t = sealed.slice();
    t[t.length - 1] = (t[t.length - 1] as number) ^ 1;
    await expect(c.openMeta(t)).rejects.toBeInstanceOf(P.DecryptError);
  });

  it('refuses bad arguments with InvalidArgumentError', async () => {
    const c = await cipher();
    await expect(P.RecordCipher.create(p, { collectionId: new Uint8Array(15), epoch: 1, key })).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(P.RecordCipher.create(p, { collectionId, epoch: -1, key })).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(P.RecordCipher.create(p, { collectionId, epoch: 1, key: new Uint8Array(16) })).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(c.sealRecord(new Uint8Array(8), { a: 1 })).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(c.sealRecord(rid(), [] as unknown as P.JsonRecord)).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(c.sealRecord(rid(), { '': 1 })).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(c.sealRecord(rid(), { f: undefined as unknown as P.RecordValue })).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(c.sealRecord(rid(), { big: 'x'.repeat(P.MAX_RECORD_JSON_BYTES) })).rejects.toBeInstanceOf(P.InvalidArgumentError);
    const many: P.JsonRecord = {};
    for (let i = 0; i <= P.MAX_RECORD_FIELDS; i++) many[`f${i}`] = i;
    await expect(c.sealRecord(rid(), many)).rejects.toBeInstanceOf(P.InvalidArgumentError);
  });
});

describe('transformations and words', () => {
  it('normalise compatibility forms and case', () => {
    expect(P.applyTransforms('ＡＢＣ', ['lower'])).toBe('abc');
    expect(P.applyTransforms('Café', [])).toBe(P.applyTransforms('Cafe\u0301', []));
    expect(P.applyTransforms('(555) 123-4567', ['digits'])).toBe('5551234567');
    expect(P.applyTransforms('(555) 123-4567', ['last4'])).toBe('4567');
    expect(P.applyTransforms('Zoë', ['first'])).toBe('z');
    expect(P.applyTransforms('  A  b ', ['trim', 'lower'])).toBe('a b');
    expect(() => P.applyTransforms('x', ['upper' as P.Transform])).toThrow(P.InvalidArgumentError);
  });

  it('tokenize: words are idempotent under re-tokenising and caps hold (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => {
        const words = P.tokenize(text);
        expect(new Set(words).size).toBe(words.length);
        for (const w of words) {
          expect(P.tokenize(w)).toEqual([w]);
          expect(Array.from(w).length).toBeLessThanOrEqual(P.MAX_WORD_CODE_POINTS);
        }
      }),
    );
    expect(P.tokenize('a'.repeat(100))).toEqual(['a'.repeat(64)]);
    expect(P.tokenize(Array.from({ length: 5000 }, (_, i) => `w${i}`).join(' '))).toHaveLength(P.MAX_WORDS_PER_FIELD);
  });
});

describe('blind indexes', () => {
  const exact: P.IndexSpec = { name: 'email', kind: 'exact', parts: [{ field: 'email', transforms: ['lower'] }], bits: 20 };

  it('equal inputs give equal tokens; keys differ per collection, index, declaration and key', async () => {
    const ix = await P.BlindIndexer.create(p, key, collectionId, exact, 0);
    const [a] = await ix.recordTokens({ email: 'Alice@Example.com' });
    const [q] = await ix.queryTokens(['ALICE@example.COM']);
    expect(a).toEqual(q);
    const k = (spec: P.IndexSpec, id = collectionId, ck = key) => P.deriveIndexKey(p, ck, id, spec).then(P.toHex);
    const base = await k(exact);
    const variants = [
      await k({ ...exact, name: 'email2' }),
      await k({ ...exact, parts: [{ field: 'email', transforms: [] }] }),
      await k({ ...exact, parts: [{ field: 'mail', transforms: ['lower'] }] }),
      await k({ ...exact, kind: 'word', parts: [{ field: 'email', transforms: [] }] }),
      await k(exact, p.randomBytes(16)),
      await k(exact, collectionId, p.randomBytes(32)),
    ];
    expect(new Set([base, ...variants]).size).toBe(7);
    // The width is not in the key: a wider token starts with the narrower one.
    expect(await k({ ...exact, bits: 40 })).toBe(base);
    const wide = await P.BlindIndexer.create(p, key, collectionId, { ...exact, bits: 40 }, 0);
    const [w] = await wide.recordTokens({ email: 'alice@example.com' });
    expect(Math.floor((w as P.BlindToken).token / 2 ** 20)).toBe((a as P.BlindToken).token);
  });

  it('compound and word inputs', async () => {
    const compound: P.IndexSpec = {
      name: 'c',
      kind: 'compound',
      parts: [
        { field: 'first', transforms: ['first'] },
        { field: 'last', transforms: ['lower'] },
      ],
      bits: 30,
    };
    const ix = await P.BlindIndexer.create(p, key, collectionId, compound, 1);
    expect(await ix.recordTokens({ first: 'Alice', last: 'Smith' })).toEqual(await ix.queryTokens(['a', 'SMITH']));
    expect(await ix.recordTokens({ first: 'Alice' })).toEqual([]);
    // Length prefixes: ("ab","c") and ("a","bc") differ.
    expect(P.toHex(P.indexInputs(compound, { first: 'ab', last: 'c' })[0] as Uint8Array)).not.toBe(
      P.toHex(P.indexInputs(compound, { first: 'a', last: 'bc' })[0] as Uint8Array),
    );
    const words: P.IndexSpec = { name: 'w', kind: 'word', parts: [{ field: 'text', transforms: [] }], bits: 30 };
    const wx = await P.BlindIndexer.create(p, key, collectionId, words, 2);
    const recordTokens = await wx.recordTokens({ text: 'The quick brown fox, the end' });
    expect(recordTokens).toHaveLength(5);
    const query = await wx.queryTokens(['FOX quick']);
    for (const t of query) expect(recordTokens).toContainEqual(t);
    expect(() => P.queryInputs(words, ['!!!'])).toThrow(P.InvalidArgumentError);
    expect(() => P.queryInputs(compound, ['a'])).toThrow(P.InvalidArgumentError);
    expect(() => P.queryInputs(exact, [null])).toThrow(P.InvalidArgumentError);
  });

  it('refuses malformed declarations', () => {
    const bad: unknown[] = [
      { ...exact, name: '' },
      { ...exact, kind: 'regex' },
      { ...exact, parts: [] },
      { ...exact, parts: [exact.parts[0], exact.parts[0]] },
      { ...exact, kind: 'compound' },
      { ...exact, parts: [{ field: 'e', transforms: ['rot13'] }] },
      { ...exact, kind: 'word' },
      { ...exact, bits: 0 },
      { ...exact, bits: 49 },
      { ...exact, bits: 1.5 },
      { ...exact, parts: [{ field: 'x'.repeat(200), transforms: [] }] },
    ];
    for (const spec of bad) expect(() => P.validateIndexSpec(spec as P.IndexSpec), JSON.stringify(spec)).toThrow(P.InvalidArgumentError);
  });

  it('truncated tokens are uniform: measured coincidences match the planner (chi-square-free check)', async () => {
    const bits = 10;
    const ix = await P.BlindIndexer.create(p, key, collectionId, { ...exact, bits }, 0);
    const n = 8192;
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const [t] = await ix.recordTokens({ email: `user${i}@example.com` });
      counts.set((t as P.BlindToken).token, (counts.get((t as P.BlindToken).token) ?? 0) + 1);
      expect((t as P.BlindToken).token).toBeLessThan(2 ** bits);
    }
    // 8192 values over 1024 tokens: 8 per token expected; nearly every token used, none wildly over.
    expect(counts.size).toBeGreaterThan(1010);
    expect(Math.max(...counts.values())).toBeLessThan(30);
  });
});

describe('planner (coincidence-count rule)', () => {
  it('picks the largest width with 2 ≤ C ≤ √N', () => {
    for (const records of [1000, 10_000, 100_000, 1_000_000, 1e9]) {
      const plan = P.planWidth({ records });
      expect(plan.safe).toBe(true);
      expect(plan.coincidences).toBeGreaterThanOrEqual(2);
      expect(plan.coincidences).toBeLessThanOrEqual(Math.sqrt(records));
      // One more bit would break C ≥ 2.
      expect(records / 2 ** (plan.bits + 1)).toBeLessThan(2);
    }
    expect(P.planWidth({ records: 1_000_000 })).toMatchObject({ bits: 18, population: 1_000_000 });
    expect(P.planWidth({ records: 100_000 }).bits).toBe(15);
    expect(P.planWidth({ records: 100_000, valuesPerRecord: 20 }).bits).toBe(19);
    expect(P.planWidth({ records: 100_000, otherBits: 6 }).bits).toBe(9);
    expect(P.planWidth({ records: 100_000, inputBits: Math.log2(1e4) }).bits).toBe(14);
    expect(P.planWidth({ records: 1_000_000 }).falsePositiveRate).toBe(2 ** -18);
  });

  it('says when no width is safe, and when a collection outgrows its plan', () => {
    expect(P.planWidth({ records: 3 })).toMatchObject({ bits: 1, safe: false });
    expect(P.planWidth({ records: 100_000, otherBits: 20 })).toMatchObject({ bits: 1, safe: false });
    expect(P.outgrown(1000, 1000)).toBe(false);
    expect(P.outgrown(1000, 1001)).toBe(true);
    expect(() => P.planWidth({ records: 0 })).toThrow(P.InvalidArgumentError);
    expect(() => P.planWidth({ records: Number.NaN })).toThrow(P.InvalidArgumentError);
    expect(() => P.planWidth({ records: 10, valuesPerRecord: -1 })).toThrow(P.InvalidArgumentError);
  });
});
