/**
 * Encrypted records and blind-index search (docs/PROTOCOL.md §19, docs/API.md §10, docs/SEARCH.md).
 *
 * A collection has a name (private: it lives in the sealed metadata and the key envelopes), an
 * owner, members, index declarations with their token widths (planned by the coincidence-count
 * rule for `plannedRecords`), and one key per epoch. Records are sealed field by field on this
 * device; their blind tokens go to the relay as postings. A query sends, for every epoch whose key
 * this device holds, the AND of the query's tokens; the relay returns candidates, which are
 * decrypted and filtered here against the same normalisation the index uses, so results are
 * exact: a false positive never reaches the caller, and every matching record is among the
 * candidates (the tokens of equal normalised values are equal).
 */

import {
  applyTransforms,
  BlindIndexer,
  type BlindToken,
  type IndexKind,
  type IndexSpec,
  indexableText,
  type JsonRecord,
  outgrown,
  planWidth,
  RecordCipher,
  type Transform,
  tokenize,
  validateIndexSpec,
} from '@blindrelay/protocol';
import { fromBase64url, toBase64url } from '../base64url.js';
import type { Context } from '../context.js';
import {
  CollectionKeyMissingError,
  CollectionOwnerOnlyError,
  CollectionUnknownError,
  ConflictError,
  InvalidArgumentError,
  NoIndexError,
  NotFoundError,
  RecordNotFoundError,
} from '../errors.js';
import { freshId } from '../ids.js';
import type { CollectionEntry } from '../profile.js';
import { sendControl } from '../send.js';
import { storeCollectionKey } from './keys.js';
import { collectionInfo, postCollection, queryPage, recordAt, recordPage, setMember, storeRecord, updateCollection } from './records-api.js';

/** An index as the caller declares it; the width is planned. */
export interface IndexDeclaration {
  /** Default: the fields joined with "+", then ":" and the kind. */
  readonly name?: string;
  readonly kind: IndexKind;
  readonly fields: readonly string[];
  /** Per field (one list for every field): applied before hashing (PROTOCOL.md §19.3). Word indexes take none. */
  readonly transforms?: readonly Transform[];
}

export interface CreateCollectionOptions {
  readonly indexes?: readonly IndexDeclaration[];
  /** Records the collection is planned to hold: sets the token widths (default 10,000). */
  readonly plannedRecords?: number;
  /** Distinct words per record expected in word-indexed fields (default 20). */
  readonly wordsPerRecord?: number;
  readonly members?: readonly string[];
}

export interface CollectionSummary {
  readonly id: string;
  readonly name: string;
  readonly owner: string;
  readonly members: readonly string[];
  readonly epoch: number;
  readonly recordCount: number;
  readonly plannedRecords: number;
  readonly indexes: readonly IndexSpec[];
  /** More records than the widths were planned for (planner.ts `outgrown`): the owner should `replan`. */
  readonly outgrown: boolean;
}

export interface FoundRecord {
  readonly id: string;
  readonly record: JsonRecord;
}

export interface FindResult {
  readonly records: FoundRecord[];
  /** Candidates the relay returned (matches and false positives). */
  readonly candidates: number;
  /** Candidates that failed to decrypt (tampered or foreign ciphertext): dropped. */
  readonly dropped: number;
}

/** One query condition: a field and the value it must equal (exact / compound) or whose words it must contain (word). */
export interface Condition {
  readonly field: string;
  readonly value: string | number | boolean;
}

interface Meta {
  readonly v: 1;
  readonly name: string;
  readonly plannedRecords: number;
  readonly wordsPerRecord: number;
  readonly indexes: IndexSpec[];
  /**
   * While a re-plan runs: the widths before it. Records not yet re-indexed carry tokens of these
   * widths, so queries ask both plans until the re-plan clears this (PROTOCOL.md §19.4).
   */
  readonly previous?: IndexSpec[];
}

interface Epoch {
  readonly epoch: number;
  readonly cipher: RecordCipher;
  readonly indexers: BlindIndexer[];
  /** For `Meta.previous` (a re-plan in progress), else empty. */
  readonly previousIndexers: BlindIndexer[];
}

interface Opened {
  readonly id: string;
  readonly idBytes: Uint8Array;
  readonly entry: CollectionEntry;
  readonly owner: string;
  readonly members: readonly string[];
  readonly revision: number;
  readonly recordCount: number;
  readonly meta: Meta;
  /** Every epoch whose key this device holds, newest last (the last one is the relay's current). */
  readonly epochs: Epoch[];
}

const DEFAULT_PLANNED = 10_000;
const DEFAULT_WORDS = 20;
const PAGE = 1000;
const MAX_QUERY_POSTINGS = 16;
/** The relay's limit on a query's alternatives (API.md §10). */
const MAX_QUERY_ALTERNATIVES = 32;
/** Input entropy of low-entropy transformations, for the planner (CipherSweet does the same). */
const INPUT_BITS: Partial<Record<Transform, number>> = { last4: Math.log2(10_000), first: 5 };

/** Per context, the opened collections by id and revision (keys derived once). */
const cache = new WeakMap<Context, Map<string, Opened>>();

function isMeta(v: unknown): v is Meta {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  if (m.v !== 1 || typeof m.name !== 'string' || !Number.isSafeInteger(m.plannedRecords) || !Array.isArray(m.indexes)) return false;
  if (m.previous !== undefined && (!Array.isArray(m.previous) || m.previous.length !== m.indexes.length)) return false;
  try {
    for (const ix of m.indexes as IndexSpec[]) validateIndexSpec(ix);
    for (const ix of (m.previous ?? []) as IndexSpec[]) validateIndexSpec(ix);
  } catch {
    return false;
  }
  return true;
}

/** Declarations → specs with planned widths, checked (unique names, at most 32). */
export function planIndexes(decls: readonly IndexDeclaration[], plannedRecords: number, wordsPerRecord: number): IndexSpec[] {
  const specs = decls.map((d): IndexSpec => {
    if (!Array.isArray(d.fields) || d.fields.length === 0) throw new InvalidArgumentError('an index covers at least one field');
    const transforms = d.kind === 'word' ? [] : [...(d.transforms ?? [])];
    const inputBits = d.kind === 'word' ? undefined : transforms.map((t) => INPUT_BITS[t]).find((b) => b !== undefined);
    const plan = planWidth({
      records: plannedRecords,
      valuesPerRecord: d.kind === 'word' ? wordsPerRecord : 1,
      ...(inputBits === undefined || d.kind === 'compound' ? {} : { inputBits }),
    });
    const spec: IndexSpec = {
      name: d.name ?? `${d.fields.join('+')}:${d.kind}`,
      kind: d.kind,
      parts: d.fields.map((field) => ({ field, transforms })),
      bits: plan.bits,
    };
    try {
      validateIndexSpec(spec);
    } catch (e) {
      throw new InvalidArgumentError(`index ${spec.name}: ${(e as Error).message}`);
    }
    return spec;
  });
  if (new Set(specs.map((s) => s.name)).size !== specs.length) throw new InvalidArgumentError('two indexes with the same name');
  if (specs.length > 32) throw new InvalidArgumentError('at most 32 indexes per collection');
  return specs;
}

async function collectionEntry(ctx: Context, nameOrId: string): Promise<[string, CollectionEntry]> {
  const all = await ctx.profile.transact(async (tx) => [...(await tx.get('collections')).collections.entries()]);
  const byId = all.find(([id]) => id === nameOrId);
  if (byId) return byId;
  const slash = nameOrId.indexOf('/');
  const matches =
    slash > 0
      ? all.filter(([, c]) => c.owner === nameOrId.slice(0, slash) && c.name === nameOrId.slice(slash + 1))
      : all.filter(([, c]) => c.name === nameOrId);
  const mine = matches.filter(([, c]) => c.owner === ctx.account.user);
  const pick = mine.length === 1 ? mine[0] : matches.length === 1 ? matches[0] : undefined;
  if (pick) return pick;
  if (matches.length > 1) throw new InvalidArgumentError(`several collections are named ${nameOrId}: say OWNER/NAME or the id`);
  throw new CollectionUnknownError(`no collection ${nameOrId} on this device (not created here, or its key has not arrived: receive messages first)`);
}

/** Load a collection from the relay with this device's keys (cached per revision). */
async function open(ctx: Context, nameOrId: string, fresh = false): Promise<Opened> {
  const [id, entry] = await collectionEntry(ctx, nameOrId);
  let info: Awaited<ReturnType<typeof collectionInfo>>;
  try {
    info = await collectionInfo(ctx.api, id);
  } catch (e) {
    if (e instanceof NotFoundError) throw new CollectionUnknownError(`collection ${nameOrId} is gone, or you are no longer a member`);
    throw e;
  }
  const { epoch, revision } = info;
  let byId = cache.get(ctx);
  if (!byId) {
    byId = new Map();
    cache.set(ctx, byId);
  }
  const cached = byId.get(id);
  if (!fresh && cached && cached.revision === revision && cached.entry.keys.length === entry.keys.length) {
    return { ...cached, recordCount: info.recordCount };
  }
  if (!entry.keys.some((k) => k.epoch === epoch))
    throw new CollectionKeyMissingError(`the key of epoch ${epoch} of ${nameOrId} has not reached this device yet: receive messages`);
  const idBytes = fromBase64url(id);
  const current = await RecordCipher.create(ctx.p, {
    collectionId: idBytes,
    epoch,
    key: (entry.keys.find((k) => k.epoch === epoch) as { key: Uint8Array }).key,
  });
  const meta = await current.openMeta(fromBase64url(info.meta));
  if (!isMeta(meta)) throw new CollectionUnknownError(`collection ${nameOrId}: its metadata is not readable`);
  const epochs: Epoch[] = [];
  for (const k of entry.keys.filter((x) => x.epoch <= epoch)) {
    const cipher = k.epoch === epoch ? current : await RecordCipher.create(ctx.p, { collectionId: idBytes, epoch: k.epoch, key: k.key });
    const indexers = await Promise.all(meta.indexes.map((spec, i) => BlindIndexer.create(ctx.p, k.key, idBytes, spec, i)));
    const previousIndexers = await Promise.all((meta.previous ?? []).map((spec, i) => BlindIndexer.create(ctx.p, k.key, idBytes, spec, i)));
    epochs.push({ epoch: k.epoch, cipher, indexers, previousIndexers });
  }
  const opened: Opened = {
    id,
    idBytes,
    entry,
    owner: info.owner,
    members: info.members,
    revision,
    recordCount: info.recordCount,
    meta,
    epochs,
  };
  byId.set(id, opened);
  return opened;
}

const summary = (o: Opened): CollectionSummary => ({
  id: o.id,
  name: o.meta.name,
  owner: o.owner,
  members: [...o.members],
  epoch: (o.epochs[o.epochs.length - 1] as Epoch).epoch,
  recordCount: o.recordCount,
  plannedRecords: o.meta.plannedRecords,
  indexes: o.meta.indexes,
  outgrown: outgrown(o.meta.plannedRecords, o.recordCount),
});

/** Send every key of `entry` (or only `epochs`) to `user`'s devices (ours: our other devices). */
async function sendKeys(ctx: Context, id: string, entry: CollectionEntry, user: string, epochs?: readonly number[]): Promise<void> {
  for (const k of entry.keys.filter((x) => epochs === undefined || epochs.includes(x.epoch))) {
    await sendControl(ctx, user, (recipient, listVersion) => ({
      type: 'collection-key',
      id: toBase64url(ctx.p.randomBytes(16)),
      sentAt: ctx.now(),
      text: '',
      recipient,
      listVersion,
      collection: id,
      owner: entry.owner,
      name: entry.name,
      epoch: k.epoch,
      key: toBase64url(k.key),
    }));
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 128 || name.includes('/'))
    throw new InvalidArgumentError('a collection name is 1 to 128 characters, without "/"');
}

export async function createCollection(ctx: Context, name: string, options: CreateCollectionOptions = {}): Promise<CollectionSummary> {
  checkName(name);
  const plannedRecords = options.plannedRecords ?? DEFAULT_PLANNED;
  if (!Number.isSafeInteger(plannedRecords) || plannedRecords < 1) throw new InvalidArgumentError('planned records must be a positive integer');
  const wordsPerRecord = options.wordsPerRecord ?? DEFAULT_WORDS;
  const indexes = planIndexes(options.indexes ?? [], plannedRecords, wordsPerRecord);
  const existing = await ctx.profile.transact(async (tx) => [...(await tx.get('collections')).collections.values()]);
  if (existing.some((c) => c.owner === ctx.account.user && c.name === name)) throw new InvalidArgumentError(`you already have a collection named ${name}`);
  const idBytes = freshId(ctx.p);
  const id = toBase64url(idBytes);
  const key = ctx.p.randomBytes(32);
  const members = [...new Set(options.members ?? [])];
  // The key is on disk before anything can be written under it.
  const entry = await ctx.profile.transact((tx) => storeCollectionKey(tx, id, { owner: ctx.account.user, name }, 0, key));
  const meta: Meta = { v: 1, name, plannedRecords, wordsPerRecord, indexes };
  const cipher = await RecordCipher.create(ctx.p, { collectionId: idBytes, epoch: 0, key });
  await postCollection(ctx.api, { id, epoch: 0, meta: toBase64url(await cipher.sealMeta(meta)), members });
  await sendKeys(ctx, id, entry, ctx.account.user);
  for (const m of members) await sendKeys(ctx, id, entry, m);
  return summary(await open(ctx, id));
}

export async function listCollections(ctx: Context): Promise<CollectionSummary[]> {
  const held = await ctx.profile.transact(async (tx) => [...(await tx.get('collections')).collections.keys()]);
  const out: CollectionSummary[] = [];
  for (const id of held) {
    try {
      out.push(summary(await open(ctx, id)));
    } catch (e) {
      if (!(e instanceof CollectionUnknownError || e instanceof CollectionKeyMissingError)) throw e;
    }
  }
  return out;
}

export async function describeCollection(ctx: Context, nameOrId: string): Promise<CollectionSummary> {
  return summary(await open(ctx, nameOrId));
}

/** The postings of a record under the current epoch (distinct). */
async function postingsOf(epoch: Epoch, record: JsonRecord): Promise<[number, number][]> {
  const out = new Map<string, [number, number]>();
  for (const ix of epoch.indexers) {
    for (const t of await ix.recordTokens(record)) out.set(`${t.index}:${t.token}`, [t.index, t.token]);
  }
  return [...out.values()];
}

function checkRecordId(id: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(id);
  } catch {
    throw new InvalidArgumentError('a record id is 16 bytes, base64url');
  }
  if (bytes.length !== 16) throw new InvalidArgumentError('a record id is 16 bytes, base64url');
  return bytes;
}

/**
 * Seal and store a record (replacing one with the same id); returns its id. On the owner's device,
 * a put that takes the collection past its plan (or finds a re-plan unfinished) re-plans it before
 * returning (`replanCollection`): the widths follow the collection's size without anyone asking.
 */
export async function putRecord(ctx: Context, nameOrId: string, record: JsonRecord, options: { id?: string } = {}): Promise<string> {
  const { id, opened } = await writeRecord(ctx, nameOrId, record, options);
  if (opened.owner === ctx.account.user && (opened.meta.previous || outgrown(opened.meta.plannedRecords, opened.recordCount + 1))) {
    await replanCollection(ctx, opened.id);
  }
  return id;
}

/** Seal and store one record under the current epoch and widths (no re-plan). */
async function writeRecord(ctx: Context, nameOrId: string, record: JsonRecord, options: { id?: string }): Promise<{ id: string; opened: Opened }> {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new InvalidArgumentError('a record is a JSON object');
  const idBytes = options.id === undefined ? freshId(ctx.p) : checkRecordId(options.id);
  const id = toBase64url(idBytes);
  for (let attempt = 1; ; attempt++) {
    const o = await open(ctx, nameOrId, attempt > 1);
    const current = o.epochs[o.epochs.length - 1] as Epoch;
    const body = await current.cipher.sealRecord(idBytes, record);
    try {
      await storeRecord(ctx.api, o.id, id, { epoch: current.epoch, body: toBase64url(body), postings: await postingsOf(current, record) });
      return { id, opened: o };
    } catch (e) {
      // Re-keyed meanwhile: load the new epoch (its key must have arrived) and seal again.
      if (e instanceof ConflictError && attempt < 2) continue;
      if (e instanceof NotFoundError) throw new CollectionUnknownError(`collection ${nameOrId} is gone, or you are no longer a member`);
      throw e;
    }
  }
}

async function openBody(o: Opened, rec: { id: string; epoch: number; body: string }): Promise<JsonRecord | undefined> {
  const epoch = o.epochs.find((e) => e.epoch === rec.epoch);
  if (!epoch) return undefined;
  try {
    return await epoch.cipher.openRecord(fromBase64url(rec.id), fromBase64url(rec.body));
  } catch {
    return undefined;
  }
}

export async function getRecord(ctx: Context, nameOrId: string, id: string): Promise<JsonRecord> {
  checkRecordId(id);
  const o = await open(ctx, nameOrId);
  let r: Awaited<ReturnType<typeof recordAt>>;
  try {
    r = await recordAt(ctx.api, o.id, id);
  } catch (e) {
    if (e instanceof NotFoundError) throw new RecordNotFoundError(`no record ${id} in ${nameOrId}`);
    throw e;
  }
  const record = await openBody(o, r);
  if (!record || r.id !== id) throw new RecordNotFoundError(`record ${id} of ${nameOrId} does not decrypt (tampered, or sealed under a key this device lacks)`);
  return record;
}

export async function removeRecord(ctx: Context, nameOrId: string, id: string): Promise<void> {
  checkRecordId(id);
  const o = await open(ctx, nameOrId);
  try {
    await ctx.api.collections('DELETE', `/v1/collections/${o.id}/records/${id}`, undefined, true);
  } catch (e) {
    if (e instanceof NotFoundError) throw new RecordNotFoundError(`no record ${id} in ${nameOrId}`);
    throw e;
  }
}

interface Plan {
  readonly index: number;
  readonly spec: IndexSpec;
  readonly values: (string | number | boolean)[];
}

/** Which index answers which conditions: compound indexes whose every field is asked first, then exact, then word. */
export function planQuery(indexes: readonly IndexSpec[], conditions: readonly Condition[]): Plan[] {
  if (conditions.length === 0) throw new InvalidArgumentError('a query needs at least one FIELD=VALUE');
  const asked = new Map<string, string | number | boolean>();
  for (const c of conditions) {
    if (typeof c.field !== 'string' || c.field.length === 0) throw new InvalidArgumentError('a condition names a field');
    if (indexableText(c.value) === undefined) throw new InvalidArgumentError(`${c.field}: a value is a string, number or boolean`);
    if (asked.has(c.field)) throw new InvalidArgumentError(`${c.field} is asked twice`);
    asked.set(c.field, c.value);
  }
  const plans: Plan[] = [];
  const covered = new Set<string>();
  indexes.forEach((spec, index) => {
    if (spec.kind !== 'compound' || !spec.parts.every((p) => asked.has(p.field) && !covered.has(p.field))) return;
    plans.push({ index, spec, values: spec.parts.map((p) => asked.get(p.field) as string) });
    for (const p of spec.parts) covered.add(p.field);
  });
  for (const [field, value] of asked) {
    if (covered.has(field)) continue;
    const exact = indexes.findIndex((s) => s.kind === 'exact' && s.parts[0]?.field === field);
    const word = indexes.findIndex((s) => s.kind === 'word' && s.parts[0]?.field === field);
    const index = exact >= 0 ? exact : word;
    if (index < 0) throw new NoIndexError(`no index covers ${field}: declare one (exact, word or compound)`);
    plans.push({ index, spec: indexes[index] as IndexSpec, values: [value] });
  }
  return plans;
}

/** Whether `record` satisfies a planned condition, under the index's own normalisation. */
export function satisfies(record: JsonRecord, plan: Plan): boolean {
  if (plan.spec.kind === 'word') {
    const text = indexableText(record[(plan.spec.parts[0] as { field: string }).field]);
    if (text === undefined) return false;
    const words = new Set(tokenize(text));
    return tokenize(String(indexableText(plan.values[0]))).every((w) => words.has(w));
  }
  return plan.spec.parts.every((p, i) => {
    const text = indexableText(record[p.field]);
    return text !== undefined && applyTransforms(text, p.transforms) === applyTransforms(String(indexableText(plan.values[i])), p.transforms);
  });
}

/** Records matching every condition (exact, compound and word indexes), by id. */
export async function findRecords(ctx: Context, nameOrId: string, conditions: readonly Condition[]): Promise<FindResult> {
  const o = await open(ctx, nameOrId);
  const plans = planQuery(o.meta.indexes, conditions);
  const any: [number, number][][] = [];
  const alternative = async (indexers: readonly BlindIndexer[]) => {
    const tokens: BlindToken[] = [];
    for (const plan of plans) tokens.push(...(await (indexers[plan.index] as BlindIndexer).queryTokens(plan.values)));
    // The relay ANDs at most 16 postings; the filter below makes a shorter AND exact.
    return tokens.slice(0, MAX_QUERY_POSTINGS).map((t): [number, number] => [t.index, t.token]);
  };
  for (const e of o.epochs) any.push(await alternative(e.indexers));
  // Mid re-plan, records not yet re-indexed answer to the old widths (newest epochs first, within the relay's limit).
  for (const e of [...o.epochs].reverse()) {
    if (e.previousIndexers.length > 0 && any.length < MAX_QUERY_ALTERNATIVES) any.push(await alternative(e.previousIndexers));
  }
  const records: FoundRecord[] = [];
  let candidates = 0;
  let dropped = 0;
  let after: string | null = null;
  do {
    const page = await queryPage(ctx.api, o.id, { any, limit: PAGE, ...(after ? { after } : {}) });
    for (const rec of page.records) {
      candidates++;
      const record = await openBody(o, rec);
      if (!record) {
        dropped++;
        continue;
      }
      if (plans.every((plan) => satisfies(record, plan))) records.push({ id: rec.id, record });
    }
    after = page.next;
  } while (after);
  return { records, candidates, dropped };
}

/** Owner only: let `user` read and write the collection; its keys go to their devices over our sessions. */
export async function shareCollection(ctx: Context, nameOrId: string, user: string): Promise<CollectionSummary> {
  const o = await open(ctx, nameOrId, true);
  if (o.owner !== ctx.account.user) throw new CollectionOwnerOnlyError(`only ${o.owner} can share ${nameOrId}`);
  if (user === ctx.account.user) throw new InvalidArgumentError('you own this collection');
  if (!o.members.includes(user)) {
    await setMember(ctx.api, o.id, { expectedRevision: o.revision, user, add: true });
  }
  await sendKeys(ctx, o.id, o.entry, user);
  return summary(await open(ctx, o.id, true));
}

/**
 * Owner only: remove `user`, then re-key: a new epoch key seals the metadata and every later
 * write; it goes to our other devices and the remaining members only. The removed member keeps
 * what it already read and the old keys (docs/SEARCH.md).
 */
export async function unshareCollection(ctx: Context, nameOrId: string, user: string): Promise<CollectionSummary> {
  const o = await open(ctx, nameOrId, true);
  if (o.owner !== ctx.account.user) throw new CollectionOwnerOnlyError(`only ${o.owner} can unshare ${nameOrId}`);
  if (!o.members.includes(user)) throw new InvalidArgumentError(`${user} is not a member of ${nameOrId}`);
  const revision = await setMember(ctx.api, o.id, { expectedRevision: o.revision, user, add: false });
  const epoch = (o.epochs[o.epochs.length - 1] as Epoch).epoch + 1;
  const key = ctx.p.randomBytes(32);
  const entry = await ctx.profile.transact((tx) => storeCollectionKey(tx, o.id, { owner: o.owner, name: o.meta.name }, epoch, key));
  const cipher = await RecordCipher.create(ctx.p, { collectionId: o.idBytes, epoch, key });
  await updateCollection(ctx.api, o.id, { expectedRevision: revision, epoch, meta: toBase64url(await cipher.sealMeta(o.meta)) });
  await sendKeys(ctx, o.id, entry, ctx.account.user, [epoch]);
  for (const m of o.members.filter((x) => x !== user)) await sendKeys(ctx, o.id, entry, m, [epoch]);
  return summary(await open(ctx, o.id, true));
}

/**
 * Owner only: add index declarations (widths planned as at creation) and index every stored
 * record for them (each is read, decrypted and written again under the current epoch).
 */
export async function addIndexes(ctx: Context, nameOrId: string, decls: readonly IndexDeclaration[]): Promise<CollectionSummary> {
  let o = await open(ctx, nameOrId, true);
  if (o.owner !== ctx.account.user) throw new CollectionOwnerOnlyError(`only ${o.owner} can add indexes to ${nameOrId}`);
  if (o.meta.previous) o = await finishReplan(ctx, o);
  const fresh = planIndexes(decls, o.meta.plannedRecords, o.meta.wordsPerRecord ?? DEFAULT_WORDS).filter((d) => !o.meta.indexes.some((x) => x.name === d.name));
  if (fresh.length === 0) return summary(o);
  const meta: Meta = { ...o.meta, indexes: [...o.meta.indexes, ...fresh] };
  if (meta.indexes.length > 32) throw new InvalidArgumentError('at most 32 indexes per collection');
  const current = o.epochs[o.epochs.length - 1] as Epoch;
  await updateCollection(ctx.api, o.id, { expectedRevision: o.revision, epoch: current.epoch, meta: toBase64url(await current.cipher.sealMeta(meta)) });
  await reindex(ctx, o.id);
  return summary(await open(ctx, o.id, true));
}

/** Read, decrypt and write again every record (new tokens under the current metadata and epoch). */
async function reindex(ctx: Context, id: string): Promise<void> {
  const reopened = await open(ctx, id, true);
  let after: string | null = null;
  do {
    const page = await recordPage(ctx.api, id, PAGE, after);
    for (const rec of page.records) {
      const record = await openBody(reopened, rec);
      if (record) await writeRecord(ctx, id, record, { id: rec.id });
    }
    after = page.next;
  } while (after);
}

/**
 * Owner only: re-plan every index's width for `plannedRecords` (default: twice the records held)
 * and re-index every record. While it runs the metadata keeps the old widths as `previous`, so
 * queries ask both and miss nothing; the last step clears them. A re-plan that was interrupted
 * (the process died) is finished first, with its own widths, by the next call or the owner's next put.
 */
export async function replanCollection(ctx: Context, nameOrId: string, plannedRecords?: number): Promise<CollectionSummary> {
  let o = await open(ctx, nameOrId, true);
  if (o.owner !== ctx.account.user) throw new CollectionOwnerOnlyError(`only ${o.owner} can re-plan ${nameOrId}`);
  if (plannedRecords !== undefined && (!Number.isSafeInteger(plannedRecords) || plannedRecords < 1))
    throw new InvalidArgumentError('planned records must be a positive integer');
  if (o.meta.previous) o = await finishReplan(ctx, o);
  const planned = plannedRecords ?? Math.max(2 * o.recordCount, o.meta.plannedRecords);
  const words = o.meta.wordsPerRecord ?? DEFAULT_WORDS;
  const decls: IndexDeclaration[] = o.meta.indexes.map((ix) => ({
    name: ix.name,
    kind: ix.kind,
    fields: ix.parts.map((pt) => pt.field),
    transforms: [...(ix.parts[0]?.transforms ?? [])],
  }));
  await putMeta(ctx, o, { ...o.meta, plannedRecords: planned, indexes: planIndexes(decls, planned, words), previous: o.meta.indexes });
  return summary(await finishReplan(ctx, await open(ctx, o.id, true)));
}

/** Re-index every record under the current widths, then drop `previous` from the metadata. */
async function finishReplan(ctx: Context, o: Opened): Promise<Opened> {
  await reindex(ctx, o.id);
  const now = await open(ctx, o.id, true);
  const { previous: _, ...meta } = now.meta;
  await putMeta(ctx, now, meta);
  return open(ctx, o.id, true);
}

async function putMeta(ctx: Context, o: Opened, meta: Meta): Promise<void> {
  const current = o.epochs[o.epochs.length - 1] as Epoch;
  await updateCollection(ctx.api, o.id, { expectedRevision: o.revision, epoch: current.epoch, meta: toBase64url(await current.cipher.sealMeta(meta)) });
}

/**
 * Send every collection key this device holds to our own other devices (a device linked after
 * the collections were created, or one that missed a key). Returns the number of collections.
 */
export async function resendCollectionKeys(ctx: Context): Promise<number> {
  const held = await ctx.profile.transact(async (tx) => [...(await tx.get('collections')).collections.entries()]);
  for (const [id, entry] of held) await sendKeys(ctx, id, entry, ctx.account.user);
  return held.length;
}
