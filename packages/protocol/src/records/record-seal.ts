/**
 * Encrypted records (docs/PROTOCOL.md §19.2): a JSON object whose fields are each sealed with
 * AES-256-GCM under the collection's data key, bound to the collection, the record and the field
 * name, so no sealed field can be moved to another record, another collection or another column.
 *
 *     dataKey = HKDF-SHA-256(ikm = collection key, salt = "", info = "Blindrelay_RecordData_v1" ‖ collectionId[16], 32)
 *     AD(kind, name) = "Blindrelay_RecordData_v1" ‖ u8 kind ‖ collectionId[16] ‖ recordId[16] ‖ u32 epoch ‖ bytes16(UTF-8 name)
 *     seal(kind, name, m) = nonce[12] ‖ AES-256-GCM(dataKey, nonce, Padmé-pad(m), AD(kind, name))
 *
 *     record  = 0x01 ‖ u32 epoch ‖ bytes32(seal(0, "", names)) ‖ per field, in the names' order: bytes32(seal(1, name, UTF-8 JSON of the value))
 *     names   = u16 n ‖ n × bytes16(UTF-8 field name)
 *     meta    = 0x01 ‖ u32 epoch ‖ seal(2, "", UTF-8 JSON of the collection metadata)    (recordId = 16 zero bytes)
 *
 * Field names are themselves sealed (kind 0), so the relay sees neither names nor values, only
 * the number of fields and their padded sizes. Nonces are random: at most 2^32 seals per data key
 * (NIST SP 800-38D §8.3), far above a collection epoch's records × fields. Every failure to open
 * is the same DecryptError.
 */
import { fromUtf8, utf8, wipe } from '../bytes.js';
import { decodeWith, Writer } from '../codec.js';
import { DecodeError, DecryptError, InvalidArgumentError } from '../errors.js';
import { pad, unpad } from '../padding.js';
import type { Primitives } from '../primitives/types.js';
import { COLLECTION_ID_BYTES, COLLECTION_KEY_BYTES, MAX_NAME_BYTES } from './blind-index.js';

export const RECORD_DATA_LABEL = 'Blindrelay_RecordData_v1';
export const RECORD_ID_BYTES = 16;
const FORMAT = 0x01;
const NONCE_BYTES = 12;
/** Most fields in one record, and most bytes of one record's JSON. */
export const MAX_RECORD_FIELDS = 256;
export const MAX_RECORD_JSON_BYTES = 64 * 1024;

const KIND_NAMES = 0;
const KIND_FIELD = 1;
const KIND_META = 2;

export type RecordValue = string | number | boolean | null | RecordValue[] | { [key: string]: RecordValue };
export type JsonRecord = Record<string, RecordValue>;

export interface CollectionKeyRef {
  /** The collection's 16-byte id (random, chosen by its creator). */
  readonly collectionId: Uint8Array;
  /** Key epoch: grows by one at every re-key. */
  readonly epoch: number;
  readonly key: Uint8Array;
}

export async function deriveDataKey(p: Primitives, collectionKey: Uint8Array, collectionId: Uint8Array): Promise<Uint8Array> {
  if (collectionKey.length !== COLLECTION_KEY_BYTES) throw new InvalidArgumentError('a collection key is 32 bytes');
  if (collectionId.length !== COLLECTION_ID_BYTES) throw new InvalidArgumentError('a collection id is 16 bytes');
  const info = new Writer(64).rest(utf8(RECORD_DATA_LABEL)).fixed(collectionId, COLLECTION_ID_BYTES).finish();
  return p.hkdfSha256(collectionKey, new Uint8Array(0), info, 32);
}

function associatedData(kind: number, collectionId: Uint8Array, recordId: Uint8Array, epoch: number, name: string): Uint8Array {
  return new Writer(64)
    .rest(utf8(RECORD_DATA_LABEL))
    .u8(kind)
    .fixed(collectionId, COLLECTION_ID_BYTES)
    .fixed(recordId, RECORD_ID_BYTES)
    .u32(epoch)
    .bytes16(utf8(name))
    .finish();
}

function checkRecordId(recordId: Uint8Array): void {
  if (!(recordId instanceof Uint8Array) || recordId.length !== RECORD_ID_BYTES) throw new InvalidArgumentError('a record id is 16 bytes');
}

function checkRef(ref: CollectionKeyRef): void {
  if (ref.collectionId.length !== COLLECTION_ID_BYTES) throw new InvalidArgumentError('a collection id is 16 bytes');
  if (ref.key.length !== COLLECTION_KEY_BYTES) throw new InvalidArgumentError('a collection key is 32 bytes');
  if (!Number.isInteger(ref.epoch) || ref.epoch < 0 || ref.epoch > 0xffffffff) throw new InvalidArgumentError('key epoch out of range');
}

/** Seals with one data key; derive it once per collection epoch and reuse it. */
export class RecordCipher {
  private constructor(
    private readonly p: Primitives,
    readonly collectionId: Uint8Array,
    readonly epoch: number,
    private readonly dataKey: Uint8Array,
  ) {}

  static async create(p: Primitives, ref: CollectionKeyRef): Promise<RecordCipher> {
    checkRef(ref);
    return new RecordCipher(p, ref.collectionId.slice(), ref.epoch, await deriveDataKey(p, ref.key, ref.collectionId));
  }

  private async seal(kind: number, recordId: Uint8Array, name: string, plaintext: Uint8Array): Promise<Uint8Array> {
    const nonce = this.p.randomBytes(NONCE_BYTES);
    const sealed = await this.p.aesGcmSeal(
      this.dataKey,
      nonce,
      pad(plaintext),
      associatedData(kind, this.collectionId, recordId, this.epoch, name),
      NONCE_BYTES,
    );
    sealed.set(nonce, 0);
    return sealed;
  }

  private async open(kind: number, recordId: Uint8Array, name: string, sealed: Uint8Array): Promise<Uint8Array> {
    if (sealed.length < NONCE_BYTES + 16) throw new DecryptError();
    const padded = await this.p.aesGcmOpen(
      this.dataKey,
      sealed.subarray(0, NONCE_BYTES),
      sealed.subarray(NONCE_BYTES),
      associatedData(kind, this.collectionId, recordId, this.epoch, name),
    );
    const plain = padded && unpad(padded);
    if (!plain) throw new DecryptError();
    return plain;
  }

  /** Encrypt a JSON object as record `recordId`. Throws InvalidArgumentError on a value JSON cannot carry. */
  async sealRecord(recordId: Uint8Array, record: JsonRecord): Promise<Uint8Array> {
    checkRecordId(recordId);
    const names = checkRecord(record);
    const header = new Writer(64).u16(names.length);
    for (const n of names) header.bytes16(utf8(n));
    const w = new Writer(256)
      .u8(FORMAT)
      .u32(this.epoch)
      .bytes32(await this.seal(KIND_NAMES, recordId, '', header.finish()));
    for (const n of names) w.bytes32(await this.seal(KIND_FIELD, recordId, n, utf8(JSON.stringify(record[n]))));
    return w.finish();
  }

  /** The key epoch a sealed record or metadata blob says it was sealed under (DecodeError if malformed). */
  static epochOf(sealed: Uint8Array): number {
    if (sealed.length < 5 || sealed[0] !== FORMAT) throw new DecodeError('sealed record: bad format');
    return new DataView(sealed.buffer, sealed.byteOffset, 5).getUint32(1);
  }

  /** Decrypt record `recordId`; every failure (tampering, wrong record, wrong key) is the same DecryptError. */
  async openRecord(recordId: Uint8Array, sealed: Uint8Array): Promise<JsonRecord> {
    checkRecordId(recordId);
    let parts: { epoch: number; header: Uint8Array; fields: Uint8Array[] };
    try {
      parts = decodeWith(sealed, 'sealed record', (r) => {
        r.version(FORMAT);
        const epoch = r.u32();
        const header = r.bytes32(MAX_RECORD_JSON_BYTES * 2);
        const fields: Uint8Array[] = [];
        while (r.remaining > 0) {
          if (fields.length >= MAX_RECORD_FIELDS) throw new DecodeError('too many fields');
          fields.push(r.bytes32(MAX_RECORD_JSON_BYTES * 2));
        }
        return { epoch, header, fields };
      });
    } catch {
      throw new DecryptError();
    }
    if (parts.epoch !== this.epoch) throw new DecryptError();
    const header = await this.open(KIND_NAMES, recordId, '', parts.header);
    let names: string[];
    try {
      names = decodeWith(header, 'record names', (r) => {
        const n = r.u16();
        const out: string[] = [];
        for (let i = 0; i < n; i++) out.push(fromUtf8(r.bytes16(MAX_NAME_BYTES)));
        return out;
      });
    } catch {
      throw new DecryptError();
    }
    if (names.length !== parts.fields.length) throw new DecryptError();
    const out: JsonRecord = {};
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      const plain = await this.open(KIND_FIELD, recordId, name, parts.fields[i] as Uint8Array);
      try {
        Object.defineProperty(out, name, { value: JSON.parse(fromUtf8(plain)) as RecordValue, enumerable: true, writable: true, configurable: true });
      } catch {
        throw new DecryptError();
      }
    }
    return out;
  }

  /** Seal the collection's metadata (index declarations, widths, plan: any JSON object). */
  async sealMeta(meta: unknown): Promise<Uint8Array> {
    const json = JSON.stringify(meta);
    if (json === undefined) throw new InvalidArgumentError('metadata must be JSON');
    const sealed = await this.seal(KIND_META, new Uint8Array(RECORD_ID_BYTES), '', utf8(json));
    return new Writer(sealed.length + 5).u8(FORMAT).u32(this.epoch).rest(sealed).finish();
  }

  async openMeta(sealed: Uint8Array): Promise<unknown> {
    if (sealed.length < 5 || sealed[0] !== FORMAT) throw new DecryptError();
    if (RecordCipher.epochOf(sealed) !== this.epoch) throw new DecryptError();
    const plain = await this.open(KIND_META, new Uint8Array(RECORD_ID_BYTES), '', sealed.subarray(5));
    try {
      return JSON.parse(fromUtf8(plain));
    } catch {
      throw new DecryptError();
    }
  }

  /** Zero the data key (the cipher is unusable afterwards). */
  destroy(): void {
    wipe(this.dataKey);
  }
}

/** The record's field names, checked: a plain object of at most MAX_RECORD_FIELDS JSON values, names 1..128 bytes. */
function checkRecord(record: unknown): string[] {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new InvalidArgumentError('a record is a JSON object');
  const names = Object.keys(record);
  if (names.length > MAX_RECORD_FIELDS) throw new InvalidArgumentError(`a record has at most ${MAX_RECORD_FIELDS} fields`);
  let json: string | undefined;
  try {
    json = JSON.stringify(record);
  } catch {
    json = undefined;
  }
  if (json === undefined) throw new InvalidArgumentError('a record must be JSON');
  if (utf8(json).length > MAX_RECORD_JSON_BYTES) throw new InvalidArgumentError(`a record is at most ${MAX_RECORD_JSON_BYTES} bytes of JSON`);
  for (const n of names) {
    const bytes = utf8(n).length;
    if (bytes === 0 || bytes > MAX_NAME_BYTES) throw new InvalidArgumentError(`field names are 1 to ${MAX_NAME_BYTES} bytes`);
    if (JSON.stringify((record as Record<string, unknown>)[n]) === undefined) throw new InvalidArgumentError(`field ${n} is not a JSON value`);
  }
  return names;
}
