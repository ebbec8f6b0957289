/**
 * The signing key a device's signed requests (docs/API.md §2a: WebSocket ack frames, signed HTTP
 * requests) and send marks (§5a) are checked against: read with the token when the request or
 * WebSocket connection is authenticated, instead of once per signed request or frame. On the hot
 * path that is one database round trip fewer per send and per ack (docs/BENCHMARKS.md, "Relay CPU
 * per message").
 *
 * Reusing the key changes no answer. The key is only where the check starts: what a check accepts
 * (a nonce recorded, a send mark raised) is written by one statement that also requires the
 * device to be listed with exactly that key, its row locked (storage/*-request-guards.ts), just as
 * with a key read a moment before. A key that went stale meanwhile (the device revoked, or
 * re-listed under the same id with new keys) makes that statement refuse, or the signature fail
 * to verify; the check then runs once more with the key read afresh, so the caller gets what an
 * uncached read would have given it, and nothing was written by the refused attempt.
 *
 * Keyed by the object standing for the connection: the WebSocket's authenticated device (one per
 * connection, in a WeakMap, so it goes with the connection), or an HTTP request's. Authentication
 * reads the key with the token (the same statement, http/auth.ts), so neither reads it again.
 */
import type { AuthenticatedDevice } from '../context.js';
import type { Storage } from '../storage/types.js';
import { ApiError } from './errors.js';

export type DeviceRef = Pick<AuthenticatedDevice, 'user' | 'deviceId'>;

const keys = new WeakMap<DeviceRef, Uint8Array>();

/**
 * Remember `key` for `device` (the authenticated device object of a request or connection): the
 * key read with its token (http/auth.ts), which is as fresh as a read of the device list.
 */
export function rememberSigningKey(device: DeviceRef, key: Uint8Array): void {
  keys.set(device, key);
}

/** A refusal that a stale key would also cause (not listed with this key, or a signature that does not verify): worth one fresh read. */
const keyRefusal = (err: unknown) => err instanceof ApiError && err.statusCode === 401 && (err.code === 'bad_signature' || err.code === 'unauthorized');

/**
 * Runs `check` with the device's signing key (undefined: the device is not in its list), which
 * throws ApiError 401 `bad_signature` or `unauthorized` when the key does not fit, writing nothing
 * then. With a key remembered for `device` that refusal is checked again once with the key read
 * from storage.
 */
export async function withSigningKey<T>(storage: Pick<Storage, 'accounts'>, device: DeviceRef, check: (key: Uint8Array | undefined) => Promise<T>): Promise<T> {
  const remembered = keys.get(device);
  if (remembered) {
    try {
      return await check(remembered);
    } catch (err) {
      if (!keyRefusal(err)) throw err;
      keys.delete(device);
    }
  }
  const entry = await storage.accounts.getDevice(device.user, device.deviceId);
  if (entry) keys.set(device, entry.signingKey);
  return check(entry?.signingKey);
}
