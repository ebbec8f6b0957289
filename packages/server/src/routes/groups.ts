/**
 * docs/API.md §13: the MLS delivery service (RFC 9420 §16.1 "Delivery Service"; issue 14). The
 * relay stores KeyPackages per device (one-time ones handed out at most once, a last-resort one
 * kept), orders handshake messages per group (a commit must be for the group's current epoch, else
 * 409 `stale_epoch`: of two concurrent commits exactly one lands and its sender's rival catches
 * up), stores each group message once and queues a reference per recipient device. It reads only
 * the cleartext MLS framing (group id, epoch, content type: @blindrelay/protocol/groups); group
 * names and content stay inside MLS. A device that is not a member gets 404 as for no group.
 */
import { CONTENT_TYPE, checkKeyPackageFrame, checkWelcomeFrame, GROUP_ID_BYTES, readPrivateMessageFrame } from '@blindrelay/protocol/groups';
import { bounds, shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { deviceTopic } from '../bus/types.js';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf } from '../http/auth.js';
import { decodeField, encodeBase64url } from '../http/base64url.js';
import { ApiError, badRequest, conflict, notFound } from '../http/errors.js';
import { hashBody, requireSignature } from '../http/request-signature.js';
import { BEARER, EmptyQuery, errors, NoContent, Obj, schemaOf } from '../http/schemas.js';
import { deviceDiff, type GroupDevice, type GroupInfo, type GroupWriteResult } from '../storage/groups-types.js';

/** Bounds of this API (docs/API.md §13). */
export const GROUP_LIMITS = {
  /** An MLSMessage(KeyPackage) of suite 0x0053 is about 2.7 KB. */
  maxKeyPackageBytes: bounds.MAX_KEY_PACKAGE_BYTES,
  maxKeyPackagesPerUpload: bounds.MAX_KEY_PACKAGES_PER_UPLOAD,
  /** One-time KeyPackages stored per device. */
  maxKeyPackagesPerDevice: 200,
  /** Member devices of one group. */
  maxMembers: bounds.MAX_GROUP_MEMBERS,
  /** A commit with its path, or a Welcome with the ratchet tree (grows with the group). */
  maxHandshakeBytes: bounds.MAX_HANDSHAKE_BYTES,
  maxInbox: bounds.MAX_GROUP_INBOX,
  defaultInbox: 100,
} as const;

const GroupId = schemaOf(shapes.GROUP_ID);
const Seq = schemaOf(shapes.INBOX_SEQ);
const GroupOut = schemaOf(shapes.GROUP_INFO);
const IdParams = Obj({ id: GroupId });
const PutKeyPackages = schemaOf(shapes.KEY_PACKAGES_REQUEST);
const ClaimBody = schemaOf(shapes.CLAIM_REQUEST);
const CommitBody = schemaOf(shapes.COMMIT_REQUEST);
const MessageBody = schemaOf(shapes.GROUP_MESSAGE_REQUEST);
const InboxQuery = Obj({
  after: Type.Optional(Seq),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: GROUP_LIMITS.maxInbox, default: GROUP_LIMITS.defaultInbox })),
});
const Written = schemaOf(shapes.GROUP_WRITTEN);

const groupOut = (g: GroupInfo): Static<typeof GroupOut> => ({
  id: encodeBase64url(g.id),
  epoch: g.epoch,
  members: g.members.map((m) => ({ user: m.user, deviceId: m.deviceId })),
});
const NO_GROUP = 'no such group';
const key = (d: GroupDevice) => `${d.user}\u0000${d.deviceId}`;
function distinct(list: readonly GroupDevice[], field: string): void {
  if (new Set(list.map(key)).size !== list.length) throw badRequest(`${field}: duplicate device`);
}
/** Reads a PrivateMessage's framing as a 400 on failure (never a 500, never echoing the bytes). */
function frameOf(bytes: Uint8Array, field: string) {
  try {
    return readPrivateMessageFrame(bytes);
  } catch {
    throw badRequest(`${field}: not an MLS PrivateMessage of this protocol`);
  }
}

export function registerGroupRoutes(app: FastifyInstance, ctx: AppContext): void {
  const auth = authenticate(ctx);

  const written = async (r: GroupWriteResult, sender: GroupDevice) => {
    if (r.status === 'not_found') throw notFound(NO_GROUP);
    if (r.status === 'stale_epoch')
      throw new ApiError(409, 'stale_epoch', 'the group has moved to a later epoch; fetch and apply its commits first', { epoch: r.epoch });
    if (r.status === 'unknown_device') throw badRequest('members: a device that does not exist');
    for (const d of r.recipients) if (key(d) !== key(sender)) await ctx.bus.publish(deviceTopic(d.user, d.deviceId), { type: 'message' });
    return { epoch: r.epoch };
  };

  app.put<{ Body: Static<typeof PutKeyPackages> }>(
    '/v1/groups/key-packages',
    {
      onRequest: auth,
      schema: {
        summary: "Upload this device's MLS KeyPackages (one-time, and optionally its last-resort one)",
        tags: ['groups'],
        security: BEARER,
        querystring: EmptyQuery,
        body: PutKeyPackages,
        response: { 200: schemaOf(shapes.KEY_PACKAGES_HELD), ...errors(401, 409) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      const decode = (b: string, field: string) => {
        const bytes = decodeField(b, field, { min: 1, max: GROUP_LIMITS.maxKeyPackageBytes });
        try {
          checkKeyPackageFrame(bytes);
        } catch {
          throw badRequest(`${field}: not a KeyPackage of cipher suite 0x0053`);
        }
        return bytes;
      };
      const oneTime = request.body.keyPackages.map((b, i) => decode(b, `keyPackages[${i}]`));
      const lastResort = request.body.lastResort === undefined ? undefined : decode(request.body.lastResort, 'lastResort');
      const r = await ctx.storage.groups.putKeyPackages(me, oneTime, lastResort, GROUP_LIMITS.maxKeyPackagesPerDevice);
      if (r === 'too_many') throw conflict('too many KeyPackages stored for this device');
      return { oneTime: await ctx.storage.groups.countKeyPackages(me) };
    },
  );

  app.post<{ Body: Static<typeof ClaimBody> }>(
    '/v1/groups/key-packages/claim',
    {
      onRequest: auth,
      schema: {
        summary: "Claim one KeyPackage per current device of a user (one-time ones at most once; else the device's last-resort one)",
        tags: ['groups'],
        security: BEARER,
        querystring: EmptyQuery,
        body: ClaimBody,
        response: { 200: schemaOf(shapes.KEY_PACKAGES_CLAIMED), ...errors(401, 404, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      const { user } = request.body;
      // KeyPackage draining: counted with prekey bundles (docs/API.md §3), per requesting device.
      await ctx.rateLimiter.takeShared([{ action: 'bundlesPerDevice', subject: `${me.user}\u0000${me.deviceId}` }]);
      if (!(await ctx.storage.accounts.get(user))) throw new ApiError(404, 'no_such_user', 'unknown user');
      const claimed = await ctx.storage.groups.claimKeyPackages(user, request.body.devices);
      return { keyPackages: claimed.map((k) => ({ deviceId: k.deviceId, keyPackage: encodeBase64url(k.keyPackage) })) };
    },
  );

  app.post<{ Body: Static<typeof IdParams> }>(
    '/v1/groups',
    {
      onRequest: auth,
      schema: {
        summary: 'Register a new group (epoch 0) whose only member is this device',
        tags: ['groups'],
        security: BEARER,
        querystring: EmptyQuery,
        body: schemaOf(shapes.GROUP_CREATE_REQUEST),
        response: { 201: GroupOut, ...errors(401, 409) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      const id = decodeField(request.body.id, 'id', { exact: GROUP_ID_BYTES });
      if ((await ctx.storage.groups.create(id, me, ctx.now())) === 'id_taken') throw conflict('group id taken');
      return reply.code(201).send({ id: request.body.id, epoch: 0, members: [{ user: me.user, deviceId: me.deviceId }] });
    },
  );

  app.get(
    '/v1/groups',
    {
      onRequest: auth,
      schema: {
        summary: 'Groups this device is a member of',
        tags: ['groups'],
        security: BEARER,
        querystring: EmptyQuery,
        response: { 200: schemaOf(shapes.GROUP_LIST), ...errors(401) },
      },
    },
    async (request) => ({ groups: (await ctx.storage.groups.listFor(deviceOf(request))).map(groupOut) }),
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/groups/:id',
    {
      onRequest: auth,
      schema: {
        summary: 'One group (epoch and member devices); 404 unless this device is a member',
        tags: ['groups'],
        security: BEARER,
        params: IdParams,
        querystring: EmptyQuery,
        response: { 200: GroupOut, ...errors(401, 404) },
      },
    },
    async (request) => {
      const g = await ctx.storage.groups.get(decodeField(request.params.id, 'id', { exact: GROUP_ID_BYTES }), deviceOf(request));
      if (!g) throw notFound(NO_GROUP);
      return groupOut(g);
    },
  );

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof CommitBody> }>(
    '/v1/groups/:id/commits',
    {
      onRequest: auth,
      schema: {
        summary: "Post a commit for the group's current epoch (409 stale_epoch otherwise), with the Welcome for added devices",
        tags: ['groups'],
        security: BEARER,
        params: IdParams,
        querystring: EmptyQuery,
        body: CommitBody,
        response: { 200: Written, ...errors(401, 404, 409) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      const id = decodeField(request.params.id, 'id', { exact: GROUP_ID_BYTES });
      const commit = decodeField(request.body.commit, 'commit', { min: 1, max: GROUP_LIMITS.maxHandshakeBytes });
      const frame = frameOf(commit, 'commit');
      if (frame.contentType !== CONTENT_TYPE.commit) throw badRequest('commit: not a Commit');
      if (!frame.groupId.every((b, i) => b === id[i])) throw badRequest('commit: for another group');
      if (frame.epoch > BigInt(Number.MAX_SAFE_INTEGER)) throw badRequest('commit: epoch out of range');
      const { members, added } = request.body;
      distinct(members, 'members');
      distinct(added, 'added');
      if (!members.some((d) => key(d) === key(me))) throw badRequest('members: the committer must stay a member (leave with a proposal)');
      if (deviceDiff(added, members).length > 0) throw badRequest('added: every added device must be a member');
      let welcome: Uint8Array | undefined;
      if (request.body.welcome !== undefined) {
        welcome = decodeField(request.body.welcome, 'welcome', { min: 1, max: GROUP_LIMITS.maxHandshakeBytes });
        try {
          checkWelcomeFrame(welcome);
        } catch {
          throw badRequest('welcome: not an MLS Welcome of cipher suite 0x0053');
        }
      }
      if ((welcome === undefined) !== (added.length === 0)) throw badRequest('welcome: required exactly when devices are added');
      const r = await ctx.storage.groups.commit({
        group: id,
        sender: me,
        epoch: Number(frame.epoch),
        commit,
        ...(welcome ? { welcome } : {}),
        members,
        added,
        now: ctx.now(),
      });
      return written(r, me);
    },
  );

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof MessageBody> }>(
    '/v1/groups/:id/messages',
    {
      onRequest: auth,
      schema: {
        summary: 'Post an application message or proposal for the current epoch: stored once, queued for every other member device',
        tags: ['groups'],
        security: BEARER,
        params: IdParams,
        querystring: EmptyQuery,
        body: MessageBody,
        response: { 200: Written, ...errors(401, 404, 409, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      ctx.rateLimiter.takeLocal([{ action: 'messagesPerDevice', subject: `${me.user}\u0000${me.deviceId}` }]);
      const id = decodeField(request.params.id, 'id', { exact: GROUP_ID_BYTES });
      const body = decodeField(request.body.message, 'message', { min: 1, max: ctx.limits.maxMessageBytes });
      const frame = frameOf(body, 'message');
      if (frame.contentType === CONTENT_TYPE.commit) throw badRequest('message: commits go to /commits');
      if (!frame.groupId.every((b, i) => b === id[i])) throw badRequest('message: for another group');
      if (frame.epoch > BigInt(Number.MAX_SAFE_INTEGER)) throw badRequest('message: epoch out of range');
      const leave = request.body.leave === true;
      if (leave && frame.contentType !== CONTENT_TYPE.proposal) throw badRequest('leave: must carry a Remove proposal');
      const kind = frame.contentType === CONTENT_TYPE.application ? 'application' : 'proposal';
      const r = await ctx.storage.groups.post({ group: id, sender: me, epoch: Number(frame.epoch), kind, body, now: ctx.now(), leave });
      if (r.status === 'stored') ctx.metrics.messagesStored.inc(1);
      return written(r, me);
    },
  );

  app.get<{ Querystring: Static<typeof InboxQuery> }>(
    '/v1/groups/inbox',
    {
      onRequest: auth,
      schema: {
        summary: "This device's queued group messages (commits, Welcomes, proposals, application messages), in relay order",
        tags: ['groups'],
        security: BEARER,
        querystring: InboxQuery,
        response: { 200: schemaOf(shapes.GROUP_INBOX), ...errors(401) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      const items = await ctx.storage.groups.inbox(me, request.query.after ?? 0, request.query.limit ?? GROUP_LIMITS.defaultInbox);
      return {
        messages: items.map((m) => ({
          seq: m.seq,
          group: encodeBase64url(m.group),
          kind: m.kind,
          epoch: m.epoch,
          message: encodeBase64url(m.body),
          sentAt: m.sentAt,
        })),
      };
    },
  );

  app.post<{ Body: { upTo: number } }>(
    '/v1/groups/inbox/ack',
    {
      onRequest: auth,
      preParsing: hashBody,
      schema: {
        summary: "Drop this device's group inbox references up to `upTo` (signed request, §2a)",
        tags: ['groups'],
        security: BEARER,
        querystring: EmptyQuery,
        body: schemaOf(shapes.INBOX_ACK_REQUEST),
        response: { 204: NoContent, ...errors(401, 429) },
      },
    },
    async (request, reply) => {
      const me = deviceOf(request);
      ctx.rateLimiter.take('acksPerDevice', `${me.user}\u0000${me.deviceId}`);
      await requireSignature(ctx, request);
      await ctx.storage.groups.ack(me, request.body.upTo);
      return reply.code(204).send();
    },
  );
}
