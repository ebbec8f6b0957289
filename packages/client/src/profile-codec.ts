/**
 * Encodings of profile records (packages/client/README.md, "Profile store").
 *
 * - JSON records (`account`, `prekeys`, `contacts`, `tokens`, `sessions`): `{"v":1,"data":...}` with
 *   bytes as `{"$b": base64url}` and maps as `{"$m": [[key, value], ...]}`. Tagged values are
 *   converted by one walk over the parsed tree (a JSON.parse reviver is several times slower).
 * - Binary records, for what changes with every message, so that writing one is a copy of bytes:
 *     recent     "BRr" 1 | seenId[16] | u32 n | n × digest[16] | inbox (UTF-8 JSON array)
 *     seen       "BRs" 1 | id[16] | u32 n | n × digest[16]
 *     basekeys   "BRk" 2 | u32 groups | groups × (u32 signedId | u32 pqId | u32 n | n × digest[16])
 *                (version 1, `u32 n | n × digest[16]`, is read as the group 1:0)
 *     session-N  "BRe" 1 | u16 keyLength | key (UTF-8) | u8 n | n × (baseKey[32] | remoteIdentity[32] | u32 length | serializeSession bytes)
 *   Integers are big-endian. A digest is 16 bytes, held in memory as a 16-character latin1 string.
 */
import { fromUtf8, utf8 } from '@blindrelay/protocol';
import { fromBase64url, toBase64url } from './base64url.js';

export const DIGEST_BYTES = 16;

// ---- JSON with tagged bytes and maps -----------------------------------------------------------

function tag(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $b: toBase64url(value) };
  if (value instanceof Map) return { $m: [...value.entries()].map(([k, v]) => [k, tag(v)]) };
  if (Array.isArray(value)) return value.map(tag);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = tag(v);
    return out;
  }
  return value;
}

/** Undo `tag` in place (bottom-up, like the reviver this replaces). */
function untag(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = untag(value[i]);
    return value;
  }
  const o = value as Record<string, unknown>;
  if (typeof o.$b === 'string') return fromBase64url(o.$b);
  if (Array.isArray(o.$m)) return new Map(untag(o.$m) as [string, unknown][]);
  for (const k of Object.keys(o)) o[k] = untag(o[k]);
  return o;
}

export const encodeJsonRecord = (value: unknown): Uint8Array => utf8(JSON.stringify({ v: 1, data: tag(value) }));

/** Throws on anything malformed (the caller turns it into ProfileCorruptError). */
export function decodeJsonRecord(bytes: Uint8Array): unknown {
  const o = JSON.parse(fromUtf8(bytes)) as { v?: unknown; data?: unknown };
  if (o.v !== 1 || typeof o.data !== 'object' || o.data === null) throw new Error('bad record');
  return untag(o.data);
}

// ---- digests -----------------------------------------------------------------------------------

export function digestString(bytes: Uint8Array): string {
  if (bytes.length < DIGEST_BYTES) throw new Error('short digest');
  return keyAt(bytes, 0);
}

const keyAt = (bytes: Uint8Array, at: number): string => String.fromCharCode.apply(null, bytes.subarray(at, at + DIGEST_BYTES) as unknown as number[]);

/**
 * A bounded list of distinct digests, oldest first: packed bytes (written as they are) and a set
 * for lookups. Pushing a digest already present does nothing; pushing beyond `max` drops the
 * oldest. Mutated in place inside a transaction only (a failed transaction drops cached records).
 */
export class DigestList {
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  readonly #set: Set<string>;

  /** From packed digests (n × 16 bytes); duplicates are dropped. */
  constructor(packed?: Uint8Array) {
    if (packed && packed.length % DIGEST_BYTES !== 0) throw new Error('bad digest list');
    this.#buf = new Uint8Array(Math.max(16 * DIGEST_BYTES, packed?.length ?? 0));
    this.#set = new Set();
    if (packed) {
      for (let at = 0; at < packed.length; at += DIGEST_BYTES) {
        const key = keyAt(packed, at);
        if (this.#set.has(key)) continue;
        this.#set.add(key);
        this.#buf.set(packed.subarray(at, at + DIGEST_BYTES), this.#end);
        this.#end += DIGEST_BYTES;
      }
    }
  }

  /**
   * Push every digest of `newer` (oldest first), keeping the newest `max`: in place, so that moving
   * a few hundred digests into a list of thousands costs those few hundred, not a copy of the list.
   */
  append(newer: DigestList, max: number): void {
    const add = newer.packed();
    for (let at = 0; at < add.length; at += DIGEST_BYTES) this.push(keyAt(add, at), max);
  }

  get size(): number {
    return (this.#end - this.#start) / DIGEST_BYTES;
  }
  has(digest: string): boolean {
    return this.#set.has(digest);
  }
  /** The digests, oldest first, packed (a view: copy it to keep it). */
  packed(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }
  push(digest: string, max: number): void {
    if (digest.length !== DIGEST_BYTES) throw new Error('not a digest');
    if (this.#set.has(digest)) return;
    if (this.#end + DIGEST_BYTES > this.#buf.length) {
      const live = this.packed();
      const grown = new Uint8Array(Math.max(2 * live.length, 16 * DIGEST_BYTES));
      grown.set(live);
      this.#buf = grown;
      this.#start = 0;
      this.#end = live.length;
    }
    for (let i = 0; i < DIGEST_BYTES; i++) this.#buf[this.#end + i] = digest.charCodeAt(i);
    this.#end += DIGEST_BYTES;
    this.#set.add(digest);
    this.#trim(max);
  }
  #trim(max: number): void {
    while (this.size > max) {
      this.#set.delete(keyAt(this.#buf, this.#start));
      this.#start += DIGEST_BYTES;
    }
  }
}

// ---- binary records ----------------------------------------------------------------------------

class Out {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #at = 0;
  constructor(size: number) {
    this.#buf = new Uint8Array(size);
    this.#view = new DataView(this.#buf.buffer);
  }
  bytes(b: Uint8Array): this {
    this.#buf.set(b, this.#at);
    this.#at += b.length;
    return this;
  }
  u8(n: number): this {
    this.#view.setUint8(this.#at, n);
    this.#at += 1;
    return this;
  }
  u16(n: number): this {
    this.#view.setUint16(this.#at, n);
    this.#at += 2;
    return this;
  }
  u32(n: number): this {
    this.#view.setUint32(this.#at, n);
    this.#at += 4;
    return this;
  }
  digests(packed: Uint8Array): this {
    return this.u32(packed.length / DIGEST_BYTES).bytes(packed);
  }
  finish(): Uint8Array {
    if (this.#at !== this.#buf.length) throw new Error('record size mismatch');
    return this.#buf;
  }
}

class In {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #at = 0;
  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  #need(n: number): void {
    if (this.#at + n > this.#buf.length) throw new Error('truncated record');
  }
  bytes(n: number): Uint8Array {
    this.#need(n);
    const out = this.#buf.slice(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }
  u8(): number {
    this.#need(1);
    return this.#view.getUint8(this.#at++);
  }
  u16(): number {
    this.#need(2);
    const n = this.#view.getUint16(this.#at);
    this.#at += 2;
    return n;
  }
  u32(): number {
    this.#need(4);
    const n = this.#view.getUint32(this.#at);
    this.#at += 4;
    return n;
  }
  digests(): Uint8Array {
    return this.bytes(this.u32() * DIGEST_BYTES);
  }
  magic(m: Uint8Array, versions: readonly number[] = [1]): number {
    this.#need(m.length + 1);
    for (let i = 0; i < m.length; i++) if (this.#buf[this.#at + i] !== m[i]) throw new Error('wrong record type');
    this.#at += m.length;
    const v = this.u8();
    if (!versions.includes(v)) throw new Error('unsupported record version');
    return v;
  }
  rest(): Uint8Array {
    const out = this.#buf.subarray(this.#at);
    this.#at = this.#buf.length;
    return out;
  }
  end(): void {
    if (this.#at !== this.#buf.length) throw new Error('trailing bytes');
  }
}

const MAGIC = { recent: utf8('BRr'), seen: utf8('BRs'), basekeys: utf8('BRk'), session: utf8('BRe') };
const digestsSize = (packed: Uint8Array) => 4 + packed.length;

/** `hot` and the lists below are packed digests (n × 16 bytes). */
export interface RecentFields {
  seenId: Uint8Array;
  hot: Uint8Array;
  inbox: unknown[];
}
export function encodeRecent(r: RecentFields): Uint8Array {
  const inbox = utf8(JSON.stringify(r.inbox));
  return new Out(4 + 16 + digestsSize(r.hot) + inbox.length).bytes(MAGIC.recent).u8(1).bytes(r.seenId).digests(r.hot).bytes(inbox).finish();
}
export function decodeRecent(bytes: Uint8Array): RecentFields {
  const r = new In(bytes);
  r.magic(MAGIC.recent);
  const seenId = r.bytes(16);
  const hot = r.digests();
  const inbox = JSON.parse(fromUtf8(r.rest())) as unknown;
  if (!Array.isArray(inbox)) throw new Error('bad inbox');
  return { seenId, hot, inbox };
}

export function encodeSeen(id: Uint8Array, digests: Uint8Array): Uint8Array {
  return new Out(4 + 16 + digestsSize(digests)).bytes(MAGIC.seen).u8(1).bytes(id).digests(digests).finish();
}
export function decodeSeen(bytes: Uint8Array): { id: Uint8Array; digests: Uint8Array } {
  const r = new In(bytes);
  r.magic(MAGIC.seen);
  const id = r.bytes(16);
  const digests = r.digests();
  r.end();
  return { id, digests };
}

/** `key` is `signedId:pqId`. */
export interface BaseKeyGroup {
  key: string;
  digests: Uint8Array;
}
function groupIds(key: string): [number, number] {
  const m = /^(\d+):(\d+)$/.exec(key);
  const ids = m ? [Number(m[1]), Number(m[2])] : [];
  if (!ids.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff) || ids.length !== 2) throw new Error('bad base key group');
  return ids as [number, number];
}
export function encodeBaseKeys(groups: readonly BaseKeyGroup[]): Uint8Array {
  let size = 4 + 4;
  for (const g of groups) size += 8 + digestsSize(g.digests);
  const w = new Out(size).bytes(MAGIC.basekeys).u8(2).u32(groups.length);
  for (const g of groups) {
    const [signedId, pqId] = groupIds(g.key);
    w.u32(signedId).u32(pqId).digests(g.digests);
  }
  return w.finish();
}
export function decodeBaseKeys(bytes: Uint8Array): BaseKeyGroup[] {
  const r = new In(bytes);
  const version = r.magic(MAGIC.basekeys, [1, 2]);
  const groups: BaseKeyGroup[] = [];
  if (version === 1) {
    // Before rotation, every session was accepted with signed prekey 1.
    groups.push({ key: '1:0', digests: r.digests() });
  } else {
    for (let n = r.u32(); n > 0; n--) groups.push({ key: `${r.u32()}:${r.u32()}`, digests: r.digests() });
  }
  r.end();
  return groups;
}

export interface SessionFields {
  key: string;
  sessions: { baseKey: Uint8Array; remoteIdentity: Uint8Array; bytes: Uint8Array }[];
}
export function encodeSessionFile(s: SessionFields): Uint8Array {
  const key = utf8(s.key);
  if (key.length > 0xffff || s.sessions.length > 0xff) throw new Error('session record too large');
  let size = 4 + 2 + key.length + 1;
  for (const x of s.sessions) size += 32 + 32 + 4 + x.bytes.length;
  const w = new Out(size).bytes(MAGIC.session).u8(1).u16(key.length).bytes(key).u8(s.sessions.length);
  for (const x of s.sessions) {
    if (x.baseKey.length !== 32 || x.remoteIdentity.length !== 32) throw new Error('bad session key');
    w.bytes(x.baseKey).bytes(x.remoteIdentity).u32(x.bytes.length).bytes(x.bytes);
  }
  return w.finish();
}
export function decodeSessionFile(bytes: Uint8Array): SessionFields {
  const r = new In(bytes);
  r.magic(MAGIC.session);
  const key = fromUtf8(r.bytes(r.u16()));
  const n = r.u8();
  const sessions: SessionFields['sessions'] = [];
  for (let i = 0; i < n; i++) {
    const baseKey = r.bytes(32);
    const remoteIdentity = r.bytes(32);
    sessions.push({ baseKey, remoteIdentity, bytes: r.bytes(r.u32()) });
  }
  r.end();
  if (sessions.length === 0) throw new Error('empty session record');
  return { key, sessions };
}

/** Byte equality (not constant time: compares a file with the copy this process read or wrote). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  const n = a.length;
  if (n !== b.length) return false;
  let i = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0 && n >= 64) {
    const words = n >>> 2;
    const x = new Uint32Array(a.buffer, a.byteOffset, words);
    const y = new Uint32Array(b.buffer, b.byteOffset, words);
    for (let w = 0; w < words; w++) if (x[w] !== y[w]) return false;
    i = words << 2;
  }
  for (; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
