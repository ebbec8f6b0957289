/**
 * The age v1 header (age.md "Header"): version line, one or more stanzas, and the MAC line.
 *
 *     header  = v1-line 1*stanza end
 *     v1-line = %s"age-encryption.org/v1" LF
 *     end     = "--- " 43base64char LF
 *
 * Parsing is strict: any deviation is an AgeHeaderError, so exactly one byte string parses to a
 * given header and the MAC covers the bytes as received.
 */
import { concat, equal, utf8 } from '../bytes.js';
import type { Primitives } from '../primitives/types.js';
import { decodeBase64, encodeBase64, isBase64Char } from './base64.js';
import { AgeHeaderError, AgeMacError } from './errors.js';
import { encodeStanza, isValidArgument, STANZA_COLUMNS, type Stanza } from './stanza.js';

/** age.md "Version line". */
export const AGE_VERSION_LINE = 'age-encryption.org/v1';
const VERSION_PREFIX = 'age-encryption.org/';
/** age.md "Header MAC": HMAC key = HKDF-SHA-256(ikm = file key, salt = empty, info = "header"). */
export const HEADER_MAC_LABEL = 'header';
/** age.md "File key": 128 bits. */
export const FILE_KEY_BYTES = 16;
const MAC_BYTES = 32;
const LF = 0x0a;

export interface AgeHeader {
  readonly stanzas: readonly Stanza[];
  readonly mac: Uint8Array;
  /** The header bytes the MAC covers: everything up to and including `---`. */
  readonly macInput: Uint8Array;
  /** Bytes the header occupies in the input; the payload starts here. */
  readonly length: number;
}

/**
 * The length of the header at the start of `bytes` if its MAC line is complete, else -1. For
 * readers that receive a file in pieces: buffer until this is >= 0, then `parseHeader`. Only
 * locates the end; validity is `parseHeader`'s job.
 */
export function headerLength(bytes: Uint8Array): number {
  let i = 0;
  for (;;) {
    const nl = bytes.indexOf(LF, i);
    if (nl < 0) return -1;
    if (bytes[nl + 1] === 0x2d && bytes[nl + 2] === 0x2d && bytes[nl + 3] === 0x2d) {
      const end = bytes.indexOf(LF, nl + 1);
      return end < 0 ? -1 : end + 1;
    }
    i = nl + 1;
  }
}

class LineReader {
  pos = 0;
  constructor(private readonly bytes: Uint8Array) {}
  /** The next line without its LF; printable ASCII only (CR and other controls are rejected). */
  next(): string {
    const nl = this.bytes.indexOf(LF, this.pos);
    if (nl < 0) throw new AgeHeaderError('truncated header');
    let s = '';
    for (let i = this.pos; i < nl; i++) {
      const c = this.bytes[i] as number;
      if (c < 0x20 || c > 0x7e) throw new AgeHeaderError('invalid character in header');
      s += String.fromCharCode(c);
    }
    this.pos = nl + 1;
    return s;
  }
}

function allBase64(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isBase64Char(s.charCodeAt(i))) return false;
  return true;
}

function parseStanzaBody(r: LineReader): Uint8Array {
  let text = '';
  for (;;) {
    const line = r.next();
    if (line.length > STANZA_COLUMNS || !allBase64(line)) throw new AgeHeaderError('invalid stanza body line');
    text += line;
    if (line.length < STANZA_COLUMNS) break; // the final (short, possibly empty) line
  }
  const body = decodeBase64(text);
  if (!body) throw new AgeHeaderError('non-canonical stanza body');
  return body;
}

/** Parse the header at the start of `bytes` (which may continue with the payload). */
export function parseHeader(bytes: Uint8Array): AgeHeader {
  const r = new LineReader(bytes);
  const version = r.next();
  if (version !== AGE_VERSION_LINE) {
    throw new AgeHeaderError(version.startsWith(VERSION_PREFIX) ? 'unsupported version' : 'not an age file');
  }
  const stanzas: Stanza[] = [];
  for (;;) {
    const start = r.pos;
    const line = r.next();
    if (line.startsWith('-> ')) {
      const args = line.slice(3).split(' ');
      if (!args.every(isValidArgument)) throw new AgeHeaderError('invalid stanza arguments');
      stanzas.push({ args, body: parseStanzaBody(r) });
    } else if (line.startsWith('---')) {
      if (stanzas.length === 0) throw new AgeHeaderError('no recipient stanzas');
      const encoded = line.slice(4);
      if (line.charAt(3) !== ' ' || encoded.length !== 43) throw new AgeHeaderError('malformed MAC line');
      const mac = decodeBase64(encoded);
      if (!mac || mac.length !== MAC_BYTES) throw new AgeHeaderError('malformed MAC');
      return { stanzas, mac, macInput: bytes.slice(0, start + 3), length: r.pos };
    } else {
      throw new AgeHeaderError('expected a stanza or the MAC line');
    }
  }
}

async function headerMac(p: Primitives, fileKey: Uint8Array, macInput: Uint8Array): Promise<Uint8Array> {
  const key = await p.hkdfSha256(fileKey, new Uint8Array(0), utf8(HEADER_MAC_LABEL), 32);
  return p.hmacSha256(key, macInput);
}

/** Throws AgeMacError unless the header MAC verifies under `fileKey` (constant-time compare). */
export async function verifyHeaderMac(p: Primitives, header: AgeHeader, fileKey: Uint8Array): Promise<void> {
  const mac = await headerMac(p, fileKey, header.macInput);
  if (!equal(mac, header.mac)) throw new AgeMacError();
}

/** Serialise stanzas into a header and MAC it under `fileKey`. */
export async function encodeHeader(p: Primitives, fileKey: Uint8Array, stanzas: readonly Stanza[]): Promise<Uint8Array> {
  if (stanzas.length === 0) throw new AgeHeaderError('no recipient stanzas');
  let text = `${AGE_VERSION_LINE}\n`;
  for (const s of stanzas) text += encodeStanza(s);
  const macInput = utf8(`${text}---`);
  const mac = await headerMac(p, fileKey, macInput);
  return concat(macInput, utf8(` ${encodeBase64(mac)}\n`));
}
