/**
 * Checks on signed public structures before they are stored, with `@blindrelay/protocol`. The
 * server verifies so it can refuse garbage; clients never rely on it and verify everything
 * themselves (docs/API.md, introduction). Failures become 4xx with fixed messages: the protocol's
 * own messages can contain submitted values (versions, ids), so they are never passed through.
 */
import {
  BlindrelayError,
  type DeviceList,
  isValidX25519PublicKey,
  type Primitives,
  SignatureError,
  UnknownSignerError,
  verifyDeviceList,
  verifyPqPreKey,
  verifySignedPreKey,
} from '@blindrelay/protocol';
import type { Static } from '@sinclair/typebox';
import { decodeField } from '../http/base64url.js';
import { ApiError, badRequest, forbidden } from '../http/errors.js';
import type { PrekeyUpload } from '../http/schemas.js';
import type { PqPreKeyRow, PrekeyBatch } from '../storage/types.js';

export type PrekeyUploadBody = Static<typeof PrekeyUpload>;

const MLKEM768_PUBLIC_KEY_BYTES = 1184;

/**
 * Verify a signed device list for `user` under `masterKey`. At registration every failure is a
 * 400; for an update (`update: true`) a list not signed by the stored master key is a 403.
 */
export async function checkDeviceList(p: Primitives, bytes: Uint8Array, user: string, masterKey: Uint8Array, update: boolean): Promise<DeviceList> {
  try {
    return await verifyDeviceList(p, bytes, { user, masterKey });
  } catch (err) {
    if (err instanceof UnknownSignerError) {
      throw update ? forbidden("deviceList: not signed by the user's master key") : badRequest('deviceList: not signed by masterKey');
    }
    if (err instanceof SignatureError) throw update ? forbidden('deviceList: bad signature') : badRequest('deviceList: bad signature');
    if (err instanceof BlindrelayError) throw badRequest('deviceList: malformed, or issued for another user');
    throw badRequest('deviceList: could not be verified');
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

/** Decode and verify an upload under the device's signing key; returns what storage keeps. */
export async function checkPrekeyUpload(p: Primitives, signingKey: Uint8Array, upload: PrekeyUploadBody, field = 'prekeys'): Promise<PrekeyBatch> {
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
    checks.push(verifyOrReject(f, () => verifySignedPreKey(p, signingKey, spk)));
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
    checks.push(verifyOrReject(f, () => verifyPqPreKey(p, signingKey, { ...row, lastResort })));
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
