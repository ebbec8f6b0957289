/**
 * Argon2id (RFC 9106) from @noble/hashes, for runtimes without a native one (browsers, Node < 24).
 * The synchronous variant: ~30-50% faster than noble's argon2idAsync, and it runs once per
 * profile open.
 */
import { argon2id } from '@noble/hashes/argon2.js';
import type { Argon2Params } from './types.js';

export async function nobleArgon2id(password: Uint8Array, salt: Uint8Array, { m, t, p, dkLen }: Argon2Params): Promise<Uint8Array> {
  return argon2id(password, salt, { m, t, p, dkLen });
}
