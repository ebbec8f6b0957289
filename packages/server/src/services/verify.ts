/**
 * Checks on signed public structures before they are stored, with `@blindrelay/protocol`. The
 * server verifies so it can refuse garbage; clients never rely on it and verify everything
 * themselves (docs/API.md, introduction). Failures become 4xx with fixed messages: the protocol's
 * own messages can contain submitted values (versions, ids), so they are never passed through.
 */

import {
  BlindrelayError,
  DEVICE_LIST_FORMAT,
  DEVICE_LIST_MAX_AGE_MS,
  DEVICE_LIST_MAX_SKEW_MS,
  type DeviceList,
  decodeDeviceList,
  isValidX25519PublicKey,
  type PreKeyOwner,
  type Primitives,
  SignatureError,
  UnknownSignerError,
  verifyDeviceList,
  verifyMasterKeyRotation,
  verifyPqPreKey,
  verifySignedPreKey,
} from '@blindrelay/protocol';
import { bounds } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import { decodeField } from '../http/base64url.js';
import { ApiError, badRequest, conflict, forbidden } from '../http/errors.js';
import type { PrekeyUpload } from '../http/schemas.js';
import type { AccountRecord, PqPreKeyRow, PrekeyBatch } from '../storage/types.js';

export type PrekeyUploadBody = Static<typeof PrekeyUpload>;

const MLKEM768_PUBLIC_KEY_BYTES = bounds.KEY_BYTES.mlkem768;

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Verify a signed device list for `user` under `masterKey` (docs/API.md §3, PROTOCOL.md §5):
 * the master signature and every proof of possession it carries. `stored` is the account's
 * current record (absent at registration). At registration every failure is a 400; for an update
 * a list not signed by the stored master key is a 403. Format 3 (issue time, proofs):
 * - `issuedAt` at most DEVICE_LIST_MAX_SKEW_MS ahead of the relay's clock and at most
 *   DEVICE_LIST_MAX_AGE_MS behind it (400), and not older than the stored list's (409);
 * - an entry without a proof only for a device the relay already holds with the same keys (one
 *   listed before format 3, PROTOCOL.md §5.3); a device new to the relay must prove its keys.
 * Formats 1 and 2 (no issue time, no proofs) only while the account has never had a format-3
 * list: clients from before them still register and update; current clients refuse such lists.
 */
export async function checkDeviceList(
  p: Primitives,
  bytes: Uint8Array,
  user: string,
  masterKey: Uint8Array,
  stored: AccountRecord | undefined,
  now: number,
): Promise<DeviceList> {
  const update = stored !== undefined;
  let list: DeviceList;
  try {
    list = await verifyDeviceList(p, bytes, { user, masterKey }, { now: null, migration: true });
  } catch (err) {
    if (err instanceof UnknownSignerError) {
      throw update ? forbidden("deviceList: not signed by the user's master key") : badRequest('deviceList: not signed by masterKey');
    }
    if (err instanceof SignatureError)
      throw update ? forbidden('deviceList: bad signature') : badRequest('deviceList: bad signature, or a bad proof of possession');
    if (err instanceof BlindrelayError) throw badRequest('deviceList: malformed, or issued for another user');
    throw badRequest('deviceList: could not be verified');
  }
  const previous = stored ? decodeDeviceList(stored.deviceList) : undefined;
  if (list.format !== DEVICE_LIST_FORMAT) {
    if (previous && previous.format === DEVICE_LIST_FORMAT) throw badRequest(`deviceList: format ${DEVICE_LIST_FORMAT} required`);
    return list;
  }
  if (list.issuedAt > now + DEVICE_LIST_MAX_SKEW_MS) throw badRequest('deviceList: issuedAt is in the future');
  if (list.issuedAt < now - DEVICE_LIST_MAX_AGE_MS) throw badRequest('deviceList: issuedAt is older than the freshness bound');
  if (previous && list.issuedAt < previous.issuedAt) throw conflict('deviceList: issued before the stored list');
  for (const d of list.devices) {
    if (d.proof) continue;
    const held = stored?.devices.find((s) => s.deviceId === d.deviceId);
    if (!held || !sameBytes(held.signingKey, d.signingKey) || !sameBytes(held.identityKey, d.identityKey)) {
      throw badRequest('deviceList: a device new to the relay must carry its proof of possession');
    }
  }
  return list;
}

/**
 * Verify a master-key rotation statement (docs/PROTOCOL.md §16.4) against the account's stored
 * master key: signed by it and by the new key. 403 when the stored key did not sign it (or it is
 * for another user), 400 when malformed. Returns the new key and the statement to store.
 */
export async function checkRotation(
  p: Primitives,
  statement: Uint8Array,
  user: string,
  storedMasterKey: Uint8Array,
): Promise<{ masterKey: Uint8Array; statement: Uint8Array }> {
  try {
    const r = await verifyMasterKeyRotation(p, statement, { user, masterKey: storedMasterKey });
    return { masterKey: r.newMasterKey, statement: r.encoded };
  } catch (err) {
    if (err instanceof UnknownSignerError || err instanceof SignatureError) throw forbidden("rotation: not signed by the user's master key and the new key");
    throw badRequest('rotation: malformed, or issued for another user');
  }
}

async function verifyOrReject(what: string, check: () => Promise<void>): Promise<void> {
  try {
    await check();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw badRequest(`${what}: bad signature`);
  }
}

function assertUniqueIds(ids: readonly number[], what: string): void {
  if (new Set(ids).size !== ids.length) throw badRequest(`${what}: duplicate prekey id`);
}

/** Decode and verify an upload under the signing key of the device (user, device id) it is for; returns what storage keeps. */
export async function checkPrekeyUpload(p: Primitives, owner: PreKeyOwner, upload: PrekeyUploadBody, field = 'prekeys'): Promise<PrekeyBatch> {
  const batch: {
    signedPreKey?: PrekeyBatch['signedPreKey'];
    oneTimePreKeys?: PrekeyBatch['oneTimePreKeys'];
    pqPreKeys?: PqPreKeyRow[];
    lastResortPqPreKey?: PqPreKeyRow;
  } = {};
  const checks: Promise<void>[] = [];
  // Cheap checks before any signature is verified.
  if (upload.oneTimePreKeys)
    assertUniqueIds(
      upload.oneTimePreKeys.map((k) => k.id),
      `${field}.oneTimePreKeys`,
    );
  if (upload.pqPreKeys)
    assertUniqueIds(
      upload.pqPreKeys.map((k) => k.id),
      `${field}.pqPreKeys`,
    );

  if (upload.signedPreKey) {
    const f = `${field}.signedPreKey`;
    const publicKey = decodeField(upload.signedPreKey.publicKey, `${f}.publicKey`, { exact: 32 });
    if (!isValidX25519PublicKey(publicKey)) throw badRequest(`${f}.publicKey: not a valid X25519 public key`);
    const signature = decodeField(upload.signedPreKey.signature, `${f}.signature`, { exact: 64 });
    const spk = { id: upload.signedPreKey.id, publicKey, signature };
    checks.push(verifyOrReject(f, () => verifySignedPreKey(p, owner, spk)));
    batch.signedPreKey = spk;
  }

  if (upload.oneTimePreKeys) {
    const f = `${field}.oneTimePreKeys`;
    batch.oneTimePreKeys = upload.oneTimePreKeys.map((k, i) => {
      const publicKey = decodeField(k.publicKey, `${f}[${i}].publicKey`, { exact: 32 });
      if (!isValidX25519PublicKey(publicKey)) throw badRequest(`${f}[${i}].publicKey: not a valid X25519 public key`);
      return { id: k.id, publicKey };
    });
  }

  const pq = (k: { id: number; publicKey: string; signature: string }, f: string, lastResort: boolean): PqPreKeyRow => {
    const row = {
      id: k.id,
      publicKey: decodeField(k.publicKey, `${f}.publicKey`, { exact: MLKEM768_PUBLIC_KEY_BYTES }),
      signature: decodeField(k.signature, `${f}.signature`, { exact: 64 }),
    };
    checks.push(verifyOrReject(f, () => verifyPqPreKey(p, owner, { ...row, lastResort })));
    return row;
  };
  if (upload.pqPreKeys) {
    const f = `${field}.pqPreKeys`;
    batch.pqPreKeys = upload.pqPreKeys.map((k, i) => pq(k, `${f}[${i}]`, false));
  }
  if (upload.lastResortPqPreKey) batch.lastResortPqPreKey = pq(upload.lastResortPqPreKey, `${field}.lastResortPqPreKey`, true);

  const results = await Promise.allSettled(checks);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return batch;
}
