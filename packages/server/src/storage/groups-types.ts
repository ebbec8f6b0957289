/**
 * Storage of the MLS delivery service (docs/API.md §13, docs/PROTOCOL.md §22; issue 14). The relay
 * keeps, per group, only its random id, its epoch and the devices to deliver to; per device, its
 * KeyPackages (one-time and one last-resort) and a queue of references to stored group messages.
 * Each message (commit, Welcome, proposal, application) is stored once, whatever the group size.
 * All of it is opaque MLS ciphertext: group names and content live inside MLS.
 *
 * Every write checks inside its own transaction: the group exists, the sender is a member, and a
 * handshake or application message is for the group's current epoch (so commits are totally
 * ordered: of two commits for one epoch, the second is refused and its sender catches up).
 */

export interface GroupDevice {
  readonly user: string;
  readonly deviceId: number;
}

export interface GroupInfo {
  readonly id: Uint8Array;
  readonly epoch: number;
  /** Devices the relay delivers to, by (user, deviceId). */
  readonly members: readonly GroupDevice[];
}

/** Kinds of stored group messages (the first three are RFC 9420 ContentType values). */
export const GROUP_MESSAGE_KIND = { application: 1, proposal: 2, commit: 3, welcome: 4 } as const;
export type GroupMessageKind = keyof typeof GROUP_MESSAGE_KIND;

export interface InboxItem {
  readonly seq: number;
  readonly group: Uint8Array;
  readonly kind: GroupMessageKind;
  readonly epoch: number;
  readonly body: Uint8Array;
  readonly sentAt: number;
}

export interface NewCommit {
  readonly group: Uint8Array;
  readonly sender: GroupDevice;
  /** The epoch the commit was made in (must be the group's current epoch). */
  readonly epoch: number;
  readonly commit: Uint8Array;
  readonly welcome?: Uint8Array;
  /** Every member device after the commit. */
  readonly members: readonly GroupDevice[];
  /** Devices added by the commit (they receive the Welcome, not the commit). */
  readonly added: readonly GroupDevice[];
  readonly now: number;
}

export interface NewGroupMessage {
  readonly group: Uint8Array;
  readonly sender: GroupDevice;
  readonly epoch: number;
  readonly kind: 'application' | 'proposal';
  readonly body: Uint8Array;
  readonly now: number;
  /** Leaving: the sender's user's devices stop receiving after this message. */
  readonly leave?: boolean;
}

export type GroupWriteResult =
  | { readonly status: 'stored'; readonly epoch: number; readonly recipients: readonly GroupDevice[] }
  | { readonly status: 'not_found' }
  | { readonly status: 'stale_epoch'; readonly epoch: number }
  | { readonly status: 'unknown_device' };

export interface ClaimedKeyPackage {
  readonly deviceId: number;
  readonly keyPackage: Uint8Array;
}

export interface GroupRepository {
  /** Adds one-time KeyPackages (and replaces the last-resort one if given); `too_many` past the cap. */
  putKeyPackages(device: GroupDevice, oneTime: readonly Uint8Array[], lastResort: Uint8Array | undefined, maxOneTime: number): Promise<'stored' | 'too_many'>;
  /** One-time KeyPackages left for a device. */
  countKeyPackages(device: GroupDevice): Promise<number>;
  /**
   * One KeyPackage per current device of `user`: a one-time one, consumed (deleted) in the same
   * transaction so it is handed out at most once, else the last-resort one (kept). Devices with
   * neither are left out.
   */
  claimKeyPackages(user: string, devices?: readonly number[]): Promise<ClaimedKeyPackage[]>;
  /** A new group at epoch 0 whose only member is `creator`. */
  create(id: Uint8Array, creator: GroupDevice, now: number): Promise<'created' | 'id_taken'>;
  /** The group, if `asMember` is one of its members (else undefined, as for no group). */
  get(id: Uint8Array, asMember: GroupDevice): Promise<GroupInfo | undefined>;
  /** Groups the device is a member of, by id. */
  listFor(device: GroupDevice): Promise<GroupInfo[]>;
  commit(c: NewCommit): Promise<GroupWriteResult>;
  post(m: NewGroupMessage): Promise<GroupWriteResult>;
  /** The device's queued group messages after `after`, oldest first. */
  inbox(device: GroupDevice, after: number, limit: number): Promise<InboxItem[]>;
  /** Drops the device's references up to `upTo`; a message nobody references any more is deleted. */
  ack(device: GroupDevice, upTo: number): Promise<number>;
}

export const kindName = (k: number): GroupMessageKind => {
  const e = Object.entries(GROUP_MESSAGE_KIND).find(([, v]) => v === k);
  if (!e) throw new Error('group message: unknown kind');
  return e[0] as GroupMessageKind;
};

/** Devices in `a` not in `b` (by user and deviceId). */
export function deviceDiff(a: readonly GroupDevice[], b: readonly GroupDevice[]): GroupDevice[] {
  const inB = new Set(b.map((d) => `${d.user}\u0000${d.deviceId}`));
  return a.filter((d) => !inB.has(`${d.user}\u0000${d.deviceId}`));
}
