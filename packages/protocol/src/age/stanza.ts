/**
 * Recipient stanzas (age.md "Recipient stanza"): `-> ` and space-separated arguments, then the
 * body in unpadded base64 wrapped at 64 columns, always ending with a line shorter than 64
 * characters (possibly empty).
 *
 *     stanza    = arg-line *full-line final-line
 *     arg-line  = "-> " argument *(SP argument) LF
 *     argument  = 1*VCHAR
 *     full-line = 64base64char LF
 *     final-line = *63base64char LF
 */
import type { Primitives } from '../primitives/types.js';
import { encodeBase64 } from './base64.js';
import { AgeHeaderError } from './errors.js';

export interface Stanza {
  /** The arguments; the first names the recipient type (`X25519`, `scrypt`, …). */
  readonly args: readonly string[];
  readonly body: Uint8Array;
}

/** A recipient wraps a file key into one or more stanzas. */
export interface AgeRecipient {
  wrap(p: Primitives, fileKey: Uint8Array): Promise<Stanza[]>;
}

/**
 * An identity unwraps the file key from a stanza addressed to it. It returns null for a stanza
 * of another type or one it cannot open ("no match"), and throws AgeHeaderError for a stanza of
 * its own type that is malformed (age.md: identities MUST reject those).
 */
export interface AgeIdentity {
  unwrap(p: Primitives, stanza: Stanza): Promise<Uint8Array | null>;
}

/** age.md "Recipient stanza": bodies are wrapped at 64 columns. */
export const STANZA_COLUMNS = 64;

/** argument = 1*VCHAR (RFC 5234 B.1: %x21-7E). */
export function isValidArgument(arg: string): boolean {
  if (typeof arg !== 'string' || arg.length === 0) return false;
  for (let i = 0; i < arg.length; i++) {
    const c = arg.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** The stanza's text, arg-line through final-line, each line ending in LF. */
export function encodeStanza(stanza: Stanza): string {
  if (stanza.args.length === 0 || !stanza.args.every(isValidArgument)) throw new AgeHeaderError('invalid stanza argument');
  let out = `-> ${stanza.args.join(' ')}\n`;
  const b64 = encodeBase64(stanza.body);
  let i = 0;
  for (; i + STANZA_COLUMNS <= b64.length; i += STANZA_COLUMNS) out += `${b64.slice(i, i + STANZA_COLUMNS)}\n`;
  // The final line is shorter than 64 columns; empty when the body fills its last line exactly.
  out += `${b64.slice(i)}\n`;
  return out;
}
