/**
 * @blindrelay/protocol: pure protocol core. No I/O; randomness comes from the primitives
 * (`@blindrelay/protocol/node`, `@blindrelay/protocol/web`, or `@blindrelay/protocol/platform`, which
 * picks one by the `node` / `browser` export condition).
 *
 * The public surface, named on purpose (api/protocol.api.md records it; test/api-report.test.ts fails
 * when it changes without the report). The steps inside the specifications (KDF chains, labels,
 * header encodings, STREAM arithmetic) are internal: the protocol's own tests import them from the
 * module that defines them.
 */

export { type AccountDeletion, deviceListDigest, encodeAccountDeletion, signAccountDeletion, verifyAccountDeletion } from './account-deletion.js';
export { armor, dearmor, isArmored } from './age/armor.js';
export { AgeArmorError, AgeEncodingError, AgeError, type AgeErrorCode, AgeHeaderError, AgeMacError, AgeNoMatchError, AgePayloadError } from './age/errors.js';
export { decryptFile, decryptPayload, encryptFile, encryptFileArmored, encryptPayload } from './age/file.js';
export { generateFileKey, rewrapHeader, unwrapFileKey, unwrapHeader, wrapFileKey } from './age/file-key.js';
export { type AgeHeader, headerLength, parseHeader, verifyHeaderMac } from './age/header.js';
export { MLKEM768X25519_IDENTITY_HRP, MLKEM768X25519_RECIPIENT_HRP, MlKem768X25519Identity, MlKem768X25519Recipient } from './age/mlkem768x25519-recipient.js';
export { ScryptIdentity, ScryptRecipient } from './age/scrypt-recipient.js';
export type { AgeIdentity, AgeRecipient } from './age/stanza.js';
export {
  CHUNK_BYTES,
  chunkIndexOfPayloadOffset,
  createPayloadDecryptor,
  createPayloadEncryptor,
  ENCRYPTED_CHUNK_BYTES,
  PAYLOAD_NONCE_BYTES,
  type PayloadDecryptor,
  type PayloadDecryptorOptions,
  type PayloadEncryptor,
  type PayloadStream,
  type PayloadStreamOptions,
  payloadOffsetOfChunk,
  payloadSize,
  plaintextSize,
  sealedLength,
} from './age/stream.js';
export { X25519_IDENTITY_HRP, X25519_RECIPIENT_HRP, X25519Identity, X25519Recipient } from './age/x25519-recipient.js';
export { signAuthChallenge, verifyAuthChallenge } from './auth-challenge.js';
export { compare, concat, equal, fromHex, fromUtf8, toHex, utf8, wipe } from './bytes.js';
export {
  type CertifiedKeys,
  DEVICE_CERTIFICATE_VERSION,
  type DeviceCertificate,
  decodeDeviceCertificate,
  issueDeviceCertificate,
  type TrustedUser,
  verifyDeviceCertificate,
} from './device-certificate.js';
export {
  assertDeviceListFresh,
  DEVICE_LIST_FORMAT,
  type DeviceEntry,
  type DeviceList,
  type DeviceListCheck,
  type DeviceListVersion,
  decodeDeviceList,
  deviceEntryOf,
  isFullyProven,
  proveDeviceEntry,
  signDeviceList,
  verifyDeviceList,
  verifyDeviceProof,
} from './device-list.js';
export { isValidEd25519PublicKey } from './ed25519.js';
export { assertUserName, isValidDeviceId, isValidUserName } from './encoding.js';
export {
  BlindrelayError,
  DecodeError,
  DecryptError,
  type ErrorCode,
  InvalidArgumentError,
  InvalidKeyError,
  ProvisioningVersionError,
  RollbackError,
  SignatureError,
  StaleDeviceListError,
  UnknownSignerError,
  UnprovenDeviceError,
} from './errors.js';
export {
  canonicalReaders,
  type FileAccess,
  type FileAccessBinding,
  MAX_FILE_READERS,
  signDeviceFileAccess,
  signFileAccess,
  signLegacyFileAccess,
  verifyDeviceFileAccess,
  verifyFileAccess,
  verifyLegacyFileAccess,
} from './file-access.js';
export {
  decodeFileSeal,
  encodeFileSeal,
  FILE_SEAL_BYTES,
  type FileSeal,
  type FileVersionRef,
  signDeviceFileSeal,
  signFileSeal,
  verifyAnyFileSeal,
  verifyFileSeal,
} from './file-seal.js';
export { type DeviceKeys, generateDeviceKeys, generateMasterKey, generateSigningKeyPair, type SigningKeyPair } from './keys.js';
export {
  DEVICE_LIST_MAX_AGE_MS,
  DEVICE_LIST_MAX_SKEW_MS,
  DEVICE_LIST_REFRESH_MS,
  MAX_DEVICES,
  MAX_PLAINTEXT_BYTES,
  MAX_SKIP,
  MAX_SKIPPED_KEYS,
  USER_NAME_PATTERN,
} from './limits.js';
export { type MasterKeyRotation, rotationNewKey, signMasterKeyRotation, verifyMasterKeyRotation } from './master-key-rotation.js';
export { MESSAGE_TYPE_PREKEY, messageType, PROTOCOL_VERSION } from './message.js';
export { pad, unpad } from './padding.js';
export { PayloadDigest, type PayloadDigestState } from './payload-digest.js';
export {
  bundleFor,
  decodePreKeyBundle,
  encodePreKeyBundle,
  generateOneTimePreKeys,
  generatePqPreKey,
  generateSignedPreKey,
  type OneTimePreKeyPublic,
  type OneTimePreKeyRecord,
  type PqPreKeyPublic,
  type PqPreKeyRecord,
  type PreKeyBundle,
  type PreKeyOwner,
  type SignedPreKeyPublic,
  type SignedPreKeyRecord,
  verifyPqPreKey,
  verifyPreKeyBundle,
  verifySignedPreKey,
} from './prekeys.js';
export type { KemEncapsulation, KeyPair, Primitives } from './primitives/types.js';
export { openProvisioning, type ProvisioningPayload, provisioningSas, sealProvisioning } from './provisioning.js';
export { BlindIndexer, type BlindToken, type IndexKind, type IndexSpec, validateIndexSpec } from './records/blind-index.js';
export { applyTransforms, indexableText, isTransform, TRANSFORMS, type Transform, tokenize } from './records/normalize.js';
export { outgrown, planWidth } from './records/planner.js';
export { type JsonRecord, RecordCipher } from './records/record-seal.js';
export { requestBodyHash, type SignedRequest, signRequest, verifyRequest } from './request-signature.js';
export { formatSafetyNumber, type SafetyNumber, safetyNumber, safetyNumberMatches, type UserKey } from './safety-number.js';
export { DELIVERY_TOKEN_BYTES, deliveryTokenVerifier, newDeliveryToken } from './sealed/delivery-token.js';
export {
  isSealedEnvelope,
  type OpenedEnvelope,
  openEnvelope,
  SEALED_ENVELOPE_VERSION,
  SEALED_MAX_MESSAGE_BYTES,
  SEALED_OVERHEAD_BYTES,
  type SealedRecipient,
  sealEnvelope,
} from './sealed/sealed-envelope.js';
export { type SendMark, signSendMark, verifySendMark } from './send-mark.js';
export {
  type AcceptedSession,
  acceptPreKeyMessage,
  decryptMessage,
  encryptMessage,
  initiateSession,
  type LocalDevice,
  type PreKeyLookup,
  peekPreKeyMessage,
} from './session.js';
export { deserializeSession, type SessionState, serializeSession } from './session-state.js';
export { generateX25519, isValidX25519PublicKey } from './x25519.js';
