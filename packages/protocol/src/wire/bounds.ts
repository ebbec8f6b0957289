/**
 * The bounds of the relay API (docs/API.md "Conventions" and "Limits") that the relay enforces on
 * what it accepts and the SDK enforces on what it receives: one table both import
 * (../shared/reviews/structure-2026-12.md, change 1). Plain numbers and patterns, no dependencies.
 */

/** A user name: 1 to 64 bytes of [a-z0-9._-], starting with a letter or digit (docs/API.md "Conventions"). */
export const USER_NAME = { minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' } as const;
/** A device id: u32, nonzero (docs/PROTOCOL.md §5). */
export const DEVICE_ID = { min: 1, max: 0xffffffff } as const;
/** A prekey id: u32 (docs/PROTOCOL.md §3). */
export const PREKEY_ID = { min: 0, max: 0xffffffff } as const;

/** Key and signature sizes in bytes: RFC 8032 §5.1.5 (Ed25519), RFC 7748 §5 (X25519), FIPS 203 §8 table 3 (ML-KEM-768 encapsulation key). */
export const KEY_BYTES = { ed25519: 32, x25519: 32, signature: 64, mlkem768: 1184 } as const;

/** Ids the relay hands out: 16 random bytes each. */
export const MESSAGE_ID_BYTES = 16;
export const FILE_ID_BYTES = 16;

/** Largest message body (ciphertext) the relay stores: 1.25 MiB (docs/API.md "Limits"). */
export const MAX_MESSAGE_BYTES = 1.25 * 1024 * 1024;
/** Largest signed device list: format 3 with 100 devices is 16,780 bytes (docs/PROTOCOL.md §5). */
export const MAX_DEVICE_LIST_BYTES = 17 * 1024;
/** Largest prekey bundle (docs/PROTOCOL.md §6). */
export const MAX_PREKEY_BUNDLE_BYTES = 2048;
/** Largest master-key rotation statement (docs/PROTOCOL.md §16.4). */
export const MAX_ROTATION_BYTES = 64 * 1024;
/** Largest age header of a file (stanzas and MAC; age.md "Header"). */
export const MAX_FILE_HEADER_BYTES = 256 * 1024;
/** Largest encrypted file metadata. */
export const MAX_FILE_META_BYTES = 4096;
/** Most readers of one file besides its owner. */
export const MAX_FILE_READERS = 100;
/** The owner's seal of a file version (docs/PROTOCOL.md §15.4): version byte, payload digest, Ed25519 signature (file-seal.ts). */
export const FILE_SEAL_BYTES = 1 + 32 + 64;
/** Most recipient devices one send names (one ciphertext each; docs/API.md "Limits"). */
export const MAX_RECIPIENTS = 100;
/** A delivery token of sealed sending: 32 random bytes (docs/API.md §11, PROTOCOL.md §20). */
export const DELIVERY_TOKEN_BYTES = 32;
/** Most one-time X25519 prekeys, and most ML-KEM prekeys, one upload carries (docs/API.md §3). */
export const MAX_PREKEYS_PER_UPLOAD = 200;
/** Most messages one fetch returns, and most files one page lists. */
export const MAX_FETCH_MESSAGES = 500;
/** Most message ids one acknowledgement names (POST /v1/messages/ack, and a WebSocket ack frame). */
export const MAX_ACK_IDS = 500;
export const MAX_FILE_PAGE = 500;

/** The login challenge and the bearer token the relay hands out: 32 random bytes each (docs/API.md §2). */
export const CHALLENGE_BYTES = 32;
export const TOKEN_BYTES = 32;
/** A provisioning channel id: 16 random bytes (docs/API.md §7). */
export const CHANNEL_ID_BYTES = 16;
/** Largest sealed provisioning envelope, PROTOCOL.md §12: 1 + 32 + AES-GCM(payload) where payload ≤ 1 + 65 + 32 + 4 + 1 MiB. */
export const MAX_PROVISIONING_ENVELOPE_BYTES = 1024 * 1024 + 1024;
/** The account-deletion statement's nonce and device-list digest (SHA-256), PROTOCOL.md §17. */
export const DELETION_NONCE_BYTES = 16;
export const DIGEST_BYTES = 32;

/** Largest encrypted backup blob, decoded bytes (docs/PROTOCOL.md §18). */
export const MAX_BACKUP_BYTES = 1024 * 1024;
/** The wrapped backup key: "BRK1" ‖ kind ‖ nonce[12] ‖ AES-256-GCM(32-byte key) (docs/PROTOCOL.md §18). */
export const WRAPPED_KEY_BYTES = 4 + 1 + 12 + 32 + 16;
/** The recovery code's access secret, its SHA-256, and the relay's OPAQUE login id: 32 bytes each. */
export const BACKUP_SECRET_BYTES = 32;
/** OPAQUE messages of ristretto255 / 3DH / SHA-512 (RFC 9807 §4, `@serenity-kit/opaque`): exact sizes. */
export const OPAQUE_BYTES = { registrationRequest: 32, registrationResponse: 64, registrationRecord: 192, ke1: 96, ke2: 320, ke3: 64 } as const;

/** Collections and records (docs/API.md §10, PROTOCOL.md §19): ids of 16 random bytes chosen by the client. */
export const COLLECTION_ID_BYTES = 16;
export const RECORD_ID_BYTES = 16;
/** A sealed record: 64 KiB of JSON, padded, plus per-field overhead (PROTOCOL.md §19.2). */
export const MAX_RECORD_BYTES = 160 * 1024;
/** Sealed collection metadata (PROTOCOL.md §19.2). */
export const MAX_COLLECTION_META_BYTES = 64 * 1024;
/** Key epochs are u32 (PROTOCOL.md §19.1). */
export const MAX_EPOCH = 0xffffffff;
/** Most records one page or query answers; most members of a collection besides its owner. */
export const MAX_RECORD_PAGE = 1000;
export const MAX_COLLECTION_MEMBERS = 100;
/** Records a query answers when it names no limit. */
export const DEFAULT_RECORD_QUERY = 200;
/** Blind-index postings `[index, token]` (PROTOCOL.md §19.3): positions 0 … MAX_INDEXES − 1 (32 indexes), tokens of at most 48 bits. */
export const MAX_INDEX_POSITION = 31;
export const MAX_POSTING_TOKEN = 2 ** 48 - 1;
/** Postings of one record (word indexes: up to 4096 words a field). */
export const MAX_POSTINGS_PER_RECORD = 8192;
/** A query: at most 32 alternatives (one per key epoch), each an AND of 1 to 16 postings. */
export const MAX_QUERY_ALTERNATIVES = 32;
export const MAX_QUERY_POSTINGS = 16;

/** MLS groups (docs/API.md §13): the group id (the MLS group_id, 16 random bytes; groups/mls-framing.ts). */
export const GROUP_ID_BYTES = 16;
/** An MLSMessage(KeyPackage) of suite 0x0053 is about 2.7 KB. */
export const MAX_KEY_PACKAGE_BYTES = 16 * 1024;
export const MAX_KEY_PACKAGES_PER_UPLOAD = 100;
/** Member devices of one group. */
export const MAX_GROUP_MEMBERS = 5000;
/** A commit with its path, or a Welcome with the ratchet tree (grows with the group). */
export const MAX_HANDSHAKE_BYTES = 8 * 1024 * 1024;
/** Most inbox items one fetch returns; most devices one claim names. */
export const MAX_GROUP_INBOX = 500;
export const MAX_CLAIM_DEVICES = 1000;
