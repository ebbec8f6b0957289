/**
 * Typed errors for the age v1 format. The codes follow the outcome classes of the C2SP CCTV age
 * test vectors ("header failure", "HMAC failure", "payload failure", "armor failure", "no match"),
 * so a caller (and the vector suite) can tell a malformed file from a wrong key.
 */
import { BlindrelayError } from '../errors.js';

export type AgeErrorCode = 'ERR_AGE_HEADER' | 'ERR_AGE_MAC' | 'ERR_AGE_PAYLOAD' | 'ERR_AGE_NO_MATCH' | 'ERR_AGE_ARMOR' | 'ERR_AGE_ENCODING';

export class AgeError extends BlindrelayError<AgeErrorCode> {}

/** The header does not parse (age.md "Header"), or a recognised stanza is malformed. */
export class AgeHeaderError extends AgeError {
  constructor(message: string) {
    super('ERR_AGE_HEADER', `age header: ${message}`);
  }
}

/** A file key was unwrapped but the header MAC does not verify (age.md "Header MAC"). */
export class AgeMacError extends AgeError {
  constructor() {
    super('ERR_AGE_MAC', 'age header: MAC does not verify');
  }
}

/** The STREAM payload does not decrypt all the way to a valid final chunk (age.md "Payload"). */
export class AgePayloadError extends AgeError {
  /**
   * Plaintext a streaming decryptor authenticated in the failing call before it failed (a final
   * chunk followed by garbage, a stream cut at a chunk boundary). The file is still invalid.
   */
  released: Uint8Array = new Uint8Array(0);
  constructor(message: string) {
    super('ERR_AGE_PAYLOAD', `age payload: ${message}`);
  }
}

/** The header parses, but no stanza can be unwrapped by the given identities. */
export class AgeNoMatchError extends AgeError {
  constructor() {
    super('ERR_AGE_NO_MATCH', 'age: no identity matched any recipient stanza');
  }
}

/** The ASCII armor (age.md "ASCII armor", RFC 7468 §3 strict) does not parse. */
export class AgeArmorError extends AgeError {
  constructor(message: string) {
    super('ERR_AGE_ARMOR', `age armor: ${message}`);
  }
}

/** A recipient or identity string (Bech32, BIP-173) does not decode. */
export class AgeEncodingError extends AgeError {
  constructor(message: string) {
    super('ERR_AGE_ENCODING', message);
  }
}
