/**
 * The files API (docs/API.md §8) against relays whose storage is PostgreSQL (metadata and payload
 * chunks; a fresh schema per test, dropped afterwards), including two relays sharing one database.
 * Skips loudly without PostgreSQL, fails instead under BLINDRELAY_REQUIRE_SERVICES=1.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ageHeader, createFile, download, putPayload, randomMeta, uploadAll } from './file-helpers.js';
import { account, b64, p, startTestServer, type TestServer } from './helpers.js';
import { DATABASE_URL, dropSchema, randomSchema, requirePostgres } from './postgres-service.js';

const available = await requirePostgres('files-postgres');

describe.skipIf(!available)('files API on PostgreSQL storage', () => {
  let schema: string;
  let t: TestServer;
  let t2: TestServer;
  beforeEach(async () => {
    schema = randomSchema();
    t = await startTestServer({ databaseUrl: DATABASE_URL, databaseSchema: schema });
    t2 = await startTestServer({ databaseUrl: DATABASE_URL, databaseSchema: schema });
  });
  afterEach(async () => {
    await Promise.all([t.close(), t2.close()]);
    await dropSchema(schema);
  });
  const chunks = async (id: string): Promise<{ version: string; n: number }[]> => {
    const c = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema}` });
    await c.connect();
    try {
      return (
        await c.query<{ version: string; n: number }>(
          'SELECT version, count(*)::int AS n FROM file_chunks WHERE file_id = $1 GROUP BY version ORDER BY version',
          [Buffer.from(id, 'base64url')],
        )
      ).rows;
    } finally {
      await c.end();
    }
  };

  it('uploads through one relay and resumes through another; downloads (full, Range); revokes; deletes every chunk', async () => {
    const alice = await account(t.api, 'alice');
    const bob = await account(t.api, 'bob');
    const carol = await account(t2.api, 'carol');
    const payload = p.randomBytes(3 * 1024 * 1024 + 17);
    const id = (await createFile(t.api, alice.token, { size: payload.length, readers: ['bob', 'carol'] })).body.id as string;
    expect((await putPayload(t.api, alice.token, id, 1, 0, payload.subarray(0, 1024 * 1024))).body).toEqual({ received: 1024 * 1024, complete: false });
    const wrong = await putPayload(t2.api, alice.token, id, 1, 0, payload.subarray(0, 10));
    expect(wrong.status).toBe(409);
    expect(wrong.body).toMatchObject({ code: 'offset_mismatch', received: 1024 * 1024 });
    expect((await uploadAll(t2.api, alice.token, id, 1, payload, 1024 * 1024, 1024 * 1024)).body).toEqual({ received: payload.length, complete: true });

    const full = await download(t2.api, bob.token, id, 1);
    expect(full.status).toBe(200);
    expect(Buffer.from(full.bytes).equals(Buffer.from(payload))).toBe(true);
    const part = await download(t.api, carol.token, id, 1, { range: 'bytes=1048570-' });
    expect(part.status).toBe(206);
    expect(Buffer.from(part.bytes).equals(Buffer.from(payload.subarray(1048570)))).toBe(true);

    // Share: header replaced, chunks untouched.
    const put = await t2.api.req('PUT', `/v1/files/${id}/header`, {
      token: alice.token,
      sign: { user: alice.u },
      body: { expectedRevision: 1, header: b64(await ageHeader()) },
    });
    expect(put.body).toEqual({ revision: 2 });
    expect(await chunks(id)).toEqual([{ version: '1', n: 4 }]);

    // Revoke bob: gone for him at once; carol reads v1 until v2 completes; then v1's chunks are gone.
    const payload2 = p.randomBytes(5000);
    const v2 = await t.api.req('POST', `/v1/files/${id}/versions`, {
      token: alice.token,
      sign: { user: alice.u },
      body: { expectedRevision: 2, header: b64(await ageHeader()), meta: randomMeta(), payloadSize: payload2.length, readers: ['carol'] },
    });
    expect(v2.body).toEqual({ version: 2, revision: 3 });
    expect((await download(t2.api, bob.token, id, 1)).status).toBe(404);
    expect((await download(t2.api, carol.token, id, 1)).status).toBe(200);
    await uploadAll(t2.api, alice.token, id, 2, payload2, 3000);
    expect(await chunks(id)).toEqual([{ version: '2', n: 2 }]);
    expect((await download(t.api, carol.token, id, 1)).json().code).toBe('version_changed');
    expect(Buffer.from((await download(t.api, carol.token, id, 2)).bytes).equals(Buffer.from(payload2))).toBe(true);

    expect((await t.api.req('DELETE', `/v1/files/${id}`, { token: carol.token, sign: { user: carol.u } })).status).toBe(403);
    expect((await t2.api.req('DELETE', `/v1/files/${id}`, { token: alice.token, sign: { user: alice.u } })).status).toBe(204);
    expect(await chunks(id)).toEqual([]);
  });

  it('holds the quota across relays', async () => {
    await Promise.all([t.close(), t2.close()]);
    t = await startTestServer({ databaseUrl: DATABASE_URL, databaseSchema: schema, userQuota: 1000 });
    t2 = await startTestServer({ databaseUrl: DATABASE_URL, databaseSchema: schema, userQuota: 1000 });
    const alice = await account(t.api, 'alice');
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => createFile((i % 2 ? t : t2).api, alice.token, { size: 300 })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    expect(results.filter((r) => r.status === 413).every((r) => r.body.code === 'quota_exceeded')).toBe(true);
  });
});
