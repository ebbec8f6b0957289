// `npm run bench -- search`: blind indexes over encrypted records (issue 13, docs/SEARCH.md).
// A generated corpus of 1,000,000 records (--quick: 2,000) of names, dates, amounts, card numbers
// and free text, indexed by four declared indexes (name exact lower, card last4, name+date
// compound, note words):
// - index_records_per_s: blind-index tokens per second on the client, ours (HMAC-SHA-256 through
//   our primitives) vs ciphersweet-js computing the same indexes in the same run (FIPSCrypto, fast
//   hash, i.e. one PBKDF2-HMAC-SHA-384 round per index: its cheapest mode);
// - server_query_p99_ms: the relay's token query (SQLite storage, in process, no HTTP) at the full
//   corpus, one random existing name per query;
// - e2e_query_p50_ms: query + decrypt every candidate + drop false positives (the SDK's filter), in
//   process (no HTTP);
// - false_positive_ratio: measured false candidates per non-matching record over the predicted
//   rate 2^-bits of the planner's width.
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlindIndexer, type IndexSpec, type JsonRecord, planWidth, RecordCipher } from '@blindrelay/protocol';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { openSqliteStorage } from '../packages/server/src/storage/sqlite/sqlite-storage.js';
import type { BenchOptions, BenchResult, Row } from './run.js';

const require = createRequire(import.meta.url);
const p = createNodePrimitives();

const FIRST = [
  'ada',
  'grace',
  'alan',
  'edsger',
  'barbara',
  'donald',
  'margaret',
  'ken',
  'dennis',
  'radia',
  'frances',
  'john',
  'leslie',
  'tony',
  'niklaus',
  'shafi',
];
const WORDS =
  'invoice payment refund shipped delayed customer account transfer balance overdue credit debit review approved rejected urgent monthly annual report meeting'.split(
    ' ',
  );

/** Deterministic corpus (xorshift): record i. */
function corpus(n: number): JsonRecord[] {
  let s = 0x9e3779b9;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const out: JsonRecord[] = [];
  for (let i = 0; i < n; i++) {
    const first = FIRST[Math.floor(rnd() * FIRST.length)] as string;
    const last = `Name${Math.floor(rnd() * (n / 4))}`;
    const words = Array.from({ length: 8 }, () => WORDS[Math.floor(rnd() * WORDS.length)] as string);
    out.push({
      name: `${first[0]?.toUpperCase()}${first.slice(1)} ${last}`,
      date: `2026-${String(1 + Math.floor(rnd() * 12)).padStart(2, '0')}-${String(1 + Math.floor(rnd() * 28)).padStart(2, '0')}`,
      amount: Math.round(rnd() * 1e6) / 100,
      card: `4111 ${String(Math.floor(rnd() * 1e4)).padStart(4, '0')} ${String(Math.floor(rnd() * 1e4)).padStart(4, '0')} ${String(Math.floor(rnd() * 1e4)).padStart(4, '0')}`,
      note: `${words.join(' ')} ref${i}`,
    });
  }
  return out;
}

function specs(records: number): IndexSpec[] {
  const exact = planWidth({ records }).bits;
  return [
    { name: 'name', kind: 'exact', parts: [{ field: 'name', transforms: ['lower'] }], bits: exact },
    { name: 'card4', kind: 'exact', parts: [{ field: 'card', transforms: ['last4'] }], bits: planWidth({ records, inputBits: Math.log2(1e4) }).bits },
    {
      name: 'name_date',
      kind: 'compound',
      parts: [
        { field: 'name', transforms: ['lower'] },
        { field: 'date', transforms: [] },
      ],
      bits: exact,
    },
    { name: 'note', kind: 'word', parts: [{ field: 'note', transforms: [] }], bits: planWidth({ records, valuesPerRecord: 9 }).bits },
  ];
}

const percentile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
};

interface CipherSweetApi {
  CipherSweet: new (kp: unknown, backend: unknown) => unknown;
  StringProvider: new (hex: string) => unknown;
  FIPSCrypto: new () => unknown;
  EncryptedRow: new (
    engine: unknown,
    table: string,
  ) => {
    addTextField(f: string): unknown;
    addBlindIndex(f: string, i: unknown): unknown;
    addCompoundIndex(i: unknown): unknown;
    getAllBlindIndexes(row: Record<string, unknown>): Promise<unknown>;
  };
  EncryptedField: new (
    engine: unknown,
    table: string,
    field: string,
  ) => { addBlindIndex(i: unknown): unknown; getBlindIndex(v: string, n: string): Promise<unknown> };
  BlindIndex: new (name: string, transforms: unknown[], bits: number, fast: boolean) => unknown;
  CompoundIndex: new (name: string, fields: string[], bits: number, fast: boolean) => { addTransform(f: string, t: unknown): unknown };
  Lowercase: new () => unknown;
  LastFourDigits: new () => unknown;
}

/** ciphersweet-js computing the same four indexes (words: one blind index per distinct word, as ours). */
async function peerIndexRate(records: JsonRecord[], ix: IndexSpec[]): Promise<number> {
  const cs = require('ciphersweet-js') as CipherSweetApi;
  const engine = new cs.CipherSweet(new cs.StringProvider('4e1c44f87b4cdf21808762970b356891db180a9dd9850e7baf2a79ff3ab8a2fc'), new cs.FIPSCrypto());
  const row = new cs.EncryptedRow(engine, 'people');
  row.addTextField('name');
  row.addTextField('card');
  row.addTextField('date');
  row.addBlindIndex('name', new cs.BlindIndex('name', [new cs.Lowercase()], (ix[0] as IndexSpec).bits, true));
  row.addBlindIndex('card', new cs.BlindIndex('card4', [new cs.LastFourDigits()], (ix[1] as IndexSpec).bits, true));
  const compound = new cs.CompoundIndex('name_date', ['name', 'date'], (ix[2] as IndexSpec).bits, true);
  compound.addTransform('name', new cs.Lowercase());
  row.addCompoundIndex(compound);
  const note = new cs.EncryptedField(engine, 'people', 'note');
  note.addBlindIndex(new cs.BlindIndex('note', [new cs.Lowercase()], (ix[3] as IndexSpec).bits, true));
  const { tokenize } = await import('@blindrelay/protocol');
  const start = performance.now();
  for (const r of records) {
    await row.getAllBlindIndexes({ name: r.name, card: r.card, date: r.date });
    for (const w of tokenize(r.note as string)) await note.getBlindIndex(w, 'note');
  }
  return records.length / ((performance.now() - start) / 1000);
}

export async function run(o: BenchOptions): Promise<BenchResult> {
  const n = o.quick ? 2_000 : 1_000_000;
  const peerN = o.quick ? 500 : 20_000;
  const queries = o.quick ? 50 : 500;
  o.log(`corpus: ${n} records`);
  const records = corpus(n);
  const ix = specs(n);
  o.log(`widths: ${ix.map((s) => `${s.name} ${s.bits}`).join(', ')}`);
  const key = p.randomBytes(32);
  const collectionId = p.randomBytes(16);
  const indexers = await Promise.all(ix.map((s, i) => BlindIndexer.create(p, key, collectionId, s, i)));

  // Client: tokens for every record (ours), then the peer on a sample of the same corpus.
  const postings: [number, number][][] = new Array(n);
  let start = performance.now();
  for (let i = 0; i < n; i++) {
    const out: [number, number][] = [];
    for (const x of indexers) for (const t of await x.recordTokens(records[i] as JsonRecord)) out.push([t.index, t.token]);
    postings[i] = out;
  }
  const ours = n / ((performance.now() - start) / 1000);
  o.log(`ours: ${Math.round(ours)} records/s`);
  const peer = await peerIndexRate(records.slice(0, peerN), ix);
  o.log(`ciphersweet-js: ${Math.round(peer)} records/s (${peerN} records)`);

  // Relay storage: load the sealed records and their postings.
  const dir = await mkdtemp(join(tmpdir(), 'br-bench-search-'));
  const storage = openSqliteStorage({ dataDir: join(dir, 'data'), now: () => 0 });
  try {
    await storage.accounts.create(
      {
        user: 'bench',
        masterKey: p.randomBytes(32),
        listVersion: 1,
        deviceList: p.randomBytes(100),
        device: { deviceId: 1, signingKey: p.randomBytes(32), identityKey: p.randomBytes(32) },
        prekeys: {},
        createdAt: 0,
      },
      { maxStoredOneTime: 10 },
    );
    const limits = { maxCollectionsPerUser: 10, maxRecordsPerCollection: 10_000_000, maxCollectionMembers: 10 };
    const cipher = await RecordCipher.create(p, { collectionId, epoch: 0, key });
    await storage.records.createCollection({ id: collectionId, owner: 'bench', epoch: 0, meta: await cipher.sealMeta({}), members: [], createdAt: 0 }, limits);
    const ids: Uint8Array[] = new Array(n);
    start = performance.now();
    const BATCH = 2000;
    for (let b = 0; b < n; b += BATCH) {
      const work: Promise<unknown>[] = [];
      for (let i = b; i < Math.min(n, b + BATCH); i++) {
        const id = p.randomBytes(16);
        ids[i] = id;
        const body = await cipher.sealRecord(id, records[i] as JsonRecord);
        work.push(
          storage.records.putRecord(
            collectionId,
            'bench',
            { id, epoch: 0, body, postings: (postings[i] as [number, number][]).map(([index, token]) => ({ index, token })) },
            limits,
            0,
          ),
        );
      }
      await Promise.all(work);
      if (b % 100_000 === 0) o.log(`loaded ${b}`);
    }
    o.log(`loaded ${n} records in ${((performance.now() - start) / 1000).toFixed(1)} s`);

    // Queries: a random existing name (exact index 0), server only and end to end.
    const server: number[] = [];
    const e2e: number[] = [];
    let falseCandidates = 0;
    let nonMatching = 0;
    const nameIndexer = indexers[0] as BlindIndexer;
    for (let q = 0; q < queries; q++) {
      const target = records[Math.floor((q * 7919) % n)] as JsonRecord;
      const value = target.name as string;
      const tokens = await nameIndexer.queryTokens([value]);
      const t0 = performance.now();
      const found = await storage.records.query(collectionId, 'bench', {
        alternatives: [tokens.map((t) => ({ index: t.index, token: t.token }))],
        limit: 1000,
      });
      const t1 = performance.now();
      if (!Array.isArray(found)) throw new Error('query refused');
      let matches = 0;
      for (const r of found) {
        const rec = await cipher.openRecord(r.id, r.body);
        if (String(rec.name).toLowerCase() === value.toLowerCase()) matches++;
      }
      const t2 = performance.now();
      server.push(t1 - t0);
      e2e.push(t2 - t0);
      const truth = records.filter((r) => String(r.name).toLowerCase() === value.toLowerCase()).length;
      if (matches !== truth) throw new Error(`recall: ${matches} of ${truth} for ${value}`);
      falseCandidates += found.length - matches;
      nonMatching += n - truth;
    }
    const measured = falseCandidates / nonMatching;
    const predicted = 2 ** -(ix[0] as IndexSpec).bits;
    o.log(
      `false candidates ${falseCandidates} over ${queries} queries: ${measured.toExponential(3)} per non-matching record, predicted ${predicted.toExponential(3)}`,
    );
    const rows: Row[] = [
      { metric: 'index_records_per_s', unit: 'records/s', ours, peer, ratio: ours / peer },
      { metric: 'server_query_p99_ms', unit: 'ms', ours: percentile(server, 0.99), peer: null, ratio: null },
      { metric: 'e2e_query_p50_ms', unit: 'ms', ours: percentile(e2e, 0.5), peer: null, ratio: null },
      { metric: 'false_positive_ratio', unit: 'measured/predicted', ours: measured / predicted, peer: null, ratio: null },
      { metric: 'records', unit: 'count', ours: n, peer: null, ratio: null },
    ];
    const cs = require('ciphersweet-js/package.json') as { version: string };
    return { bench: 'search', peer: `ciphersweet-js@${cs.version}`, rows };
  } finally {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
}
