/** The age v1 file format (C2SP age.md, age-encryption.org/v1). */
export * from './armor.js';
export { decodeBase64 as decodeAgeBase64, encodeBase64 as encodeAgeBase64 } from './base64.js';
export * from './bech32.js';
export * from './errors.js';
export * from './file.js';
export * from './file-key.js';
export * from './header.js';
export * from './mlkem768x25519-recipient.js';
export * from './scrypt-recipient.js';
export * from './stanza.js';
export * from './stream.js';
export * from './x25519-recipient.js';
