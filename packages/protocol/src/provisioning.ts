/**
 * The device-linking envelope (docs/PROTOCOL.md §12): account secrets sealed by an existing device
 * to the new device's ephemeral X25519 key, relayed by the server, which sees only ciphertext.
 *
 * Sealing, in the manner of HPKE base mode (RFC 9180 §5.1) with our labels:
 *   E = fresh X25519 key pair; shared = X25519(E, R)
 *   key ‖ nonce = HKDF(ikm = shared, salt = E.pub ‖ R, info = PROVISIONING_INFO, 44)
 *   envelope = 0x01 | E.pub[32] | AES-256-GCM(key, nonce, payload, ad = 0x01 ‖ E.pub ‖ R)
 * Payload (version 2, custody: PROTOCOL.md §12, §16): 0x02 | user | masterKey[32] | state (u32
 * length, ≤ 1 MiB; opaque to the protocol). The user's master key travels as its PUBLIC key only:
 * the approving (primary) device keeps the seed; the state carries what the new companion device
 * needs instead (its keys, its certificate and the list that adds it, signed by the primary).
 * Version 1 (0x01 | user | masterSeed[32] | state) carried the master seed; it is refused
 * (ProvisioningVersionError) so a new device never receives or keeps a master seed.
 *
 * Comparison code (PROTOCOL.md §12.1): both devices derive a 6-digit short authentication string
 * from the link code's channel id and R, the new device shows it, and the approving device shows
 * it and seals nothing until the user confirmed the two are the same.
 */
import { concat, utf8, wipe } from './bytes.js';
import { decodeWith, Writer } from './codec.js';
import { isValidEd25519PublicKey } from './ed25519.js';
import { assertUserName } from './encoding.js';
import { DecodeError, DecryptError, InvalidArgumentError, ProvisioningVersionError } from './errors.js';
import { readUser, writeUser } from './identity-codec.js';
import type { Primitives } from './primitives/types.js';
import { assertX25519PublicKey, dh, generateX25519 } from './x25519.js';

export const PROVISIONING_INFO = utf8('Blindrelay_Provisioning_v1');
export const PROVISIONING_SAS_INFO = utf8('Blindrelay_ProvisioningSAS_v1');
export const PROVISIONING_SAS_DIGITS = 6;
/** Longest channel id a link code may carry (the relay's are 16 bytes). */
export const MAX_CHANNEL_ID_BYTES = 64;
const VERSION = 1;
/** The payload format (custody): 2 carries the master PUBLIC key; 1 carried the master seed. */
export const PROVISIONING_PAYLOAD_VERSION = 2;
const LEGACY_PAYLOAD_VERSION = 1;
const MAX_STATE_BYTES = 1024 * 1024;

export interface ProvisioningPayload {
  readonly user: string;
  /** The user's master PUBLIC key (never the seed: the approving primary keeps it). */
  readonly masterKey: Uint8Array;
  /** Account state the SDK wants on the new device (e.g. verified contacts), opaque here. */
  readonly state: Uint8Array;
}

async function keys(p: Primitives, shared: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array) {
  const okm = await p.hkdfSha256(shared, concat(ephemeral, recipient), PROVISIONING_INFO, 44);
  return { key: okm.subarray(0, 32), nonce: okm.subarray(32, 44), ad: concat(Uint8Array.of(VERSION), ephemeral, recipient) };
}

export async function sealProvisioning(p: Primitives, recipient: Uint8Array, payload: ProvisioningPayload): Promise<Uint8Array> {
  assertUserName(payload.user);
  if (!isValidEd25519PublicKey(payload.masterKey)) throw new InvalidArgumentError('provisioning: masterKey is not a valid Ed25519 public key');
  const plain = new Writer(128 + payload.state.length).u8(PROVISIONING_PAYLOAD_VERSION);
  writeUser(plain, payload.user);
  const body = plain.fixed(payload.masterKey, 32).bytes32(payload.state).finish();
  const e = await generateX25519(p);
  const shared = await dh(p, e.privateKey, recipient);
  const k = await keys(p, shared, e.publicKey, recipient);
  const sealed = await p.aesGcmSeal(k.key, k.nonce, body, k.ad, 33);
  sealed[0] = VERSION;
  sealed.set(e.publicKey, 1);
  wipe(shared, e.privateKey, body);
  return sealed;
}

/** Open an envelope with the new device's ephemeral private key; any failure is a DecryptError. */
export async function openProvisioning(
  p: Primitives,
  recipient: { privateKey: Uint8Array; publicKey: Uint8Array },
  envelope: Uint8Array,
): Promise<ProvisioningPayload> {
  let legacy = false;
  try {
    const { ephemeral, sealed } = decodeWith(envelope, 'provisioning envelope', (r) => {
      r.version(VERSION);
      return { ephemeral: r.fixed(32), sealed: r.rest() };
    });
    const shared = await dh(p, recipient.privateKey, ephemeral);
    const k = await keys(p, shared, ephemeral, recipient.publicKey);
    wipe(shared);
    const body = await p.aesGcmOpen(k.key, k.nonce, sealed, k.ad);
    if (!body) throw new DecryptError();
    if (body[0] === LEGACY_PAYLOAD_VERSION) {
      wipe(body);
      legacy = true;
      throw new DecryptError();
    }
    return decodeWith(body, 'provisioning payload', (r) => {
      r.version(PROVISIONING_PAYLOAD_VERSION);
      const user = readUser(r, 'provisioning payload');
      const masterKey = r.fixed(32).slice();
      if (!isValidEd25519PublicKey(masterKey)) throw new DecodeError('provisioning payload: bad master key');
      return { user, masterKey, state: r.bytes32(MAX_STATE_BYTES).slice() };
    });
  } catch {
    if (legacy) {
      throw new ProvisioningVersionError(
        'the approving device sent the master key itself (link format 1): update it, so that it links this device as a companion without the master key',
      );
    }
    throw new DecryptError();
  }
}

/**
 * The comparison code of a link (PROTOCOL.md §12.1): `HKDF(ikm = R, salt = channelId,
 * info = "Blindrelay_ProvisioningSAS_v1", 5)` (RFC 5869) read as a big-endian u40, modulo 10^6,
 * as 6 decimal digits. Public values in, a public value out: it binds the code the approver
 * holds to the screen of the device that made it, so approving a code from anywhere else needs
 * that device's code too. InvalidKeyError for an invalid R.
 */
export async function provisioningSas(p: Primitives, channelId: Uint8Array, recipient: Uint8Array): Promise<string> {
  if (channelId.length === 0 || channelId.length > MAX_CHANNEL_ID_BYTES) throw new InvalidArgumentError('channel id must be 1 to 64 bytes');
  assertX25519PublicKey(recipient, 'link code key');
  const okm = await p.hkdfSha256(recipient, channelId, PROVISIONING_SAS_INFO, 5);
  let n = 0;
  for (const b of okm) n = n * 256 + b;
  return String(n % 10 ** PROVISIONING_SAS_DIGITS).padStart(PROVISIONING_SAS_DIGITS, '0');
}
