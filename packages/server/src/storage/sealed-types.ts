/**
 * Storage of sealed sends (docs/API.md §11): delivery-token verifiers per device and the digests
 * of accepted sealed envelopes (replay defence). Sealed messages themselves go into the same
 * per-device queues as every message, with no sender: `fromUser` '' and `fromDevice` 0.
 */
import type { EnqueueResult, NewMessage } from './types.js';

/** The sender fields of a stored sealed message: no user, no device. */
export const SEALED_FROM_USER = '';
export const SEALED_FROM_DEVICE = 0;

export interface DeliveryTokenUpdate {
  readonly user: string;
  readonly deviceId: number;
  /** SHA-256 verifier of the new current token. */
  readonly verifier: Uint8Array;
  readonly createdAt: number;
  /**
   * Rotation: the other verifiers stay valid until this time (an earlier expiry is kept).
   * Absent: revocation, every other verifier is deleted now.
   */
  readonly previousValidUntil?: number;
  /** The key the request's signature was checked against: the device must still have it. */
  readonly signingKey: Uint8Array;
  /** Most verifiers kept per device (the oldest dropped). */
  readonly maxPerDevice: number;
}

export interface SealedMessage extends NewMessage {
  /** Verifier of the token presented for this device. */
  readonly verifier: Uint8Array;
  /** SHA-256 of the sealed envelope (the replay check). */
  readonly digest: Uint8Array;
}

export interface SealedEnqueue {
  readonly to: string;
  readonly expectedListVersion: number;
  readonly sentAt: number;
  readonly messages: readonly SealedMessage[];
  readonly maxQueued: number;
  /** Until when the digests are kept. */
  readonly digestsUntil: number;
  /** Now: tokens whose grace period ended are not valid. */
  readonly now: number;
}

export type SealedEnqueueResult =
  | EnqueueResult
  /** A token is not (or no longer) valid for its device; nothing stored. */
  | { readonly status: 'bad_token'; readonly deviceIds: readonly number[] }
  /** An envelope was already accepted for its device within the window; nothing stored. */
  | { readonly status: 'replayed'; readonly deviceIds: readonly number[] };

export interface SealedRepository {
  /** Sets the device's current verifier (rotation or revocation); false if the device is gone or re-keyed. */
  setToken(update: DeliveryTokenUpdate): Promise<boolean>;
  /** Device ids among `checks` whose verifier is not valid now for (user, device). Read-only. */
  invalidTokens(user: string, checks: readonly { readonly deviceId: number; readonly verifier: Uint8Array }[], now: number): Promise<number[]>;
  /**
   * In one transaction: the list version compare-and-set, every token valid, no digest seen, no
   * queue full; then the messages (without sender) and their digests. All or nothing.
   */
  enqueueSealed(q: SealedEnqueue): Promise<SealedEnqueueResult>;
  /**
   * Several enqueueSealed at once (a sealed-send frame, docs/API.md §11a), each all or nothing and
   * independent of the others, results in order; later items see what earlier ones stored (a
   * repeated envelope in one frame is `replayed`). SQLite: one group-commit operation for all.
   */
  enqueueSealedMany(qs: readonly SealedEnqueue[]): Promise<SealedEnqueueResult[]>;
  /** Digests held for a device (tests, and the inspection test's view). */
  countDigests(): Promise<number>;
}
