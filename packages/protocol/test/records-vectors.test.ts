/**
 * Known-answer tests for encrypted records and blind indexes (docs/PROTOCOL.md §19) against
 * test/vectors/records.json, written by the independent reference in test/vectors/generate.ts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Primitives } from '../src/primitives/types.js';
import { allPrimitives } from './helpers.js';
import * as P from './internals.js';

interface RecordsFile {
  constants: { blindIndexLabel: { ascii: string }; recordDataLabel: { ascii: string } };
  collectionKey: string;
  collectionId: string;
  recordId: string;
  epoch: number;
  record: P.JsonRecord;
  indexes: (P.IndexSpec & { spec: string; indexKey: string; tokens: { transformed: string[]; input: string; mac: string; token: number }[] })[];
  dataKey: string;
  sealedRecord: string;
  meta: unknown;
  sealedMeta: string;
  transforms: { input: string; transforms: P.Transform[]; output: string }[];
  words: { text: string; words: string[] }[];
}

const v = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'vectors', 'records.json'), 'utf8')) as RecordsFile;
const hx = P.toHex;
const un = P.fromHex;

/** The same primitives, with the nonces the generator used (seeded, in order). */
function withNonces(p: Primitives, nonces: Uint8Array[]): Primitives {
  const queue = [...nonces];
  return new Proxy(p, {
    get(target, prop, receiver) {
      if (prop === 'randomBytes') return (n: number) => (queue.shift() as Uint8Array).slice(0, n);
      return Reflect.get(target, prop, receiver);
    },
  });
}

describe('records.json', () => {
  it('has every part and uses our labels', () => {
    expect(v.indexes).toHaveLength(5);
    expect(v.transforms).toHaveLength(9);
    expect(v.words).toHaveLength(4);
    expect(v.constants.blindIndexLabel.ascii).toBe(P.BLIND_INDEX_LABEL);
    expect(v.constants.recordDataLabel.ascii).toBe(P.RECORD_DATA_LABEL);
  });

  it('transformations and words match the reference', () => {
    for (const t of v.transforms) expect(P.applyTransforms(t.input, t.transforms), JSON.stringify(t)).toBe(t.output);
    for (const w of v.words) expect(P.tokenize(w.text)).toEqual(w.words);
  });

  it('index specs encode as the reference does', () => {
    for (const ix of v.indexes) expect(hx(P.encodeIndexSpec(ix))).toBe(ix.spec);
  });
});

describe.each(allPrimitives.map((p) => [p.name, p] as const))('records known answers with %s primitives', (_name, p) => {
  const key = un(v.collectionKey);
  const collectionId = un(v.collectionId);
  const recordId = un(v.recordId);

  it('index keys, inputs and tokens', async () => {
    for (const [position, ix] of v.indexes.entries()) {
      expect(hx(await P.deriveIndexKey(p, key, collectionId, ix))).toBe(ix.indexKey);
      expect(P.indexInputs(ix, v.record).map(hx)).toEqual(ix.tokens.map((t) => t.input));
      const indexer = await P.BlindIndexer.create(p, key, collectionId, ix, position);
      const tokens = await indexer.recordTokens(v.record);
      expect(tokens.map((t) => t.token)).toEqual(ix.tokens.map((t) => t.token));
      expect(tokens.every((t) => t.index === position)).toBe(true);
      for (const t of ix.tokens) expect(P.truncateToken(un(t.mac), ix.bits)).toBe(t.token);
    }
  });

  it('data key, sealed record and metadata', async () => {
    expect(hx(await P.deriveDataKey(p, key, collectionId))).toBe(v.dataKey);
    const cipher = await P.RecordCipher.create(p, { collectionId, epoch: v.epoch, key });
    expect(await cipher.openRecord(recordId, un(v.sealedRecord))).toEqual(v.record);
    expect(await cipher.openMeta(un(v.sealedMeta))).toEqual(v.meta);
    // Sealing with the generator's nonces reproduces its bytes.
    const nonces = Array.from({ length: Object.keys(v.record).length + 1 }, (_, i) => P.fromHex(seedHex(`records/nonce ${i}`).slice(0, 24)));
    const fixed = await P.RecordCipher.create(withNonces(p, nonces), { collectionId, epoch: v.epoch, key });
    expect(hx(await fixed.sealRecord(recordId, v.record))).toBe(v.sealedRecord);
  });
});

function seedHex(label: string): string {
  return createHash('sha256').update(`blindrelay test vectors/${label}`).digest('hex');
}
