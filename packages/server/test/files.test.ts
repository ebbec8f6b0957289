/** docs/API.md §8 end to end over HTTP on the embedded store (SQLite + blobs/ on disk). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ageHeader, createFile, download, putPayload, randomMeta, uploadAll } from './file-helpers.js';
import { account, b64, p, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeEach(async () => {
  t = await startTestServer();
});
afterEach(async () => {
  await t.close();
});

const blobPath = (id: string, version: number) => join(t.dataDir, 'blobs', `${Buffer.from(id, 'base64url').toString('hex')}.${version}`);

describe('files: the whole life of a file', () => {
  it('create → chunked upload with a resume → download (full and Range) → share → revoke → delete', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const carol = await account(t.api, 'carol');
    const eve = await account(t.api, 'eve');
    const payload = p.randomBytes(200_000);
    const header = await ageHeader(alice.d.keys.identity.publicKey, bob.d.keys.identity.publicKey);

    const created = await createFile(t.api, alice.token, { size: payload.length, readers: ['bob'], header });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.any(String), version: 1, revision: 1 });
    const id = created.body.id as string;

    // Incomplete: only the owner sees it, listed with complete:false.
    expect((await t.api.req('GET', `/v1/files/${id}`, { token: bob.token })).status).toBe(404);
    const listed = await t.api.req('GET', '/v1/files', { token: alice.token });
    expect(listed.body.files).toHaveLength(1);
    expect(listed.body.files[0]).toMatchObject({ id, owner: 'alice', readers: ['bob'], complete: false, received: 0, payloadSize: payload.length });
    expect((await t.api.req('GET', '/v1/files', { token: bob.token })).body.files).toEqual([]);

    // First piece, then a resume at the wrong offset: 409 offset_mismatch tells where to resume.
    const first = await putPayload(t.api, alice.token, id, 1, 0, payload.subarray(0, 70_000));
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ received: 70_000, complete: false });
    const again = await putPayload(t.api, alice.token, id, 1, 0, payload.subarray(0, 70_000));
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'offset_mismatch', received: 70_000 });
    expect((await putPayload(t.api, alice.token, id, 1, 90_000, payload.subarray(90_000, 91_000))).body).toMatchObject({ received: 70_000 });
    // Too long for payloadSize.
    expect((await putPayload(t.api, alice.token, id, 1, 70_000, p.randomBytes(payload.length))).status).toBe(400);
    // Others cannot write, nor learn the file exists.
    expect((await putPayload(t.api, bob.token, id, 1, 70_000, payload.subarray(70_000))).status).toBe(404);
    expect((await putPayload(t.api, alice.token, id, 2, 0, payload)).status).toBe(404);
    // Downloads wait for completion.
    expect((await download(t.api, alice.token, id, 1)).status).toBe(409);
    const done = await uploadAll(t.api, alice.token, id, 1, payload, 50_000, 70_000);
    expect(done.body).toEqual({ received: payload.length, complete: true });
    expect((await putPayload(t.api, alice.token, id, 1, payload.length, p.randomBytes(1))).status).toBe(409);
    expect(readFileSync(blobPath(id, 1))).toEqual(Buffer.from(payload));

    // Full download (owner and reader) and a resumed one.
    for (const token of [alice.token, bob.token]) {
      const d = await download(t.api, token, id, 1);
      expect(d.status).toBe(200);
      expect(d.headers.get('content-type')).toBe('application/octet-stream');
      expect(d.headers.get('content-length')).toBe(String(payload.length));
      expect(Buffer.from(d.bytes).equals(Buffer.from(payload))).toBe(true);
    }
    const part = await download(t.api, bob.token, id, 1, { range: 'bytes=123456-' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 123456-${payload.length - 1}/${payload.length}`);
    expect(Buffer.from(part.bytes).equals(Buffer.from(payload.subarray(123456)))).toBe(true);
    const past = await download(t.api, bob.token, id, 1, { range: `bytes=${payload.length}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${payload.length}`);
    expect((await download(t.api, bob.token, id, 1, { range: 'bytes=-10' })).status).toBe(200); // other forms: ignored
    expect((await download(t.api, carol.token, id, 1)).status).toBe(404);
    expect((await download(t.api, bob.token, id, 2)).json().code).toBe('version_changed');

    // The reader sees it now; pending is never shown to a reader.
    const info = await t.api.req('GET', `/v1/files/${id}`, { token: bob.token });
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({ id, owner: 'alice', readers: ['bob'], revision: 1, version: 1, header: b64(header), complete: true });

    // Share with carol: new header, readers; the payload is untouched.
    const shared = await ageHeader(alice.d.keys.identity.publicKey, bob.d.keys.identity.publicKey, carol.d.keys.identity.publicKey);
    const put = await t.api.req('PUT', `/v1/files/${id}/header`, {
      token: alice.token,
      sign: { user: alice.u },
      body: { expectedRevision: 1, header: b64(shared), readers: ['bob', 'carol'] },
    });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ revision: 2 });
    expect(
      (await t.api.req('PUT', `/v1/files/${id}/header`, { token: alice.token, sign: { user: alice.u }, body: { expectedRevision: 1, header: b64(shared) } }))
        .status,
    ).toBe(409);
    expect(
      (await t.api.req('PUT', `/v1/files/${id}/header`, { token: bob.token, sign: { user: bob.u }, body: { expectedRevision: 2, header: b64(shared) } }))
        .status,
    ).toBe(404);
    expect(readFileSync(blobPath(id, 1))).toEqual(Buffer.from(payload));
    expect((await t.api.req('GET', `/v1/files/${id}`, { token: carol.token })).body).toMatchObject({ header: b64(shared), revision: 2 });
    expect((await t.api.req('GET', '/v1/files', { token: carol.token })).body.files.map((f: { id: string }) => f.id)).toEqual([id]);

    // Revoke bob: a new version without him. He loses access at once; carol keeps reading the old
    // version until the new one completes, then the old blob is gone from disk.
    const payload2 = p.randomBytes(100_000);
    const v2 = await t.api.req('POST', `/v1/files/${id}/versions`, {
      token: alice.token,
      sign: { user: alice.u },
      body: {
        expectedRevision: 2,
        header: b64(await ageHeader(carol.d.keys.identity.publicKey)),
        meta: randomMeta(),
        payloadSize: payload2.length,
        readers: ['carol'],
      },
    });
    expect(v2.status).toBe(201);
    expect(v2.body).toEqual({ version: 2, revision: 3 });
    expect((await t.api.req('GET', `/v1/files/${id}`, { token: bob.token })).status).toBe(404);
    expect((await download(t.api, bob.token, id, 1)).status).toBe(404);
    const during = await download(t.api, carol.token, id, 1);
    expect(Buffer.from(during.bytes).equals(Buffer.from(payload))).toBe(true);
    const owner = await t.api.req('GET', `/v1/files/${id}`, { token: alice.token });
    expect(owner.body).toMatchObject({ version: 1, revision: 3, pending: { version: 2, payloadSize: payload2.length, received: 0 } });
    expect((await t.api.req('GET', `/v1/files/${id}`, { token: carol.token })).body.pending).toBeUndefined();
    // Replacing the pending version drops its partial payload; version numbers are not reused.
    await putPayload(t.api, alice.token, id, 2, 0, payload2.subarray(0, 1000));
    expect(existsSync(blobPath(id, 2))).toBe(true);
    const v3 = await t.api.req('POST', `/v1/files/${id}/versions`, {
      token: alice.token,
      sign: { user: alice.u },
      body: { expectedRevision: 3, header: b64(await ageHeader()), meta: randomMeta(), payloadSize: payload2.length, readers: ['carol'] },
    });
    expect(v3.body).toEqual({ version: 3, revision: 4 });
    expect(existsSync(blobPath(id, 2))).toBe(false);
    expect((await putPayload(t.api, alice.token, id, 2, 1000, payload2.subarray(1000))).status).toBe(404);
    const finished = await uploadAll(t.api, alice.token, id, 3, payload2, 40_000);
    expect(finished.body).toEqual({ received: payload2.length, complete: true });
    expect(existsSync(blobPath(id, 1))).toBe(false);
    const old = await download(t.api, carol.token, id, 1);
    expect(old.status).toBe(409);
    expect(old.json().code).toBe('version_changed');
    const now = await download(t.api, carol.token, id, 3);
    expect(Buffer.from(now.bytes).equals(Buffer.from(payload2))).toBe(true);
    expect((await t.api.req('GET', `/v1/files/${id}`, { token: carol.token })).body).toMatchObject({ version: 3, revision: 5, complete: true });

    // Delete: a reader may not (403), a stranger learns nothing (404); the owner's delete removes every blob.
    expect((await t.api.req('DELETE', `/v1/files/${id}`, { token: carol.token, sign: { user: carol.u } })).status).toBe(403);
    expect((await t.api.req('DELETE', `/v1/files/${id}`, { token: eve.token, sign: { user: eve.u } })).status).toBe(404);
    expect((await t.api.req('DELETE', `/v1/files/${id}`, { token: alice.token, sign: { user: alice.u } })).status).toBe(204);
    expect(readdirSync(join(t.dataDir, 'blobs'))).toEqual([]);
    expect((await t.api.req('GET', `/v1/files/${id}`, { token: alice.token })).status).toBe(404);
    expect((await t.api.req('DELETE', `/v1/files/${id}`, { token: alice.token, sign: { user: alice.u } })).status).toBe(404);
  });

  it('pages the list by id', async () => {
    const alice = await account(t.api, 'alice');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createFile(t.api, alice.token, { size: 16 })).body.id);
    const byBytes = [...ids].sort((a, b) => Buffer.compare(Buffer.from(a, 'base64url'), Buffer.from(b, 'base64url')));
    const page1 = await t.api.req('GET', '/v1/files?limit=2', { token: alice.token });
    expect(page1.body.files.map((f: { id: string }) => f.id)).toEqual(byBytes.slice(0, 2));
    expect(page1.body.next).toBe(byBytes[1]);
    const page2 = await t.api.req('GET', `/v1/files?limit=3&after=${page1.body.next}`, { token: alice.token });
    expect(page2.body.files.map((f: { id: string }) => f.id)).toEqual(byBytes.slice(2));
    expect(page2.body.next).toBe(byBytes[4]);
    const page3 = await t.api.req('GET', `/v1/files?after=${page2.body.next}`, { token: alice.token });
    expect(page3.body).toEqual({ files: [], next: null });
  });
});

describe('files: seals, client-chosen ids, pending revocations (review L2, L8, K3)', () => {
  it('keeps the seal sent with the completing request and shows it; refuses it elsewhere or malformed', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const id = b64(p.randomBytes(16));
    const created = await t.api.req('POST', '/v1/files', {
      token: alice.token,
      body: { id, header: b64(await ageHeader()), meta: randomMeta(), payloadSize: 1000, readers: ['bob'] },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toEqual({ id, version: 1, revision: 1 });
    const again = await t.api.req('POST', '/v1/files', {
      token: bob.token,
      body: { id, header: b64(await ageHeader()), meta: randomMeta(), payloadSize: 1000, readers: [] },
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('conflict');
    for (const bad of ['AAAA', b64(p.randomBytes(15)), 'not base64!']) {
      const r = await t.api.req('POST', '/v1/files', {
        token: alice.token,
        body: { id: bad, header: b64(await ageHeader()), meta: randomMeta(), payloadSize: 16, readers: [] },
      });
      expect(r.status).toBe(400);
    }

    const seal = Uint8Array.of(1, ...p.randomBytes(96));
    const payload = p.randomBytes(1000);
    const put = (offset: number, bytes: Uint8Array, s?: string) =>
      fetch(`${t.url}/v1/files/${id}/versions/1/payload?offset=${offset}${s === undefined ? '' : `&seal=${s}`}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/octet-stream' },
        body: bytes as Uint8Array<ArrayBuffer>,
      });
    // A seal on a request that does not complete the version, or not a seal: 400, nothing stored.
    expect((await put(0, payload.subarray(0, 500), b64(seal))).status).toBe(400);
    // Formats 1 (master key) and 2 (a device, custody §16.2) are seals; 3 is not.
    const v3seal = seal.slice();
    v3seal[0] = 3;
    for (const bad of [b64(v3seal), b64(seal.subarray(1)), `${b64(seal)}A`]) expect((await put(0, payload, bad)).status).toBe(400);
    expect((await t.api.req('GET', `/v1/files/${id}`, { token: alice.token })).body.received).toBe(0);
    expect((await put(0, payload.subarray(0, 500))).status).toBe(200);
    const done = await put(500, payload.subarray(500), b64(seal));
    expect(done.status).toBe(200);
    expect(await done.json()).toEqual({ received: 1000, complete: true });
    for (const token of [alice.token, bob.token]) {
      expect((await t.api.req('GET', `/v1/files/${id}`, { token })).body).toMatchObject({ id, complete: true, seal: b64(seal) });
    }
    // Without one (a client from before seals): complete, and shown without a seal.
    const old = (await createFile(t.api, alice.token, { size: 100 })).body.id as string;
    await uploadAll(t.api, alice.token, old, 1, p.randomBytes(100));
    const oldInfo = await t.api.req('GET', `/v1/files/${old}`, { token: alice.token });
    expect(oldInfo.body.complete).toBe(true);
    expect(oldInfo.body.seal).toBeUndefined();
  });

  it('refuses a share or re-wrap while a revocation is pending (409 revocation_pending); shows the pending header to the owner only', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    await account(t.api, 'carol');
    const id = (await createFile(t.api, alice.token, { size: 100, readers: ['bob', 'carol'] })).body.id as string;
    await uploadAll(t.api, alice.token, id, 1, p.randomBytes(100));
    const pendingHeader = await ageHeader();
    const pendingMeta = randomMeta();
    const v2 = await t.api.req('POST', `/v1/files/${id}/versions`, {
      token: alice.token,
      sign: { user: alice.u },
      body: { expectedRevision: 1, header: b64(pendingHeader), meta: pendingMeta, payloadSize: 100, readers: ['carol'] },
    });
    expect(v2.body).toEqual({ version: 2, revision: 2 });
    const owner = await t.api.req('GET', `/v1/files/${id}`, { token: alice.token });
    expect(owner.body.pending).toEqual({ version: 2, payloadSize: 100, received: 0, header: b64(pendingHeader), meta: pendingMeta });
    expect((await t.api.req('GET', `/v1/files/${id}`, { token: (await account(t.api, 'dave')).token })).status).toBe(404);
    expect((await t.api.req('GET', `/v1/files/${id}`, { token: bob.token })).status).toBe(404);
    const share = await t.api.req('PUT', `/v1/files/${id}/header`, {
      token: alice.token,
      sign: { user: alice.u },
      body: { expectedRevision: 2, header: b64(await ageHeader()), readers: ['bob', 'carol'] },
    });
    expect(share.status).toBe(409);
    expect(share.body.code).toBe('revocation_pending');
    expect((await t.api.req('GET', `/v1/files/${id}`, { token: alice.token })).body).toMatchObject({ readers: ['carol'], revision: 2 });
    expect((await t.api.req('GET', `/v1/files/${id}`, { token: bob.token })).status).toBe(404);
    await uploadAll(t.api, alice.token, id, 2, p.randomBytes(100));
    const after = await t.api.req('PUT', `/v1/files/${id}/header`, {
      token: alice.token,
      sign: { user: alice.u },
      body: { expectedRevision: 3, header: b64(await ageHeader()) },
    });
    expect(after.body).toEqual({ revision: 4 });
  });
});

describe('files: validation, access and limits', () => {
  it('refuses bad headers, readers and sizes, changing nothing', async () => {
    const alice = await account(t.api, 'alice');
    await account(t.api, 'bob');
    const header = b64(await ageHeader());
    const body = { header, meta: randomMeta(), payloadSize: 100, readers: ['bob'] };
    const post = (b: unknown) => t.api.req('POST', '/v1/files', { token: alice.token, body: b });
    const notAge = b64(new TextEncoder().encode('hello world\n'));
    const trailing = b64(new Uint8Array([...Buffer.from(header, 'base64url'), 1, 2, 3]));
    const wrongVersion = b64(new TextEncoder().encode('age-encryption.org/v2\n-> X\nAAAA\n--- AAAA\n'));
    for (const [b, status] of [
      [{ ...body, header: notAge }, 400],
      [{ ...body, header: trailing }, 400],
      [{ ...body, header: wrongVersion }, 400],
      [{ ...body, readers: ['bob', 'bob'] }, 400],
      [{ ...body, readers: ['alice'] }, 400],
      [{ ...body, readers: ['nobody'] }, 404],
      [{ ...body, payloadSize: 15 }, 400],
      [{ ...body, payloadSize: 4 * 1024 ** 3 + 1 }, 413],
      [{ ...body, meta: '' }, 400],
      [{ ...body, meta: b64(new Uint8Array(4097)) }, 400],
    ] as const) {
      const r = await post(b);
      expect(r.status, JSON.stringify(r.body)).toBe(status);
      expect(r.body.code).toBeTypeOf('string');
    }
    expect((await t.api.req('GET', '/v1/files', { token: alice.token })).body.files).toEqual([]);
    expect(readdirSync(join(t.dataDir, 'blobs'))).toEqual([]);
    expect((await post(body)).status).toBe(201);
    expect((await t.api.req('POST', '/v1/files', { body })).status).toBe(401);
  });

  it('accepts octet-stream only on the payload route; refuses empty and oversized bodies', async () => {
    const alice = await account(t.api, 'alice');
    const id = (await createFile(t.api, alice.token, { size: 20 * 1024 * 1024 })).body.id;
    const json = await fetch(`${t.url}/v1/files/${id}/versions/1/payload?offset=0`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(415);
    expect((await putPayload(t.api, alice.token, id, 1, 0, new Uint8Array(10), { 'content-type': 'text/plain' })).status).toBe(415);
    const octetElsewhere = await fetch(`${t.url}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(10),
    });
    expect(octetElsewhere.status).toBe(415);
    expect((await putPayload(t.api, alice.token, id, 1, 0, new Uint8Array(0))).status).toBe(400);
    const big = await putPayload(t.api, alice.token, id, 1, 0, new Uint8Array(16 * 1024 * 1024 + 1));
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('payload_too_large');
    const max = await putPayload(t.api, alice.token, id, 1, 0, new Uint8Array(16 * 1024 * 1024));
    expect(max.body).toEqual({ received: 16 * 1024 * 1024, complete: false });
    expect((await putPayload(t.api, alice.token, id, 1, 16 * 1024 * 1024, new Uint8Array(1), { authorization: 'Bearer x' })).status).toBe(401);
    const noQuery = await fetch(`${t.url}/v1/files/${id}/versions/1/payload`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(1),
    });
    expect(noQuery.status).toBe(400);
  });

  it('enforces the quota over every version, the file count, and the configured size limit', async () => {
    await t.close();
    t = await startTestServer({ userQuota: 1000, maxFileSize: 600, limits: { maxFilesPerUser: 3 } });
    const alice = await account(t.api, 'alice');
    const tooBig = await createFile(t.api, alice.token, { size: 601 });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.code).toBe('payload_too_large');
    const a = await createFile(t.api, alice.token, { size: 600 });
    expect(a.status).toBe(201);
    const over = await createFile(t.api, alice.token, { size: 401 });
    expect(over.status).toBe(413);
    expect(over.body).toEqual({ code: 'quota_exceeded', message: expect.any(String), quotaBytes: 1000, usedBytes: 600 });
    expect((await createFile(t.api, alice.token, { size: 200 })).status).toBe(201);
    await uploadAll(t.api, alice.token, a.body.id, 1, p.randomBytes(600));
    // A pending version counts too (600 + 200 + 300 > 1000).
    const header = b64(await ageHeader());
    const v2 = (size: number) =>
      t.api.req('POST', `/v1/files/${a.body.id}/versions`, {
        token: alice.token,
        sign: { user: alice.u },
        body: { expectedRevision: 1, header, meta: randomMeta(), payloadSize: size, readers: [] },
      });
    const over2 = await v2(300);
    expect(over2.status, over2.text).toBe(413);
    expect(over2.body.code).toBe('quota_exceeded');
    expect((await v2(200)).status).toBe(201);
    expect((await createFile(t.api, alice.token, { size: 16 })).status).toBe(413);
    expect((await createFile(t.api, alice.token, { size: 16 })).status).toBe(413);
  });

  it('admits a bounded number of uploads at once (their bodies are buffered); a stalled one releases its slot when it goes away', async () => {
    await t.close();
    t = await startTestServer({ limits: { maxConcurrentUploadsPerUser: 1 } });
    const alice = await account(t.api, 'alice');
    const id = (await createFile(t.api, alice.token, { size: 100 })).body.id as string;
    // A request that sends its headers and part of its body, then stalls.
    const { request } = await import('node:http');
    const url = new URL(`${t.api.url}/v1/files/${id}/versions/1/payload?offset=0`);
    const stalled = request(url, {
      method: 'PUT',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/octet-stream', 'content-length': '100' },
    });
    stalled.on('error', () => {});
    stalled.write(new Uint8Array(10));
    await new Promise((r) => setTimeout(r, 200));
    const busy = await putPayload(t.api, alice.token, id, 1, 0, new Uint8Array(100));
    expect(busy.status).toBe(429);
    expect(busy.headers.get('retry-after')).toBe('1');
    stalled.destroy();
    let after = busy;
    for (let i = 0; i < 50 && after.status === 429; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await putPayload(t.api, alice.token, id, 1, 0, new Uint8Array(100));
    }
    expect(after.status).toBe(200);

    // A client that sends a whole body and vanishes before the answer does not keep its slot either.
    const big = 4 * 1024 * 1024;
    const id2 = (await createFile(t.api, alice.token, { size: big })).body.id as string;
    for (let round = 0; round < 3; round++) {
      const gone = request(new URL(`${t.api.url}/v1/files/${id2}/versions/1/payload?offset=0`), {
        method: 'PUT',
        headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/octet-stream', 'content-length': String(big) },
      });
      gone.on('error', () => {});
      // Destroyed once the whole body has left: the relay has a complete request but nobody to answer.
      gone.end(new Uint8Array(big), () => gone.destroy());
      await new Promise((r) => setTimeout(r, 300));
    }
    let next = await putPayload(t.api, alice.token, id2, 1, 0, new Uint8Array(100));
    for (let i = 0; i < 50 && next.status === 429; i++) {
      await new Promise((r) => setTimeout(r, 50));
      next = await putPayload(t.api, alice.token, id2, 1, 0, new Uint8Array(100));
    }
    // 200, or 409 offset_mismatch if one of the vanished bodies was stored: either way, admitted.
    expect([200, 409]).toContain(next.status);
  });

  it('rate limits file writes and payload pieces per device', async () => {
    await t.close();
    t = await startTestServer({
      rateLimits: { fileWritesPerDevice: { capacity: 2, refillPerSecond: 0 }, fileChunksPerDevice: { capacity: 1, refillPerSecond: 0 } },
    });
    const alice = await account(t.api, 'alice');
    const id = (await createFile(t.api, alice.token, { size: 100 })).body.id;
    expect((await createFile(t.api, alice.token, { size: 100 })).status).toBe(201);
    const limited = await createFile(t.api, alice.token, { size: 100 });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeTruthy();
    expect((await putPayload(t.api, alice.token, id, 1, 0, new Uint8Array(10))).status).toBe(200);
    expect((await putPayload(t.api, alice.token, id, 1, 10, new Uint8Array(10))).status).toBe(429);
  });
});
