/**
 * Group conversations for the SDK (docs/PROTOCOL.md §22, docs/API.md §13): MLS groups whose
 * leaves are devices, the relay as delivery service. Every operation first syncs (applies the
 * group inbox in relay order), then commits or sends for the current epoch; a 409 `stale_epoch`
 * means another member's commit landed first: sync again and retry. A local state is written
 * only after the relay accepted what was made from it, so a refused commit changes nothing here.
 */

import { equal } from '@blindrelay/protocol';
import type { CiphersuiteImpl, ClientState } from 'ts-mls';
import { fromBase64url, toBase64url } from '../base64url.js';
import type { Context } from '../context.js';
import { resolveUser } from '../directory.js';
import { InvalidArgumentError, NotFoundError, RelayError } from '../errors.js';
import type { FileSource, PutOptions, PutResult } from '../files/types.js';
import { freshId } from '../ids.js';
import type { GroupEntry, GroupReceived, GroupsRecord } from '../profile.js';
import { groupSuite } from './ciphersuite.js';
import { type DeviceRef, type DeviceVerifier, deviceOfCredential } from './credential.js';
import { GroupError } from './errors.js';
import { followGroupFiles, type GroupFilesResult, putGroupFile } from './group-files.js';
import {
  commit,
  createGroupState,
  type DeviceKeys,
  decodeKeyPackage,
  encryptApplication,
  groupEpoch,
  groupMembers,
  groupName,
  joinFromWelcome,
  keyPackageRef,
  leafFromKeyPackage,
  newKeyPackage,
  pendingProposals,
  processGroupMessage,
  proposeRemovals,
  welcomeRecipients,
} from './group-state.js';
import {
  ackGroupInbox,
  claimKeyPackages,
  type GroupInboxItem,
  groupInbox,
  groupInfo,
  postCommit,
  postGroup,
  postGroupMessage,
  putKeyPackages,
} from './groups-api.js';
import { type GroupStateCache, groupStateCache } from './state-cache.js';

/** One-time KeyPackages kept on the relay per device. */
export const KEY_PACKAGE_TARGET = 10;
const MAX_ATTEMPTS = 4;
/** An own device that had no KeyPackage on the relay is not claimed for again before this (ms). */
export const FOLLOW_RETRY_MS = 10 * 60_000;

export interface GroupSummary {
  readonly id: string;
  readonly name: string;
  readonly epoch: number;
  /** Member users, sorted. */
  readonly members: readonly string[];
}
export interface GroupMemberDevice {
  readonly user: string;
  readonly deviceId: number;
}
export interface GroupMessage {
  readonly group: string;
  readonly from: string;
  readonly deviceId: number;
  readonly text: string;
  readonly sentAt: number;
}
type Item = GroupInboxItem;
type Listed = readonly { deviceId: number; signingKey: Uint8Array }[];
const deviceKey = (d: DeviceRef) => `${d.user}/${d.deviceId}`;

const keys = (ctx: Context): DeviceKeys => ({
  user: ctx.account.user,
  deviceId: ctx.account.deviceId,
  signingSeed: ctx.account.signingSeed,
  signingKey: ctx.account.signingKey,
});
const isStale = (e: unknown) => e instanceof RelayError && e.relayCode === 'stale_epoch';
const notMember = () => new GroupError('ERR_GROUP_NOT_MEMBER', 'not a member of that group (or no such group)');

/**
 * A device that joined from a Welcome owes one commit with an UpdatePath (a self-update, §22.6b)
 * until one of its commits has carried a path: its leaf still holds the KeyPackage's key, which was
 * published on the relay, and its direct path holds the secrets the adder chose.
 */
const owesUpdate = (entry: GroupEntry, state: ClientState) => !entry.created && leafFromKeyPackage(state);

/**
 * Users' verified device lists (directory.ts: fetched and checked against the pinned master key),
 * each fetched at most once per operation. A leaf is trusted when its user's list holds that device
 * with that signing key (§22.2).
 */
class DeviceLists {
  readonly #lists = new Map<string, Promise<Listed>>();
  constructor(readonly ctx: Context) {}
  get(user: string): Promise<Listed> {
    let list = this.#lists.get(user);
    if (!list) {
      list = this.ctx.profile.transact(async (tx) => (await resolveUser(this.ctx, tx, user, { mode: 'receive' })).list.devices);
      // A failed lookup is not kept: the next question asks again.
      list.catch(() => this.#lists.delete(user));
      this.#lists.set(user, list);
    }
    return list;
  }
  async holds(device: DeviceRef, signingKey: Uint8Array): Promise<boolean> {
    const entry = (await this.get(device.user)).find((d) => d.deviceId === device.deviceId);
    return entry !== undefined && equal(entry.signingKey, signingKey);
  }
  readonly verify: DeviceVerifier = (device, signingKey) => this.holds(device, signingKey);
}

/** The leaf's signature key (RFC 9420 §7.2), from the state's ratchet tree. */
function leafKey(state: ClientState, leafIndex: number): Uint8Array | undefined {
  const node = state.ratchetTree[leafIndex * 2];
  return node?.nodeType === 'leaf' ? node.leaf.signaturePublicKey : undefined;
}

/** What one page of the group inbox changes, kept in memory until the page is stored. */
class PageWrites {
  /** Group id → its state after the page (undefined: removed, forget it). */
  readonly states = new Map<string, ClientState | undefined>();
  /** Groups joined from a Welcome in the page. */
  readonly joined = new Set<string>();
  readonly received: GroupReceived[] = [];
  /** One-time KeyPackages used by those Welcomes (refs). */
  readonly usedKeyPackages: string[] = [];
}

class Groups {
  readonly lists: DeviceLists;
  readonly verify: DeviceVerifier;
  /** Decoded states of this profile, kept across operations (state-cache.ts). */
  readonly states: GroupStateCache;
  private constructor(
    readonly ctx: Context,
    readonly cs: CiphersuiteImpl,
  ) {
    this.lists = new DeviceLists(ctx);
    this.verify = this.lists.verify;
    this.states = groupStateCache(ctx.profile);
  }
  /** The state of group `id` stored as `bytes`, checked with this operation's device lists. */
  decode(id: string, bytes: Uint8Array): ClientState {
    return this.states.decode(id, bytes, this.verify);
  }
  static async open(ctx: Context): Promise<Groups> {
    return new Groups(ctx, await groupSuite());
  }
  record(): Promise<GroupsRecord> {
    return this.ctx.profile.transact(async (tx) => tx.get('groups'));
  }
  update(f: (r: GroupsRecord) => void): Promise<void> {
    return this.ctx.profile.transact(async (tx) => {
      const r = await tx.get('groups');
      f(r);
      tx.set('groups', r);
    });
  }
  async state(id: string): Promise<ClientState> {
    return (await this.entry(id)).state;
  }
  /** The group's state, and whether this device still owes its self-update (§22.6b). */
  async entry(id: string): Promise<{ state: ClientState; owesUpdate: boolean }> {
    const entry = (await this.record()).groups.get(id);
    if (!entry) throw notMember();
    const state = this.decode(id, entry.state);
    return { state, owesUpdate: owesUpdate(entry, state) };
  }
  /** Stores the group's next state (keeping what else the entry says), or forgets the group. */
  save(id: string, state: ClientState | undefined): Promise<void> {
    const bytes = state ? this.states.encode(id, state) : undefined;
    if (!bytes) this.states.forget(id);
    return this.update((r) => {
      if (bytes) r.groups.set(id, { ...r.groups.get(id), state: bytes });
      else r.groups.delete(id);
    });
  }
  /** Tops up this device's one-time KeyPackages on the relay, and its last-resort one. */
  async publishKeyPackages(): Promise<number> {
    const held = await putKeyPackages(this.ctx.api, { keyPackages: [] });
    const rec = await this.record();
    const needLast = ![...rec.keyPackages.values()].some((k) => k.lastResort);
    const n = Math.max(0, KEY_PACKAGE_TARGET - held);
    if (n === 0 && !needLast) return held;
    const made: Awaited<ReturnType<typeof newKeyPackage>>[] = [];
    for (let i = 0; i < n + (needLast ? 1 : 0); i++) made.push(await newKeyPackage(keys(this.ctx), this.cs));
    const refs = await Promise.all(made.map((k) => keyPackageRef(k.publicPackage, this.cs)));
    // Private parts on disk before the relay can hand the public ones out.
    await this.update((r) => {
      for (const [i, k] of made.entries())
        r.keyPackages.set(toBase64url(refs[i] as Uint8Array), {
          keyPackage: k.message,
          initPrivate: k.privatePackage.initPrivateKey,
          hpkePrivate: k.privatePackage.hpkePrivateKey,
          lastResort: needLast && i === n,
        });
    });
    const oneTime = made.slice(0, n).map((k) => toBase64url(k.message));
    const last = needLast ? made[n] : undefined;
    return putKeyPackages(this.ctx.api, { keyPackages: oneTime, ...(last ? { lastResort: toBase64url(last.message) } : {}) });
  }

  /** Applies the group inbox in relay order; decrypted messages are kept for `receive`. Returns how many were skipped. */
  async sync(): Promise<number> {
    let skipped = 0;
    for (;;) {
      const page = await groupInbox(this.ctx.api, 100);
      if (page.length === 0) break;
      const writes = new PageWrites();
      for (const item of page) if (!(await this.apply(item, writes))) skipped++;
      // The page's results are stored before the ack: a crash before it re-applies the page.
      await this.store(writes);
      await ackGroupInbox(this.ctx.api, { upTo: (page[page.length - 1] as Item).seq });
      if (page.length < 100) break;
    }
    // Proposals (members leaving) are committed by whoever syncs next; our own devices follow our
    // device list (§22.6 "Devices follow the device list").
    const rec = await this.record();
    // Our list unavailable (unreachable): nothing follows it this time.
    const own = rec.groups.size > 0 ? await this.lists.get(this.ctx.account.user).catch(() => undefined) : undefined;
    // A device that joined from a Welcome makes its self-update (§22.6b).
    for (const [id, entry] of rec.groups) {
      const state = this.decode(id, entry.state);
      const follow = own ? this.ownChanges(state, own, rec.waiting) : { add: [], remove: [] };
      if (pendingProposals(state) > 0 || follow.add.length > 0 || follow.remove.length > 0 || owesUpdate(entry, state))
        await this.commitChange(id, {}).catch(() => undefined);
    }
    return skipped;
  }

  /**
   * What our own verified device list asks of a group: our devices it lists that are not leaves
   * (to add, unless they had no KeyPackage less than FOLLOW_RETRY_MS ago) and our leaves it no
   * longer lists with that signing key (revoked: to remove).
   */
  ownChanges(state: ClientState, own: Listed, waiting?: ReadonlyMap<string, number>): { add: number[]; remove: number[] } {
    const user = this.ctx.account.user;
    const leaves = groupMembers(state).filter((m) => m.user === user);
    const now = this.ctx.now();
    const add = own
      .filter((d) => !leaves.some((m) => m.deviceId === d.deviceId))
      .filter((d) => {
        const t = waiting?.get(String(d.deviceId));
        return t === undefined || now - t >= FOLLOW_RETRY_MS || t > now;
      })
      .map((d) => d.deviceId);
    const remove = leaves
      .filter((m) => m.deviceId !== this.ctx.account.deviceId)
      .filter((m) => {
        const listed = own.find((d) => d.deviceId === m.deviceId);
        const key = leafKey(state, m.leafIndex);
        return !listed || !key || !equal(listed.signingKey, key);
      })
      .map((m) => m.leafIndex);
    return { add, remove };
  }

  /**
   * Leaves whose device left its user's verified list (revoked, §22.6): the relay dropped them from
   * the group's delivery list at once, so only those are looked up (one GET of the group, and one
   * list per such user), never every member's list.
   */
  async revokedLeaves(id: string, state: ClientState): Promise<number[]> {
    let served: DeviceRef[];
    try {
      served = (await groupInfo(this.ctx.api, id)).members;
    } catch (e) {
      // No longer a member: the commit's POST says so (and drops the state).
      if (e instanceof NotFoundError) return [];
      throw e;
    }
    const delivered = new Set(served.map(deviceKey));
    const out: number[] = [];
    for (const m of groupMembers(state)) {
      if (delivered.has(deviceKey(m)) || (m.user === this.ctx.account.user && m.deviceId === this.ctx.account.deviceId)) continue;
      const key = leafKey(state, m.leafIndex);
      // Removed only on the verified list's word: a list that cannot be had now keeps the leaf.
      if (!key || !(await this.lists.holds(m, key).catch(() => true))) out.push(m.leafIndex);
    }
    return out;
  }

  /** One inbox item applied to the page's states (stored by `store`); false when skipped. */
  private async apply(item: Item, writes: PageWrites): Promise<boolean> {
    const bytes = fromBase64url(item.message);
    try {
      if (item.kind === 'welcome') return await this.join(item.group, bytes, writes);
      let current = writes.states.get(item.group);
      if (!writes.states.has(item.group)) {
        const entry = (await this.record()).groups.get(item.group);
        current = entry ? this.decode(item.group, entry.state) : undefined;
      }
      if (!current) return false;
      const r = await processGroupMessage(current, bytes, this.cs);
      if (r.kind === 'commit' && r.removedSelf) {
        writes.states.set(item.group, undefined);
        return true;
      }
      writes.states.set(item.group, r.state);
      if (r.kind === 'application')
        writes.received.push({ group: item.group, from: r.sender.user, deviceId: r.sender.deviceId, body: r.plaintext, sentAt: item.sentAt });
      return true;
    } catch (e) {
      if (e instanceof GroupError) return false;
      throw e;
    }
  }

  private async join(id: string, welcome: Uint8Array, writes: PageWrites): Promise<boolean> {
    const rec = await this.record();
    for (const ref of welcomeRecipients(welcome)) {
      const name = toBase64url(ref);
      const kp = rec.keyPackages.get(name);
      if (!kp) continue;
      const state = await joinFromWelcome(
        welcome,
        {
          publicPackage: decodeKeyPackage(kp.keyPackage),
          privatePackage: { initPrivateKey: kp.initPrivate, hpkePrivateKey: kp.hpkePrivate, signaturePrivateKey: this.ctx.account.signingSeed },
        },
        this.verify,
        this.cs,
      );
      if (toBase64url(state.groupContext.groupId) !== id) return false;
      if (!kp.lastResort) writes.usedKeyPackages.push(name);
      writes.states.set(id, state);
      writes.joined.add(id);
      return true;
    }
    return false;
  }

  /** Stores what a page of the inbox changed in one write: each changed group's state encoded once. */
  private async store(writes: PageWrites): Promise<void> {
    if (writes.states.size === 0 && writes.received.length === 0 && writes.usedKeyPackages.length === 0) return;
    const encoded = new Map<string, Uint8Array | undefined>();
    for (const [id, state] of writes.states) {
      encoded.set(id, state ? this.states.encode(id, state) : undefined);
      if (!state) this.states.forget(id);
    }
    await this.update((r) => {
      for (const name of writes.usedKeyPackages) r.keyPackages.delete(name);
      for (const [id, bytes] of encoded) {
        // A group joined in this page starts a new entry (not the creator's, §22.6b).
        if (bytes) r.groups.set(id, { ...(writes.joined.has(id) ? {} : r.groups.get(id)), state: bytes });
        else r.groups.delete(id);
      }
      r.inbox.push(...writes.received);
    });
  }

  /** Group files this device put follow their groups' members (group-files.ts). */
  followFiles(): Promise<GroupFilesResult> {
    return followGroupFiles(this.ctx, async (group) => {
      const entry = (await this.record()).groups.get(group);
      return entry ? groupMembers(this.decode(group, entry.state)) : undefined;
    });
  }

  /**
   * One commit for the current epoch (after a sync), retried on 409 stale_epoch. Every commit also
   * follows device lists (§22.6): it adds our own listed devices that are not leaves yet and
   * removes leaves whose device was revoked.
   */
  async commitChange(id: string, change: { addUsers?: readonly string[]; removeUser?: string }): Promise<number> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (attempt > 0) await this.sync();
      const { state, owesUpdate: owes } = await this.entry(id);
      const current = groupMembers(state);
      const has = (d: DeviceRef) => current.some((m) => m.user === d.user && m.deviceId === d.deviceId);
      const add: ReturnType<typeof decodeKeyPackage>[] = [];
      const claim = async (user: string, devices?: readonly number[]) => {
        const claimed = await claimKeyPackages(this.ctx.api, { user, ...(devices ? { devices: [...devices] } : {}) });
        for (const c of claimed) {
          const kp = decodeKeyPackage(fromBase64url(c.keyPackage));
          const device = deviceOfCredential(kp.leafNode.credential);
          if (
            device.user !== user ||
            device.deviceId !== c.deviceId ||
            has(device) ||
            add.some((k) => deviceKey(deviceOfCredential(k.leafNode.credential)) === deviceKey(device))
          )
            continue;
          add.push(kp);
        }
        return claimed.map((c) => c.deviceId);
      };
      for (const user of change.addUsers ?? []) await claim(user);
      const remove = change.removeUser ? current.filter((m) => m.user === change.removeUser).map((m) => m.leafIndex) : [];
      if (change.removeUser && remove.length === 0) throw new GroupError('ERR_GROUP_NOT_FOUND', `${change.removeUser} is not a member of that group`);
      // Devices follow the device lists (§22.6).
      const rec = await this.record();
      const ownList = await this.lists.get(this.ctx.account.user).catch(() => undefined);
      const follow = ownList ? this.ownChanges(state, ownList, rec.waiting) : { add: [], remove: [] };
      const adding = new Set(add.map((k) => deviceKey(deviceOfCredential(k.leafNode.credential))));
      const missing = follow.add.filter((d) => !adding.has(deviceKey({ user: this.ctx.account.user, deviceId: d })));
      if (missing.length > 0) {
        const got = await claim(this.ctx.account.user, missing);
        const none = missing.filter((d) => !got.includes(d));
        if (none.length > 0 || (rec.waiting?.size ?? 0) > 0)
          await this.update((r) => {
            const waiting = new Map(r.waiting ?? []);
            for (const d of got) waiting.delete(String(d));
            for (const d of none) waiting.set(String(d), this.ctx.now());
            r.waiting = waiting;
          });
      }
      for (const leaf of [...follow.remove, ...(await this.revokedLeaves(id, state))]) if (!remove.includes(leaf)) remove.push(leaf);
      if (
        add.length === 0 &&
        remove.length === 0 &&
        ((change.addUsers && change.addUsers.length > 0) || change.removeUser || (pendingProposals(state) === 0 && !owes))
      )
        return Number(groupEpoch(state));
      // With nothing to add or remove this is an empty commit: its UpdatePath is the self-update.
      const out = await commit(state, { add, remove }, this.cs);
      const added = add.map((kp) => deviceOfCredential(kp.leafNode.credential));
      const members = groupMembers(out.state).map((m) => ({ user: m.user, deviceId: m.deviceId }));
      try {
        const epoch = await postCommit(this.ctx.api, id, {
          commit: toBase64url(out.commit),
          ...(out.welcome ? { welcome: toBase64url(out.welcome) } : {}),
          members,
          added,
        });
        await this.save(id, out.state);
        return epoch;
      } catch (e) {
        // The relay no longer counts this device a member (our user left on another device): the
        // state is of no use any more.
        if (e instanceof NotFoundError) {
          await this.save(id, undefined);
          throw notMember();
        }
        if (!isStale(e)) throw e;
      }
    }
    throw new GroupError('ERR_GROUP_BAD_MESSAGE', 'the group kept changing; try again');
  }

  async send(id: string, text: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      await this.sync();
      const sent = await encryptApplication(await this.state(id), new TextEncoder().encode(text), this.cs);
      try {
        await postGroupMessage(this.ctx.api, id, { message: toBase64url(sent.message) });
        await this.save(id, sent.state);
        return;
      } catch (e) {
        if (!isStale(e)) throw e;
      }
    }
    throw new GroupError('ERR_GROUP_BAD_MESSAGE', 'the group kept changing; try again');
  }
}

const GROUP_ID = /^[A-Za-z0-9_-]{22}$/;
function checkId(id: string): void {
  if (!GROUP_ID.test(id)) throw new InvalidArgumentError('group id: 16 bytes, base64url');
}

export async function publishGroupKeyPackages(ctx: Context): Promise<number> {
  return (await Groups.open(ctx)).publishKeyPackages();
}

/** A new group named `name` (seen by members only) with our other devices and `members`' devices. */
export async function createGroup(ctx: Context, name: string, members: readonly string[] = []): Promise<string> {
  const g = await Groups.open(ctx);
  const own = await newKeyPackage(keys(ctx), g.cs);
  const idBytes = freshId(ctx.p);
  const id = toBase64url(idBytes);
  const state = await createGroupState(keys(ctx), own, idBytes, name, g.verify, g.cs);
  await postGroup(ctx.api, { id });
  // Our leaf's key is from a KeyPackage we never published: no self-update owed (§22.6b).
  const stored = g.states.encode(id, state);
  await g.update((r) => {
    r.groups.set(id, { state: stored, created: true });
  });
  await g.commitChange(id, { addUsers: [ctx.account.user, ...members.filter((m) => m !== ctx.account.user)] });
  return id;
}

/** Adds every device of `user`; group files this device put are then shared with them. */
export async function addGroupMember(ctx: Context, id: string, user: string): Promise<GroupFilesResult> {
  checkId(id);
  const g = await Groups.open(ctx);
  await g.sync();
  await g.commitChange(id, { addUsers: [user] });
  return g.followFiles();
}

/** Removes every device of `user`; group files this device put are then re-keyed without them. */
export async function removeGroupMember(ctx: Context, id: string, user: string): Promise<GroupFilesResult> {
  checkId(id);
  if (user === ctx.account.user) throw new InvalidArgumentError('to leave a group, use leaveGroup');
  const g = await Groups.open(ctx);
  await g.sync();
  await g.commitChange(id, { removeUser: user });
  return g.followFiles();
}

/**
 * Uploads a file for the group's current member users (all their current devices); this device
 * then keeps it following the group (group-files.ts): re-keyed when a member or device goes.
 * ERR_GROUP_NOT_MEMBER when this device is not a member.
 */
export async function putFileForGroup(ctx: Context, id: string, source: FileSource, options: Omit<PutOptions, 'to'> = {}): Promise<PutResult> {
  checkId(id);
  const g = await Groups.open(ctx);
  await g.sync();
  const members = groupMembers(await g.state(id)).map((m) => ({ user: m.user, deviceId: m.deviceId }));
  return putGroupFile(ctx, members, id, source, options);
}

/** Syncs the groups, then brings the group files this device put in line with their groups. */
export async function followGroups(ctx: Context): Promise<GroupFilesResult> {
  const g = await Groups.open(ctx);
  await g.sync();
  return g.followFiles();
}

/** Leaves: Remove proposals for all of our devices' leaves (another member commits them); local state dropped. */
export async function leaveGroup(ctx: Context, id: string): Promise<void> {
  checkId(id);
  const g = await Groups.open(ctx);
  await g.sync();
  const state = await g.state(id);
  const ours = groupMembers(state)
    .filter((m) => m.user === ctx.account.user)
    .map((m) => m.leafIndex);
  const { messages } = await proposeRemovals(state, ours, g.cs);
  for (const [i, m] of messages.entries())
    await postGroupMessage(ctx.api, id, { message: toBase64url(m), ...(i === messages.length - 1 ? { leave: true } : {}) });
  await g.save(id, undefined);
}

export async function sendGroupMessage(ctx: Context, id: string, text: string): Promise<void> {
  checkId(id);
  await (await Groups.open(ctx)).send(id, text);
}

/** Syncs, then hands out (and forgets) every group message decrypted so far. */
export async function receiveGroupMessages(ctx: Context): Promise<GroupMessage[]> {
  const g = await Groups.open(ctx);
  await g.sync();
  // A failure is kept in the record and tried again at the next sync (group-files.ts).
  await g.followFiles();
  let out: GroupReceived[] = [];
  await g.update((r) => {
    out = r.inbox.splice(0);
  });
  return out.map((m) => ({ group: m.group, from: m.from, deviceId: m.deviceId, text: new TextDecoder().decode(m.body), sentAt: m.sentAt }));
}

export async function listGroups(ctx: Context): Promise<GroupSummary[]> {
  const g = await Groups.open(ctx);
  await g.sync();
  const out: GroupSummary[] = [];
  for (const [id, entry] of (await g.record()).groups) {
    const s = g.decode(id, entry.state);
    out.push({ id, name: groupName(s), epoch: Number(groupEpoch(s)), members: [...new Set(groupMembers(s).map((m) => m.user))].sort() });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

export async function listGroupMembers(ctx: Context, id: string): Promise<GroupMemberDevice[]> {
  checkId(id);
  const g = await Groups.open(ctx);
  await g.sync();
  return groupMembers(await g.state(id)).map((m) => ({ user: m.user, deviceId: m.deviceId }));
}
