/**
 * This device's prekeys (PQXDH rev. 2 §3.2; docs/API.md §3): generation, the private records the
 * profile keeps, the public upload for the relay, and the lookup acceptPreKeyMessage uses.
 */
import { type DeviceKeys, generateOneTimePreKeys, generatePqPreKey, generateSignedPreKey, type PreKeyLookup, type Primitives } from '@blindrelay/protocol';
import type { PreKeyUpload } from './api.js';
import { type AccountRecord, type BaseKeysRecord, DigestList, type PreKeysRecord } from './profile.js';

/** Published at account creation and kept topped up to: */
export const ONE_TIME_PREKEY_TARGET = 100;
/** Below this many one-time keys of either kind on the relay, upload more (the relay pushes `prekeys-low` too). */
export const PREKEY_LOW_WATERMARK = 10;
/** A signed prekey (and the last-resort ML-KEM prekey) older than this is replaced. */
export const PREKEY_ROTATION_MS = 7 * 24 * 3600_000;
/** A replaced signed or last-resort prekey is kept this long (first messages built on it may be in flight). */
export const PREKEY_GRACE_MS = 14 * 24 * 3600_000;
/** Private one-time records kept locally at most (keys handed out but never used pile up otherwise). */
const MAX_LOCAL_ONE_TIME = 2000;

export function deviceKeysOf(a: AccountRecord): DeviceKeys {
  return {
    deviceId: a.deviceId,
    signing: { seed: a.signingSeed, publicKey: a.signingKey },
    identity: { privateKey: a.identityPrivate, publicKey: a.identityPublic },
    ...(a.filePrivate && a.filePublic ? { file: { privateKey: a.filePrivate, publicKey: a.filePublic } } : {}),
  };
}

/**
 * A short supply of one-time prekeys (of each kind) for a device that must be ready quickly, to
 * pass as `CreateAccountOptions.oneTimePreKeys` (the web app does; docs/PROTOCOL.md §6.1): as many
 * as the low watermark, so the relay's default threshold does not ask for a top-up the moment the
 * device connects; `replenishPreKeys(true)` brings both kinds to ONE_TIME_PREKEY_TARGET later, in
 * the background. A short or empty supply never blocks a first contact: the signed prekey and the
 * last-resort ML-KEM prekey stand in (PQXDH rev. 2 §3.3: the one-time prekeys are optional).
 */
export const SHORT_ONE_TIME_PREKEY_SUPPLY = PREKEY_LOW_WATERMARK;

/**
 * A fresh set: signed prekey, `oneTime` one-time X25519 and as many one-time ML-KEM prekeys
 * (default ONE_TIME_PREKEY_TARGET), 1 last-resort ML-KEM.
 */
export async function initialPreKeys(
  p: Primitives,
  user: string,
  device: DeviceKeys,
  now: number,
  oneTime: number = ONE_TIME_PREKEY_TARGET,
): Promise<{ record: PreKeysRecord; upload: PreKeyUpload }> {
  const spk = await generateSignedPreKey(p, user, device, 1);
  const record: PreKeysRecord = {
    signed: [{ ...spk, createdAt: now }],
    oneTime: [],
    pq: [],
    nextSignedId: 2,
    nextOneTimeId: 1,
    nextPqId: 1,
  };
  const more = await addPreKeys(p, user, device, record, oneTime, oneTime);
  const lastResort = await generatePqPreKey(p, user, device, record.nextPqId++, true);
  record.pq.push({ ...lastResort, createdAt: now });
  return {
    record,
    upload: {
      signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
      ...more,
      lastResortPqPreKey: { id: lastResort.id, lastResort: true, publicKey: lastResort.publicKey, signature: lastResort.signature },
    },
  };
}

/** Generate `oneTime` X25519 and `pq` ML-KEM one-time prekeys into `record`; returns their upload. */
export async function addPreKeys(p: Primitives, user: string, device: DeviceKeys, record: PreKeysRecord, oneTime: number, pq: number): Promise<PreKeyUpload> {
  const batch = await generatePreKeyBatch(p, user, device, reservePreKeyIds(record, oneTime, pq));
  storePreKeyBatch(record, batch);
  return batch.upload;
}

/** Ids reserved in a prekeys record for a batch generated outside the profile lock. */
export interface PreKeyIds {
  readonly firstOneTimeId: number;
  readonly oneTime: number;
  readonly firstPqId: number;
  readonly pq: number;
}

/** Take the next `oneTime` X25519 and `pq` ML-KEM one-time ids from `record` (ids are never reused, even if the batch is lost). */
export function reservePreKeyIds(record: PreKeysRecord, oneTime: number, pq: number): PreKeyIds {
  const ids = { firstOneTimeId: record.nextOneTimeId, oneTime, firstPqId: record.nextPqId, pq };
  record.nextOneTimeId += oneTime;
  record.nextPqId += pq;
  return ids;
}

export interface PreKeyBatch {
  readonly oneTime: readonly PreKeysRecord['oneTime'][number][];
  readonly pq: readonly PreKeysRecord['pq'][number][];
  readonly upload: PreKeyUpload;
}

/** Generate the one-time prekeys of reserved `ids` (no profile access: run it outside the lock). */
export async function generatePreKeyBatch(p: Primitives, user: string, device: DeviceKeys, ids: PreKeyIds): Promise<PreKeyBatch> {
  const otks = await generateOneTimePreKeys(p, ids.firstOneTimeId, ids.oneTime);
  const pqs = [];
  for (let i = 0; i < ids.pq; i++) pqs.push(await generatePqPreKey(p, user, device, ids.firstPqId + i, false));
  return {
    oneTime: otks.map((k) => ({ id: k.id, publicKey: k.publicKey, privateKey: k.privateKey })),
    pq: pqs.map((k) => ({ ...k })),
    upload: {
      oneTimePreKeys: otks.map((k) => ({ id: k.id, publicKey: k.publicKey })),
      pqPreKeys: pqs.map((k) => ({ id: k.id, lastResort: false, publicKey: k.publicKey, signature: k.signature })),
    },
  };
}

/** Keep a generated batch's private keys in `record` (before its upload: the relay may hand them out at once). */
export function storePreKeyBatch(record: PreKeysRecord, batch: PreKeyBatch): void {
  record.oneTime.push(...batch.oneTime);
  record.pq.push(...batch.pq);
  trim(record);
}

function trim(record: PreKeysRecord): void {
  if (record.oneTime.length > MAX_LOCAL_ONE_TIME) record.oneTime.splice(0, record.oneTime.length - MAX_LOCAL_ONE_TIME);
  const oneTimePq = record.pq.filter((k) => !k.lastResort);
  if (oneTimePq.length > MAX_LOCAL_ONE_TIME) {
    const drop = new Set(oneTimePq.slice(0, oneTimePq.length - MAX_LOCAL_ONE_TIME).map((k) => k.id));
    record.pq = record.pq.filter((k) => !drop.has(k.id));
  }
}

export function preKeyLookup(record: PreKeysRecord): PreKeyLookup {
  return {
    signedPreKey: (id) => record.signed.find((k) => k.id === id),
    oneTimePreKey: (id) => record.oneTime.find((k) => k.id === id),
    pqPreKey: (id) => {
      const k = record.pq.find((x) => x.id === id);
      return k && { id: k.id, lastResort: k.lastResort, publicKey: k.publicKey, privateKey: k.privateKey, signature: k.signature };
    },
  };
}

/** Delete one-time prekeys a new session used (PQXDH rev. 2 §3.4). Last-resort keys stay. */
export function deleteUsedPreKeys(record: PreKeysRecord, oneTimeId: number | undefined, pqId: number | undefined): boolean {
  let changed = false;
  if (oneTimeId !== undefined) {
    const before = record.oneTime.length;
    record.oneTime = record.oneTime.filter((k) => k.id !== oneTimeId);
    changed ||= record.oneTime.length !== before;
  }
  if (pqId !== undefined) {
    const before = record.pq.length;
    record.pq = record.pq.filter((k) => k.lastResort || k.id !== pqId);
    changed ||= record.pq.length !== before;
  }
  return changed;
}

/**
 * A profile from before prekey signatures named their user and device (labels *_v2, PROTOCOL.md
 * §3): its signed and ML-KEM prekeys no longer verify for anyone, and the relay dropped them
 * (migration 007). New signed and last-resort keys are generated as `pending` (uploaded by the
 * next rotation), the old ones and the one-time ML-KEM keys are deleted (new one-time keys are
 * uploaded by the next top-up). One-time X25519 keys are unsigned and stay. Id counters go on.
 */
export async function migratePreKeys(p: Primitives, user: string, device: DeviceKeys, record: PreKeysRecord, now: number): Promise<void> {
  const spk = await generateSignedPreKey(p, user, device, record.nextSignedId++);
  const lastResort = await generatePqPreKey(p, user, device, record.nextPqId++, true);
  record.signed = [{ ...spk, createdAt: now, pending: true }];
  record.pq = [{ ...lastResort, createdAt: now, pending: true }];
}

// ---- rotation ----------------------------------------------------------------------------------

/** The newest published (not pending, not replaced) key of a list. */
function current<T extends { id: number; pending?: boolean; replacedAt?: number }>(keys: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const k of keys) if (!k.pending && k.replacedAt === undefined && (!best || k.id > best.id)) best = k;
  return best;
}

export interface Rotation {
  /** What to POST to /v1/prekeys (pending keys, new or not yet accepted by the relay); absent: nothing. */
  readonly upload?: PreKeyUpload;
  /** The record changed (keys generated or deleted). */
  readonly changed: boolean;
}

/**
 * Rotate the signed prekey and the last-resort ML-KEM prekey in `record`: a key older than
 * PREKEY_ROTATION_MS gets a successor, marked `pending` until the relay accepted it
 * (`publishedPreKeys`); keys replaced more than PREKEY_GRACE_MS ago are deleted. A pending key
 * from an earlier, failed upload is uploaded again rather than replaced.
 */
export async function rotatePreKeys(p: Primitives, user: string, device: DeviceKeys, record: PreKeysRecord, now: number): Promise<Rotation> {
  let changed = false;
  const upload: { signedPreKey?: PreKeyUpload['signedPreKey']; lastResortPqPreKey?: PreKeyUpload['lastResortPqPreKey'] } = {};
  const before = record.signed.length + record.pq.length;
  record.signed = record.signed.filter((k) => k.replacedAt === undefined || now - k.replacedAt < PREKEY_GRACE_MS);
  record.pq = record.pq.filter((k) => !k.lastResort || k.replacedAt === undefined || now - k.replacedAt < PREKEY_GRACE_MS);
  changed ||= record.signed.length + record.pq.length !== before;

  let spk = record.signed.find((k) => k.pending);
  const spkNow = current(record.signed);
  if (!spk && (!spkNow || !(now - spkNow.createdAt < PREKEY_ROTATION_MS))) {
    const k = await generateSignedPreKey(p, user, device, record.nextSignedId++);
    spk = { ...k, createdAt: now, pending: true };
    record.signed.push(spk);
    changed = true;
  }
  if (spk) upload.signedPreKey = { id: spk.id, publicKey: spk.publicKey, signature: spk.signature };

  const lastResort = record.pq.filter((k) => k.lastResort);
  let lr = lastResort.find((k) => k.pending);
  const lrNow = current(lastResort);
  if (!lr && (!lrNow || !(now - (lrNow.createdAt ?? 0) < PREKEY_ROTATION_MS))) {
    const k = await generatePqPreKey(p, user, device, record.nextPqId++, true);
    lr = { ...k, createdAt: now, pending: true };
    record.pq.push(lr);
    changed = true;
  }
  if (lr) upload.lastResortPqPreKey = { id: lr.id, lastResort: true, publicKey: lr.publicKey, signature: lr.signature };

  return upload.signedPreKey || upload.lastResortPqPreKey ? { upload, changed } : { changed };
}

/** After the relay accepted `upload`: its keys become current, the ones they replace start their grace period. */
export function publishedPreKeys(record: PreKeysRecord, upload: PreKeyUpload, now: number): void {
  const spkId = upload.signedPreKey?.id;
  if (spkId !== undefined && record.signed.some((k) => k.id === spkId && k.pending)) {
    for (const k of record.signed) {
      if (k.id === spkId) delete k.pending;
      else if (k.replacedAt === undefined && !k.pending) k.replacedAt = now;
    }
  }
  const lrId = upload.lastResortPqPreKey?.id;
  if (lrId !== undefined && record.pq.some((k) => k.id === lrId && k.pending)) {
    for (const k of record.pq) {
      if (!k.lastResort) continue;
      if (k.id === lrId) delete k.pending;
      else if (k.replacedAt === undefined && !k.pending) k.replacedAt = now;
    }
  }
}

/** When rotation is next due (ms): the earliest of the current keys' rotation and the deletion of replaced ones. */
export function nextRotationAt(record: PreKeysRecord): number {
  let at = Number.POSITIVE_INFINITY;
  for (const k of [...record.signed, ...record.pq.filter((x) => x.lastResort)]) {
    if (k.pending) return 0;
    at = Math.min(at, k.replacedAt !== undefined ? k.replacedAt + PREKEY_GRACE_MS : (k.createdAt ?? 0) + PREKEY_ROTATION_MS);
  }
  return at;
}

// ---- accepted base keys (replay defence; docs/PROTOCOL.md §9.1) -------------------------------

/**
 * Base keys of accepted sessions are kept per pair of prekeys (signed, PQ) the session used: a
 * replay of a first message can only succeed while both private keys exist, so a group is dropped
 * exactly when one of them is deleted (rotation, a used or trimmed one-time PQ key), never because
 * other sessions arrived. Memory is bounded by the prekeys' lifetime (PREKEY_ROTATION_MS +
 * PREKEY_GRACE_MS for the signed/last-resort pair), not by a count.
 */
export const baseKeyGroup = (signedId: number, pqId: number) => `${signedId}:${pqId}`;

export function hasBaseKey(record: BaseKeysRecord, digest: string): boolean {
  for (const list of record.groups.values()) if (list.has(digest)) return true;
  return false;
}

export function addBaseKey(record: BaseKeysRecord, signedId: number, pqId: number, digest: string): void {
  const key = baseKeyGroup(signedId, pqId);
  let list = record.groups.get(key);
  if (!list) {
    list = new DigestList();
    record.groups.set(key, list);
  }
  list.push(digest, Number.MAX_SAFE_INTEGER);
}

/** Drop the groups whose signed or PQ prekey no longer exists in `prekeys`; true if any was. */
export function pruneBaseKeys(record: BaseKeysRecord, prekeys: PreKeysRecord): boolean {
  const signed = new Set(prekeys.signed.map((k) => k.id));
  const pq = new Set(prekeys.pq.map((k) => k.id));
  let changed = false;
  for (const key of [...record.groups.keys()]) {
    const [s, q] = key.split(':').map(Number) as [number, number];
    if (!signed.has(s) || (q !== 0 && !pq.has(q))) {
      record.groups.delete(key);
      changed = true;
    }
  }
  return changed;
}
