/**
 * One error base class with stable codes (DESIGN.md, convention 4).
 *
 * Callers switch on `code`, never on `message`. Every decryption failure is reported as the same
 * `DecryptError` with the same message, whatever went wrong inside, so an attacker probing with
 * forged or replayed messages learns nothing from the error.
 */
export type ErrorCode =
  | 'ERR_DECODE'
  | 'ERR_BAD_SIGNATURE'
  | 'ERR_UNKNOWN_SIGNER'
  | 'ERR_ROLLBACK'
  | 'ERR_INVALID_KEY'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_DECRYPT'
  | 'ERR_UNTRUSTED_IDENTITY'
  | 'ERR_STALE_DEVICE_LIST'
  | 'ERR_UNPROVEN_DEVICE'
  | 'ERR_LINK_VERSION';

/**
 * The base of every Blindrelay error, here and in the packages built on this one (the SDK derives
 * its errors with its own `ERR_*` codes), so `instanceof BlindrelayError` catches them all.
 */
export class BlindrelayError<C extends `ERR_${string}` = ErrorCode> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Malformed bytes: truncated, oversized, wrong version, trailing data, out-of-range field. */
export class DecodeError extends BlindrelayError {
  constructor(message: string) {
    super('ERR_DECODE', message);
  }
}

/** A signature did not verify under the key that should have made it. */
export class SignatureError extends BlindrelayError {
  constructor(message: string) {
    super('ERR_BAD_SIGNATURE', message);
  }
}

/** A signed structure names a signer other than the one we trust for it. */
export class UnknownSignerError extends BlindrelayError {
  constructor(message: string) {
    super('ERR_UNKNOWN_SIGNER', message);
  }
}

/** A signed device list whose version does not grow past the one we already hold. */
export class RollbackError extends BlindrelayError {
  constructor(message: string) {
    super('ERR_ROLLBACK', message);
  }
}

/**
 * A signed device list issued longer ago than the freshness bound (DEVICE_LIST_MAX_AGE_MS), one
 * from a format without an issue time, or one dated too far in the future (docs/PROTOCOL.md §5).
 */
export class StaleDeviceListError extends BlindrelayError {
  constructor(message: string) {
    super('ERR_STALE_DEVICE_LIST', message);
  }
}

/**
 * A device list names a device that has not proved possession of its keys (no self-signature in
 * its entry, docs/PROTOCOL.md §5): a user's master key cannot vouch for another user's keys.
 */
export class UnprovenDeviceError extends BlindrelayError {
  constructor(message: string) {
    super('ERR_UNPROVEN_DEVICE', message);
  }
}

/** A public key that is non-canonical, of low order, or otherwise unusable. */
export class InvalidKeyError extends BlindrelayError {
  constructor(message: string) {
    super('ERR_INVALID_KEY', message);
  }
}

/** A caller-supplied argument outside its documented range (not attacker-controlled bytes). */
export class InvalidArgumentError extends BlindrelayError {
  constructor(message: string) {
    super('ERR_INVALID_ARGUMENT', message);
  }
}

/** The sender's identity does not match the one this session was established with. */
export class UntrustedIdentityError extends BlindrelayError {
  constructor(message: string) {
    super('ERR_UNTRUSTED_IDENTITY', message);
  }
}

const DECRYPT_MESSAGE = 'message could not be decrypted';

/** The single error every failed decryption yields, whatever the cause. */
export class DecryptError extends BlindrelayError {
  constructor() {
    super('ERR_DECRYPT', DECRYPT_MESSAGE);
  }
}

/**
 * A device-linking envelope of a format this code refuses: format 1 carried the master seed to the
 * new device (custody, PROTOCOL.md §16). Only raised after the envelope authenticated.
 */
export class ProvisioningVersionError extends BlindrelayError {
  constructor(message: string) {
    super('ERR_LINK_VERSION', message);
  }
}
