/**
 * Sessions between two devices: PQXDH setup (pqxdh.ts) feeding the Double Ratchet (ratchet.ts),
 * wrapped in the wire formats of message.ts. Every function takes a state value and returns a new
 * one for the caller to persist; inputs are never modified.
 */
import { equal } from './bytes.js';
import { type DeviceCertificate, decodeDeviceCertificate, type TrustedUser, verifyDeviceCertificate } from './device-certificate.js';
import { DecryptError, InvalidArgumentError } from './errors.js';
import { decodePreKeyMessage, decodeRatchetMessage, encodePreKeyPrefix, MESSAGE_TYPE_PREKEY, messageType, type PreKeyMessage } from './message.js';
import { identityBinding, pqxdhInitiate, pqxdhRespond, type SessionParty } from './pqxdh.js';
import type { OneTimePreKeyRecord, PqPreKeyRecord, PreKeyBundle, SignedPreKeyRecord } from './prekeys.js';
import type { KeyPair, Primitives } from './primitives/types.js';
import { kdfRk, ratchetDecrypt, ratchetEncrypt } from './ratchet.js';
import type { SessionState, SkippedKey } from './session-state.js';
import { dh, generateX25519 } from './x25519.js';

const EMPTY_SKIPPED: ReadonlyMap<string, SkippedKey> = new Map();

export interface LocalDevice {
  /** The device's X25519 identity key pair. */
  readonly identity: KeyPair;
  /** Its certificate from the user's master key (device-certificate.ts): names its user and device id. */
  readonly certificate: Uint8Array;
}

/** Decoded local certificates, per (immutable) byte array: a device's own certificate recurs on every session. */
const localCertificates = new WeakMap<Uint8Array, DeviceCertificate>();

/** The (user, device) a local certificate names, checked to be this identity key's. */
function localParty(local: LocalDevice): SessionParty {
  let cert = localCertificates.get(local.certificate);
  if (!cert) {
    cert = decodeDeviceCertificate(local.certificate);
    localCertificates.set(local.certificate, cert);
  }
  if (!equal(cert.identityKey, local.identity.publicKey)) throw new InvalidArgumentError('the local certificate is for another identity key');
  return { user: cert.user, deviceId: cert.deviceId };
}

/**
 * Start a session to the device of a bundle the caller has verified (verifyPreKeyBundle).
 * Double Ratchet rev. 3 §3.3 RatchetInitAlice with SK from PQXDH, bound to our (user, device) and
 * the bundle's (PQXDH §4.10), and Bob's signed prekey as his first ratchet key. Until the first
 * reply arrives, every message is sent as a PreKeyMessage.
 */
export async function initiateSession(
  p: Primitives,
  local: LocalDevice,
  bundle: PreKeyBundle,
  fixed: { ephemeral?: KeyPair; kemRandomness?: Uint8Array; ratchet?: KeyPair } = {},
): Promise<SessionState> {
  const binding = identityBinding(localParty(local), { user: bundle.user, deviceId: bundle.deviceId });
  const init = await pqxdhInitiate(p, local.identity, bundle, binding, fixed);
  const ratchet = fixed.ratchet ?? (await generateX25519(p));
  const remoteRatchet = bundle.signedPreKey.publicKey;
  const { rootKey, chainKey } = await kdfRk(p, init.sharedSecret, await dh(p, ratchet.privateKey, remoteRatchet));
  return {
    localIdentity: local.identity.publicKey,
    remoteIdentity: bundle.identityKey,
    baseKey: init.ephemeralPublicKey,
    rootKey,
    ratchet,
    remoteRatchet,
    send: { key: chainKey, n: 0 },
    recv: null,
    pn: 0,
    skipped: EMPTY_SKIPPED,
    pendingPreKey: encodePreKeyPrefix({
      certificate: local.certificate,
      baseKey: init.ephemeralPublicKey,
      kemCipherText: init.kemCipherText,
      signedPreKeyId: init.signedPreKeyId,
      oneTimePreKeyId: init.oneTimePreKeyId,
      pqPreKeyId: init.pqPreKeyId,
    }),
  };
}

/** Encrypt one message. Returns the new state and the wire bytes. */
export async function encryptMessage(p: Primitives, state: SessionState, plaintext: Uint8Array): Promise<{ state: SessionState; message: Uint8Array }> {
  return ratchetEncrypt(p, state, plaintext, state.pendingPreKey ?? undefined);
}

/**
 * Decrypt a message of an existing session (a RatchetMessage, or a PreKeyMessage of this very
 * session). On any failure throws DecryptError and the caller keeps its old state.
 */
export async function decryptMessage(p: Primitives, state: SessionState, message: Uint8Array): Promise<{ state: SessionState; plaintext: Uint8Array }> {
  try {
    let inner: ReturnType<typeof decodeRatchetMessage>;
    let prefix: Uint8Array | undefined;
    if (messageType(message) === MESSAGE_TYPE_PREKEY) {
      const pk = decodePreKeyMessage(message);
      if (!equal(pk.baseKey, state.baseKey)) throw new DecryptError();
      inner = pk.message;
      prefix = pk.prefix;
    } else {
      inner = decodeRatchetMessage(message);
    }
    const r = await ratchetDecrypt(p, state, inner, prefix);
    // A message from the peer proves it has the session: stop resending the PQXDH prefix.
    return { state: r.state.pendingPreKey ? { ...r.state, pendingPreKey: null } : r.state, plaintext: r.plaintext };
  } catch {
    throw new DecryptError();
  }
}

/** The receiving device's private prekeys, looked up by id. */
export interface PreKeyLookup {
  signedPreKey(id: number): SignedPreKeyRecord | undefined;
  oneTimePreKey(id: number): OneTimePreKeyRecord | undefined;
  pqPreKey(id: number): PqPreKeyRecord | undefined;
}

export interface AcceptedSession {
  readonly state: SessionState;
  readonly plaintext: Uint8Array;
  /** The sender device's certificate, verified against the sender's trusted master key. */
  readonly sender: DeviceCertificate;
  /** True when the message started a new session; false when it belonged to `existing`. */
  readonly newSession: boolean;
  /** One-time prekeys the caller must now delete (PQXDH rev. 2 §3.4). */
  readonly usedOneTimePreKeyId: number | undefined;
  readonly usedPqPreKeyId: number | undefined;
}

/** Read a PreKeyMessage's fields (e.g. the sender certificate) without decrypting it. */
export function peekPreKeyMessage(message: Uint8Array): PreKeyMessage {
  return decodePreKeyMessage(message);
}

/**
 * Receive a PreKeyMessage (PQXDH rev. 2 §3.4, then Double Ratchet rev. 3 §3.3 RatchetInitBob).
 * `sender` is the master key the caller trusts for the sending user; the message's device
 * certificate must be signed by it. SK is derived for the certificate's (user, device) and ours
 * (from `local.certificate`): a message meant for another user or device does not decrypt.
 * If `existing` is the session this message belongs to (same base key) it is used instead of
 * starting over. Every failure is the same DecryptError.
 */
export async function acceptPreKeyMessage(
  p: Primitives,
  local: LocalDevice & { preKeys: PreKeyLookup },
  sender: TrustedUser,
  message: Uint8Array,
  existing?: SessionState,
): Promise<AcceptedSession> {
  try {
    const pk = decodePreKeyMessage(message);
    if (existing && equal(existing.baseKey, pk.baseKey)) {
      // A later message of a session we accepted: the certificate was verified then, and the whole
      // prefix (certificate included) is authenticated by this session's keys (associated data), so
      // only its binding to the expected sender is checked here, not its signature again.
      const certificate = decodeDeviceCertificate(pk.certificate);
      if (certificate.user !== sender.user || !equal(certificate.masterKey, sender.masterKey)) throw new DecryptError();
      if (!equal(existing.remoteIdentity, certificate.identityKey)) throw new DecryptError();
      const r = await decryptMessage(p, existing, message);
      return { ...r, sender: certificate, newSession: false, usedOneTimePreKeyId: undefined, usedPqPreKeyId: undefined };
    }
    const certificate = await verifyDeviceCertificate(p, pk.certificate, sender);
    const binding = identityBinding({ user: certificate.user, deviceId: certificate.deviceId }, localParty(local));
    const spk = local.preKeys.signedPreKey(pk.signedPreKeyId);
    const opk = pk.oneTimePreKeyId === undefined ? undefined : local.preKeys.oneTimePreKey(pk.oneTimePreKeyId);
    const pq = local.preKeys.pqPreKey(pk.pqPreKeyId);
    if (!spk || !pq || (pk.oneTimePreKeyId !== undefined && !opk)) throw new DecryptError();
    const sk = await pqxdhRespond(
      p,
      { identity: local.identity, signedPreKeyPrivate: spk.privateKey, oneTimePreKeyPrivate: opk?.privateKey, pqPreKeyPrivate: pq.privateKey },
      certificate.identityKey,
      pk.baseKey,
      pk.kemCipherText,
      binding,
    );
    const initial: SessionState = {
      localIdentity: local.identity.publicKey,
      remoteIdentity: certificate.identityKey,
      baseKey: pk.baseKey.slice(),
      rootKey: sk,
      ratchet: { privateKey: spk.privateKey, publicKey: spk.publicKey },
      remoteRatchet: null,
      send: null,
      recv: null,
      pn: 0,
      skipped: EMPTY_SKIPPED,
      pendingPreKey: null,
    };
    const r = await ratchetDecrypt(p, initial, pk.message, pk.prefix);
    return {
      state: r.state,
      plaintext: r.plaintext,
      sender: certificate,
      newSession: true,
      usedOneTimePreKeyId: pk.oneTimePreKeyId,
      usedPqPreKeyId: pq.lastResort ? undefined : pq.id,
    };
  } catch {
    throw new DecryptError();
  }
}
