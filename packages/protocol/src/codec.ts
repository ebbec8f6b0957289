/**
 * Canonical binary encoding used by every wire format and stored structure (docs/PROTOCOL.md §2).
 *
 * Integers are unsigned big-endian; variable-length fields carry a length prefix; there is exactly
 * one encoding of each value, so re-encoding a decoded value reproduces the input byte for byte.
 * The reader never allocates more than the input holds and rejects trailing bytes.
 */
import { BlindrelayError, DecodeError } from './errors.js';

export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buf.buffer);
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.reserve(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }

  u16(v: number): this {
    this.reserve(2);
    this.view.setUint16(this.pos, v);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    this.view.setUint32(this.pos, v);
    this.pos += 4;
    return this;
  }

  /** 64-bit unsigned integer, limited to JavaScript's safe integer range. */
  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError('u64 out of range');
    this.reserve(8);
    this.view.setUint32(this.pos, Math.floor(v / 2 ** 32));
    this.view.setUint32(this.pos + 4, v >>> 0);
    this.pos += 8;
    return this;
  }

  /** Fixed-length bytes: the length is implied by the format, not written. */
  fixed(bytes: Uint8Array, length: number): this {
    if (bytes.length !== length) throw new RangeError(`expected ${length} bytes, got ${bytes.length}`);
    this.reserve(length);
    this.buf.set(bytes, this.pos);
    this.pos += length;
    return this;
  }

  /** Bytes with a 16-bit length prefix. */
  bytes16(bytes: Uint8Array): this {
    if (bytes.length > 0xffff) throw new RangeError('field too long for a 16-bit length');
    this.u16(bytes.length);
    return this.fixed(bytes, bytes.length);
  }

  /** Bytes with a 32-bit length prefix. */
  bytes32(bytes: Uint8Array): this {
    this.u32(bytes.length);
    return this.fixed(bytes, bytes.length);
  }

  /** The rest of the structure: no length prefix, must be the last field. */
  rest(bytes: Uint8Array): this {
    return this.fixed(bytes, bytes.length);
  }

  /** The bytes written: the buffer itself when it was sized exactly, else a copy of its start. */
  finish(): Uint8Array {
    return this.pos === this.buf.length ? this.buf : this.buf.slice(0, this.pos);
  }
}

export class Reader {
  private readonly view: DataView;
  private pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (this.remaining < n) throw new DecodeError(`${this.what}: truncated`);
  }

  u8(): number {
    this.need(1);
    const v = this.view.getUint8(this.pos);
    this.pos += 1;
    return v;
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const hi = this.view.getUint32(this.pos);
    const lo = this.view.getUint32(this.pos + 4);
    if (hi >= 2 ** 21) throw new DecodeError(`${this.what}: integer out of range`);
    this.pos += 8;
    return hi * 2 ** 32 + lo;
  }

  /** A view into the input (no copy); callers that keep it beyond the input's life must copy. */
  fixed(length: number): Uint8Array {
    this.need(length);
    const v = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return v;
  }

  bytes16(max = 0xffff): Uint8Array {
    const n = this.u16();
    if (n > max) throw new DecodeError(`${this.what}: field longer than ${max} bytes`);
    return this.fixed(n);
  }

  bytes32(max: number): Uint8Array {
    const n = this.u32();
    if (n > max) throw new DecodeError(`${this.what}: field longer than ${max} bytes`);
    return this.fixed(n);
  }

  rest(): Uint8Array {
    return this.fixed(this.remaining);
  }

  /** A boolean byte: exactly 0 or 1, so the encoding stays canonical. */
  flag(): boolean {
    const v = this.u8();
    if (v > 1) throw new DecodeError(`${this.what}: invalid flag`);
    return v === 1;
  }

  /** The format version byte; anything else than `expected` is rejected. */
  version(expected: number): void {
    const v = this.u8();
    if (v !== expected) throw new DecodeError(`${this.what}: unsupported version ${v}`);
  }

  end(): void {
    if (this.remaining !== 0) throw new DecodeError(`${this.what}: ${this.remaining} trailing bytes`);
  }
}

/** Decode with `fn`, turning any non-library exception into a DecodeError. */
export function decodeWith<T>(bytes: Uint8Array, what: string, fn: (r: Reader) => T): T {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError(`${what}: expected bytes`);
  const r = new Reader(bytes, what);
  try {
    const value = fn(r);
    r.end();
    return value;
  } catch (e) {
    if (e instanceof BlindrelayError) throw e;
    throw new DecodeError(`${what}: malformed`);
  }
}
