/** Shared field codecs for identity structures: user names and device entries. */
import { fromUtf8, utf8 } from './bytes.js';
import type { Reader, Writer } from './codec.js';
import { isValidEd25519PublicKey } from './ed25519.js';
import { isValidDeviceId, isValidUserName } from './encoding.js';
import { DecodeError } from './errors.js';
import { assertX25519PublicKey } from './x25519.js';

export function writeUser(w: Writer, user: string): void {
  const bytes = utf8(user);
  w.u8(bytes.length).fixed(bytes, bytes.length);
}

export function readUser(r: Reader, what: string): string {
  const n = r.u8();
  let user: string;
  try {
    user = fromUtf8(r.fixed(n));
  } catch {
    throw new DecodeError(`${what}: user name is not UTF-8`);
  }
  if (!isValidUserName(user)) throw new DecodeError(`${what}: invalid user name`);
  return user;
}

export function readDeviceId(r: Reader, what: string): number {
  const id = r.u32();
  if (!isValidDeviceId(id)) throw new DecodeError(`${what}: invalid device id`);
  return id;
}

/** A copied 32-byte X25519 public key, validated (non-canonical and low-order keys rejected). */
export function readX25519(r: Reader, what: string): Uint8Array {
  const key = r.fixed(32).slice();
  try {
    assertX25519PublicKey(key, what);
  } catch {
    throw new DecodeError(`${what}: invalid X25519 public key`);
  }
  return key;
}

/** A copied 32-byte Ed25519 public key, validated (non-canonical and small-order keys rejected, ed25519.ts). */
export function readEd25519(r: Reader, what: string): Uint8Array {
  const key = r.fixed(32).slice();
  if (!isValidEd25519PublicKey(key)) throw new DecodeError(`${what}: invalid Ed25519 public key`);
  return key;
}
