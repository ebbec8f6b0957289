/**
 * One device's view of one MLS group (RFC 9420), as immutable values: operations take a state and
 * return the next one with the bytes to send; a failure throws GroupError and returns nothing, so
 * the caller's stored state is unchanged (DESIGN.md "decryption is transactional").
 *
 * - Handshake and application messages are PrivateMessages (§6.3): the relay sees group id, epoch
 *   and content type only. Commits carry a path (§12.4) and Welcomes the ratchet tree (§12.4.3.3).
 * - The group's name travels in a GroupContext extension (§13.4, private-use type GROUP_NAME_EXTENSION),
 *   which only members see (in the encrypted Welcome's GroupInfo).
 * - Every leaf's credential is checked by the device AuthenticationService (credential.ts).
 */
import { DecodeError, utf8 } from '@blindrelay/protocol';
import {
  acceptAll,
  type Capabilities,
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  createApplicationMessage,
  createCommit,
  createGroup,
  createProposal,
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetime,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  type Extension,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  joinGroupWithExtensions,
  type KeyPackage,
  type PrivateKeyPackage,
  type Proposal,
  processPrivateMessage,
} from 'ts-mls';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { type DeviceRef, type DeviceVerifier, deviceAuthService, deviceCredential, deviceOfCredential } from './credential.js';
import { GroupError } from './errors.js';

/** Private-use extension type (RFC 9420 §17.3: 0xF000-0xFFFF) holding the group name, UTF-8. */
export const GROUP_NAME_EXTENSION = 0xf0b1;
/** Longest group name, bytes of UTF-8. */
export const MAX_GROUP_NAME_BYTES = 256;

/** The device's own signing key pair: the Ed25519 key certified in its user's device list. */
export interface DeviceKeys extends DeviceRef {
  readonly signingSeed: Uint8Array;
  readonly signingKey: Uint8Array;
}

export interface GroupMember extends DeviceRef {
  readonly leafIndex: number;
}

function capabilities(): Capabilities {
  const base = defaultCapabilities();
  return { ...base, extensions: [...base.extensions, GROUP_NAME_EXTENSION] };
}

/**
 * Past epochs whose receiver data (secret tree, ratchet tree, sender-data secret) a state keeps,
 * for messages sent under an epoch this device has already left (RFC 9420 §14). The relay accepts an
 * application message only for the group's current epoch and every member applies its inbox in
 * relay order (docs/PROTOCOL.md §22.5), so a message is read in the epoch it was sent in; one past
 * epoch is a margin for a relay whose order placed a message after the commit that ended its epoch.
 * ts-mls keeps 4 by default, each with a whole ratchet tree (2.8 MB at 1,000 filled leaves): fewer
 * is a smaller state, and earlier deletion of old epoch secrets (§14). docs/DECISIONS.md.
 */
export const PAST_EPOCHS_KEPT = 1;

export function clientConfig(verify: DeviceVerifier): ClientConfig {
  return {
    keyRetentionConfig: { ...defaultKeyRetentionConfig, retainKeysForEpochs: PAST_EPOCHS_KEPT },
    lifetimeConfig: defaultLifetimeConfig,
    keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
    paddingConfig: defaultPaddingConfig,
    authService: deviceAuthService(verify),
  };
}

const bad = (message: string, cause?: unknown) => new GroupError('ERR_GROUP_BAD_MESSAGE', message, { cause });

/** Runs an MLS operation; any ts-mls failure becomes GroupError (keeping ours as they are). */
async function guarded<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof GroupError) throw e;
    throw bad(`group: ${what} failed`, e);
  }
}

export interface NewKeyPackage {
  /** MLSMessage(KeyPackage) bytes, for the relay. */
  readonly message: Uint8Array;
  readonly publicPackage: KeyPackage;
  readonly privatePackage: PrivateKeyPackage;
}

/** A KeyPackage (§10) for this device, signed with the device's own signing key. */
export async function newKeyPackage(keys: DeviceKeys, cs: CiphersuiteImpl): Promise<NewKeyPackage> {
  const kp = await generateKeyPackageWithKey(
    deviceCredential(keys),
    capabilities(),
    defaultLifetime,
    [],
    { signKey: keys.signingSeed, publicKey: keys.signingKey },
    cs,
  );
  const message = encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: kp.publicPackage });
  return { message, ...kp };
}

export function decodeKeyPackage(bytes: Uint8Array): KeyPackage {
  const m = decodeOne(bytes);
  if (m.wireformat !== 'mls_key_package') throw bad('group: not a KeyPackage');
  return m.keyPackage;
}

function decodeOne(bytes: Uint8Array) {
  let decoded: ReturnType<typeof decodeMlsMessage>;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (e) {
    throw bad('group: message does not decode', e);
  }
  if (!decoded || decoded[1] !== bytes.length) throw bad('group: message does not decode');
  return decoded[0];
}

/** Creates a group with this device as its only member (§11). */
export async function createGroupState(
  keys: DeviceKeys,
  own: NewKeyPackage,
  groupId: Uint8Array,
  name: string,
  verify: DeviceVerifier,
  cs: CiphersuiteImpl,
): Promise<ClientState> {
  const nameBytes = utf8(name);
  if (nameBytes.length === 0 || nameBytes.length > MAX_GROUP_NAME_BYTES) throw new GroupError('ERR_GROUP_BAD_MESSAGE', 'group name: empty or too long');
  if (deviceOfCredential(own.publicPackage.leafNode.credential).user !== keys.user)
    throw new GroupError('ERR_GROUP_UNTRUSTED_MEMBER', 'group: not our KeyPackage');
  const extensions: Extension[] = [{ extensionType: GROUP_NAME_EXTENSION, extensionData: nameBytes }];
  return guarded('create', () => createGroup(groupId, own.publicPackage, own.privatePackage, extensions, cs, clientConfig(verify)));
}

export function groupName(state: ClientState): string {
  const ext = state.groupContext.extensions.find((e) => e.extensionType === GROUP_NAME_EXTENSION);
  if (!ext) return '';
  return new TextDecoder().decode(ext.extensionData);
}

export function groupEpoch(state: ClientState): bigint {
  return state.groupContext.epoch;
}

/** The group's leaves: one per member device. */
export function groupMembers(state: ClientState): GroupMember[] {
  const out: GroupMember[] = [];
  state.ratchetTree.forEach((node, i) => {
    if (node?.nodeType === 'leaf') out.push({ ...deviceOfCredential(node.leaf.credential), leafIndex: i / 2 });
  });
  return out;
}

export function ownLeafIndex(state: ClientState): number {
  return state.privatePath.leafIndex;
}

/**
 * Our leaf still holds the HPKE key of the KeyPackage it was added with (RFC 9420 §7.2
 * leaf_node_source = key_package): no commit of ours has carried an UpdatePath since we joined.
 */
export function leafFromKeyPackage(state: ClientState): boolean {
  const node = state.ratchetTree[ownLeafIndex(state) * 2];
  return node?.nodeType === 'leaf' && node.leaf.leafNodeSource === 'key_package';
}

export interface CommitOutput {
  readonly state: ClientState;
  /** MLSMessage(PrivateMessage commit), for every current member. */
  readonly commit: Uint8Array;
  /** MLSMessage(Welcome) for the added devices, if any were added. */
  readonly welcome?: Uint8Array;
}

/**
 * One commit (§12.4) adding `add` KeyPackages and removing the leaves of `remove`. Each added
 * KeyPackage's credential is checked first (the AuthenticationService).
 */
export async function commit(
  state: ClientState,
  change: { add?: readonly KeyPackage[]; remove?: readonly number[] },
  cs: CiphersuiteImpl,
): Promise<CommitOutput> {
  const proposals: Proposal[] = [];
  for (const kp of change.add ?? []) {
    const device = deviceOfCredential(kp.leafNode.credential);
    if (!(await state.clientConfig.authService.validateCredential(kp.leafNode.credential, kp.leafNode.signaturePublicKey)))
      throw new GroupError('ERR_GROUP_UNTRUSTED_MEMBER', `group: ${device.user}'s device is not in their verified device list`);
    proposals.push({ proposalType: 'add', add: { keyPackage: kp } });
  }
  for (const leafIndex of change.remove ?? []) proposals.push({ proposalType: 'remove', remove: { removed: leafIndex } });
  const result = await guarded('commit', () => createCommit({ state, cipherSuite: cs }, { extraProposals: proposals, ratchetTreeExtension: true }));
  const out: CommitOutput = {
    state: result.newState,
    commit: encodeMlsMessage(result.commit),
    ...(result.welcome ? { welcome: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: result.welcome }) } : {}),
  };
  return out;
}

/** Joins from a Welcome (§12.4.3.1) with the KeyPackage it was made for. */
export async function joinFromWelcome(
  welcome: Uint8Array,
  own: Pick<NewKeyPackage, 'publicPackage' | 'privatePackage'>,
  verify: DeviceVerifier,
  cs: CiphersuiteImpl,
): Promise<ClientState> {
  const m = decodeOne(welcome);
  if (m.wireformat !== 'mls_welcome') throw bad('group: not a Welcome');
  const [state] = await guarded('join', () =>
    joinGroupWithExtensions(m.welcome, own.publicPackage, own.privatePackage, emptyPskIndex, cs, undefined, undefined, clientConfig(verify)),
  );
  return state;
}

/** Encrypts one application message (§6.3) under the current epoch. */
export async function encryptApplication(state: ClientState, plaintext: Uint8Array, cs: CiphersuiteImpl): Promise<{ state: ClientState; message: Uint8Array }> {
  const r = await guarded('encrypt', () => createApplicationMessage(state, plaintext, cs));
  return { state: r.newState, message: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: r.privateMessage }) };
}

export type Processed =
  | { readonly kind: 'application'; readonly state: ClientState; readonly plaintext: Uint8Array; readonly sender: DeviceRef }
  | { readonly kind: 'commit'; readonly state: ClientState; readonly removedSelf: boolean }
  | { readonly kind: 'proposal'; readonly state: ClientState };

/**
 * Processes one PrivateMessage (§6.3.2, §12.4.2) from another member. Application messages are
 * unprotected here (as ts-mls's processPrivateMessage does, §6.3.2) to learn the sender's leaf
 * from the decrypted sender data; handshake messages go through processPrivateMessage.
 */
export async function processGroupMessage(state: ClientState, bytes: Uint8Array, cs: CiphersuiteImpl): Promise<Processed> {
  const m = decodeOne(bytes);
  if (m.wireformat !== 'mls_private_message') throw bad('group: not a PrivateMessage');
  const pm = m.privateMessage;
  if (!sameBytes(pm.groupId, state.groupContext.groupId)) throw bad('group: message for another group');
  if (pm.contentType === 'application') {
    const current = pm.epoch === state.groupContext.epoch;
    const data = current ? undefined : state.historicalReceiverData.get(pm.epoch);
    if (!current && !data) throw bad('group: message from an epoch this device does not hold');
    const r = await guarded('decrypt', () =>
      unprotectPrivateMessage(
        data?.senderDataSecret ?? state.keySchedule.senderDataSecret,
        pm,
        data?.secretTree ?? state.secretTree,
        data?.ratchetTree ?? state.ratchetTree,
        data?.groupContext ?? state.groupContext,
        state.clientConfig.keyRetentionConfig,
        cs,
      ),
    );
    const content = r.content.content;
    if (content.contentType !== 'application' || content.sender.senderType !== 'member') throw bad('group: not an application message');
    const leaf = (data?.ratchetTree ?? state.ratchetTree)[content.sender.leafIndex * 2];
    if (leaf?.nodeType !== 'leaf') throw bad('group: unknown sender');
    const next: ClientState = data
      ? { ...state, historicalReceiverData: new Map(state.historicalReceiverData).set(pm.epoch, { ...data, secretTree: r.tree }) }
      : { ...state, secretTree: r.tree };
    return { kind: 'application', state: next, plaintext: content.applicationData, sender: deviceOfCredential(leaf.leaf.credential) };
  }
  const r = await guarded('process', () => processPrivateMessage(state, pm, emptyPskIndex, cs, acceptAll));
  if (r.kind !== 'newState') throw bad('group: unexpected message');
  const removedSelf = !r.newState.ratchetTree[ownLeafIndex(state) * 2] || r.newState.groupActiveState.kind !== 'active';
  return pm.contentType === 'commit' ? { kind: 'commit', state: r.newState, removedSelf } : { kind: 'proposal', state: r.newState };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The state as bytes (RFC 9420 state is ts-mls's GroupState encoding), for the profile store. */
export function encodeState(state: ClientState): Uint8Array {
  return encodeGroupState(state);
}

export function decodeState(bytes: Uint8Array, verify: DeviceVerifier): ClientState {
  let decoded: ReturnType<typeof decodeGroupState>;
  try {
    decoded = decodeGroupState(bytes, 0);
  } catch (e) {
    void e;
    throw new DecodeError('group state: does not decode');
  }
  if (!decoded || decoded[1] !== bytes.length) throw new DecodeError('group state: does not decode');
  return { ...decoded[0], clientConfig: clientConfig(verify) };
}

/** KeyPackageRef (RFC 9420 §5.2): what a Welcome names its recipients by. */
export function keyPackageRef(kp: KeyPackage, cs: CiphersuiteImpl): Promise<Uint8Array> {
  return makeKeyPackageRef(kp, cs.hash);
}

/** The KeyPackageRefs a Welcome has secrets for (§12.4.3.1 EncryptedGroupSecrets.new_member). */
export function welcomeRecipients(bytes: Uint8Array): Uint8Array[] {
  const m = decodeOne(bytes);
  if (m.wireformat !== 'mls_welcome') throw bad('group: not a Welcome');
  return m.welcome.secrets.map((s) => s.newMember);
}

/** Remove proposals (§12.1.3) for `leaves`, one PrivateMessage each (leaving: our own leaves). */
export async function proposeRemovals(
  state: ClientState,
  leaves: readonly number[],
  cs: CiphersuiteImpl,
): Promise<{ state: ClientState; messages: Uint8Array[] }> {
  let s = state;
  const messages: Uint8Array[] = [];
  for (const removed of leaves) {
    const r = await guarded('propose', () => createProposal(s, false, { proposalType: 'remove', remove: { removed } }, cs));
    s = r.newState;
    messages.push(encodeMlsMessage(r.message));
  }
  return { state: s, messages };
}

/** Proposals received and not yet committed (a commit by this device would include them, §12.4). */
export function pendingProposals(state: ClientState): number {
  return Object.keys(state.unappliedProposals).length;
}
