/**
 * Blind indexes over encrypted records (docs/PROTOCOL.md §19.3).
 *
 *     indexKey = HKDF-SHA-256(ikm = collection key, salt = "",
 *                             info = "Blindrelay_BlindIndex_v1" ‖ collectionId[16] ‖ spec, 32)
 *     spec     = u8 kind ‖ bytes16(name) ‖ u8 parts ‖ per part: bytes16(field) ‖ u8 n ‖ n × bytes16(transform)
 *     input    = exact / compound: per part, bytes32(UTF-8 of the transformed value)
 *                word:             UTF-8 of one word
 *     token    = the first 48 bits of HMAC-SHA-256(indexKey, input), big-endian, shifted right by 48 − bits
 *
 * (bytes16 / bytes32: a 16- / 32-bit big-endian length, then the bytes; kind 1 exact, 2 compound,
 * 3 word.) The key is derived per collection key (so per key epoch), per index and per declared
 * field and transformation, so two indexes never share tokens on purpose. The width is not in the
 * key: re-planning a collection re-truncates the same HMAC outputs.
 */
import { utf8 } from '../bytes.js';
import { Writer } from '../codec.js';
import { InvalidArgumentError } from '../errors.js';
import type { Primitives } from '../primitives/types.js';
import { applyTransforms, indexableText, isTransform, type Transform, tokenize } from './normalize.js';
import { MAX_TOKEN_BITS, MIN_TOKEN_BITS } from './planner.js';

export const BLIND_INDEX_LABEL = 'Blindrelay_BlindIndex_v1';
export const COLLECTION_ID_BYTES = 16;
export const COLLECTION_KEY_BYTES = 32;
/** Most indexes one collection declares, and most fields in one compound index. */
export const MAX_INDEXES = 32;
export const MAX_INDEX_PARTS = 8;
/** Index and field names: 1 to 128 UTF-8 bytes. */
export const MAX_NAME_BYTES = 128;

export type IndexKind = 'exact' | 'compound' | 'word';
const KIND_CODE: Record<IndexKind, number> = { exact: 1, compound: 2, word: 3 };

export interface IndexPart {
  readonly field: string;
  readonly transforms: readonly Transform[];
}

export interface IndexSpec {
  /** Unique within the collection. */
  readonly name: string;
  readonly kind: IndexKind;
  /** One part for exact and word indexes, 2..MAX_INDEX_PARTS for compound ones. */
  readonly parts: readonly IndexPart[];
  /** Token width in bits (planner.ts). */
  readonly bits: number;
}

/** A token as the relay stores it: which index of the collection (its position) and the truncated HMAC. */
export interface BlindToken {
  readonly index: number;
  readonly token: number;
}

function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length === 0 || utf8(name).length > MAX_NAME_BYTES) {
    throw new InvalidArgumentError(`${what} must be 1 to ${MAX_NAME_BYTES} bytes of text`);
  }
  return name;
}

/** Throws InvalidArgumentError unless `spec` is a well-formed index declaration. */
export function validateIndexSpec(spec: IndexSpec): void {
  checkName(spec?.name, 'an index name');
  if (!(spec.kind in KIND_CODE)) throw new InvalidArgumentError(`unknown index kind: ${String(spec.kind)}`);
  if (!Array.isArray(spec.parts) || spec.parts.length === 0) throw new InvalidArgumentError('an index covers at least one field');
  if (spec.kind === 'compound' ? spec.parts.length < 2 || spec.parts.length > MAX_INDEX_PARTS : spec.parts.length !== 1) {
    throw new InvalidArgumentError(`a ${spec.kind} index covers ${spec.kind === 'compound' ? `2 to ${MAX_INDEX_PARTS} fields` : 'one field'}`);
  }
  for (const part of spec.parts) {
    checkName(part?.field, 'a field name');
    if (!Array.isArray(part.transforms) || part.transforms.length > 8 || !part.transforms.every(isTransform)) {
      throw new InvalidArgumentError('unknown transformation');
    }
    if (spec.kind === 'word' && part.transforms.length > 0) throw new InvalidArgumentError('word indexes take no transformation');
  }
  if (!Number.isInteger(spec.bits) || spec.bits < MIN_TOKEN_BITS || spec.bits > MAX_TOKEN_BITS) {
    throw new InvalidArgumentError(`token width must be ${MIN_TOKEN_BITS} to ${MAX_TOKEN_BITS} bits`);
  }
}

/** The canonical encoding of an index declaration, without its width (bound into the index key). */
export function encodeIndexSpec(spec: IndexSpec): Uint8Array {
  validateIndexSpec(spec);
  const w = new Writer(64).u8(KIND_CODE[spec.kind]).bytes16(utf8(spec.name)).u8(spec.parts.length);
  for (const part of spec.parts) {
    w.bytes16(utf8(part.field)).u8(part.transforms.length);
    for (const t of part.transforms) w.bytes16(utf8(t));
  }
  return w.finish();
}

export async function deriveIndexKey(p: Primitives, collectionKey: Uint8Array, collectionId: Uint8Array, spec: IndexSpec): Promise<Uint8Array> {
  if (collectionKey.length !== COLLECTION_KEY_BYTES) throw new InvalidArgumentError('a collection key is 32 bytes');
  if (collectionId.length !== COLLECTION_ID_BYTES) throw new InvalidArgumentError('a collection id is 16 bytes');
  const info = new Writer(128).rest(utf8(BLIND_INDEX_LABEL)).fixed(collectionId, COLLECTION_ID_BYTES).rest(encodeIndexSpec(spec)).finish();
  return p.hkdfSha256(collectionKey, new Uint8Array(0), info, 32);
}

/** The first 48 bits of a MAC, big-endian, keeping the top `bits`. */
export function truncateToken(mac: Uint8Array, bits: number): number {
  if (!Number.isInteger(bits) || bits < MIN_TOKEN_BITS || bits > MAX_TOKEN_BITS) throw new InvalidArgumentError('token width out of range');
  if (mac.length < 6) throw new InvalidArgumentError('a MAC of at least 6 bytes');
  const high = (((mac[0] as number) << 8) | (mac[1] as number)) >>> 0;
  const low = (((mac[2] as number) << 24) | ((mac[3] as number) << 16) | ((mac[4] as number) << 8) | (mac[5] as number)) >>> 0;
  const v48 = high * 2 ** 32 + low;
  return Math.floor(v48 / 2 ** (MAX_TOKEN_BITS - bits));
}

/** The HMAC inputs an index derives from a record (none when a covered field is missing or not indexable). */
export function indexInputs(spec: IndexSpec, record: Readonly<Record<string, unknown>>): Uint8Array[] {
  if (spec.kind === 'word') {
    const text = indexableText(record[(spec.parts[0] as IndexPart).field]);
    return text === undefined ? [] : tokenize(text).map(utf8);
  }
  const w = new Writer(64);
  for (const part of spec.parts) {
    const text = indexableText(record[part.field]);
    if (text === undefined) return [];
    w.bytes32(utf8(applyTransforms(text, part.transforms)));
  }
  return [w.finish()];
}

/**
 * The HMAC inputs of a query value: for exact and compound indexes `values` holds one value per
 * part (in the parts' order); for word indexes one text whose every word must match (AND).
 */
export function queryInputs(spec: IndexSpec, values: readonly unknown[]): Uint8Array[] {
  if (values.length !== spec.parts.length) throw new InvalidArgumentError(`index ${spec.name} takes ${spec.parts.length} value(s)`);
  const record: Record<string, unknown> = {};
  spec.parts.forEach((part, i) => {
    const text = indexableText(values[i]);
    if (text === undefined) throw new InvalidArgumentError('a query value is a string, number or boolean');
    record[part.field] = text;
  });
  const inputs = indexInputs(spec, record);
  if (inputs.length === 0) throw new InvalidArgumentError('a query with no word to search for');
  return inputs;
}

/** One index's key, ready to compute tokens. */
export class BlindIndexer {
  private constructor(
    private readonly p: Primitives,
    readonly spec: IndexSpec,
    readonly position: number,
    private readonly key: Uint8Array,
  ) {}

  static async create(p: Primitives, collectionKey: Uint8Array, collectionId: Uint8Array, spec: IndexSpec, position: number): Promise<BlindIndexer> {
    if (!Number.isInteger(position) || position < 0 || position >= MAX_INDEXES) throw new InvalidArgumentError('index position out of range');
    return new BlindIndexer(p, spec, position, await deriveIndexKey(p, collectionKey, collectionId, spec));
  }

  async token(input: Uint8Array): Promise<BlindToken> {
    return { index: this.position, token: truncateToken(await this.p.hmacSha256(this.key, input), this.spec.bits) };
  }

  /** The distinct tokens of a record for this index. */
  async recordTokens(record: Readonly<Record<string, unknown>>): Promise<BlindToken[]> {
    const out = new Map<number, BlindToken>();
    for (const input of indexInputs(this.spec, record)) {
      const t = await this.token(input);
      out.set(t.token, t);
    }
    return [...out.values()];
  }

  /** The tokens a query must all match (AND). */
  async queryTokens(values: readonly unknown[]): Promise<BlindToken[]> {
    const out = new Map<number, BlindToken>();
    for (const input of queryInputs(this.spec, values)) {
      const t = await this.token(input);
      out.set(t.token, t);
    }
    return [...out.values()];
  }
}
