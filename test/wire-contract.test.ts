/**
 * One wire contract (issue 15; ../shared/reviews/structure-2026-12.md, change 1): the relay's own
 * `/openapi.json` read against the SDK's parsers and the shared table `@blindrelay/protocol/wire`.
 *
 * - Every error response the relay documents carries the contract's codes (its `code` enum is
 *   RELAY_WIRE_CODES; each documented status has codes of that status), and for each of them the
 *   SDK's `relayError`, fed a body built from the relay's ErrorBody schema (every optional field
 *   given a value of its declared type), yields the contract's SDK code, the status, and every
 *   structured field (missing/stale devices, received bytes, quota, server time, send mark).
 * - A message envelope built from the relay's schema parses in the SDK without a fault, and each
 *   bound the relay declares (device id range, user name length, time ≥ 0) is one the SDK enforces:
 *   a value just outside it is a fault, just inside is not.
 * - For each JSON answer the SDK reads (messages, users and prekey bundles, sealed sending, files,
 *   send mark, accounts, login, provisioning, backups, collections and records, MLS groups), a body built from the relay's documented schema (every
 *   property, each at its smallest allowed value) goes through the SDK's own RelayApi method (its
 *   fetch answers with that body) and parses; then each bound the schema declares is broken in
 *   turn (a number just outside its range, a string one character too short or too long or off
 *   its pattern, one item too many, a required property missing, a value of another type) and the
 *   SDK refuses the answer (a bad_response RelayError; for envelopes, a fault). The relay's schemas
 *   and the SDK's checks are both built from `@blindrelay/protocol/wire` shapes; this reads the
 *   relay's published document, so it catches the two drifting apart whichever way they are built.
 * - The request bodies the SDK sends (one call of each route whose body is a wire shape, recorded
 *   at its `fetch`) conform to the relay's served request schema, read by a small JSON Schema
 *   checker here that is shown to refuse bodies off the schema.
 * - Real SDK clients on the real relay (accounts, a delivery token, a bundle fetch, a send, an ack,
 *   a sealed directory lookup and reply, a prekey top-up, a device link, a record put and query):
 *   each of those bodies is accepted and on the served schema; each
 *   bound that schema declares, broken in the SDK's own body and sent with its credentials, is a
 *   400 bad_request (the SDK's typed error) and leaves every row of the relay's database as it was.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { FILE_SEAL_BYTES } from '@blindrelay/protocol';
import { GROUP_ID_BYTES } from '@blindrelay/protocol/groups';
import { bounds, RELAY_ERRORS, RELAY_WIRE_CODES, type RelayWireCode, shapes, wireFault } from '@blindrelay/protocol/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvelope, RelayApi } from '../packages/client/src/api.js';
import {
  backupStatus,
  fetchWithCode,
  fetchWithPassphrase,
  putBackup,
  registerPassphrase,
  replaceBackupBlob,
} from '../packages/client/src/backup/backup-api.js';
import { BlindrelayClient } from '../packages/client/src/client.js';
import { type ClientError, RelayError, relayError } from '../packages/client/src/errors.js';
import { claimKeyPackages, groupInbox, groupInfo, postCommit, postGroup, postGroupMessage, putKeyPackages } from '../packages/client/src/groups/groups-api.js';
import {
  collectionInfo,
  postCollection,
  queryPage,
  recordAt,
  recordPage,
  setMember,
  storeRecord,
  updateCollection,
} from '../packages/client/src/records/records-api.js';
import { type Device, environment, type FetchHook } from '../packages/client/test/devices.js';
import { MAX_INDEXES } from '../packages/protocol/src/records/blind-index.js';
import { MAX_TOKEN_BITS } from '../packages/protocol/src/records/planner.js';
import { startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { canRunRelay } from './runtime.js';

interface Schema {
  type?: string;
  enum?: string[];
  const?: unknown;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  /** A schema per item: a tuple (JSON Schema draft-07's array form, with `additionalItems: false`). */
  items?: Schema | Schema[];
  additionalItems?: boolean;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  description?: string;
}
interface Operation {
  requestBody?: { content?: Record<string, { schema: Schema }> };
  responses: Record<string, { description?: string; content?: Record<string, { schema: Schema }> }>;
}
type OpenApi = { paths: Record<string, Record<string, Operation>> };

/** A value of the schema's declared type (inside its bounds). */
function sample(s: Schema): unknown {
  if (s.type === 'integer' || s.type === 'number') return Math.max(s.minimum ?? 0, 7);
  if (s.type === 'array') return [sample((s.items as Schema) ?? { type: 'integer' }), sample((s.items as Schema) ?? { type: 'integer' })];
  if (s.type === 'boolean') return true;
  return 'c2lnbmF0dXJl';
}

describe.skipIf(!canRunRelay())('wire contract: the relay’s /openapi.json against the SDK', () => {
  let t: TestServer;
  let doc: OpenApi;
  beforeAll(async () => {
    t = await startTestServer();
    const r = await fetch(`${t.url}/openapi.json`);
    expect(r.status).toBe(200);
    doc = (await r.json()) as OpenApi;
  });
  afterAll(() => t?.close());

  const errorResponses = () => {
    const out: { route: string; status: number; schema: Schema }[] = [];
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(methods))
        for (const [status, response] of Object.entries(op.responses ?? {})) {
          if (Number(status) < 400) continue;
          const schema = response.content?.['application/json']?.schema;
          if (!schema) throw new Error(`${method.toUpperCase()} ${path} ${status}: no JSON schema`);
          out.push({ route: `${method.toUpperCase()} ${path}`, status: Number(status), schema });
        }
    return out;
  };

  it('every documented error response carries the contract’s codes, with a code for its status', () => {
    const responses = errorResponses();
    expect(responses.length).toBeGreaterThan(50);
    for (const { route, status, schema } of responses) {
      expect(schema.properties?.code?.enum, route).toEqual(RELAY_WIRE_CODES);
      expect(
        RELAY_WIRE_CODES.some((c) => RELAY_ERRORS[c].status === status),
        `${route}: status ${status} has no code in the contract`,
      ).toBe(true);
    }
  });

  it('the SDK maps every code the relay documents to its typed error, with every structured field', () => {
    const seen = new Set<RelayWireCode>();
    for (const { status, schema } of errorResponses()) {
      for (const code of RELAY_WIRE_CODES.filter((c) => RELAY_ERRORS[c].status === status)) {
        seen.add(code);
        const body: Record<string, unknown> = { code, message: 'm' };
        for (const [name, field] of Object.entries(schema.properties ?? {})) if (name !== 'code' && name !== 'message') body[name] = sample(field);
        const e = relayError(status, body) as unknown as ClientError & Record<string, unknown>;
        expect(e.code, code).toBe(RELAY_ERRORS[code].sdk);
        expect(e.status, code).toBe(status);
        expect(e.relayCode, code).toBe(code);
        const fields: Partial<Record<RelayWireCode, string[]>> = {
          mismatched_devices: ['missing', 'stale'],
          queue_full: ['devices'],
          offset_mismatch: ['received'],
          quota_exceeded: ['quotaBytes', 'usedBytes'],
          stale_signature: ['serverTime'],
          send_mark_stale: ['mark', 'signature'],
        };
        for (const f of fields[code] ?? []) {
          expect(schema.properties?.[f], `${code}: the relay's ErrorBody declares ${f}`).toBeDefined();
          expect(e[f], `${code}.${f}`).toEqual(body[f]);
        }
      }
    }
    // The relay documents (somewhere) every status of the contract but 500/503 (any route, any time).
    expect([...seen].sort()).toEqual(RELAY_WIRE_CODES.filter((c) => RELAY_ERRORS[c].status < 500 && seen.has(c)).sort());
    expect(seen.size).toBeGreaterThanOrEqual(RELAY_WIRE_CODES.length - 4);
  });

  it('the SDK’s envelope parser accepts what the relay’s schema allows and refuses just outside its bounds', () => {
    const get = doc.paths['/v1/messages']?.get;
    const list = get?.responses['200']?.content?.['application/json']?.schema;
    const env = list?.properties?.messages?.items as Schema;
    // A sealed message (API.md §11) names no sender: `from`/`fromDevice` are optional, `sealed` marks it.
    expect(Object.keys(env.properties ?? {}).sort()).toEqual(['body', 'from', 'fromDevice', 'id', 'sealed', 'sentAt']);
    expect([...(env.required ?? [])].sort()).toEqual(['body', 'id', 'sentAt']);
    const p = env.properties as Record<string, Schema>;
    const good = { id: 'A'.repeat(p.id?.minLength ?? 22), from: 'alice', fromDevice: p.fromDevice?.minimum, sentAt: p.sentAt?.minimum, body: 'AAEC' };
    expect(parseEnvelope(good).fault).toBeUndefined();
    const { from: _f, fromDevice: _d, ...sealed } = good;
    expect(parseEnvelope({ ...sealed, sealed: true }).fault).toBeUndefined();
    const cases: [string, unknown, boolean][] = [
      ['fromDevice', p.fromDevice?.maximum, true],
      ['fromDevice', (p.fromDevice?.maximum as number) + 1, false],
      ['fromDevice', (p.fromDevice?.minimum as number) - 1, false],
      ['from', 'a'.repeat(p.from?.maxLength as number), true],
      ['from', 'a'.repeat((p.from?.maxLength as number) + 1), false],
      ['sentAt', (p.sentAt?.minimum as number) - 1, false],
      ['id', 'A'.repeat((p.id?.maxLength as number) + 1), false],
    ];
    for (const [field, value, ok] of cases) {
      const fault = parseEnvelope({ ...good, [field]: value }).fault;
      if (ok) expect(fault, `${field} = ${value}`).toBeUndefined();
      else expect(fault, `${field} = ${String(value).slice(0, 20)}`).toBeDefined();
    }
  });

  it('every JSON answer the SDK reads on the main routes: the relay’s schema parses, each declared bound broken is refused', async () => {
    // What each route's answer goes through in the SDK: its RelayApi method, fed the body by fetch.
    const ID = 'A'.repeat(22);
    const CHANNEL = 'A'.repeat(22);
    const calls: [route: string, status: string, call: (api: RelayApi) => Promise<unknown>, login?: true][] = [
      ['GET /v1/messages', '200', async (api) => assertNoFault(await api.fetchMessages(500))],
      ['POST /v1/messages', '200', (api) => api.sendMessages('bob', [{ deviceId: 1, body: new Uint8Array(1) }])],
      ['POST /v1/sealed/messages', '200', (api) => api.sendSealed('bob', [{ deviceId: 1, token: new Uint8Array(32), body: new Uint8Array(1) }])],
      ['GET /v1/users/{user}', '200', (api) => api.getUser('bob')],
      ['POST /v1/sealed/directory', '200', (api) => api.getUserSealed('bob', 1, new Uint8Array(32))],
      ['POST /v1/users/{user}/bundles', '200', (api) => api.bundles('bob')],
      ['GET /v1/prekeys/status', '200', (api) => api.preKeyStatus()],
      ['GET /v1/send-mark', '200', (api) => api.sendMark()],
      ['GET /v1/files/{id}', '200', (api) => api.getFile(ID)],
      ['GET /v1/files', '200', (api) => api.listFiles()],
      ['POST /v1/files', '201', (api) => api.createFile({ header: new Uint8Array(1), meta: new Uint8Array(1), payloadSize: 16, readers: [] })],
      ['PUT /v1/files/{id}/header', '200', (api) => api.replaceFileHeader(ID, { expectedRevision: 1, header: new Uint8Array(1) })],
      [
        'POST /v1/files/{id}/versions',
        '200|201',
        (api) => api.createFileVersion(ID, { expectedRevision: 1, header: new Uint8Array(1), meta: new Uint8Array(1), payloadSize: 16, readers: [] }),
      ],
      ['PUT /v1/files/{id}/versions/{version}/payload', '200', (api) => api.putPayload(ID, 1, 0, new Uint8Array(16))],
      ['POST /v1/accounts', '201', (api) => api.createAccount({ user: 'alice', masterKey: new Uint8Array(32), deviceList: new Uint8Array(1), prekeys: {} })],
      ['POST /v1/provisioning', '200', (api) => api.createChannel()],
      ['GET /v1/provisioning/{channelId}', '200', (api) => api.waitChannel(CHANNEL, 0)],
      ['GET /v1/backup', '200', (api) => backupStatus(api)],
      ['PUT /v1/backup', '200', (api) => putBackup(api, { kind: 'code', wrappedKey: new Uint8Array(65), codeHash: new Uint8Array(32) }, new Uint8Array(1))],
      ['PUT /v1/backup/blob', '200', (api) => replaceBackupBlob(api, new Uint8Array(1), 1)],
      ['POST /v1/backups/{user}/code', '200', (api) => fetchWithCode(api, 'bob', new Uint8Array(32))],
      ['POST /v1/collections', '201', (api) => postCollection(api, { id: ID, meta: 'AA' })],
      ['GET /v1/collections/{id}', '200', (api) => collectionInfo(api, ID)],
      ['PUT /v1/collections/{id}', '200', (api) => updateCollection(api, ID, { expectedRevision: 1, epoch: 0, meta: 'AA' })],
      ['POST /v1/collections/{id}/members', '200', (api) => setMember(api, ID, { expectedRevision: 1, user: 'bob', add: true })],
      ['PUT /v1/collections/{id}/records/{record}', '200', (api) => storeRecord(api, ID, ID, { epoch: 0, body: 'AA', postings: [[0, 1]] })],
      ['GET /v1/collections/{id}/records/{record}', '200', (api) => recordAt(api, ID, ID)],
      ['GET /v1/collections/{id}/records', '200', (api) => recordPage(api, ID, 10, null)],
      ['POST /v1/collections/{id}/query', '200', (api) => queryPage(api, ID, { any: [[[0, 1]]], limit: 10 })],
      ['PUT /v1/groups/key-packages', '200', (api) => putKeyPackages(api, { keyPackages: [] })],
      ['POST /v1/groups/key-packages/claim', '200', (api) => claimKeyPackages(api, { user: 'bob' })],
      ['POST /v1/groups', '201', (api) => postGroup(api, { id: ID })],
      ['GET /v1/groups/{id}', '200', (api) => groupInfo(api, ID)],
      ['GET /v1/groups/inbox', '200', (api) => groupInbox(api, 100)],
      ['POST /v1/groups/{id}/commits', '200', (api) => postCommit(api, ID, { commit: 'AA', members: [], added: [] })],
      ['POST /v1/groups/{id}/messages', '200', (api) => postGroupMessage(api, ID, { message: 'AA' })],
      // The login (API.md §2): a device with no cached token; the other step of the login is answered with its good sample.
      ['POST /v1/auth/challenge', '200', (api) => api.session(), true],
      ['POST /v1/auth/token', '200', (api) => api.session(), true],
    ];
    const goodOf = (route: string) => {
      const [method, path] = route.split(' ') as [string, string];
      return sampleBody(doc.paths[path]?.[method.toLowerCase()]?.responses['200']?.content?.['application/json']?.schema as Schema);
    };
    const logins = { '/v1/auth/challenge': goodOf('POST /v1/auth/challenge'), '/v1/auth/token': goodOf('POST /v1/auth/token') };
    let checked = 0;
    for (const [route, statuses, call, login] of calls) {
      const [method, path] = route.split(' ') as [string, string];
      const responses = doc.paths[path]?.[method.toLowerCase()]?.responses ?? {};
      const status = statuses.split('|').find((s) => responses[s]) as string;
      const schema = responses[status]?.content?.['application/json']?.schema;
      expect(schema, `${route} ${statuses}: documented`).toBeDefined();
      const good = sampleBody(schema as Schema);
      // One page of files: no next page (a non-null `next` would page through the same answer again).
      if (route === 'GET /v1/files') (good as Record<string, unknown>).next = null;
      const answer = (body: unknown) => (login ? apiLoggingIn(path, body, logins) : apiAnswering(Number(status), body));
      await expect(call(answer(good)), `${route}: the relay's schema parses`).resolves.toBeDefined();
      for (const [where, bad] of violations(schema as Schema, good)) {
        const refused = await call(answer(bad)).then(
          () => false,
          (e: unknown) => e instanceof RelayError && e.relayCode === 'bad_response',
        );
        expect(refused, `${route}: ${where} is refused`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(150);
    // The seal's size is the protocol's (file-seal.ts) in the contract.
    expect(bounds.FILE_SEAL_BYTES).toBe(FILE_SEAL_BYTES);
    expect(bounds.GROUP_ID_BYTES).toBe(GROUP_ID_BYTES);
  });

  it('the bodies the SDK sends conform to the relay’s served request schemas (and the check refuses one off them)', async () => {
    const requestSchema = (method: string, path: string) =>
      doc.paths[path]?.[method.toLowerCase()]?.requestBody?.content?.['application/json']?.schema as Schema;
    const sent: { method: string; path: string; body: unknown }[] = [];
    // Each request recorded (its route template found by matching the served paths), answered with `reply`.
    const recording = (reply: Record<string, unknown>, token?: true) =>
      new RelayApi({
        servers: ['http://127.0.0.1:1'],
        tokens: { get: async () => (token ? { token: 't', expiresAt: Date.now() + 3_600_000 } : undefined), set: async () => undefined },
        credentials: { user: 'alice', deviceId: 1, signChallenge: async () => new Uint8Array(64), signRequest: async () => 'sig' },
        fetch: (async (url: string, init?: RequestInit) => {
          const at = new URL(url).pathname;
          const method = init?.method ?? 'GET';
          const path = Object.keys(doc.paths).find((p) => new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(at) && doc.paths[p]?.[method.toLowerCase()]);
          sent.push({ method, path: path ?? at, body: init?.body === undefined ? undefined : JSON.parse(String(init.body)) });
          const answer = reply[at] ?? {};
          return new Response(JSON.stringify(answer), { status: at === '/v1/accounts' ? 201 : 200, headers: { 'content-type': 'application/json' } });
        }) as typeof fetch,
      });
    const login = {
      '/v1/auth/challenge': { challenge: 'A'.repeat(43), expiresAt: 1 },
      '/v1/auth/token': { token: 'A'.repeat(43), expiresAt: Date.now() + 3_600_000 },
      '/v1/accounts': { user: 'alice', deviceId: 1 },
      '/v1/provisioning': { channelId: 'A'.repeat(22), expiresAt: 1 },
    };
    const api = recording(login);
    await api.session();
    await api.createAccount({ user: 'alice', masterKey: new Uint8Array(32), deviceList: new Uint8Array(10), prekeys: {} });
    await api.createChannel('bob');
    await api.createChannel();
    await recording({}, true).putChannel('A'.repeat(22), new Uint8Array(100));
    await recording({}, true).deleteAccount({ timestamp: 1, nonce: new Uint8Array(16), listDigest: new Uint8Array(32), signature: new Uint8Array(64) });
    const backups = recording({ '/v1/backup': { generation: 1 }, '/v1/backup/blob': { generation: 2 } }, true);
    await putBackup(backups, { kind: 'code', wrappedKey: new Uint8Array(65), codeHash: new Uint8Array(32) }, new Uint8Array(100));
    await replaceBackupBlob(backups, new Uint8Array(100), 1);
    // (the answers are not OPAQUE messages or a backup: these fail after sending; only the bodies sent count here)
    await fetchWithCode(backups, 'bob', new Uint8Array(32)).catch(() => undefined);
    await registerPassphrase(backups, 'correct horse').catch(() => undefined);
    await fetchWithPassphrase(backups, 'bob', 'correct horse').catch(() => undefined);
    const C = 'A'.repeat(22);
    const records = recording(
      {
        '/v1/collections': { id: C, revision: 1 },
        [`/v1/collections/${C}`]: { revision: 2 },
        [`/v1/collections/${C}/members`]: { revision: 2 },
        [`/v1/collections/${C}/records/${C}`]: { created: true },
      },
      true,
    );
    await postCollection(records, { id: C, epoch: 0, meta: 'AAEC', members: ['bob'] });
    await updateCollection(records, C, { expectedRevision: 1, epoch: 1, meta: 'AAEC' });
    await setMember(records, C, { expectedRevision: 1, user: 'bob', add: false });
    const G = 'A'.repeat(22);
    const groups = recording(
      {
        '/v1/groups/key-packages': { oneTime: 3 },
        '/v1/groups/key-packages/claim': { keyPackages: [] },
        '/v1/groups': { id: G, epoch: 0, members: [] },
        [`/v1/groups/${G}/commits`]: { epoch: 1 },
        [`/v1/groups/${G}/messages`]: { epoch: 1 },
      },
      true,
    );
    await putKeyPackages(groups, { keyPackages: ['AAEC'], lastResort: 'AAEC' });
    await claimKeyPackages(groups, { user: 'bob', devices: [1, 2] });
    await postGroup(groups, { id: G });
    await postCommit(groups, G, { commit: 'AAEC', welcome: 'AAEC', members: [{ user: 'alice', deviceId: 1 }], added: [{ user: 'bob', deviceId: 2 }] });
    await postGroupMessage(groups, G, { message: 'AAEC', leave: true });
    const F = 'A'.repeat(22);
    const files = recording(
      {
        '/v1/files': { id: F, version: 1, revision: 1 },
        [`/v1/files/${F}/header`]: { revision: 2 },
        [`/v1/files/${F}/versions`]: { version: 2, revision: 2 },
      },
      true,
    );
    await files.createFile({ id: F, header: new Uint8Array(40), meta: new Uint8Array(20), payloadSize: 16, readers: ['bob'] });
    await files.replaceFileHeader(F, { expectedRevision: 1, header: new Uint8Array(40), meta: new Uint8Array(20), readers: [] });
    await files.createFileVersion(F, { expectedRevision: 2, header: new Uint8Array(40), meta: new Uint8Array(20), payloadSize: 32, readers: ['bob'] });
    const sends = recording({ '/v1/messages': { ids: [], sentAt: 1 }, '/v1/sealed/messages': { ids: [], sentAt: 1 } }, true);
    await sends.sendMessages('bob', [{ deviceId: 1, body: new Uint8Array(48) }], { value: 3, signature: new Uint8Array(64) });
    await sends.sendSealed('bob', [{ deviceId: 2, token: new Uint8Array(32), body: new Uint8Array(48) }]);
    await sends.setDeliveryToken(new Uint8Array(32), 'rotate');
    await sends.ack(['A'.repeat(22), 'B'.repeat(22)]);
    // (the answers are not bundles or a user's keys: these fail after sending; only the bodies sent count here)
    await sends.bundles('bob', [1, 2]).catch(() => undefined);
    await sends.bundles('bob').catch(() => undefined);
    await recording({})
      .getUserSealed('bob', 2, new Uint8Array(32))
      .catch(() => undefined);
    const key = (n: number) => new Uint8Array(n);
    const upload = {
      signedPreKey: { id: 1, publicKey: key(32), signature: key(64) },
      oneTimePreKeys: [{ id: 2, publicKey: key(32) }],
      pqPreKeys: [{ id: 3, publicKey: key(1184), signature: key(64), lastResort: false }],
      lastResortPqPreKey: { id: 4, publicKey: key(1184), signature: key(64), lastResort: true },
    };
    await sends.uploadPreKeys(upload);
    await recording({}).putDeviceList('alice', key(300), { deviceId: 9, prekeys: upload }, key(200));
    await storeRecord(records, C, C, {
      epoch: 1,
      body: 'AAEC',
      postings: [
        [0, 1],
        [31, 2 ** 48 - 1],
      ],
    });
    await queryPage(records, C, {
      any: [
        [[0, 1]],
        [
          [1, 2],
          [3, 4],
        ],
      ],
      limit: 10,
      after: C,
    }).catch(() => undefined);
    const routes = new Set<string>();
    for (const { method, path, body } of sent) {
      const schema = requestSchema(method, path);
      expect(schema, `${method} ${path}: a request schema is served`).toBeDefined();
      expect(offSchema(schema, body), `${method} ${path}`).toBeUndefined();
      routes.add(`${method} ${path}`);
    }
    expect([...routes].sort()).toEqual([
      'POST /v1/accounts',
      'POST /v1/accounts/deletion',
      'POST /v1/auth/challenge',
      'POST /v1/auth/token',
      'POST /v1/backup/registration',
      'POST /v1/backups/{user}/code',
      'POST /v1/backups/{user}/login',
      'POST /v1/collections',
      'POST /v1/collections/{id}/members',
      'POST /v1/collections/{id}/query',
      'POST /v1/files',
      'POST /v1/files/{id}/versions',
      'POST /v1/groups',
      'POST /v1/groups/key-packages/claim',
      'POST /v1/groups/{id}/commits',
      'POST /v1/groups/{id}/messages',
      'POST /v1/messages',
      'POST /v1/messages/ack',
      'POST /v1/prekeys',
      'POST /v1/provisioning',
      'POST /v1/sealed/directory',
      'POST /v1/sealed/messages',
      'POST /v1/users/{user}/bundles',
      'PUT /v1/backup',
      'PUT /v1/backup/blob',
      'PUT /v1/collections/{id}',
      'PUT /v1/collections/{id}/records/{record}',
      'PUT /v1/files/{id}/header',
      'PUT /v1/groups/key-packages',
      'PUT /v1/provisioning/{channelId}',
      'PUT /v1/sealed/token',
      'PUT /v1/users/{user}/device-list',
    ]);
    // The check can fail: each of these is off the served schema.
    const token = requestSchema('POST', '/v1/auth/token');
    const good = sent.find((r) => r.path === '/v1/auth/token')?.body as Record<string, unknown>;
    expect(offSchema(token, { ...good, extra: 1 })).toBeDefined();
    expect(offSchema(token, { ...good, deviceId: 0 })).toBeDefined();
    expect(offSchema(token, { ...good, challenge: 'A'.repeat(42) })).toBeDefined();
    const { signature: _s, ...unsigned } = good;
    expect(offSchema(token, unsigned)).toBeDefined();
    // … and a posting that is not exactly [index ≤ 31, token < 2^48].
    const put = requestSchema('PUT', '/v1/collections/{id}/records/{record}');
    const record = sent.find((r) => r.path === '/v1/collections/{id}/records/{record}')?.body as Record<string, unknown>;
    expect(offSchema(put, record)).toBeUndefined();
    for (const bad of [[0], [0, 1, 2], [32, 1], [0, 2 ** 48], [0, -1], ['0', 1]])
      expect(offSchema(put, { ...record, postings: [bad] }), JSON.stringify(bad)).toBeDefined();
    // … and a bundle request naming a device twice, or more than one send's worth of devices.
    const bundles = requestSchema('POST', '/v1/users/{user}/bundles');
    expect(offSchema(bundles, { deviceIds: [1, 2] })).toBeUndefined();
    expect(offSchema(bundles, { deviceIds: [1, 2, 1] })).toBeDefined();
    expect(offSchema(bundles, { deviceIds: Array.from({ length: bounds.MAX_RECIPIENTS + 1 }, (_, i) => i + 1) })).toBeDefined();
    // The shape's own check (wireFault) agrees with the served `uniqueItems`.
    expect(wireFault(shapes.PREKEY_BUNDLES_REQUEST, { deviceIds: [1, 2] })).toBeUndefined();
    expect(wireFault(shapes.PREKEY_BUNDLES_REQUEST, { deviceIds: [1, 2, 1] })).toBe('deviceIds');
  });

  it('the bodies the SDK sends in real use are accepted and on the served schema; each bound broken is a typed 400 that changes nothing', async () => {
    // Real clients on the real relay (accounts, a send, a sealed reply, a prekey top-up, a device
    // link, a record put and a query), every request recorded at their fetch.
    const sent: { method: string; path: string; at: string; authorization: string | null; body: string; status: number }[] = [];
    const recorder: FetchHook = async (url, init, next) => {
      const method = init?.method ?? 'GET';
      const res = await next();
      const at = new URL(url).pathname;
      const authorization = new Headers(init?.headers).get('authorization');
      if (typeof init?.body === 'string') sent.push({ method, path: templateOf(doc, method, at), at, authorization, body: init.body, status: res.status });
      return res;
    };
    const newUser = async (name: string): Promise<Device> => {
      const e = environment();
      e.hook.fn = recorder;
      return { client: await BlindrelayClient.createAccount(e.env, { servers: t.url, user: name, deviceName: 'first' }), ...e };
    };
    const alice = await newUser('wc-alice');
    const bob = await newUser('wc-bob');
    await alice.client.send('wc-bob', 'hello bob'); // first contact: bob's bundles, alice's delivery token; authenticated, with a send mark
    await bob.client.receive({ onMessage: () => {} }); // acknowledged
    await bob.client.send('wc-alice', 'hi alice'); // sealed: alice's delivery token came inside
    await bob.client.safetyNumber('wc-alice'); // a directory lookup authorised by that token (POST /v1/sealed/directory)
    expect(await bob.client.replenishPreKeys(true)).toEqual({ oneTime: 1, pq: 1 }); // alice's first message took one of each
    // A second device of alice's: alice's device approves, the new one publishes the list naming it, with its prekeys.
    const e = environment();
    e.hook.fn = recorder;
    let approval: Promise<unknown> = Promise.resolve();
    await BlindrelayClient.link(e.env, {
      servers: t.url,
      user: 'wc-alice',
      onCode: (code, sas) => {
        approval = alice.client.approve(code, { sas });
      },
    });
    await approval;
    await alice.client.createCollection('wc-people', { indexes: [{ kind: 'exact', fields: ['email'], transforms: ['lower'] }] });
    await alice.client.putRecord('wc-people', { email: 'Ada@example.com' });
    expect((await alice.client.findRecords('wc-people', [{ field: 'email', value: 'ada@example.com' }])).records).toHaveLength(1);

    const routes = [
      'POST /v1/accounts',
      'PUT /v1/sealed/token',
      'POST /v1/users/{user}/bundles',
      'POST /v1/messages',
      'POST /v1/messages/ack',
      'POST /v1/sealed/directory',
      'POST /v1/sealed/messages',
      'POST /v1/prekeys',
      'PUT /v1/users/{user}/device-list',
      'PUT /v1/collections/{id}/records/{record}',
      'POST /v1/collections/{id}/query',
    ];
    const requestSchema = (route: string) => {
      const [method, path] = route.split(' ') as [string, string];
      return doc.paths[path]?.[method.toLowerCase()]?.requestBody?.content?.['application/json']?.schema as Schema;
    };
    let broken = 0;
    for (const route of routes) {
      const mine = sent.filter((r) => `${r.method} ${r.path}` === route);
      expect(mine.length, `${route}: the SDK sent it`).toBeGreaterThan(0);
      for (const r of mine) {
        expect(r.status, `${route}: accepted`).toBeLessThan(300);
        expect(offSchema(requestSchema(route), JSON.parse(r.body)), route).toBeUndefined();
      }
      // Each bound of the served schema broken in the SDK's own body: 400 bad_request, the SDK's typed error, nothing stored.
      const first = mine[0] as (typeof mine)[number];
      const before = relayState(t.dataDir);
      for (const [where, bad] of violations(requestSchema(route), JSON.parse(first.body))) {
        const res = await fetch(`${t.url}${first.at}`, {
          method: first.method,
          headers: { 'content-type': 'application/json', ...(first.authorization ? { authorization: first.authorization } : {}) },
          body: JSON.stringify(bad),
        });
        const body = (await res.json()) as { code?: string };
        expect([res.status, body.code], `${route}: ${where}`).toEqual([400, 'bad_request']);
        expect(relayError(res.status, body).code, `${route}: ${where}`).toBe(RELAY_ERRORS.bad_request.sdk);
        broken++;
      }
      expect(relayState(t.dataDir), `${route}: the refused bodies changed nothing`).toEqual(before);
    }
    expect(broken).toBeGreaterThan(150);
    // The state read sees what an accepted request stores (so "changed nothing" above can fail).
    const last = relayState(t.dataDir);
    await bob.client.send('wc-alice', 'one more');
    expect(relayState(t.dataDir)).not.toEqual(last);
    // The posting bounds are the protocol's (PROTOCOL.md §19.3).
    expect(bounds.MAX_INDEX_POSITION).toBe(MAX_INDEXES - 1);
    expect(bounds.MAX_POSTING_TOKEN).toBe(2 ** MAX_TOKEN_BITS - 1);
  });
});

/** Where `value` is off the (served, JSON Schema) `schema`: the path of the first fault, or undefined. */
function offSchema(schema: Schema, value: unknown, at = '(body)'): string | undefined {
  if (schema.anyOf) return schema.anyOf.some((b) => offSchema(b, value, at) === undefined) ? undefined : at;
  if (schema.const !== undefined) return value === schema.const ? undefined : at;
  if (schema.enum) return schema.enum.includes(value as string) ? undefined : at;
  switch (schema.type) {
    case 'integer':
      return Number.isSafeInteger(value) &&
        (schema.minimum === undefined || (value as number) >= schema.minimum) &&
        (schema.maximum === undefined || (value as number) <= schema.maximum)
        ? undefined
        : at;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : at;
    case 'null':
      return value === null ? undefined : at;
    case 'string':
      return typeof value === 'string' &&
        value.length >= (schema.minLength ?? 0) &&
        value.length <= (schema.maxLength ?? Number.POSITIVE_INFINITY) &&
        (schema.pattern === undefined || new RegExp(schema.pattern).test(value))
        ? undefined
        : at;
    case 'array': {
      if (!Array.isArray(value) || value.length > (schema.maxItems ?? Number.POSITIVE_INFINITY) || value.length < (schema.minItems ?? 0)) return at;
      if (schema.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) return at;
      const tuple = Array.isArray(schema.items) ? schema.items : undefined;
      if (tuple && (schema.additionalItems !== false || value.length !== tuple.length)) return at;
      for (let i = 0; i < value.length; i++) {
        const f = offSchema((tuple ? tuple[i] : schema.items) as Schema, value[i], `${at}[${i}]`);
        if (f) return f;
      }
      return undefined;
    }
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return at;
      const o = value as Record<string, unknown>;
      for (const name of schema.required ?? []) if (!(name in o)) return `${at}.${name}`;
      for (const [name, v] of Object.entries(o)) {
        const p = schema.properties?.[name];
        if (!p) {
          if (schema.additionalProperties === false) return `${at}.${name}`;
          continue;
        }
        const f = offSchema(p, v, `${at}.${name}`);
        if (f) return f;
      }
      return undefined;
    }
  }
  throw new Error(`unchecked schema ${JSON.stringify(schema).slice(0, 80)}`);
}

/** The served route template (`/v1/users/{user}/device-list`) of a request path. */
function templateOf(doc: OpenApi, method: string, at: string): string {
  const found = Object.keys(doc.paths).find((p) => new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(at) && doc.paths[p]?.[method.toLowerCase()]);
  return found ?? at;
}

/** Every row of every table of the relay's database (SQLite, read-only), each table's rows sorted: what a request may have changed. */
function relayState(dataDir: string): Record<string, string[]> {
  const db = new DatabaseSync(join(dataDir, 'relay.db'), { readOnly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[];
    const text = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v);
    return Object.fromEntries(
      tables.map(({ name }) => [
        name,
        db
          .prepare(`SELECT * FROM "${name}"`)
          .all()
          .map((row) => JSON.stringify(Object.entries(row).map(([k, v]) => [k, text(v)])))
          .sort(),
      ]),
    );
  } finally {
    db.close();
  }
}

/** A RelayApi whose every request is answered with `status` and `body` (a cached token: no login). */
function apiAnswering(status: number, body: unknown): RelayApi {
  return new RelayApi({
    servers: ['http://127.0.0.1:1'],
    tokens: { get: async () => ({ token: 't', expiresAt: Date.now() + 3_600_000 }), set: async () => undefined },
    credentials: { user: 'alice', deviceId: 1, signChallenge: async () => new Uint8Array(64), signRequest: async () => 'sig' },
    fetch: (async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })) as typeof fetch,
  });
}

/** A RelayApi with no cached token: the login's steps answered from `logins`, the one at `path` with `body`. */
function apiLoggingIn(path: string, body: unknown, logins: Record<string, unknown>): RelayApi {
  return new RelayApi({
    servers: ['http://127.0.0.1:1'],
    tokens: { get: async () => undefined, set: async () => undefined },
    credentials: { user: 'alice', deviceId: 1, signChallenge: async () => new Uint8Array(64) },
    fetch: (async (url: string) => {
      const at = new URL(url).pathname;
      const answer = at === path ? body : logins[at];
      return new Response(JSON.stringify(answer), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch,
  });
}

/** Envelopes come back with a fault rather than an exception: one is a refusal too. */
function assertNoFault(envelopes: { fault?: string }[]): unknown {
  const fault = envelopes.find((e) => e.fault)?.fault;
  if (fault) throw new RelayError('ERR_RELAY', 200, 'bad_response', fault);
  return envelopes;
}

const B64 = '^[A-Za-z0-9_-]*$';
/** The non-null branch of a nullable schema. */
const branch = (s: Schema): Schema => (s.anyOf ? (s.anyOf.find((b) => b.type !== 'null') as Schema) : s);

/** A body of the schema: every property present, each at its smallest allowed value. */
function sampleBody(schema: Schema): unknown {
  const s = branch(schema);
  if (s.const !== undefined) return s.const;
  if (s.enum) return s.enum[0];
  switch (s.type) {
    case 'object':
      return Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, sampleBody(v)]));
    case 'array':
      return Array.isArray(s.items) ? s.items.map(sampleBody) : [sampleBody(s.items as Schema)];
    case 'integer':
    case 'number':
      return s.minimum ?? 0;
    case 'boolean':
      return true;
    case 'string':
      return (s.pattern === B64 ? 'A' : 'a').repeat(Math.max(s.minLength ?? 1, 1));
  }
  throw new Error(`no sample for ${JSON.stringify(s).slice(0, 80)}`);
}

/** Each bound the schema declares, broken once in `good`: [where, the broken body]. */
function violations(schema: Schema, good: unknown, where = ''): [string, unknown][] {
  const s = branch(schema);
  const out: [string, unknown][] = [];
  const at = where || '(body)';
  if (s.enum) {
    out.push([`${at} not one of ${s.enum.join('|')}`, `${s.enum[0]}x`]);
  } else if (s.type === 'integer' || s.type === 'number') {
    if (s.minimum !== undefined) out.push([`${at} < ${s.minimum}`, s.minimum - 1]);
    if (s.maximum !== undefined) out.push([`${at} > ${s.maximum}`, s.maximum + 1]);
    out.push([`${at} not a number`, String(good)]);
  } else if (s.type === 'string') {
    // (a nullable string given null in `good`, such as the last page's `next`: broken from its sample)
    const g = typeof good === 'string' ? good : (sampleBody(s) as string);
    if (s.minLength !== undefined && s.minLength > 0) out.push([`${at} shorter than ${s.minLength}`, g.slice(0, s.minLength - 1)]);
    if (s.maxLength !== undefined) out.push([`${at} longer than ${s.maxLength}`, g[0]?.repeat(s.maxLength + 1)]);
    if (s.pattern !== undefined) out.push([`${at} off its pattern`, '!'.repeat(g.length)]);
    out.push([`${at} not a string`, 7]);
  } else if (s.type === 'boolean' || s.const !== undefined) {
    out.push([`${at} not a boolean`, 'yes']);
  } else if (s.type === 'array' && Array.isArray(s.items)) {
    // A tuple: exactly its items, each of its own schema.
    const g = good as unknown[];
    out.push([`${at} not an array`, {}], [`${at} one item short`, g.slice(0, -1)], [`${at} one item too many`, [...g, g[0]]]);
    s.items.forEach((item, i) => {
      for (const [w, bad] of violations(item, g[i], `${where}[${i}]`)) out.push([w, g.map((x, j) => (j === i ? bad : x))]);
    });
  } else if (s.type === 'array') {
    const g = good as unknown[];
    if (s.maxItems !== undefined) out.push([`${at} with more than ${s.maxItems} items`, Array.from({ length: s.maxItems + 1 }, () => g[0])]);
    if (s.minItems !== undefined && s.minItems > 0) out.push([`${at} with fewer than ${s.minItems} items`, g.slice(0, s.minItems - 1)]);
    if (s.uniqueItems && g.length > 0) out.push([`${at} with an item twice`, [...g, g[0]]]);
    out.push([`${at} not an array`, {}]);
    if (g.length > 0) for (const [w, bad] of violations(s.items as Schema, g[0], `${where}[0]`)) out.push([w, [bad]]);
  } else if (s.type === 'object') {
    out.push([`${at} not an object`, []]);
    const o = good as Record<string, unknown>;
    for (const name of s.required ?? []) {
      const { [name]: _, ...rest } = o;
      out.push([`${where ? `${where}.` : ''}${name} missing`, rest]);
    }
    for (const [name, p] of Object.entries(s.properties ?? {})) {
      if (o[name] === undefined) continue; // (an optional property the body leaves out)
      for (const [w, bad] of violations(p, o[name], where ? `${where}.${name}` : name)) out.push([w, { ...o, [name]: bad }]);
    }
  }
  return out;
}
