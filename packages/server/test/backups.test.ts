/**
 * docs/API.md §9, the relay's side of key backups: a device stores and replaces its user's backup;
 * without a device, only the proof of the secret releases it. Unknown users, users without a
 * backup and the wrong kind of backup answer exactly like a wrong secret (no enumeration); the
 * attempt counter locks the passphrase path after ten logins without success and only new access
 * from a device unlocks it; the restore budgets are shared rate limits.
 */
import { createHash } from 'node:crypto';
import * as opaque from '@serenity-kit/opaque';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKUP_MAX_ATTEMPTS } from '../src/routes/backups.js';
import { account, b64, p, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let alice: Awaited<ReturnType<typeof account>>;
let bob: Awaited<ReturnType<typeof account>>;
const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

beforeAll(async () => {
  await opaque.ready;
  t = await startTestServer();
  alice = await account(t.api, 'alice');
  bob = await account(t.api, 'bob');
});
afterAll(async () => {
  await t?.close();
});

const codeBackup = (secret: Uint8Array, blob = p.randomBytes(100)) => ({
  kind: 'code',
  wrappedKey: b64(p.randomBytes(65)),
  codeHash: b64(sha256(secret)),
  blob: b64(blob),
});

async function passphraseBackup(token: string, password: string) {
  const { clientRegistrationState, registrationRequest } = opaque.client.startRegistration({ password });
  const r = await t.api.req('POST', '/v1/backup/registration', { token, body: { registrationRequest } });
  expect(r.status).toBe(200);
  const { registrationRecord } = opaque.client.finishRegistration({
    clientRegistrationState,
    registrationResponse: r.body.registrationResponse,
    password,
    keyStretching: { 'argon2id-custom': { iterations: 1, memory: 64, parallelism: 1 } },
  });
  return { kind: 'passphrase', wrappedKey: b64(p.randomBytes(65)), registrationRecord, blob: b64(p.randomBytes(50)) };
}

function login(user: string, password: string) {
  const c = opaque.client.startLogin({ password });
  return { c, req: t.api.req('POST', `/v1/backups/${user}/login`, { body: { startLoginRequest: c.startLoginRequest } }) };
}

describe('backups (docs/API.md §9)', () => {
  it('a device stores, reads the status of, and replaces its backup (compare-and-set)', async () => {
    expect((await t.api.req('GET', '/v1/backup', { token: alice.token })).status).toBe(404);
    const secret = p.randomBytes(32);
    const put = await t.api.req('PUT', '/v1/backup', { token: alice.token, body: codeBackup(secret) });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ generation: 1 });
    const status = await t.api.req('GET', '/v1/backup', { token: alice.token });
    expect(status.body).toMatchObject({ kind: 'code', generation: 1, size: 100, failedAttempts: 0, maxAttempts: BACKUP_MAX_ATTEMPTS, locked: false });
    const blob = p.randomBytes(300);
    expect((await t.api.req('PUT', '/v1/backup/blob', { token: alice.token, body: { blob: b64(blob), expectedGeneration: 1 } })).body).toEqual({
      generation: 2,
    });
    const stale = await t.api.req('PUT', '/v1/backup/blob', { token: alice.token, body: { blob: b64(blob), expectedGeneration: 1 } });
    expect(stale.status).toBe(409);
    expect((await t.api.req('PUT', '/v1/backup/blob', { token: bob.token, body: { blob: 'AAAA', expectedGeneration: 1 } })).status).toBe(404);
    // The code's proof releases it, with the account's public keys.
    const got = await t.api.req('POST', '/v1/backups/alice/code', { body: { accessSecret: b64(secret) } });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ kind: 'code', blob: b64(blob), generation: 2, masterKey: b64(alice.u.master.publicKey) });
    // A code backup with a registration record (or without its hash) is malformed.
    const both = { ...codeBackup(secret), registrationRecord: b64(p.randomBytes(192)) };
    expect((await t.api.req('PUT', '/v1/backup', { token: alice.token, body: both })).status).toBe(400);
    const { codeHash: _h, ...noHash } = codeBackup(secret);
    expect((await t.api.req('PUT', '/v1/backup', { token: alice.token, body: noHash })).status).toBe(400);
    expect((await t.api.req('GET', '/v1/backup', { token: alice.token })).body.generation).toBe(2);
  });

  it('answers a wrong code, an unknown user and a passphrase backup alike (403)', async () => {
    const answers = await Promise.all([
      t.api.req('POST', '/v1/backups/alice/code', { body: { accessSecret: b64(p.randomBytes(32)) } }),
      t.api.req('POST', '/v1/backups/nobody/code', { body: { accessSecret: b64(p.randomBytes(32)) } }),
      t.api.req('POST', '/v1/backups/bob/code', { body: { accessSecret: b64(p.randomBytes(32)) } }),
    ]);
    for (const r of answers) {
      expect(r.status).toBe(403);
      expect(r.body).toEqual(answers[0]?.body);
    }
  });

  it('OPAQUE: a login releases the backup; no backup gives a fake login that fails like a wrong passphrase', async () => {
    const password = 'bob passphrase for the test';
    expect((await t.api.req('PUT', '/v1/backup', { token: bob.token, body: await passphraseBackup(bob.token, password) })).status).toBe(200);
    const ks = { 'argon2id-custom': { iterations: 1, memory: 64, parallelism: 1 } } as const;
    const { c, req } = login('bob', password);
    const start = await req;
    expect(start.status).toBe(200);
    const fin = opaque.client.finishLogin({ clientLoginState: c.clientLoginState, loginResponse: start.body.loginResponse, password, keyStretching: ks });
    expect(fin).toBeDefined();
    const body = { loginId: start.body.loginId, finishLoginRequest: fin?.finishLoginRequest };
    const done = await t.api.req('POST', '/v1/backups/bob/login/finish', { body });
    expect(done.status).toBe(200);
    expect(done.body.kind).toBe('passphrase');
    // A login id works once.
    expect((await t.api.req('POST', '/v1/backups/bob/login/finish', { body })).status).toBe(403);
    // Nobody: a response of the same shape, which no passphrase opens, and a finish refused.
    const fake = login('nobody', password);
    const fs = await fake.req;
    expect(fs.status).toBe(200);
    expect(Object.keys(fs.body).sort()).toEqual(['loginId', 'loginResponse']);
    expect(
      opaque.client.finishLogin({ clientLoginState: fake.c.clientLoginState, loginResponse: fs.body.loginResponse, password, keyStretching: ks }),
    ).toBeUndefined();
    expect(
      (await t.api.req('POST', '/v1/backups/nobody/login/finish', { body: { loginId: fs.body.loginId, finishLoginRequest: b64(p.randomBytes(64)) } })).status,
    ).toBe(403);
  });

  it('locks the passphrase path after ten logins without success; new access from a device unlocks it', async () => {
    const password = 'another passphrase for bob';
    await t.api.req('PUT', '/v1/backup', { token: bob.token, body: await passphraseBackup(bob.token, password) });
    for (let i = 0; i < BACKUP_MAX_ATTEMPTS; i++) expect((await login('bob', `wrong ${i}`).req).status).toBe(200);
    const locked = await login('bob', password).req;
    expect(locked.status).toBe(423);
    expect(locked.body.code).toBe('backup_locked');
    expect((await t.api.req('GET', '/v1/backup', { token: bob.token })).body).toMatchObject({ failedAttempts: 10, locked: true });
    await t.api.req('PUT', '/v1/backup', { token: bob.token, body: await passphraseBackup(bob.token, password) });
    expect((await login('bob', password).req).status).toBe(200);
  });

  it('counts restore attempts per user in a shared budget (429)', async () => {
    const limited = await startTestServer({ rateLimits: { backupRestorePerUser: { capacity: 3, refillPerSecond: 0 } } });
    try {
      await account(limited.api, 'carol');
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++)
        statuses.push((await limited.api.req('POST', '/v1/backups/carol/code', { body: { accessSecret: b64(p.randomBytes(32)) } })).status);
      expect(statuses).toEqual([403, 403, 403, 429, 429]);
      // Another user's budget is their own.
      expect((await limited.api.req('POST', '/v1/backups/dave/code', { body: { accessSecret: b64(p.randomBytes(32)) } })).status).toBe(403);
    } finally {
      await limited.close();
    }
  });
});
