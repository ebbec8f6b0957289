/**
 * The file key (age.md "File key") and the header around it: wrap for recipients, unwrap with
 * identities, and re-wrap. Header and payload are independent once the file key is known, so
 * sharing a stored file means building a new header (new stanzas, new MAC) for the same file key;
 * the payload bytes do not change (DESIGN.md, "Files").
 */
import { InvalidArgumentError } from '../errors.js';
import type { Primitives } from '../primitives/types.js';
import { AgeHeaderError, AgeNoMatchError } from './errors.js';
import { type AgeHeader, encodeHeader, FILE_KEY_BYTES, parseHeader, verifyHeaderMac } from './header.js';
import { MLKEM768X25519_STANZA_TYPE } from './mlkem768x25519-recipient.js';
import { SCRYPT_STANZA_TYPE } from './scrypt-recipient.js';
import type { AgeIdentity, AgeRecipient, Stanza } from './stanza.js';

/** age.md: "The file key MUST be generated as 16 bytes of CSPRNG output." */
export function generateFileKey(p: Primitives): Uint8Array {
  return p.randomBytes(FILE_KEY_BYTES);
}

/**
 * age.md "The scrypt recipient type": an scrypt stanza MUST be the only stanza in the header.
 * Checked for every header, whichever identities the caller holds.
 */
function assertScryptAlone(stanzas: readonly Stanza[]): void {
  if (stanzas.length > 1 && stanzas.some((s) => s.args[0] === SCRYPT_STANZA_TYPE)) throw new AgeHeaderError('an scrypt stanza must be the only stanza');
}

/**
 * age.md "The MLKEM768-X25519 (i.e. X-Wing) hybrid post-quantum recipient type": "the same file
 * SHOULD NOT be encrypted to both this recipient type and to other non-quantum-resistant recipient
 * types" (a quantum attacker would unwrap the file key from the classical stanza). Enforced when we
 * build a header, as age's own Encrypt does; a header from elsewhere that mixes them still
 * decrypts (identities ignore stanzas of other types; CCTV `hybrid_and_x25519`).
 */
function assertPostQuantumNotMixed(stanzas: readonly Stanza[]): void {
  const pq = stanzas.filter((s) => s.args[0] === MLKEM768X25519_STANZA_TYPE).length;
  if (pq > 0 && pq < stanzas.length) throw new InvalidArgumentError('mlkem768x25519 (post-quantum) recipients must not be mixed with other recipient types');
}

async function stanzasFor(p: Primitives, fileKey: Uint8Array, recipients: readonly AgeRecipient[]): Promise<Stanza[]> {
  if (!(fileKey instanceof Uint8Array) || fileKey.length !== FILE_KEY_BYTES) throw new InvalidArgumentError('file key must be 16 bytes');
  if (recipients.length === 0) throw new InvalidArgumentError('at least one recipient required');
  const stanzas: Stanza[] = [];
  for (const r of recipients) stanzas.push(...(await r.wrap(p, fileKey)));
  if (stanzas.length > 1 && stanzas.some((s) => s.args[0] === SCRYPT_STANZA_TYPE))
    throw new InvalidArgumentError('an scrypt recipient must be the only recipient');
  assertPostQuantumNotMixed(stanzas);
  return stanzas;
}

/** A new header for `fileKey` (fresh stanzas for `recipients`, fresh MAC). */
export async function rewrapHeader(p: Primitives, fileKey: Uint8Array, recipients: readonly AgeRecipient[]): Promise<Uint8Array> {
  return encodeHeader(p, fileKey, await stanzasFor(p, fileKey, recipients));
}

/** Generate a file key (unless given) and wrap it for `recipients`. */
export async function wrapFileKey(
  p: Primitives,
  recipients: readonly AgeRecipient[],
  fileKey: Uint8Array = generateFileKey(p),
): Promise<{ fileKey: Uint8Array; header: Uint8Array }> {
  return { fileKey, header: await rewrapHeader(p, fileKey, recipients) };
}

/**
 * Share without disturbing existing stanzas: verify `header` under `fileKey`, keep its stanzas,
 * append stanzas for `recipients`, and MAC the result.
 */
export async function addRecipients(p: Primitives, header: Uint8Array, fileKey: Uint8Array, recipients: readonly AgeRecipient[]): Promise<Uint8Array> {
  const parsed = parseHeader(header);
  if (parsed.length !== header.length) throw new AgeHeaderError('trailing data after header');
  await verifyHeaderMac(p, parsed, fileKey);
  const stanzas = [...parsed.stanzas, ...(await stanzasFor(p, fileKey, recipients))];
  assertScryptAlone(stanzas);
  assertPostQuantumNotMixed(stanzas);
  return encodeHeader(p, fileKey, stanzas);
}

/**
 * Unwrap the file key from a parsed header with the first identity that opens a stanza, then
 * verify the header MAC. Throws AgeHeaderError (malformed stanza), AgeNoMatchError or AgeMacError.
 */
export async function unwrapHeader(p: Primitives, header: AgeHeader, identities: readonly AgeIdentity[]): Promise<Uint8Array> {
  assertScryptAlone(header.stanzas);
  for (const stanza of header.stanzas) {
    for (const identity of identities) {
      const fileKey = await identity.unwrap(p, stanza);
      if (fileKey) {
        await verifyHeaderMac(p, header, fileKey);
        return fileKey;
      }
    }
  }
  throw new AgeNoMatchError();
}

/** Parse a stand-alone header (nothing after the MAC line) and unwrap its file key. */
export async function unwrapFileKey(p: Primitives, header: Uint8Array, identities: readonly AgeIdentity[]): Promise<Uint8Array> {
  const parsed = parseHeader(header);
  if (parsed.length !== header.length) throw new AgeHeaderError('trailing data after header');
  return unwrapHeader(p, parsed, identities);
}
