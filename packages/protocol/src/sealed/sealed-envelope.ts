/**
 * The sealed-sender envelope (docs/PROTOCOL.md §20.2): an outer layer, to one recipient device,
 * around a ratchet message. The relay sees only this; the sender's user name, device id and device
 * certificate travel inside.
 *
 *     sealed   = version (0x01) || enc (32 bytes) || HPKE ciphertext
 *     HPKE     = RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305,
 *                to the recipient device's X25519 identity key (dhkem-x25519.ts)
 *     info     = "blindrelay/sealed-sender/v1" || 0x00 || len(user) || user || u32 deviceId || identityKey
 *                (the recipient: an envelope for one device does not open as another's)
 *     aad      = version
 *     inner    = Padmé( 0x01 || u16 len(certificate) || certificate || message )   (padding.ts)
 *
 * The inner message is the ratchet message (PreKeyMessage or RatchetMessage, message.ts) exactly as
 * the authenticated path would post it; the certificate is the sender device's master-signed
 * certificate (device-certificate.ts). Opening checks only the envelope: the recipient then checks
 * the certificate against the sender's verified device list and decrypts the ratchet message with
 * that device's session, whose keys bind the sender's identity key (PROTOCOL.md §7), so a claimed
 * sender that did not write the ratchet message is refused (client receive.ts).
 *
 * Every failure to open is the same DecryptError.
 */
import { concat, utf8 } from '../bytes.js';
import { Reader, Writer } from '../codec.js';
import { type DeviceCertificate, decodeDeviceCertificate } from '../device-certificate.js';
import { assertUserName, isValidDeviceId } from '../encoding.js';
import { DecryptError, InvalidArgumentError } from '../errors.js';
import { writeUser } from '../identity-codec.js';
import { MAX_PLAINTEXT_BYTES } from '../limits.js';
import { pad, unpad } from '../padding.js';
import type { Primitives } from '../primitives/types.js';
import { DHKEM_X25519_ENC_BYTES, hpkeOpenX25519, hpkeSealX25519 } from './dhkem-x25519.js';

export const SEALED_ENVELOPE_VERSION = 0x01;
const INNER_VERSION = 0x01;
const INFO_LABEL = utf8('blindrelay/sealed-sender/v1');
/** The largest inner message (a ratchet message of the largest plaintext, with room for its header). */
export const SEALED_MAX_MESSAGE_BYTES = MAX_PLAINTEXT_BYTES + 16 * 1024;
/** Version, enc and the AEAD tag: what the outer layer adds to the padded inner bytes. */
export const SEALED_OVERHEAD_BYTES = 1 + DHKEM_X25519_ENC_BYTES + 16;

/** The device a sealed envelope is for. */
export interface SealedRecipient {
  readonly user: string;
  readonly deviceId: number;
  /** The device's X25519 identity key, from the recipient's verified device list. */
  readonly identityKey: Uint8Array;
}

function info(r: SealedRecipient): Uint8Array {
  assertUserName(r.user);
  if (!isValidDeviceId(r.deviceId)) throw new InvalidArgumentError('sealed envelope: bad recipient device id');
  const w = new Writer(INFO_LABEL.length + 80).rest(INFO_LABEL).u8(0);
  writeUser(w, r.user);
  return w.u32(r.deviceId).fixed(r.identityKey, 32).finish();
}

const AAD = Uint8Array.of(SEALED_ENVELOPE_VERSION);

/**
 * Seal `message` (a ratchet message) with the sender's `certificate` to `recipient`.
 * `ephemeralPrivate`: the HPKE ephemeral key, random unless a test fixes it.
 */
export async function sealEnvelope(
  p: Primitives,
  recipient: SealedRecipient,
  certificate: Uint8Array,
  message: Uint8Array,
  ephemeralPrivate?: Uint8Array,
): Promise<Uint8Array> {
  if (certificate.length === 0 || certificate.length > 0xffff) throw new InvalidArgumentError('sealed envelope: bad certificate length');
  if (message.length === 0 || message.length > SEALED_MAX_MESSAGE_BYTES) throw new InvalidArgumentError('sealed envelope: bad message length');
  const inner = pad(new Writer(3 + certificate.length + message.length).u8(INNER_VERSION).u16(certificate.length).rest(certificate).rest(message).finish());
  const { enc, ciphertext } = await hpkeSealX25519(p, recipient.identityKey, info(recipient), AAD, inner, ephemeralPrivate);
  return concat(AAD, enc, ciphertext);
}

/** What an opened envelope says; nothing in it is verified yet but the envelope itself. */
export interface OpenedEnvelope {
  /** The sender's certificate as sent (decoded, its signature NOT checked here). */
  readonly certificate: DeviceCertificate;
  readonly certificateBytes: Uint8Array;
  /** The ratchet message. */
  readonly message: Uint8Array;
}

/** Open an envelope sent to this device (`self`, with its identity private key); DecryptError on anything wrong. */
export async function openEnvelope(
  p: Primitives,
  self: SealedRecipient & { readonly identityPrivate: Uint8Array },
  sealed: Uint8Array,
): Promise<OpenedEnvelope> {
  if (!(sealed instanceof Uint8Array) || sealed.length < SEALED_OVERHEAD_BYTES + 1 || sealed[0] !== SEALED_ENVELOPE_VERSION) throw new DecryptError();
  const enc = sealed.subarray(1, 1 + DHKEM_X25519_ENC_BYTES);
  const ct = sealed.subarray(1 + DHKEM_X25519_ENC_BYTES);
  const padded = await hpkeOpenX25519(p, enc, self.identityPrivate, self.identityKey, info(self), AAD, ct);
  const inner = padded ? unpad(padded) : null;
  if (!inner) throw new DecryptError();
  try {
    const r = new Reader(inner, 'sealed envelope');
    r.version(INNER_VERSION);
    const certificateBytes = r.bytes16().slice();
    const message = r.rest().slice();
    if (message.length === 0) throw new DecryptError();
    return { certificate: decodeDeviceCertificate(certificateBytes), certificateBytes, message };
  } catch {
    throw new DecryptError();
  }
}

/** True if `bytes` starts like a sealed envelope (the relay marks sealed messages; this is for tests and tools). */
export const isSealedEnvelope = (bytes: Uint8Array) => bytes.length > SEALED_OVERHEAD_BYTES && bytes[0] === SEALED_ENVELOPE_VERSION;
