/**
 * This device's prekeys (PQXDH rev. 2 §3.2; docs/API.md §3): generation, the private records the
 * profile keeps, the public upload for the relay, and the lookup acceptPreKeyMessage uses.
 */
import { type DeviceKeys, generateOneTimePreKeys, generatePqPreKey, generateSignedPreKey, type PreKeyLookup, type Primitives } from '@blindrelay/protocol';
import type { PreKeyUpload } from './api.js';
import type { AccountRecord, PreKeysRecord } from './profile.js';

/** Published at account creation and kept topped up to: */
export const ONE_TIME_PREKEY_TARGET = 100;
/** Below this many one-time keys of either kind on the relay, upload more (the relay pushes `prekeys-low` too). */
export const PREKEY_LOW_WATERMARK = 10;
/** Private one-time records kept locally at most (keys handed out but never used pile up otherwise). */
const MAX_LOCAL_ONE_TIME = 2000;

export function deviceKeysOf(a: AccountRecord): DeviceKeys {
  return {
    deviceId: a.deviceId,
    signing: { seed: a.signingSeed, publicKey: a.signingKey },
    identity: { privateKey: a.identityPrivate, publicKey: a.identityPublic },
  };
}

/** A fresh set: signed prekey, 100 one-time X25519, 100 one-time ML-KEM, 1 last-resort ML-KEM. */
export async function initialPreKeys(p: Primitives, device: DeviceKeys, now: number): Promise<{ record: PreKeysRecord; upload: PreKeyUpload }> {
  const spk = await generateSignedPreKey(p, device, 1);
  const record: PreKeysRecord = {
    signed: [{ ...spk, createdAt: now }],
    oneTime: [],
    pq: [],
    nextSignedId: 2,
    nextOneTimeId: 1,
    nextPqId: 1,
  };
  const more = await addPreKeys(p, device, record, ONE_TIME_PREKEY_TARGET, ONE_TIME_PREKEY_TARGET);
  const lastResort = await generatePqPreKey(p, device, record.nextPqId++, true);
  record.pq.push({ ...lastResort });
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
export async function addPreKeys(p: Primitives, device: DeviceKeys, record: PreKeysRecord, oneTime: number, pq: number): Promise<PreKeyUpload> {
  const otks = await generateOneTimePreKeys(p, record.nextOneTimeId, oneTime);
  record.nextOneTimeId += oneTime;
  record.oneTime.push(...otks.map((k) => ({ id: k.id, publicKey: k.publicKey, privateKey: k.privateKey })));
  const pqs = [];
  for (let i = 0; i < pq; i++) pqs.push(await generatePqPreKey(p, device, record.nextPqId++, false));
  record.pq.push(...pqs.map((k) => ({ ...k })));
  trim(record);
  return {
    oneTimePreKeys: otks.map((k) => ({ id: k.id, publicKey: k.publicKey })),
    pqPreKeys: pqs.map((k) => ({ id: k.id, lastResort: false, publicKey: k.publicKey, signature: k.signature })),
  };
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
