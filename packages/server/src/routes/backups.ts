/**
 * docs/API.md §9: encrypted key backups (docs/RECOVERY.md). The relay stores one opaque blob per
 * user, and the backup key wrapped under the user's secret; it releases them only to a client
 * that proves the secret:
 *
 * - recovery code: the client sends an access secret derived from the code (HKDF; the code has
 *   ≥ 128 bits, so a hash is enough); the relay holds SHA-256 of it and compares in constant time;
 * - passphrase: an OPAQUE login (RFC 9807, `@serenity-kit/opaque`), so the relay never sees the
 *   passphrase or anything that can be tested against it without running the OPAQUE exchange.
 *   Every login started is counted in the database (shared by every relay of a cluster) and a
 *   success resets the count; after BACKUP_MAX_ATTEMPTS attempts without success the backup is
 *   locked (423 `backup_locked`) until a device of the user gives it new access.
 *
 * Unknown users, users without a backup and the wrong kind of backup get the same answers as a
 * wrong secret (403; for OPAQUE a fake login response), so the routes do not tell who has one.
 */
import { timingSafeEqual } from 'node:crypto';
import { bounds, shapes } from '@blindrelay/protocol/wire';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { authenticate, deviceOf, sha256 } from '../http/auth.js';
import { decodeField, encodeBase64url } from '../http/base64url.js';
import { clientKey } from '../http/client-address.js';
import { ApiError, conflict, forbidden, notFound } from '../http/errors.js';
import { BEARER, EmptyQuery, errors, Obj, schemaOf, User } from '../http/schemas.js';
import type { BackupAccess, BackupRecord } from '../storage/types.js';

/** OPAQUE logins started without success before the backup locks (docs/RECOVERY.md). */
export const BACKUP_MAX_ATTEMPTS = 10;
/** How long the server keeps an OPAQUE login between its two messages. */
export const BACKUP_LOGIN_TTL_MS = 60_000;
/** Largest encrypted backup blob (decoded bytes; the wire contract's bound). */
export const MAX_BACKUP_BYTES = bounds.MAX_BACKUP_BYTES;
/** The wrapped backup key (docs/PROTOCOL.md §18; the wire contract's bound). */
export const WRAPPED_KEY_BYTES = bounds.WRAPPED_KEY_BYTES;

/** OPAQUE messages of ristretto255 / 3DH / SHA-512 (RFC 9807 §4, `@serenity-kit/opaque`): exact sizes, canonical base64url. */
const OPAQUE_BYTES = bounds.OPAQUE_BYTES;
const opaqueField = (text: string, field: string, bytes: number): string => {
  decodeField(text, field, { exact: bytes });
  return text;
};
const UserParams = Obj({ user: User });
const RegistrationBody = schemaOf(shapes.OPAQUE_REGISTRATION_START);
const PutBody = schemaOf(shapes.BACKUP_PUT_REQUEST);
const BlobBody = schemaOf(shapes.BACKUP_BLOB_REQUEST);
const CodeBody = schemaOf(shapes.BACKUP_CODE_REQUEST);
const LoginBody = schemaOf(shapes.OPAQUE_LOGIN_START);
const FinishBody = schemaOf(shapes.OPAQUE_LOGIN_FINISH);
const Released = schemaOf(shapes.BACKUP_RELEASED);
const Status = schemaOf(shapes.BACKUP_STATUS);

type Opaque = typeof import('@serenity-kit/opaque');
let loadingOpaque: Promise<Opaque> | undefined;
/** OPAQUE's WebAssembly (~435 KB), loaded on the first backup request rather than at start-up. */
function loadOpaque(): Promise<Opaque> {
  loadingOpaque ??= import('@serenity-kit/opaque').then(async (m) => {
    await m.ready;
    return m;
  });
  return loadingOpaque;
}

const kindName = (r: BackupRecord) => (r.access.kind === 1 ? 'code' : 'passphrase');
const WRONG = 'no backup for this user, or the wrong secret';

export function registerBackupRoutes(app: FastifyInstance, ctx: AppContext): void {
  let setup: Promise<string> | undefined;
  /** The relay's OPAQUE server setup, shared through the database by every relay of a cluster. */
  const serverSetup = (): Promise<string> => {
    setup ??= loadOpaque()
      .then((opaque) => ctx.storage.backups.serverSetup(opaque.server.createSetup()))
      .catch((e) => {
        setup = undefined;
        throw e;
      });
    return setup;
  };
  const restoreCharge = async (request: { params: { user: string } }, address: string) =>
    ctx.rateLimiter.takeShared([
      { action: 'backupRestorePerIp', subject: address },
      { action: 'backupRestorePerUser', subject: request.params.user },
    ]);
  /** What a proven secret releases: the blob, the wrapped key, and the account's public keys. */
  const release = async (record: BackupRecord) => {
    const account = await ctx.storage.accounts.get(record.user);
    if (!account) throw forbidden(WRONG);
    return {
      kind: kindName(record),
      wrappedKey: encodeBase64url(record.access.wrappedKey),
      blob: encodeBase64url(record.blob),
      generation: record.generation,
      masterKey: encodeBase64url(account.masterKey),
      deviceList: encodeBase64url(account.deviceList),
    };
  };

  // ---- a device of the user: status, OPAQUE registration, upload ------------------------------

  app.get(
    '/v1/backup',
    {
      onRequest: authenticate(ctx),
      schema: {
        summary: "Our user's backup: kind, generation, size, failed passphrase attempts",
        tags: ['backup'],
        security: BEARER,
        querystring: EmptyQuery,
        response: { 200: Status, ...errors(401, 404) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      const r = await ctx.storage.backups.get(me.user);
      if (!r) throw notFound('no backup');
      return {
        kind: kindName(r),
        generation: r.generation,
        size: r.blob.length,
        updatedAt: r.updatedAt,
        failedAttempts: r.failedAttempts,
        maxAttempts: BACKUP_MAX_ATTEMPTS,
        locked: r.access.kind === 2 && r.failedAttempts >= BACKUP_MAX_ATTEMPTS,
      };
    },
  );

  app.post<{ Body: Static<typeof RegistrationBody> }>(
    '/v1/backup/registration',
    {
      onRequest: authenticate(ctx),
      schema: {
        summary: 'OPAQUE registration response for a new backup passphrase (RFC 9807 §5.2)',
        tags: ['backup'],
        security: BEARER,
        querystring: EmptyQuery,
        body: RegistrationBody,
        response: { 200: schemaOf(shapes.OPAQUE_REGISTRATION), ...errors(400, 401, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      await ctx.rateLimiter.takeShared([{ action: 'backupWritesPerDevice', subject: `${me.user}\u0000${me.deviceId}` }]);
      const serverSetupText = await serverSetup();
      const opaque = await loadOpaque();
      try {
        const { registrationResponse } = opaque.server.createRegistrationResponse({
          serverSetup: serverSetupText,
          userIdentifier: me.user,
          registrationRequest: opaqueField(request.body.registrationRequest, 'registrationRequest', OPAQUE_BYTES.registrationRequest),
        });
        return { registrationResponse };
      } catch {
        throw new ApiError(400, 'bad_request', 'registrationRequest: not an OPAQUE registration request');
      }
    },
  );

  app.put<{ Body: Static<typeof PutBody> }>(
    '/v1/backup',
    {
      onRequest: authenticate(ctx),
      schema: {
        summary: 'Store the backup with new access (recovery code hash or OPAQUE record); resets failed attempts',
        tags: ['backup'],
        security: BEARER,
        querystring: EmptyQuery,
        body: PutBody,
        response: { 200: schemaOf(shapes.BACKUP_STORED), ...errors(400, 401, 404, 409, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      await ctx.rateLimiter.takeShared([{ action: 'backupWritesPerDevice', subject: `${me.user}\u0000${me.deviceId}` }]);
      const b = request.body;
      const wrappedKey = decodeField(b.wrappedKey, 'wrappedKey', { exact: WRAPPED_KEY_BYTES });
      const blob = decodeField(b.blob, 'blob', { min: 1, max: MAX_BACKUP_BYTES });
      let access: BackupAccess;
      if (b.kind === 'code') {
        if (b.codeHash === undefined || b.registrationRecord !== undefined)
          throw new ApiError(400, 'bad_request', 'a code backup has codeHash and no registrationRecord');
        access = { kind: 1, wrappedKey, codeHash: decodeField(b.codeHash, 'codeHash', { exact: 32 }) };
      } else {
        if (b.registrationRecord === undefined || b.codeHash !== undefined) {
          throw new ApiError(400, 'bad_request', 'a passphrase backup has registrationRecord and no codeHash');
        }
        access = { kind: 2, wrappedKey, opaqueRecord: opaqueField(b.registrationRecord, 'registrationRecord', OPAQUE_BYTES.registrationRecord) };
      }
      const r = await ctx.storage.backups.put(me.user, access, blob, ctx.now(), b.expectedGeneration);
      if (r.status === 'not_found') throw notFound('unknown user');
      if (r.status === 'stale') throw conflict('the backup changed meanwhile (GET /v1/backup has its generation)');
      return { generation: r.generation };
    },
  );

  app.put<{ Body: Static<typeof BlobBody> }>(
    '/v1/backup/blob',
    {
      onRequest: authenticate(ctx),
      schema: {
        summary: 'Replace the encrypted backup under the same access (compare-and-set on the generation)',
        tags: ['backup'],
        security: BEARER,
        querystring: EmptyQuery,
        body: BlobBody,
        response: { 200: schemaOf(shapes.BACKUP_STORED), ...errors(400, 401, 404, 409, 429) },
      },
    },
    async (request) => {
      const me = deviceOf(request);
      await ctx.rateLimiter.takeShared([{ action: 'backupWritesPerDevice', subject: `${me.user}\u0000${me.deviceId}` }]);
      const blob = decodeField(request.body.blob, 'blob', { min: 1, max: MAX_BACKUP_BYTES });
      const r = await ctx.storage.backups.replaceBlob(me.user, blob, request.body.expectedGeneration, ctx.now());
      if (r.status === 'not_found') throw notFound('no backup');
      if (r.status === 'stale') throw conflict('the backup changed meanwhile (GET /v1/backup has its generation)');
      return { generation: r.generation };
    },
  );

  // ---- restore: no device, the secret is the authentication -----------------------------------

  app.post<{ Params: Static<typeof UserParams>; Body: Static<typeof CodeBody> }>(
    '/v1/backups/:user/code',
    {
      schema: {
        summary: 'Fetch the backup with the access secret derived from the recovery code',
        tags: ['backup'],
        params: UserParams,
        querystring: EmptyQuery,
        body: CodeBody,
        response: { 200: Released, ...errors(400, 403, 429) },
      },
    },
    async (request) => {
      await restoreCharge(request, clientKey(request));
      const proof = sha256(decodeField(request.body.accessSecret, 'accessSecret', { exact: 32 }));
      const r = await ctx.storage.backups.get(request.params.user);
      // Compare even when there is nothing to compare with (same work either way).
      const held = r?.access.kind === 1 ? r.access.codeHash : new Uint8Array(32);
      const match = timingSafeEqual(proof, held);
      if (!r || r.access.kind !== 1 || !match) throw forbidden(WRONG);
      return release(r);
    },
  );

  app.post<{ Params: Static<typeof UserParams>; Body: Static<typeof LoginBody> }>(
    '/v1/backups/:user/login',
    {
      schema: {
        summary: 'Start an OPAQUE login for the passphrase backup (counted: locked after 10 without success)',
        tags: ['backup'],
        params: UserParams,
        querystring: EmptyQuery,
        body: LoginBody,
        response: { 200: schemaOf(shapes.OPAQUE_LOGIN), ...errors(400, 423, 429) },
      },
    },
    async (request) => {
      await restoreCharge(request, clientKey(request));
      const { user } = request.params;
      const serverSetupText = await serverSetup();
      const opaque = await loadOpaque();
      const r = await ctx.storage.backups.get(user);
      const record = r?.access.kind === 2 ? r.access.opaqueRecord : null;
      let started: { serverLoginState: string; loginResponse: string };
      try {
        // A null record gives a fake response (RFC 9807 §10.9): no backup looks like a wrong passphrase.
        started = opaque.server.startLogin({
          serverSetup: serverSetupText,
          userIdentifier: user,
          registrationRecord: record,
          startLoginRequest: opaqueField(request.body.startLoginRequest, 'startLoginRequest', OPAQUE_BYTES.ke1),
        });
      } catch {
        throw new ApiError(400, 'bad_request', 'startLoginRequest: not an OPAQUE KE1 message');
      }
      const loginId = ctx.primitives.randomBytes(32);
      if (record !== null) {
        const now = ctx.now();
        const s = await ctx.storage.backups.startLogin(user, sha256(loginId), started.serverLoginState, now + BACKUP_LOGIN_TTL_MS, BACKUP_MAX_ATTEMPTS, now);
        if (s.status === 'locked') {
          throw new ApiError(
            423,
            'backup_locked',
            `this backup is locked after ${BACKUP_MAX_ATTEMPTS} passphrase attempts without success; a device of the user must give it new access (backup create)`,
          );
        }
      }
      return { loginId: encodeBase64url(loginId), loginResponse: started.loginResponse };
    },
  );

  app.post<{ Params: Static<typeof UserParams>; Body: Static<typeof FinishBody> }>(
    '/v1/backups/:user/login/finish',
    {
      schema: {
        summary: 'Finish the OPAQUE login and fetch the backup',
        tags: ['backup'],
        params: UserParams,
        querystring: EmptyQuery,
        body: FinishBody,
        response: { 200: Released, ...errors(400, 403, 429) },
      },
    },
    async (request) => {
      const { user } = request.params;
      const loginHash = sha256(decodeField(request.body.loginId, 'loginId', { exact: 32 }));
      const finishLoginRequest = opaqueField(request.body.finishLoginRequest, 'finishLoginRequest', OPAQUE_BYTES.ke3);
      const state = await ctx.storage.backups.takeLogin(user, loginHash, ctx.now());
      if (state === undefined) throw forbidden(WRONG);
      const opaque = await loadOpaque();
      try {
        opaque.server.finishLogin({ serverLoginState: state, finishLoginRequest });
      } catch {
        throw forbidden(WRONG);
      }
      await ctx.storage.backups.loginSucceeded(user);
      const r = await ctx.storage.backups.get(user);
      if (!r || r.access.kind !== 2) throw forbidden(WRONG);
      return release(r);
    },
  );
}
