/**
 * API errors (docs/API.md "Conventions"): every error is `{code, message}` with a 4xx status.
 * Messages are fixed strings written here: they never contain a submitted value.
 */

import { RELAY_ERRORS, type RelayWireCode } from '@blindrelay/protocol/wire';

/** The codes of the wire contract (`@blindrelay/protocol/wire`), which the SDK maps from too. */
export type ErrorCode = RelayWireCode;

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message: string,
    /** Extra response fields (e.g. `missing`/`stale` for mismatched_devices). */
    readonly extra?: Readonly<Record<string, unknown>>,
    /** Response headers (e.g. Retry-After). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = 'ApiError';
    // The wire contract fixes each code's status: a mismatch is a bug of this relay, not of the request.
    if (RELAY_ERRORS[code].status !== statusCode) throw new Error(`ApiError: ${code} is status ${RELAY_ERRORS[code].status}, not ${statusCode}`);
  }
}

export const badRequest = (message: string) => new ApiError(400, 'bad_request', message);
export const unauthorized = (message = 'authentication required') => new ApiError(401, 'unauthorized', message);
export const forbidden = (message: string) => new ApiError(403, 'forbidden', message);
export const notFound = (message: string) => new ApiError(404, 'not_found', message);
/** 404 for a user name that is not (or no longer: a deleted account, docs/API.md §1a) an account. */
export const noSuchUser = (message: string) => new ApiError(404, 'no_such_user', message);
export const conflict = (message: string) => new ApiError(409, 'conflict', message);

/** Default codes for statuses raised by Fastify itself. */
export function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 413:
      return 'payload_too_large';
    case 415:
      return 'unsupported_media_type';
    case 416:
      return 'range_not_satisfiable';
    case 429:
      return 'rate_limited';
    default:
      return status >= 500 ? 'internal' : 'bad_request';
  }
}
