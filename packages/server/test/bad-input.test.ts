/**
 * Malformed and hostile input against every endpoint (DESIGN.md convention 5). Each case must get
 * a 4xx `{code, message}` whose message does not echo what was sent; never a 5xx; and the server
 * must keep serving afterwards.
 */
import * as P from '@blindrelay/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ageHeader, createFile, putPayload } from './file-helpers.js';
import {
  account,
  b64,
  entryOf,
  login,
  newDevice,
  newUser,
  nextList,
  p,
  prekeyJson,
  type RequestOptions,
  type Response,
  registrationBody,
  sendMessage,
  startTestServer,
  type TestDevice,
  type TestServer,
  type TestUser,
} from './helpers.js';

const CANARY = 'CANARYx7q';
const ERROR_CODES = new Set([
  'signature_required',
  'bad_signature',
  'stale_signature',
  'replayed_signature',
  'send_mark_stale',
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'no_such_user',
  'conflict',
  'mismatched_devices',
  'payload_too_large',
  'unsupported_media_type',
  'upgrade_required',
  'rate_limited',
  'queue_full',
  'quota_exceeded',
  'offset_mismatch',
  'version_changed',
  'range_not_satisfiable',
]);

interface Case {
  name: string;
  method: string;
  path: string;
  opts?: RequestOptions;
  status?: number | number[];
  code?: string;
}

let t: TestServer;
let alice: { u: TestUser; d: TestDevice; token: string };
let bob: { u: TestUser; d: TestDevice; token: string };
let revokedToken: string;
let channelId: string;
let fileId: string;
let fileHeader: string;
let collectionId: string;
const recordId = b64(new Uint8Array(16).fill(7));

beforeAll(async () => {
  // Below 2^32 so an "above u32" payloadSize is refused (413) rather than accepted.
  t = await startTestServer({ maxFileSize: 1024 ** 3 });
  alice = await account(t.api, 'alice');
  bob = await account(t.api, 'bob');
  // A second device of Bob's, logged in, then revoked.
  const d2 = await newDevice();
  const v2 = await nextList(bob.u, [bob.d, d2]);
  await t.api.req('PUT', '/v1/users/bob/device-list', { body: { deviceList: b64(v2), newDevice: { deviceId: d2.keys.deviceId, prekeys: prekeyJson(d2) } } });
  revokedToken = await login(t.api, bob.u, d2);
  const v3 = await nextList(bob.u, [bob.d]);
  expect((await t.api.req('PUT', '/v1/users/bob/device-list', { body: { deviceList: b64(v3) } })).status).toBe(204);
  channelId = (await t.api.req('POST', '/v1/provisioning')).body.channelId;
  fileHeader = b64(await ageHeader(alice.d.keys.identity.publicKey));
  fileId = (await createFile(t.api, alice.token, { size: 100, readers: ['bob'] })).body.id;
  expect((await putPayload(t.api, alice.token, fileId, 1, 0, new Uint8Array(100))).status).toBe(200);
  collectionId = b64(p.randomBytes(16));
  expect((await t.api.req('POST', '/v1/collections', { token: alice.token, body: { id: collectionId, meta: 'AAAA' } })).status).toBe(201);
  const record = { epoch: 0, body: 'AAAA', postings: [[0, 1]] };
  expect((await t.api.req('PUT', `/v1/collections/${collectionId}/records/${recordId}`, { token: alice.token, body: record })).status).toBe(200);
});

afterAll(async () => {
  await t.close();
});

/** A valid body per route, and which of its top-level fields are required. */
async function routes() {
  const carol = await newUser('carol');
  const spkOnly = prekeyJson(alice.d, { opks: false, pqs: false });
  return [
    { method: 'POST', path: '/v1/accounts', auth: false, body: registrationBody(carol), required: ['user', 'masterKey', 'deviceList'] },
    { method: 'POST', path: '/v1/auth/challenge', auth: false, body: { user: 'alice', deviceId: alice.d.keys.deviceId }, required: ['user', 'deviceId'] },
    {
      method: 'POST',
      path: '/v1/auth/token',
      auth: false,
      body: { user: 'alice', deviceId: alice.d.keys.deviceId, challenge: b64(new Uint8Array(32)), signature: b64(new Uint8Array(64)) },
      required: ['user', 'deviceId', 'challenge', 'signature'],
    },
    { method: 'PUT', path: '/v1/users/alice/device-list', auth: false, body: { deviceList: b64(alice.u.list) }, required: ['deviceList'] },
    { method: 'POST', path: '/v1/prekeys', auth: true, body: spkOnly, required: [] },
    { method: 'POST', path: '/v1/users/bob/bundles', auth: true, body: { deviceIds: [bob.d.keys.deviceId] }, required: [] },
    {
      method: 'POST',
      path: '/v1/messages',
      auth: true,
      body: { to: 'bob', messages: [{ deviceId: bob.d.keys.deviceId, body: 'AAAA' }] },
      required: ['to', 'messages'],
    },
    { method: 'POST', path: '/v1/messages/ack', auth: true, body: { ids: [b64(new Uint8Array(16))] }, required: ['ids'] },
    {
      method: 'POST',
      path: '/v1/sealed/messages',
      auth: false,
      body: { to: 'bob', messages: [{ deviceId: bob.d.keys.deviceId, token: b64(new Uint8Array(32)), body: b64(new Uint8Array(80).fill(1)) }] },
      required: ['to', 'messages'],
    },
    {
      method: 'POST',
      path: '/v1/sealed/directory',
      auth: false,
      body: { user: 'bob', deviceId: bob.d.keys.deviceId, token: b64(new Uint8Array(32)) },
      required: ['user', 'deviceId', 'token'],
    },
    { method: 'PUT', path: '/v1/sealed/token', auth: true, body: { verifier: b64(new Uint8Array(32)), mode: 'rotate' }, required: ['verifier', 'mode'] },
    {
      method: 'POST',
      path: '/v1/accounts/deletion',
      auth: true,
      body: { timestamp: Date.now(), nonce: b64(new Uint8Array(16)), listDigest: b64(new Uint8Array(32)), signature: b64(new Uint8Array(64)) },
      required: ['timestamp', 'nonce', 'listDigest', 'signature'],
    },
    { method: 'POST', path: '/v1/provisioning', auth: false, body: {}, required: [] },
    { method: 'PUT', path: `/v1/provisioning/${channelId}`, auth: true, body: { envelope: 'AAAA' }, required: ['envelope'] },
    {
      method: 'POST',
      path: '/v1/files',
      auth: true,
      body: { header: fileHeader, meta: 'AAAA', payloadSize: 100, readers: ['bob'] },
      required: ['header', 'meta', 'payloadSize', 'readers'],
    },
    {
      method: 'PUT',
      path: `/v1/files/${fileId}/header`,
      auth: true,
      body: { expectedRevision: 1, header: fileHeader, meta: 'AAAA', readers: ['bob'] },
      required: ['expectedRevision', 'header'],
    },
    {
      method: 'POST',
      path: `/v1/files/${fileId}/versions`,
      auth: true,
      body: { expectedRevision: 1, header: fileHeader, meta: 'AAAA', payloadSize: 100, readers: ['bob'] },
      required: ['expectedRevision', 'header', 'meta', 'payloadSize', 'readers'],
    },
    // docs/API.md §9: key backups.
    { method: 'POST', path: '/v1/backup/registration', auth: true, body: { registrationRequest: b64(p.randomBytes(32)) }, required: ['registrationRequest'] },
    {
      method: 'PUT',
      path: '/v1/backup',
      auth: true,
      body: { kind: 'code', wrappedKey: b64(p.randomBytes(65)), codeHash: b64(p.randomBytes(32)), blob: 'AAAA' },
      required: ['kind', 'wrappedKey', 'blob'],
    },
    { method: 'PUT', path: '/v1/backup/blob', auth: true, body: { blob: 'AAAA', expectedGeneration: 1 }, required: ['blob', 'expectedGeneration'] },
    { method: 'POST', path: '/v1/backups/alice/code', auth: false, body: { accessSecret: b64(p.randomBytes(32)) }, required: ['accessSecret'] },
    { method: 'POST', path: '/v1/backups/alice/login', auth: false, body: { startLoginRequest: b64(p.randomBytes(96)) }, required: ['startLoginRequest'] },
    {
      method: 'POST',
      path: '/v1/backups/alice/login/finish',
      auth: false,
      body: { loginId: b64(p.randomBytes(32)), finishLoginRequest: b64(p.randomBytes(64)) },
      required: ['loginId', 'finishLoginRequest'],
    },
    // Records (docs/API.md §10). The query route is not here: a token is any integer below 2^48, so
    // the table's "above u32" mutation is a valid query (its bad input is in records.test.ts).
    {
      method: 'POST',
      path: '/v1/collections',
      auth: true,
      body: { id: b64(p.randomBytes(16)), epoch: 0, meta: 'AAAA', members: ['bob'] },
      required: ['id', 'meta'],
    },
    {
      method: 'PUT',
      path: `/v1/collections/${collectionId}`,
      auth: true,
      body: { expectedRevision: 1, epoch: 0, meta: 'AAAA' },
      required: ['expectedRevision', 'epoch', 'meta'],
    },
    {
      method: 'POST',
      path: `/v1/collections/${collectionId}/members`,
      auth: true,
      body: { expectedRevision: 1, user: 'bob', add: true },
      required: ['expectedRevision', 'user', 'add'],
    },
    {
      method: 'PUT',
      path: `/v1/collections/${collectionId}/records/${recordId}`,
      auth: true,
      body: { epoch: 0, body: 'AAAA', postings: [] },
      required: ['epoch', 'body', 'postings'],
    },
  ];
}

const GET_ROUTES = [
  { path: '/v1/users/bob', auth: true },
  { path: '/v1/prekeys/status', auth: true },
  { path: '/v1/messages', auth: true },
  { path: '/v1/ws', auth: true },
  { path: '/v1/sealed/ws', auth: false },
  { path: () => `/v1/provisioning/${channelId}`, auth: false },
  { path: '/v1/files', auth: true },
  { path: () => `/v1/files/${fileId}`, auth: true },
  { path: () => `/v1/files/${fileId}/versions/1/payload`, auth: true },
  { path: '/v1/backup', auth: true },
  { path: '/healthz', auth: false },
  { path: '/openapi.json', auth: false },
  { path: '/v1/collections', auth: true },
  { path: () => `/v1/collections/${collectionId}`, auth: true },
  { path: () => `/v1/collections/${collectionId}/records`, auth: true },
  { path: () => `/v1/collections/${collectionId}/records/${recordId}`, auth: true },
];

/** Every leaf of a JSON value with its path. */
function leaves(value: unknown, path: (string | number)[] = []): { path: (string | number)[]; value: unknown }[] {
  if (Array.isArray(value)) return value.length ? value.flatMap((v, i) => leaves(v, [...path, i])) : [{ path, value }];
  if (value && typeof value === 'object') {
    const entries = Object.entries(value);
    return entries.length ? entries.flatMap(([k, v]) => leaves(v, [...path, k])) : [{ path, value }];
  }
  return [{ path, value }];
}

function withLeaf(body: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(body) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path[path.length - 1] as string | number] = value;
  return copy;
}

function mutations(body: Record<string, unknown>, required: string[]): { name: string; body: unknown }[] {
  const out: { name: string; body: unknown }[] = [];
  out.push({ name: 'extra top-level field', body: { ...body, [`${CANARY}key`]: 1 } });
  for (const key of required) {
    const { [key]: _gone, ...rest } = body;
    out.push({ name: `missing ${key}`, body: rest });
  }
  for (const leaf of leaves(body)) {
    const where = leaf.path.join('.');
    if (leaf.path.length === 0) continue;
    if (typeof leaf.value === 'string') {
      out.push({ name: `${where}: number instead of string`, body: withLeaf(body, leaf.path, 12345) });
      // Longer than the field's maximum (the big fields, ciphertext and envelopes, allow 1.75 M characters).
      const big = where.endsWith('body') || where === 'envelope' || where === 'blob' ? 1_800_000 : 100_000;
      out.push({ name: `${where}: oversized`, body: withLeaf(body, leaf.path, 'A'.repeat(big)) });
      out.push({ name: `${where}: forbidden characters`, body: withLeaf(body, leaf.path, `${CANARY}*+/=`.padEnd((leaf.value as string).length, '=')) });
      out.push({ name: `${where}: null`, body: withLeaf(body, leaf.path, null) });
      const s = leaf.value as string;
      if (where !== 'to' && where !== 'user' && s.length % 4 > 1) {
        out.push({ name: `${where}: non-canonical base64url`, body: withLeaf(body, leaf.path, `${s.slice(0, -1)}B`) });
      }
      if (where !== 'to' && where !== 'user') out.push({ name: `${where}: padded base64`, body: withLeaf(body, leaf.path, `${s}==`) });
    } else if (typeof leaf.value === 'number') {
      out.push({ name: `${where}: string instead of number`, body: withLeaf(body, leaf.path, CANARY) });
      out.push({ name: `${where}: numeric string`, body: withLeaf(body, leaf.path, String(leaf.value)) });
      out.push({ name: `${where}: negative`, body: withLeaf(body, leaf.path, -1) });
      out.push({ name: `${where}: above u32`, body: withLeaf(body, leaf.path, 2 ** 32) });
      out.push({ name: `${where}: fraction`, body: withLeaf(body, leaf.path, 1.5) });
    }
  }
  for (const [key, value] of Object.entries(body)) {
    if (Array.isArray(value)) {
      out.push({ name: `${key}: object instead of array`, body: { ...body, [key]: { [CANARY]: 1 } } });
      out.push({ name: `${key}: too many items`, body: { ...body, [key]: Array.from({ length: 1001 }, () => value[0]) } });
    } else if (value && typeof value === 'object') {
      out.push({ name: `${key}: extra nested field`, body: { ...body, [key]: { ...value, [`${CANARY}nested`]: 1 } } });
      out.push({ name: `${key}: array instead of object`, body: { ...body, [key]: [CANARY] } });
    }
  }
  return out;
}

function expectError(c: Case, r: Response) {
  const ctx = `${c.method} ${c.path} — ${c.name}: ${r.status} ${r.text.slice(0, 300)}`;
  const allowed = c.status === undefined ? undefined : Array.isArray(c.status) ? c.status : [c.status];
  expect(r.status, ctx).toBeGreaterThanOrEqual(400);
  expect(r.status, ctx).toBeLessThan(500);
  if (allowed) expect(allowed, ctx).toContain(r.status);
  expect(r.body, ctx).toBeTypeOf('object');
  expect(ERROR_CODES.has(r.body.code), ctx).toBe(true);
  if (c.code) expect(r.body.code, ctx).toBe(c.code);
  expect(typeof r.body.message, ctx).toBe('string');
  for (const k of Object.keys(r.body))
    expect(
      ['code', 'message', 'missing', 'stale', 'devices', 'quotaBytes', 'usedBytes', 'received', 'serverTime', 'mark', 'signature', 'epoch', 'revision'],
      ctx,
    ).toContain(k);
  expect(r.text, ctx).not.toContain(CANARY);
  expect(r.text, ctx).not.toContain('AAAAAAAAAAAAAAAAAAAA'); // no echo of oversized fields
}

async function run(cases: Case[]) {
  // Sequential per batch of 8: fast enough, and each answer is attributed to its case.
  for (let i = 0; i < cases.length; i += 8) {
    const batch = cases.slice(i, i + 8);
    const results = await Promise.all(batch.map((c) => t.api.req(c.method, c.path, c.opts)));
    for (const [j, c] of batch.entries()) expectError(c, results[j] as Response);
  }
}

describe('bad input against every endpoint', () => {
  it('rejects malformed bodies, wrong types, missing and extra fields, bad base64 (table-driven)', async () => {
    const cases: Case[] = [];
    for (const r of await routes()) {
      const token = r.auth ? alice.token : undefined;
      // Routes that destroy data take a request signature (docs/API.md §2a): sign, so the body's own checks answer.
      const signed =
        r.method !== 'GET' &&
        (/^\/v1\/(messages\/ack|accounts\/deletion|sealed\/token|files\/[^/]+\/(header|versions))$/.test(r.path) ||
          /^\/v1\/collections\/[^/]+(\/members)?$/.test(r.path));
      const base = { ...(token ? { token } : {}), ...(signed ? { sign: { user: alice.u } } : {}) };
      const add = (name: string, opts: RequestOptions, status?: number | number[], code?: string) =>
        cases.push({ name, method: r.method, path: r.path, opts: { ...base, ...opts }, ...(status ? { status } : {}), ...(code ? { code } : {}) });
      add('malformed JSON', { raw: `{"user": "${CANARY}", ` }, 400, 'bad_request');
      add('JSON array', { raw: '[]' }, 400);
      add('JSON string', { raw: `"${CANARY}"` }, 400);
      add('JSON number', { raw: '42' }, 400);
      add('prototype pollution', { raw: '{"__proto__": {"admin": true}}' }, 400);
      add('constructor pollution', { raw: '{"constructor": {"prototype": {"admin": true}}}' }, 400);
      add('text/plain', { raw: CANARY, headers: { 'content-type': 'text/plain' } }, 415, 'unsupported_media_type');
      add('form-encoded', { raw: `a=${CANARY}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415);
      add('body over 4 MiB', { raw: `{"x":"${'a'.repeat(4 * 1024 * 1024 + 10)}"}` }, 413, 'payload_too_large');
      cases.push({ name: 'unknown query parameter', method: r.method, path: `${r.path}?${CANARY}=1`, opts: { ...base, body: r.body }, status: 400 });
      cases.push({ name: 'token in the query string', method: r.method, path: `${r.path}?token=${alice.token}`, opts: { ...base, body: r.body }, status: 400 });
      for (const m of mutations(r.body as Record<string, unknown>, r.required)) add(m.name, { body: m.body });
      if (r.auth) {
        const unauth = (name: string, headers: Record<string, string>) =>
          cases.push({ name, method: r.method, path: r.path, opts: { body: r.body, headers }, status: 401, code: 'unauthorized' });
        unauth('no token', {});
        unauth('empty bearer', { authorization: 'Bearer ' });
        unauth('basic auth', { authorization: `Basic ${Buffer.from(`alice:${CANARY}`).toString('base64')}` });
        unauth('short token', { authorization: 'Bearer AAAA' });
        unauth('unknown token', { authorization: `Bearer ${b64(p.randomBytes(32))}` });
        unauth('token with padding', { authorization: `Bearer ${alice.token}=` });
        unauth('revoked device token', { authorization: `Bearer ${revokedToken}` });
      }
    }
    for (const g of GET_ROUTES) {
      const path = typeof g.path === 'function' ? g.path() : g.path;
      const opts = g.auth ? { token: alice.token } : {};
      cases.push({ name: 'unknown query parameter', method: 'GET', path: `${path}?${CANARY}=1`, opts, status: g.auth && path === '/v1/ws' ? [400, 426] : 400 });
      if (g.auth) {
        cases.push({ name: 'no token', method: 'GET', path, status: 401 });
        cases.push({ name: 'revoked token', method: 'GET', path, opts: { token: revokedToken }, status: 401 });
        cases.push({ name: 'token in the query string', method: 'GET', path: `${path}?token=${alice.token}`, status: 401 });
      }
    }
    console.log(`bad-input: ${cases.length} cases`);
    expect(cases.length).toBeGreaterThan(300);
    await run(cases);
    expect((await t.api.req('GET', '/healthz')).status).toBe(200);
  });

  it('rejects bad query values, path parameters and unknown routes', async () => {
    const tok = { token: alice.token };
    await run(
      [
        { name: 'limit 0', method: 'GET', path: '/v1/messages?limit=0', opts: tok, status: 400 },
        { name: 'limit 501', method: 'GET', path: '/v1/messages?limit=501', opts: tok, status: 400 },
        { name: 'limit text', method: 'GET', path: `/v1/messages?limit=${CANARY}`, opts: tok, status: 400 },
        { name: 'limit fraction', method: 'GET', path: '/v1/messages?limit=1.5', opts: tok, status: 400 },
        { name: 'limit twice', method: 'GET', path: '/v1/messages?limit=1&limit=2', opts: tok, status: 400 },
        { name: 'wait 31', method: 'GET', path: `/v1/provisioning/${channelId}?wait=31`, status: 400 },
        { name: 'wait negative', method: 'GET', path: `/v1/provisioning/${channelId}?wait=-1`, status: 400 },
        { name: 'user upper case', method: 'GET', path: `/v1/users/${CANARY}`, opts: tok, status: 400 },
        { name: 'user too long', method: 'GET', path: `/v1/users/${'a'.repeat(65)}`, opts: tok, status: 400 },
        { name: 'user way too long', method: 'GET', path: `/v1/users/${'a'.repeat(300)}`, opts: tok, status: [400, 404, 414] },
        { name: 'user percent-encoded slash', method: 'GET', path: '/v1/users/a%2Fb', opts: tok, status: 400 },
        { name: 'bad percent-encoding', method: 'GET', path: '/v1/users/%E0%A4%A', opts: tok, status: 400 },
        { name: 'unknown user', method: 'GET', path: '/v1/users/nobody', opts: tok, status: 404 },
        { name: 'bundles of unknown user', method: 'POST', path: '/v1/users/nobody/bundles', opts: { ...tok, body: {} }, status: 404 },
        { name: 'bundles duplicate ids', method: 'POST', path: '/v1/users/bob/bundles', opts: { ...tok, body: { deviceIds: [1, 1] } }, status: 400 },
        {
          name: 'device list of unknown user',
          method: 'PUT',
          path: '/v1/users/nobody/device-list',
          opts: { body: { deviceList: b64(alice.u.list) } },
          status: 404,
        },
        { name: 'channel id too short', method: 'GET', path: '/v1/provisioning/AAAA', status: 400 },
        { name: 'channel id non-canonical', method: 'GET', path: `/v1/provisioning/${'A'.repeat(21)}B`, status: 400 },
        { name: 'unknown channel', method: 'GET', path: `/v1/provisioning/${b64(p.randomBytes(16))}`, status: 404 },
        { name: 'unknown route', method: 'GET', path: `/v1/${CANARY}`, status: 404, code: 'not_found' },
        { name: 'wrong method', method: 'DELETE', path: '/v1/messages', opts: tok, status: 404 },
        { name: 'trailing slash', method: 'GET', path: '/healthz/', status: 404 },
        { name: 'files limit 0', method: 'GET', path: '/v1/files?limit=0', opts: tok, status: 400 },
        { name: 'files limit 501', method: 'GET', path: '/v1/files?limit=501', opts: tok, status: 400 },
        { name: 'files after too short', method: 'GET', path: '/v1/files?after=AAAA', opts: tok, status: 400 },
        { name: 'files after non-canonical', method: 'GET', path: `/v1/files?after=${'A'.repeat(21)}B`, opts: tok, status: 400 },
        { name: 'file id too short', method: 'GET', path: '/v1/files/AAAA', opts: tok, status: 400 },
        { name: 'file id with canary', method: 'GET', path: `/v1/files/${CANARY}`, opts: tok, status: 400 },
        { name: 'unknown file', method: 'GET', path: `/v1/files/${b64(p.randomBytes(16))}`, opts: tok, status: 404 },
        { name: 'file of another user', method: 'GET', path: `/v1/files/${fileId}`, opts: { token: revokedToken }, status: 401 },
        { name: 'delete unknown file', method: 'DELETE', path: `/v1/files/${b64(p.randomBytes(16))}`, opts: { ...tok, sign: { user: alice.u } }, status: 404 },
        { name: 'delete without a signature', method: 'DELETE', path: `/v1/files/${fileId}`, opts: tok, status: 401, code: 'signature_required' },
        { name: 'download version 0', method: 'GET', path: `/v1/files/${fileId}/versions/0/payload`, opts: tok, status: 400 },
        { name: 'download version text', method: 'GET', path: `/v1/files/${fileId}/versions/${CANARY}/payload`, opts: tok, status: 400 },
        { name: 'download another version', method: 'GET', path: `/v1/files/${fileId}/versions/2/payload`, opts: tok, status: 409, code: 'version_changed' },
        {
          name: 'download range past the end',
          method: 'GET',
          path: `/v1/files/${fileId}/versions/1/payload`,
          opts: { ...tok, headers: { range: 'bytes=100-' } },
          status: 416,
        },
        { name: 'upload JSON body', method: 'PUT', path: `/v1/files/${fileId}/versions/1/payload?offset=0`, opts: { ...tok, body: {} }, status: 415 },
        {
          name: 'upload without offset',
          method: 'PUT',
          path: `/v1/files/${fileId}/versions/1/payload`,
          opts: { ...tok, raw: 'x', headers: { 'content-type': 'application/octet-stream' } },
          status: 400,
        },
        {
          name: 'upload negative offset',
          method: 'PUT',
          path: `/v1/files/${fileId}/versions/1/payload?offset=-1`,
          opts: { ...tok, raw: 'x', headers: { 'content-type': 'application/octet-stream' } },
          status: 400,
        },
        {
          name: 'upload offset text',
          method: 'PUT',
          path: `/v1/files/${fileId}/versions/1/payload?offset=${CANARY}`,
          opts: { ...tok, raw: 'x', headers: { 'content-type': 'application/octet-stream' } },
          status: 400,
        },
        {
          name: 'upload to a complete version',
          method: 'PUT',
          path: `/v1/files/${fileId}/versions/1/payload?offset=100`,
          opts: { ...tok, raw: 'x', headers: { 'content-type': 'application/octet-stream' } },
          status: 409,
        },
        {
          name: 'upload by a reader',
          method: 'PUT',
          path: `/v1/files/${fileId}/versions/1/payload?offset=100`,
          opts: { token: bob.token, raw: 'x', headers: { 'content-type': 'application/octet-stream' } },
          status: 404,
        },
        {
          name: 'upload with no body',
          method: 'PUT',
          path: `/v1/files/${fileId}/versions/1/payload?offset=100`,
          opts: { ...tok, headers: { 'content-type': 'application/octet-stream' } },
          status: 400,
        },
        {
          name: 'upload unknown query',
          method: 'PUT',
          path: `/v1/files/${fileId}/versions/1/payload?offset=0&${CANARY}=1`,
          opts: { ...tok, raw: 'x', headers: { 'content-type': 'application/octet-stream' } },
          status: 400,
        },
        {
          name: 'header by a reader',
          method: 'PUT',
          path: `/v1/files/${fileId}/header`,
          opts: { token: bob.token, sign: { user: bob.u }, body: { expectedRevision: 1, header: fileHeader } },
          status: 404,
        },
        {
          name: 'header stale revision',
          method: 'PUT',
          path: `/v1/files/${fileId}/header`,
          opts: { ...tok, sign: { user: alice.u }, body: { expectedRevision: 9, header: fileHeader } },
          status: 409,
        },
        {
          name: 'header not age',
          method: 'PUT',
          path: `/v1/files/${fileId}/header`,
          opts: { ...tok, sign: { user: alice.u }, body: { expectedRevision: 1, header: b64(new TextEncoder().encode(CANARY)) } },
          status: 400,
        },
        { name: 'delete by a reader', method: 'DELETE', path: `/v1/files/${fileId}`, opts: { token: bob.token, sign: { user: bob.u } }, status: 403 },
      ].map((c) => ({ ...c, status: c.status as number | number[] }) as Case),
    );
    expect((await t.api.req('GET', '/healthz')).status).toBe(200);
  });

  it('rejects bad or replayed signatures, other users and semantic violations', async () => {
    const carol = await newUser('carol');
    const other = await newUser('other');
    const challenge = async (u = 'alice', deviceId = alice.d.keys.deviceId) =>
      (await t.api.req('POST', '/v1/auth/challenge', { body: { user: u, deviceId } })).body.challenge as string;
    const signFor = async (c: string) =>
      b64(await P.signAuthChallenge(p, alice.d.keys.signing.seed, Buffer.from(c, 'base64url'), 'alice', alice.d.keys.deviceId));
    const c1 = await challenge();
    const s1 = await signFor(c1);
    expect((await t.api.req('POST', '/v1/auth/token', { body: { user: 'alice', deviceId: alice.d.keys.deviceId, challenge: c1, signature: s1 } })).status).toBe(
      200,
    );
    const c2 = await challenge();
    const badSpk = prekeyJson(alice.d, { opks: false, pqs: false, lastResort: false });
    badSpk.signedPreKey!.signature = b64(new Uint8Array(64).fill(1));
    const foreignSpk = await P.generateSignedPreKey(p, 'bob', bob.d.keys, 9);
    const zeroKey = b64(new Uint8Array(32));
    const badPq = prekeyJson(alice.d, { spk: false, opks: false, lastResort: false });
    badPq.pqPreKeys![0]!.id += 1; // signature was over another id
    const lrAsOneTime = prekeyJson(alice.d, { spk: false, opks: false, pqs: false });
    const lr = lrAsOneTime.lastResortPqPreKey!;
    const tooManyOpks = await P.generateOneTimePreKeys(p, 10_000, 200);
    const carolListForBob = await P.signDeviceList(p, 'bob', carol.master, { version: 2, issuedAt: Date.now() }, []);
    const aliceNext = await P.signDeviceList(
      p,
      'alice',
      alice.u.master,
      { version: alice.u.version + 1, issuedAt: Date.now() },
      await Promise.all(alice.u.devices.map((d) => entryOf(d, 'alice', alice.u.master))),
    );

    const cases: Case[] = [
      {
        name: 'replayed challenge',
        method: 'POST',
        path: '/v1/auth/token',
        opts: { body: { user: 'alice', deviceId: alice.d.keys.deviceId, challenge: c1, signature: s1 } },
        status: 401,
      },
      {
        name: 'challenge signed for another device',
        method: 'POST',
        path: '/v1/auth/token',
        opts: { body: { user: 'bob', deviceId: bob.d.keys.deviceId, challenge: c2, signature: await signFor(c2) } },
        status: 401,
      },
      {
        name: 'unknown challenge',
        method: 'POST',
        path: '/v1/auth/token',
        opts: { body: { user: 'alice', deviceId: alice.d.keys.deviceId, challenge: b64(p.randomBytes(32)), signature: s1 } },
        status: 401,
      },
      { name: 'challenge for unknown user', method: 'POST', path: '/v1/auth/challenge', opts: { body: { user: 'nobody', deviceId: 1 } }, status: 404 },
      {
        name: 'registration: list for another user',
        method: 'POST',
        path: '/v1/accounts',
        opts: { body: { ...registrationBody(carol), user: 'carol2' } },
        status: 400,
      },
      {
        name: 'registration: wrong master key',
        method: 'POST',
        path: '/v1/accounts',
        opts: { body: { ...registrationBody(carol), masterKey: b64(other.master.publicKey) } },
        status: 400,
      },
      {
        name: 'registration: list signature tampered',
        method: 'POST',
        path: '/v1/accounts',
        opts: { body: { ...registrationBody(carol), deviceList: b64(Uint8Array.from(carol.list, (x, i) => (i === carol.list.length - 1 ? x ^ 1 : x))) } },
        status: 400,
      },
      {
        name: 'registration: list truncated',
        method: 'POST',
        path: '/v1/accounts',
        opts: { body: { ...registrationBody(carol), deviceList: b64(carol.list.slice(0, 40)) } },
        status: 400,
      },
      {
        name: 'registration: prekeys signed by another device',
        method: 'POST',
        path: '/v1/accounts',
        opts: { body: { ...registrationBody(carol), prekeys: prekeyJson(other.devices[0]!) } },
        status: 400,
      },
      {
        name: 'registration: empty list',
        method: 'POST',
        path: '/v1/accounts',
        opts: {
          body: { ...registrationBody(carol), deviceList: b64(await P.signDeviceList(p, 'carol', carol.master, { version: 1, issuedAt: Date.now() }, [])) },
        },
        status: 400,
      },
      { name: 'prekeys: bad signed prekey signature', method: 'POST', path: '/v1/prekeys', opts: { token: alice.token, body: badSpk }, status: 400 },
      {
        name: "prekeys: another device's signed prekey",
        method: 'POST',
        path: '/v1/prekeys',
        opts: { token: alice.token, body: { signedPreKey: { id: 9, publicKey: b64(foreignSpk.publicKey), signature: b64(foreignSpk.signature) } } },
        status: 400,
      },
      {
        name: 'prekeys: low-order one-time key',
        method: 'POST',
        path: '/v1/prekeys',
        opts: { token: alice.token, body: { oneTimePreKeys: [{ id: 1, publicKey: zeroKey }] } },
        status: 400,
      },
      {
        name: 'prekeys: duplicate ids in one upload',
        method: 'POST',
        path: '/v1/prekeys',
        opts: {
          token: alice.token,
          body: {
            oneTimePreKeys: [
              { id: 7, publicKey: b64(alice.d.opks[0]!.publicKey) },
              { id: 7, publicKey: b64(alice.d.opks[1]!.publicKey) },
            ],
          },
        },
        status: 400,
      },
      { name: 'prekeys: PQ signature over another id', method: 'POST', path: '/v1/prekeys', opts: { token: alice.token, body: badPq }, status: 400 },
      {
        name: 'prekeys: last-resort key offered as one-time',
        method: 'POST',
        path: '/v1/prekeys',
        opts: { token: alice.token, body: { pqPreKeys: [lr] } },
        status: 400,
      },
      {
        name: 'prekeys: already stored ids',
        method: 'POST',
        path: '/v1/prekeys',
        opts: { token: alice.token, body: prekeyJson(alice.d, { spk: false, pqs: false, lastResort: false }) },
        status: 409,
      },
      {
        name: 'prekeys: more than 200 per upload',
        method: 'POST',
        path: '/v1/prekeys',
        opts: {
          token: alice.token,
          body: { oneTimePreKeys: [...tooManyOpks, tooManyOpks[0]!].map((k, i) => ({ id: 20_000 + i, publicKey: b64(k.publicKey) })) },
        },
        status: 400,
      },
      {
        name: "device list: another user's path",
        method: 'PUT',
        path: '/v1/users/bob/device-list',
        opts: { body: { deviceList: b64(aliceNext) } },
        status: 400,
      },
      {
        name: "device list: bob's path, carol's master key",
        method: 'PUT',
        path: '/v1/users/bob/device-list',
        opts: { body: { deviceList: b64(carolListForBob) } },
        status: 403,
      },
      {
        name: 'device list: replayed old version',
        method: 'PUT',
        path: '/v1/users/alice/device-list',
        opts: { body: { deviceList: b64(alice.u.list) } },
        status: 409,
      },
      {
        name: 'device list: newDevice not in the list',
        method: 'PUT',
        path: '/v1/users/alice/device-list',
        opts: { body: { deviceList: b64(aliceNext), newDevice: { deviceId: 999, prekeys: {} } } },
        status: 400,
      },
      {
        name: 'device list: newDevice already present',
        method: 'PUT',
        path: '/v1/users/alice/device-list',
        opts: { body: { deviceList: b64(aliceNext), newDevice: { deviceId: alice.d.keys.deviceId, prekeys: {} } } },
        status: 400,
      },
      {
        name: 'messages: duplicate device',
        method: 'POST',
        path: '/v1/messages',
        opts: {
          token: alice.token,
          body: {
            to: 'bob',
            messages: [
              { deviceId: bob.d.keys.deviceId, body: 'AAAA' },
              { deviceId: bob.d.keys.deviceId, body: 'AAAA' },
            ],
          },
        },
        status: 400,
      },
      {
        name: 'messages: empty body',
        method: 'POST',
        path: '/v1/messages',
        opts: { token: alice.token, body: { to: 'bob', messages: [{ deviceId: bob.d.keys.deviceId, body: '' }] } },
        status: 400,
      },
      {
        name: 'messages: body over 1.25 MiB',
        method: 'POST',
        path: '/v1/messages',
        opts: { token: alice.token, body: { to: 'bob', messages: [{ deviceId: bob.d.keys.deviceId, body: b64(new Uint8Array(1.25 * 1024 * 1024 + 1)) }] } },
        status: 400,
      },
      {
        name: 'messages: more than 100 recipients',
        method: 'POST',
        path: '/v1/messages',
        opts: { token: alice.token, body: { to: 'bob', messages: Array.from({ length: 101 }, (_, i) => ({ deviceId: i + 1, body: 'AAAA' })) } },
        status: 400,
      },
      {
        name: 'messages: a device not in the list',
        method: 'POST',
        path: '/v1/messages',
        opts: {
          token: alice.token,
          body: {
            to: 'bob',
            messages: [
              { deviceId: bob.d.keys.deviceId, body: 'AAAA' },
              { deviceId: 1, body: 'AAAA' },
            ],
          },
        },
        status: 409,
        code: 'mismatched_devices',
      },
      {
        name: 'ack: more than 500 ids',
        method: 'POST',
        path: '/v1/messages/ack',
        opts: { token: alice.token, body: { ids: Array.from({ length: 501 }, () => b64(new Uint8Array(16))) } },
        status: 400,
      },
      {
        name: 'provisioning: envelope too large',
        method: 'PUT',
        path: `/v1/provisioning/${channelId}`,
        opts: { token: alice.token, body: { envelope: b64(new Uint8Array(1024 * 1024 + 2048)) } },
        status: 400,
      },
      {
        name: 'provisioning: unknown channel',
        method: 'PUT',
        path: `/v1/provisioning/${b64(p.randomBytes(16))}`,
        opts: { token: alice.token, body: { envelope: 'AAAA' } },
        status: 404,
      },
      {
        name: 'provisioning: revoked device approves',
        method: 'PUT',
        path: `/v1/provisioning/${channelId}`,
        opts: { token: revokedToken, body: { envelope: 'AAAA' } },
        status: 401,
      },
    ];
    await run(cases);
    // Nothing above changed state it should not have: Bob's queue is empty, Alice's list is v1.
    expect((await t.api.req('GET', '/v1/messages', { token: bob.token })).body.messages).toEqual([]);
    expect((await t.api.req('GET', '/v1/users/alice', { token: bob.token })).body.deviceList).toBe(b64(alice.u.list));
    expect((await t.api.req('GET', '/v1/prekeys/status', { token: alice.token })).body).toEqual({
      oneTimePreKeys: 5,
      pqPreKeys: 3,
      signedPreKeyId: 1,
      lastResortPqPreKeyId: 2,
    });
    // And the server still serves valid requests.
    expect((await t.api.req('GET', '/healthz')).status).toBe(200);
    const ok = await sendMessage(t.api, alice.token, 'bob', [{ deviceId: bob.d.keys.deviceId, body: new TextEncoder().encode('still here') }]);
    expect(ok.status).toBe(200);
  });
});
