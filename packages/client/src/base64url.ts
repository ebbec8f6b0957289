/**
 * Base64url without padding (RFC 4648 §5), the encoding of every binary field of the relay API
 * and of bytes in profile records: the wire contract's one strict codec (`@blindrelay/protocol/wire`).
 */
export { fromBase64url, fromBase64urlPortable, toBase64url, toBase64urlPortable } from '@blindrelay/protocol/wire';
