/**
 * Helpers for adversarial protocol tests: byte layouts of the wire formats (so a failing case names
 * the field it hit), bit flips, forged ratchet messages with chosen header fields, a primitives
 * wrapper that counts calls, and the "rejected and state unchanged" assertion.
 */

import type { Primitives } from '../src/primitives/types.js';
import * as P from './internals.js';

// ---------------------------------------------------------------------------------------------
// Bytes

export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7));
  return out;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const u16At = (b: Uint8Array, i: number) => ((b[i] as number) << 8) | (b[i + 1] as number);

export const u32At = (b: Uint8Array, i: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(i);

/** Big-endian u32 write into a copy. */
export function withU32(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(offset, value >>> 0);
  return out;
}

/** Deterministic, distinct plaintext bytes for message `id`; ends in 0x80 or 0x00 now and then (padding edge cases). */
export function plaintextFor(id: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (id * 131 + i * 29 + 7) & 0xff;
  if (size >= 4) new DataView(out.buffer).setUint32(0, id);
  if (size > 4 && id % 3 === 0) out[size - 1] = 0x80;
  if (size > 4 && id % 3 === 1) out[size - 1] = 0x00;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Layouts: named byte ranges of each encoding (docs/PROTOCOL.md §4–§9)

export interface Field {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

function layout(spec: [string, number][], offset = 0): Field[] {
  const out: Field[] = [];
  let pos = offset;
  for (const [name, length] of spec) {
    out.push({ name, start: pos, end: pos + length });
    pos += length;
  }
  return out;
}

export function fieldAt(fields: readonly Field[], byte: number): Field {
  const f = fields.find((x) => byte >= x.start && byte < x.end);
  if (!f) throw new Error(`byte ${byte} is outside the layout`);
  return f;
}

export function field(fields: readonly Field[], name: string): Field {
  const f = fields.find((x) => x.name === name);
  if (!f) throw new Error(`no field ${name}`);
  return f;
}

export function layoutEnd(fields: readonly Field[]): number {
  return (fields[fields.length - 1] as Field).end;
}

export function ratchetMessageLayout(message: Uint8Array, offset = 0, prefix = ''): Field[] {
  return layout(
    [
      [`${prefix}version`, 1],
      [`${prefix}type`, 1],
      [`${prefix}ratchetKey`, 32],
      [`${prefix}pn`, 4],
      [`${prefix}n`, 4],
      [`${prefix}sealed`, message.length - offset - P.RATCHET_HEADER_BYTES],
    ],
    offset,
  );
}

export function preKeyMessageLayout(message: Uint8Array): Field[] {
  const certLength = u16At(message, 2);
  const hasOneTime = message[4 + certLength + 32 + 1088 + 4] === 1;
  const prefix = layout([
    ['version', 1],
    ['type', 1],
    ['certificateLength', 2],
    ['certificate', certLength],
    ['baseKey', 32],
    ['kemCipherText', 1088],
    ['spkId', 4],
    ['hasOneTime', 1],
    ...(hasOneTime ? ([['opkId', 4]] as [string, number][]) : []),
    ['pqId', 4],
  ]);
  return [...prefix, ...ratchetMessageLayout(message, layoutEnd(prefix), 'inner.')];
}

export function certificateLayout(cert: Uint8Array): Field[] {
  const userLength = cert[1] as number;
  return layout([
    ['version', 1],
    ['userLength', 1],
    ['user', userLength],
    ['masterKey', 32],
    ['deviceId', 4],
    ['signingKey', 32],
    ['identityKey', 32],
    ['signature', 64],
  ]);
}

export function deviceListLayout(list: Uint8Array): Field[] {
  const format = list[0] as number;
  const userLength = list[1] as number;
  const headerEnd = 2 + userLength + 32 + 8 + (format === 3 ? 8 : 0);
  const count = u16At(list, headerEnd);
  const devices: [string, number][] = [];
  let at = headerEnd + 2;
  for (let i = 0; i < count; i++) {
    devices.push([`device${i}.id`, 4], [`device${i}.signingKey`, 32], [`device${i}.identityKey`, 32]);
    at += 68;
    if (format === 1) continue; // format 1: no file keys
    devices.push([`device${i}.hasFileKey`, 1]);
    if (list[at] === 1) devices.push([`device${i}.fileKey`, 32]);
    at += list[at] === 1 ? 33 : 1;
    if (format === 2) continue; // format 2: no proofs
    devices.push([`device${i}.hasProof`, 1]);
    if (list[at] === 1) devices.push([`device${i}.proof`, 64]);
    at += list[at] === 1 ? 65 : 1;
  }
  const header: [string, number][] = [
    ['format', 1],
    ['userLength', 1],
    ['user', userLength],
    ['masterKey', 32],
    ['version', 8],
  ];
  if (format === 3) header.push(['issuedAt', 8]);
  return layout([...header, ['count', 2], ...devices, ['signature', 64]]);
}

export function bundleLayout(bundle: Uint8Array): Field[] {
  const userLength = bundle[1] as number;
  const flagAt = 2 + userLength + 4 + 32 + 32 + 4 + 32 + 64;
  const hasOneTime = bundle[flagAt] === 1;
  return layout([
    ['version', 1],
    ['userLength', 1],
    ['user', userLength],
    ['deviceId', 4],
    ['signingKey', 32],
    ['identityKey', 32],
    ['spkId', 4],
    ['spk', 32],
    ['spkSignature', 64],
    ['hasOneTime', 1],
    ...(hasOneTime
      ? ([
          ['opkId', 4],
          ['opk', 32],
        ] as [string, number][])
      : []),
    ['pqId', 4],
    ['pqLastResort', 1],
    ['pqpk', 1184],
    ['pqSignature', 64],
  ]);
}

/** Bit positions of `fields` whose name is in `names` (all fields when `names` is omitted). */
export function bitsOf(fields: readonly Field[], names?: readonly string[]): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (names && !names.includes(f.name)) continue;
    for (let bit = f.start * 8; bit < f.end * 8; bit++) out.push(bit);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Assertions

export function isDecryptError(e: unknown): boolean {
  return e instanceof P.DecryptError && e.code === 'ERR_DECRYPT' && e.message === 'message could not be decrypted';
}

/** Run `fn`, return the error it throws (fails the test if it does not throw). */
export async function caught(fn: () => Promise<unknown> | unknown, what = 'call'): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error(`${what}: expected a rejection, but it succeeded`);
}

/** `decryptMessage(state, message)` must fail with the one DecryptError and leave `state` byte-identical. */
export async function expectDecryptRejected(p: Primitives, state: P.SessionState, message: Uint8Array, what = 'message'): Promise<void> {
  const before = P.serializeSession(state);
  const e = await caught(() => P.decryptMessage(p, state, message), what);
  if (!isDecryptError(e)) throw new Error(`${what}: expected DecryptError, got ${String(e)}`);
  if (!sameBytes(P.serializeSession(state), before)) throw new Error(`${what}: the failed decrypt changed the session state`);
}

export function skippedCount(state: P.SessionState): number {
  // Through the serialised form, as a client would persist it.
  return P.deserializeSession(P.serializeSession(state)).skipped.size;
}

// ---------------------------------------------------------------------------------------------
// Forging

/**
 * A ratchet message as `sender` would produce one, but with chosen header fields and message key.
 * With `messageKey` omitted the body is sealed under a random key (a forgery no receiver can open).
 */
export async function forgeRatchetMessage(
  p: Primitives,
  sender: P.SessionState,
  header: Partial<P.RatchetHeader>,
  opts: { messageKey?: Uint8Array; plaintext?: Uint8Array } = {},
): Promise<Uint8Array> {
  const headerBytes = P.encodeRatchetHeader({
    ratchetKey: header.ratchetKey ?? sender.ratchet.publicKey,
    pn: header.pn ?? sender.pn,
    n: header.n ?? sender.send?.n ?? 0,
  });
  const { key, nonce } = await P.messageKeys(p, opts.messageKey ?? p.randomBytes(32));
  const ad = P.associatedData(sender.localIdentity, sender.remoteIdentity, headerBytes);
  const sealed = await p.aesGcmSeal(key, nonce, P.pad(opts.plaintext ?? P.utf8('forged')), ad);
  return P.encodeRatchetMessage(headerBytes, sealed);
}

/** Encrypt `count` messages from `state`; returns the last state and all messages in order. */
export async function sendMany(p: Primitives, state: P.SessionState, count: number, text = 'm'): Promise<{ state: P.SessionState; messages: Uint8Array[] }> {
  const messages: Uint8Array[] = [];
  let s = state;
  for (let i = 0; i < count; i++) {
    const r = await P.encryptMessage(p, s, P.utf8(`${text}${i}`));
    s = r.state;
    messages.push(r.message);
  }
  return { state: s, messages };
}

// ---------------------------------------------------------------------------------------------
// Instrumentation

export type CountedPrimitives = { readonly p: Primitives; readonly counts: Record<string, number>; reset(): void };

/** Wrap `p` so every primitive call is counted by name (to assert "no key was derived"). */
export function countingPrimitives(inner: Primitives): CountedPrimitives {
  const counts: Record<string, number> = {};
  const wrapped = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        counts[String(prop)] = (counts[String(prop)] ?? 0) + 1;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    p: wrapped,
    counts,
    reset() {
      for (const k of Object.keys(counts)) delete counts[k];
    },
  };
}

/** Smallest wall time of `runs` calls of `fn`, in ms (robust against a GC pause or a busy core). */
export async function minTimeMs(runs: number, fn: () => Promise<unknown>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}
