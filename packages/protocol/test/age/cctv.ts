/** Loader and runner for the C2SP CCTV age vectors (the `cctv-age` package). */
import { createHash } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import * as vectors from 'cctv-age';
import * as age from '../../src/age/index.js';
import type { Primitives } from '../../src/primitives/types.js';

export type Outcome = 'success' | 'no match' | 'HMAC failure' | 'header failure' | 'payload failure' | 'armor failure';

export interface Vector {
  name: string;
  expect: Outcome;
  payload?: string;
  identities: string[];
  passphrases: string[];
  armored: boolean;
  file: Uint8Array;
}

export function loadVectors(): Vector[] {
  const out: Vector[] = [];
  for (const [name, raw] of Object.entries(vectors as Record<string, Uint8Array>)) {
    if (!(raw instanceof Uint8Array)) continue;
    let split = -1;
    for (let i = 0; i + 1 < raw.length; i++) {
      if (raw[i] === 0x0a && raw[i + 1] === 0x0a) {
        split = i;
        break;
      }
    }
    const meta = new TextDecoder().decode(raw.subarray(0, split));
    const v: Vector = { name, expect: 'success', identities: [], passphrases: [], armored: false, file: raw.subarray(split + 2) };
    let compressed = false;
    for (const line of meta.split('\n')) {
      const at = line.indexOf(': ');
      const key = line.slice(0, at);
      const value = line.slice(at + 2);
      if (key === 'expect') v.expect = value as Outcome;
      else if (key === 'payload') v.payload = value;
      else if (key === 'identity') v.identities.push(value);
      else if (key === 'passphrase') v.passphrases.push(value);
      else if (key === 'armored') v.armored = value === 'yes';
      else if (key === 'compressed') compressed = value === 'zlib';
    }
    if (compressed) v.file = new Uint8Array(inflateSync(v.file));
    out.push(v);
  }
  return out;
}

/**
 * Why a vector is outside the implemented feature set, or undefined to run it. Every vector of
 * cctv-age 0.2.0 runs (X25519, mlkem768x25519, scrypt, STREAM, armor); kept for future vectors.
 */
export function skipReason(_v: Vector): string | undefined {
  return undefined;
}

export interface Result {
  outcome: Outcome;
  released: string;
  error?: unknown;
}

const sha256 = (chunks: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
};

/** Decrypt as the spec's streaming reader would; the released plaintext is hashed even on failure. */
export async function runVector(p: Primitives, v: Vector): Promise<Result> {
  const released: Uint8Array[] = [];
  const classify = (e: unknown): Result => {
    const outcomes: Record<string, Outcome> = {
      ERR_AGE_ARMOR: 'armor failure',
      ERR_AGE_HEADER: 'header failure',
      ERR_AGE_MAC: 'HMAC failure',
      ERR_AGE_NO_MATCH: 'no match',
      ERR_AGE_PAYLOAD: 'payload failure',
    };
    if (e instanceof age.AgePayloadError) released.push(e.released);
    const code = e instanceof age.AgeError ? e.code : '';
    const outcome = outcomes[code];
    if (!outcome) throw e;
    return { outcome, released: sha256(released), error: e };
  };
  try {
    const bytes = v.armored ? age.dearmor(v.file) : v.file;
    const header = age.parseHeader(bytes);
    const identities: age.AgeIdentity[] = [];
    for (const s of v.identities)
      identities.push(s.startsWith(age.MLKEM768X25519_IDENTITY_HRP) ? age.MlKem768X25519Identity.parse(s) : await age.X25519Identity.parse(p, s));
    for (const s of v.passphrases) identities.push(new age.ScryptIdentity(s));
    const fileKey = await age.unwrapHeader(p, header, identities);
    const dec = age.createPayloadDecryptor(p, fileKey);
    const payload = bytes.subarray(header.length);
    // Small pieces, so each push authenticates at most one chunk and nothing released is lost.
    for (let i = 0; i < payload.length; i += 4096) released.push(await dec.push(payload.subarray(i, i + 4096)));
    released.push(await dec.push(new Uint8Array(0), true));
    return { outcome: 'success', released: sha256(released) };
  } catch (e) {
    return classify(e);
  }
}
