/** Bounds on every length and count the protocol accepts (DESIGN.md, convention 7). */
import { USER_NAME } from './wire/bounds.js';

/** Double Ratchet rev. 3 §3.2 / §6.4: most message keys skipped in one chain. */
export const MAX_SKIP = 1000;
/** §6.4: most skipped message keys stored per session; the oldest are evicted first. */
export const MAX_SKIPPED_KEYS = 2000;
/** Largest plaintext one message may carry (files use the age format instead). */
export const MAX_PLAINTEXT_BYTES = 1024 * 1024;
/** Most devices in one signed device list. */
export const MAX_DEVICES = 100;
/** A user name: 1 to 64 bytes of [a-z0-9._-], starting with a letter or digit (the wire contract's bound). */
export const USER_NAME_PATTERN = new RegExp(USER_NAME.pattern);
/**
 * Device-list freshness (docs/PROTOCOL.md §5.1): a list whose `issuedAt` is older than this is
 * refused (so a relay can neither serve an old list on first contact nor freeze one for longer).
 */
export const DEVICE_LIST_MAX_AGE_MS = 14 * 24 * 3600_000;
/** A user's own devices sign a new list once the current one is older than this (half the bound). */
export const DEVICE_LIST_REFRESH_MS = DEVICE_LIST_MAX_AGE_MS / 2;
/** Clock skew tolerated in `issuedAt`: a list dated later than now + this is refused. */
export const DEVICE_LIST_MAX_SKEW_MS = 3600_000;
