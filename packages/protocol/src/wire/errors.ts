/**
 * The relay's error answers, one table for both ends of the wire (docs/API.md "Conventions";
 * ../shared/reviews/structure-2026-12.md, change 1). Every error response is `{code, message}`
 * with the status listed here; the relay answers from this table (server/src/http/errors.ts) and
 * the SDK maps answers to its typed errors by it (client/src/errors.ts `relayError`), so a code
 * added on one side without the other is a type error, and test/wire-contract.test.ts checks the
 * relay's `/openapi.json` against it.
 *
 * `sdk` is the SDK error code a caller switches on (`ERR_RELAY_<CODE>` unless a more specific one
 * exists). No I/O, no dependencies: importable from `@blindrelay/protocol/wire` on its own.
 */
export const RELAY_ERRORS = {
  bad_request: { status: 400, sdk: 'ERR_RELAY_BAD_REQUEST' },
  unauthorized: { status: 401, sdk: 'ERR_RELAY_UNAUTHORIZED' },
  signature_required: { status: 401, sdk: 'ERR_RELAY_SIGNATURE' },
  bad_signature: { status: 401, sdk: 'ERR_RELAY_SIGNATURE' },
  stale_signature: { status: 401, sdk: 'ERR_RELAY_SIGNATURE' },
  replayed_signature: { status: 401, sdk: 'ERR_RELAY_SIGNATURE' },
  forbidden: { status: 403, sdk: 'ERR_RELAY_FORBIDDEN' },
  invalid_delivery_token: { status: 403, sdk: 'ERR_RELAY_INVALID_DELIVERY_TOKEN' },
  not_found: { status: 404, sdk: 'ERR_RELAY_NOT_FOUND' },
  no_such_user: { status: 404, sdk: 'ERR_NO_SUCH_USER' },
  conflict: { status: 409, sdk: 'ERR_RELAY_CONFLICT' },
  mismatched_devices: { status: 409, sdk: 'ERR_RELAY_MISMATCHED_DEVICES' },
  offset_mismatch: { status: 409, sdk: 'ERR_RELAY_OFFSET_MISMATCH' },
  revocation_pending: { status: 409, sdk: 'ERR_RELAY_CONFLICT' },
  version_changed: { status: 409, sdk: 'ERR_RELAY_VERSION_CHANGED' },
  send_mark_stale: { status: 409, sdk: 'ERR_RELAY_SEND_MARK_STALE' },
  stale_epoch: { status: 409, sdk: 'ERR_RELAY_CONFLICT' },
  replayed: { status: 409, sdk: 'ERR_RELAY_REPLAYED' },
  payload_too_large: { status: 413, sdk: 'ERR_RELAY_PAYLOAD_TOO_LARGE' },
  quota_exceeded: { status: 413, sdk: 'ERR_RELAY_QUOTA_EXCEEDED' },
  unsupported_media_type: { status: 415, sdk: 'ERR_RELAY' },
  range_not_satisfiable: { status: 416, sdk: 'ERR_RELAY' },
  backup_locked: { status: 423, sdk: 'ERR_RELAY' },
  upgrade_required: { status: 426, sdk: 'ERR_RELAY' },
  rate_limited: { status: 429, sdk: 'ERR_RELAY_RATE_LIMITED' },
  queue_full: { status: 429, sdk: 'ERR_RELAY_QUEUE_FULL' },
  internal: { status: 500, sdk: 'ERR_RELAY' },
  unavailable: { status: 503, sdk: 'ERR_RELAY' },
} as const satisfies Record<string, { status: number; sdk: `ERR_${string}` }>;

/** A code the relay answers with. */
export type RelayWireCode = keyof typeof RELAY_ERRORS;
/** The SDK error code of a relay answer. */
export type RelaySdkCode = (typeof RELAY_ERRORS)[RelayWireCode]['sdk'];

export const RELAY_WIRE_CODES = Object.keys(RELAY_ERRORS) as RelayWireCode[];

export function isRelayWireCode(code: unknown): code is RelayWireCode {
  return typeof code === 'string' && Object.hasOwn(RELAY_ERRORS, code);
}
