/**
 * The signing key a device's signed requests (docs/API.md §2a: WebSocket ack frames, signed HTTP
 * requests) and send marks (§5a) are checked against: read from the device list once per
 * WebSocket connection instead of once per frame. On the hot path that is one database round trip
 * fewer per send frame and per ack frame (in cluster mode, two of the eight PostgreSQL statements
 * per delivered message; docs/BENCHMARKS.md, "Relay CPU per message").
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
 * connection, in a WeakMap, so it goes with the connection). An HTTP request's device object lives
 * for one request: HTTP reads the key each time, as before.
 */
import type { AuthenticatedDevice } from '../context.js';
import type { Storage } from '../storage/types.js';
import { ApiError } from './errors.js';

export type DeviceRef = Pick<AuthenticatedDevice, 'user' | 'deviceId'>;

const keys = new WeakMap<DeviceRef, Uint8Array>();

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
