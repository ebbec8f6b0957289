/**
 * Domain-separated Ed25519 signatures over canonical encodings: the signed message is
 * `label || 0x00 || body`, so a signature made for one structure never verifies as another.
 */
import { concat, utf8 } from './bytes.js';
import { SignatureError } from './errors.js';
import type { Primitives } from './primitives/types.js';

export const SIGNATURE_LABELS = {
  /** Certificate format 2 (docs/PROTOCOL.md §4). */
  deviceCertificate: 'Blindrelay_DeviceCertificate_v2',
  /** Device list format 3 (§5). */
  deviceList: 'Blindrelay_DeviceList_v2',
  /** Device list formats 1 and 2, verified only to migrate a user's own list (§5.3); never signed. */
  deviceListLegacy: 'Blindrelay_DeviceList_v1',
  /** A device's proof of possession of its keys, by its own signing key (§5). */
  deviceProof: 'Blindrelay_DeviceProof_v1',
  /** Prekey signatures bound to the owning user and device (§3). */
  signedPreKey: 'Blindrelay_SignedPreKey_v2',
  pqPreKey: 'Blindrelay_PqPreKey_v2',
  authChallenge: 'Blindrelay_AuthChallenge_v1',
  fileAccess: 'Blindrelay_FileAccess_v1',
  fileAccessV2: 'Blindrelay_FileAccess_v2',
  fileContent: 'Blindrelay_FileContent_v1',
  /** Custody (§16.2): reader list format 3 and seal format 2, signed by a device of the owner's current list. */
  fileAccessV3: 'Blindrelay_FileAccess_v3',
  fileContentV2: 'Blindrelay_FileContent_v2',
  /** A master-key rotation statement, signed by the old and the new master key (§16.4). */
  masterKeyRotation: 'Blindrelay_MasterKeyRotation_v1',
  /** Destructive relay requests (request-signature.ts, docs/API.md §2a). */
  request: 'Blindrelay_Request_v1',
  /** A device's send high-water mark (send-mark.ts, docs/API.md §5a). */
  sendMark: 'Blindrelay_SendMark_v1',
  /** The master key's authorisation to delete the account (account-deletion.ts, §17). */
  accountDeletion: 'Blindrelay_AccountDeletion_v1',
} as const;
export type SignatureLabel = (typeof SIGNATURE_LABELS)[keyof typeof SIGNATURE_LABELS];

const signedMessage = (label: SignatureLabel, body: Uint8Array) => concat(utf8(label), Uint8Array.of(0), body);

export function signWithLabel(p: Primitives, seed: Uint8Array, label: SignatureLabel, body: Uint8Array): Promise<Uint8Array> {
  return p.ed25519Sign(seed, signedMessage(label, body));
}

export async function verifyWithLabel(
  p: Primitives,
  publicKey: Uint8Array,
  label: SignatureLabel,
  body: Uint8Array,
  signature: Uint8Array,
  what: string,
): Promise<void> {
  if (!(await p.ed25519Verify(publicKey, signedMessage(label, body), signature))) {
    throw new SignatureError(`${what}: bad signature`);
  }
}

/** The index of the first key under which `signature` verifies; SignatureError if none. */
export async function verifyByAnyOf(
  p: Primitives,
  keys: readonly Uint8Array[],
  label: SignatureLabel,
  body: Uint8Array,
  signature: Uint8Array,
  what: string,
): Promise<number> {
  for (let i = 0; i < keys.length; i++) {
    try {
      await verifyWithLabel(p, keys[i] as Uint8Array, label, body, signature, what);
      return i;
    } catch (e) {
      if (!(e instanceof SignatureError)) throw e;
    }
  }
  throw new SignatureError(`${what}: not signed by any current device of the owner`);
}
