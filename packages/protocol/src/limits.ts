/** Bounds on every length and count the protocol accepts (DESIGN.md, convention 7). */

/** Double Ratchet rev. 3 §3.2 / §6.4: most message keys skipped in one chain. */
export const MAX_SKIP = 1000;
/** §6.4: most skipped message keys stored per session; the oldest are evicted first. */
export const MAX_SKIPPED_KEYS = 2000;
/** Largest plaintext one message may carry (files use the age format instead). */
export const MAX_PLAINTEXT_BYTES = 1024 * 1024;
/** Most devices in one signed device list. */
export const MAX_DEVICES = 100;
/** A user name: 1 to 64 bytes of [a-z0-9._-], starting with a letter or digit. */
export const USER_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
