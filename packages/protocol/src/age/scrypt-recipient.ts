/**
 * The scrypt (passphrase) recipient type (age.md "The scrypt recipient type").
 *
 *     -> scrypt <base64(salt, 16 bytes)> <log2(N) in decimal, no leading zeros>
 *     wrap key = scrypt(N = 2^logN, r = 8, p = 1, dkLen = 32, S = "age-encryption.org/v1/scrypt" || salt, P = passphrase)
 *     body = ChaCha20-Poly1305(wrap key, nonce = 12 × 0x00, file key)
 *
 * An scrypt stanza must be the only stanza in its header (enforced in file-key.ts).
 */
import { concat, utf8, wipe } from '../bytes.js';
import { InvalidArgumentError } from '../errors.js';
import type { Primitives } from '../primitives/types.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import { AgeHeaderError } from './errors.js';
import { FILE_KEY_BYTES } from './header.js';
import type { AgeIdentity, AgeRecipient, Stanza } from './stanza.js';

export const SCRYPT_STANZA_TYPE = 'scrypt';
export const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';
/** The work factor age uses by default (log2 N). */
export const SCRYPT_DEFAULT_WORK_FACTOR = 18;
/** age.md: identities SHOULD cap the work factor; 22 is the reference implementation's cap. */
export const SCRYPT_MAX_WORK_FACTOR = 22;
const SALT_BYTES = 16;
const BODY_BYTES = FILE_KEY_BYTES + 16;
const ZERO_NONCE = new Uint8Array(12);
const WORK_FACTOR = /^[1-9][0-9]*$/;

const passphraseBytes = (passphrase: string | Uint8Array) => (typeof passphrase === 'string' ? utf8(passphrase) : passphrase.slice());

async function scryptKey(p: Primitives, passphrase: Uint8Array, salt: Uint8Array, logN: number): Promise<Uint8Array> {
  return p.scrypt(passphrase, concat(utf8(SCRYPT_LABEL), salt), { N: 2 ** logN, r: 8, p: 1, dkLen: 32 });
}

export class ScryptRecipient implements AgeRecipient {
  private readonly passphrase: Uint8Array;
  constructor(
    passphrase: string | Uint8Array,
    readonly workFactor = SCRYPT_DEFAULT_WORK_FACTOR,
  ) {
    if (!Number.isInteger(workFactor) || workFactor < 1 || workFactor > 30) throw new InvalidArgumentError('scrypt work factor must be 1..30');
    this.passphrase = passphraseBytes(passphrase);
  }

  async wrap(p: Primitives, fileKey: Uint8Array): Promise<Stanza[]> {
    if (fileKey.length !== FILE_KEY_BYTES) throw new InvalidArgumentError('file key must be 16 bytes');
    const salt = p.randomBytes(SALT_BYTES);
    const key = await scryptKey(p, this.passphrase, salt, this.workFactor);
    const body = await p.chacha20Poly1305Seal(key, ZERO_NONCE, fileKey);
    wipe(key);
    return [{ args: [SCRYPT_STANZA_TYPE, encodeBase64(salt), String(this.workFactor)], body }];
  }
}

export class ScryptIdentity implements AgeIdentity {
  private readonly passphrase: Uint8Array;
  constructor(
    passphrase: string | Uint8Array,
    readonly maxWorkFactor = SCRYPT_MAX_WORK_FACTOR,
  ) {
    this.passphrase = passphraseBytes(passphrase);
  }

  async unwrap(p: Primitives, stanza: Stanza): Promise<Uint8Array | null> {
    if (stanza.args[0] !== SCRYPT_STANZA_TYPE) return null;
    if (stanza.args.length !== 3) throw new AgeHeaderError('scrypt stanza must have three arguments');
    const salt = decodeBase64(stanza.args[1] as string);
    if (!salt || salt.length !== SALT_BYTES) throw new AgeHeaderError('scrypt stanza: invalid salt');
    const wf = stanza.args[2] as string;
    if (!WORK_FACTOR.test(wf) || wf.length > 2) throw new AgeHeaderError('scrypt stanza: invalid work factor');
    const logN = Number(wf);
    if (logN > this.maxWorkFactor) throw new AgeHeaderError('scrypt stanza: work factor above the limit');
    if (stanza.body.length !== BODY_BYTES) throw new AgeHeaderError('scrypt stanza: invalid body length');
    const key = await scryptKey(p, this.passphrase, salt, logN);
    const fileKey = await p.chacha20Poly1305Open(key, ZERO_NONCE, stanza.body);
    wipe(key);
    return fileKey;
  }
}
