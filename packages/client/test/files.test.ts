/**
 * Encrypted files through a real relay (packages/server in-process): put/get round trips, share
 * with the payload untouched, revocation with the old payload erased, resumed uploads, tampered
 * downloads leaving nothing behind, re-wrap for a newly linked device, export read by the real
 * `age` tool, and profiles from before files existed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../protocol/test/internals.js';
import { RelayApi } from '../src/api.js';
import { BlindrelayClient } from '../src/client.js';
import { FileAccessError, FileCorruptError, FileExistsError, FileOwnerOnlyError, NotFoundError, SourceChangedError } from '../src/errors.js';
import { UPLOAD_PART_BYTES } from '../src/files.js';
import { exportFileToPath, fileSource, saveFile } from '../src/node.js';
import { Profile } from '../src/profile.js';
import { type Device, deviceApi, linkDevice, newUserAt, p } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

let dir: string;
let dataDir: string;
let server: TestRelay;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-files-'));
  dataDir = join(dir, 'data');
  // Many accounts from one address: this test is not about the account-creation rate limit.
  server = await startRelay({ host: '127.0.0.1', port: 0, dataDir, logLevel: 'silent', processMetrics: false, rateLimits: { accountsPerIp: false } });
  url = server.url;
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const unique = (name: string) => `${name}-${process.pid}-${++counter}`;

const newUser = (name: string): Promise<Device> => newUserAt(unique(name), url);

async function plainFile(name: string, size: number): Promise<{ path: string; bytes: Uint8Array }> {
  const bytes = p.randomBytes(size);
  const path = join(dir, `${counter++}-${name}`);
  await writeFile(path, bytes);
  return { path, bytes };
}

async function inboxOf(d: Device): Promise<string[]> {
  const texts: string[] = [];
  await d.client.receive({ onMessage: (m) => void texts.push(m.text) });
  return texts;
}

/** The relay's JSON description of a file, as the device sees it. */
async function fetchJson(d: Device, id: string): Promise<{ header: Uint8Array }> {
  return (await deviceApi(d, url)).getFile(id);
}

/** Byte equality without a diff of megabytes when it fails. */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

async function download(d: Device, id: string): Promise<Uint8Array> {
  const out = await mkdtemp(join(dir, 'get-'));
  const r = await saveFile(d.client, id, { output: out });
  return new Uint8Array(await readFile(r.path));
}

/** Every stored blob file's bytes (the relay's blob directory). */
async function blobs(): Promise<Buffer[]> {
  const root = join(dataDir, 'blobs');
  const out: Buffer[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(await readFile(join(d, e.name)));
    }
  };
  if (existsSync(root)) await walk(root);
  return out;
}

/** The raw payload bytes the relay serves for the current version, fetched with the device's own credentials. */
async function rawPayload(d: Device, id: string): Promise<Uint8Array> {
  const { version } = await d.client.statFile(id);
  const dl = await (await deviceApi(d, url)).openPayload(id, version);
  return new Uint8Array(await new Response(dl.body).arrayBuffer());
}

describe('encrypted files through the relay', () => {
  it('put and get round trip at chunk boundaries; metadata never in the clear', async () => {
    const alice = await newUser('alice');
    for (const size of [0, 1, 65535, 65536, 65537, 200_003]) {
      const f = await plainFile(`canary-name-${size}.bin`, size);
      const r = await alice.client.putFile(await fileSource(f.path));
      expect(r.file).toMatchObject({ owner: alice.client.user, size, complete: true, access: 'ok' });
      expect(r.file.name).toBe(`${f.path.split('/').pop()}`);
      expect(await download(alice, r.file.id)).toEqual(f.bytes);
    }
    const names = (await alice.client.listFiles()).map((f) => f.name);
    expect(names).toHaveLength(6);
    for (const b of await blobs()) expect(b.includes(Buffer.from('canary-name-'))).toBe(false);
  });

  it('a source that hands out huge pieces is still uploaded in parts the relay accepts', async () => {
    const alice = await newUser('alice');
    const bytes = p.randomBytes(17 * 1024 * 1024 + 5);
    const source = {
      name: 'memory.bin',
      size: bytes.length,
      mtimeMs: 1,
      key: 'memory:1',
      read: async function* (at: number) {
        yield bytes.subarray(at);
      },
    };
    const sizes: number[] = [];
    alice.hook.fn = async (u, init, next) => {
      if (init?.method === 'PUT' && u.includes('/payload')) sizes.push((init.body as Uint8Array).length);
      return next();
    };
    const { file } = await alice.client.putFile(source);
    alice.hook.fn = null;
    expect(Math.max(...sizes)).toBe(UPLOAD_PART_BYTES);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(P.payloadSize(bytes.length));
    expect(same(await download(alice, file.id), bytes)).toBe(true);
  });

  it('stored names cannot spoof a terminal or plant a hidden file', async () => {
    const alice = await newUser('alice');
    const spoof = join(dir, `invoice\u202Efdp.exe`);
    await writeFile(spoof, 'x');
    await expect(alice.client.putFile(await fileSource(spoof))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    const hidden = await mkdtemp(join(dir, 'dot-'));
    await writeFile(join(hidden, '.envrc'), 'export EVIL=1');
    const { file } = await alice.client.putFile(await fileSource(join(hidden, '.envrc')));
    const out = await mkdtemp(join(dir, 'dot-out-'));
    await expect(saveFile(alice.client, file.id, { output: out })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(await readdir(out)).toEqual([]);
    const named = await saveFile(alice.client, file.id, { output: join(out, 'envrc.txt') });
    expect(await readFile(named.path, 'utf8')).toBe('export EVIL=1');
  });

  it('share: the reader gets access, the payload bytes are identical; only the owner shares', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const f = await plainFile('report.pdf', 150_000);
    const { file } = await alice.client.putFile(await fileSource(f.path));
    await expect(bob.client.statFile(file.id)).rejects.toBeInstanceOf(NotFoundError);
    const before = await rawPayload(alice, file.id);
    const shared = await alice.client.shareFile(file.id, bob.client.user);
    expect(shared.file.readers).toEqual([bob.client.user]);
    expect(await rawPayload(alice, file.id)).toEqual(before);
    expect(await download(bob, file.id)).toEqual(f.bytes);
    expect((await bob.client.listFiles()).map((x) => x.id)).toContain(file.id);
    await expect(bob.client.shareFile(file.id, alice.client.user)).rejects.toBeInstanceOf(FileOwnerOnlyError);
    await expect(bob.client.removeFile(file.id)).rejects.toBeInstanceOf(FileOwnerOnlyError);
  });

  it('revoke: the revoked user loses access at once, the others read the new version, the old payload is gone', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const carol = await newUser('carol');
    const f = await plainFile('plans.txt', 300_000);
    const { file } = await alice.client.putFile(await fileSource(f.path), { to: [bob.client.user, carol.client.user] });
    expect(await download(bob, file.id)).toEqual(f.bytes);
    const oldPayload = await rawPayload(alice, file.id);
    const oldHead = Buffer.from(oldPayload.subarray(0, 4096));
    expect((await blobs()).some((b) => b.includes(oldHead))).toBe(true);

    const r = await alice.client.revokeFile(file.id, bob.client.user);
    expect(r.file.readers).toEqual([carol.client.user]);
    expect(r.file.version).toBe(file.version + 1);
    await expect(bob.client.statFile(file.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(saveFile(bob.client, file.id, { output: await mkdtemp(join(dir, 'bob-')) })).rejects.toBeInstanceOf(NotFoundError);
    expect(await download(carol, file.id)).toEqual(f.bytes);
    expect(await download(alice, file.id)).toEqual(f.bytes);
    const newPayload = await rawPayload(alice, file.id);
    expect(Buffer.from(newPayload.subarray(0, 4096)).equals(oldHead)).toBe(false);
    // Cryptographic erasure: no blob on the relay holds the old ciphertext any more.
    expect((await blobs()).some((b) => b.includes(oldHead))).toBe(false);
    expect(await alice.client.pendingUploads()).toEqual([]);
  });

  it('an interrupted revocation: the reader is cut off at once; revoking again finishes it and erases the old payload', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const carol = await newUser('carol');
    const f = await plainFile('minutes.txt', 2 * UPLOAD_PART_BYTES + 99);
    const { file } = await alice.client.putFile(await fileSource(f.path), { to: [bob.client.user, carol.client.user] });
    const oldHead = Buffer.from((await rawPayload(alice, file.id)).subarray(0, 4096));
    const stop = new AbortController();
    alice.hook.fn = async (u, init, next) => {
      if (init?.method === 'PUT' && u.includes('/payload')) {
        stop.abort();
        throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
      }
      return next();
    };
    await expect(alice.client.revokeFile(file.id, bob.client.user, { signal: stop.signal })).rejects.toThrow();
    alice.hook.fn = null;
    expect((await alice.client.pendingUploads()).map((u) => u.kind)).toEqual(['revoke']);
    await expect(bob.client.statFile(file.id)).rejects.toBeInstanceOf(NotFoundError);
    expect(same(await download(carol, file.id), f.bytes)).toBe(true); // the old version, until the new one is complete
    const r = await alice.client.revokeFile(file.id, bob.client.user);
    expect(r.file).toMatchObject({ version: 2, readers: [carol.client.user], complete: true });
    expect(await alice.client.pendingUploads()).toEqual([]);
    expect(same(await download(carol, file.id), f.bytes)).toBe(true);
    expect((await blobs()).some((b) => b.includes(oldHead))).toBe(false);
  });

  it('a relay that adds a reader to its answer gets nothing: re-wrap, share and revoke use the owner-signed list', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const mallory = await newUser('mallory');
    const carol = await newUser('carol');
    const f = await plainFile('payroll.csv', 4000);
    const { file } = await alice.client.putFile(await fileSource(f.path), { to: [bob.client.user] });
    alice.hook.fn = async (u, init, next) => {
      const res = await next();
      if (!u.endsWith(`/v1/files/${file.id}`) || (init?.method ?? 'GET') !== 'GET') return res;
      const body = (await res.json()) as { readers: string[] };
      return Response.json({ ...body, readers: [...body.readers, mallory.client.user].sort() });
    };
    expect((await alice.client.rewrapFile(file.id)).file.readers).toEqual([bob.client.user]);
    expect((await alice.client.shareFile(file.id, carol.client.user)).file.readers).toEqual([bob.client.user, carol.client.user].sort());
    await expect(mallory.client.statFile(file.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(alice.client.revokeFile(file.id, mallory.client.user)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    const r = await alice.client.revokeFile(file.id, carol.client.user);
    expect(r.file.readers).toEqual([bob.client.user]);
    alice.hook.fn = null;
    await expect(mallory.client.statFile(file.id)).rejects.toBeInstanceOf(NotFoundError);
    expect(same(await download(bob, file.id), f.bytes)).toBe(true);
  });

  it("a relay cannot present a file as another user's; one bad file does not hide the others; paging must advance", async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const carol = await newUser('carol');
    const f = await plainFile('from-alice.txt', 3000);
    const { file } = await alice.client.putFile(await fileSource(f.path), { to: [bob.client.user] });
    await carol.client.send(bob.client.user, 'hi'); // bob knows carol's key
    await inboxOf(bob);
    bob.hook.fn = async (u, init, next) => {
      const res = await next();
      if (!u.endsWith(`/v1/files/${file.id}`) || (init?.method ?? 'GET') !== 'GET') return res;
      return Response.json({ ...((await res.json()) as object), owner: carol.client.user });
    };
    await expect(saveFile(bob.client, file.id, { output: await mkdtemp(join(dir, 'relabel-')) })).rejects.toBeInstanceOf(FileCorruptError);
    bob.hook.fn = null;

    // Another of alice's files served in place of the one she shares: refused, nothing shared.
    const g = await plainFile('private.txt', 100);
    const other = await alice.client.putFile(await fileSource(g.path));
    alice.hook.fn = async (u, init, next) =>
      u.endsWith(`/v1/files/${file.id}`) && (init?.method ?? 'GET') === 'GET' ? fetch(u.replace(file.id, other.file.id), init) : next();
    await expect(alice.client.shareFile(file.id, carol.client.user)).rejects.toMatchObject({ code: 'ERR_RELAY' });
    alice.hook.fn = null;
    await expect(carol.client.statFile(other.file.id)).rejects.toBeInstanceOf(NotFoundError);

    // carol shares a file with a header bob's device cannot process (low-order X25519 share).
    const bad = await P.encodeHeader(p, p.randomBytes(16), [{ args: ['X25519', P.encodeAgeBase64(new Uint8Array(32))], body: p.randomBytes(32) }]);
    const carolApi = await deviceApi(carol, url);
    const junk = await carolApi.createFile({ header: bad, meta: p.randomBytes(64), payloadSize: 32, readers: [bob.client.user] });
    await carolApi.putPayload(junk.id, junk.version, 0, p.randomBytes(32));
    const listed = await bob.client.listFiles();
    expect(listed.find((x) => x.id === file.id)?.access).toBe('ok');
    expect(listed.find((x) => x.id === junk.id)?.access).toBe('corrupt');

    // A relay that pages in a circle is refused instead of looping forever.
    bob.hook.fn = async (u, init, next) => {
      const res = await next();
      if (!u.includes('/v1/files?') || (init?.method ?? 'GET') !== 'GET') return res;
      return Response.json({ ...((await res.json()) as object), next: 'AAAAAAAAAAAAAAAAAAAAAA' });
    };
    await expect(bob.client.listFiles()).rejects.toMatchObject({ code: 'ERR_RELAY' });
    bob.hook.fn = null;
  });

  it('a resumed upload never encrypts changed data under the same key and nonce, whatever the relay claims', async () => {
    for (const lie of ['put answer', 'file info'] as const) {
      const alice = await newUser('alice');
      const f = await plainFile('changing.bin', UPLOAD_PART_BYTES + 300_000);
      const { mtime } = await stat(f.path);
      const puts: number[] = [];
      alice.hook.fn = async (u, init, next) => {
        const isPut = init?.method === 'PUT' && u.includes('/payload');
        if (isPut) puts.push(Number(new URL(u).searchParams.get('offset')));
        const res = await next();
        if (isPut && puts.length === 1) {
          // The relay stored the part, then "loses" the answer; meanwhile the file is rewritten with
          // the same size and modification time (cp -p, rsync -t, touch -r).
          await writeFile(f.path, p.randomBytes(f.bytes.length));
          await utimes(f.path, mtime, mtime);
          if (lie === 'put answer') return Response.json({ code: 'offset_mismatch', message: 'resume', received: 0 }, { status: 409 });
          throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
        }
        if (lie === 'file info' && puts.length === 1 && u.includes('/v1/files/') && !u.includes('/payload') && (init?.method ?? 'GET') === 'GET') {
          const body = (await res.json()) as { received: number };
          return Response.json({ ...body, received: 0 });
        }
        return res;
      };
      await expect(alice.client.putFile(await fileSource(f.path)), lie).rejects.toBeInstanceOf(SourceChangedError);
      expect(puts, lie).toEqual([0]); // nothing else went out
      alice.hook.fn = null;
    }
  });

  it('a revocation that cannot be resumed safely starts afresh and still leaves the revoked reader out', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const carol = await newUser('carol');
    const f = await plainFile('board.pdf', 2 * UPLOAD_PART_BYTES + 1000);
    const { file } = await alice.client.putFile(await fileSource(f.path), { to: [bob.client.user, carol.client.user] });
    let puts = 0;
    const stop = new AbortController();
    alice.hook.fn = async (u, init, next) => {
      if (init?.method === 'PUT' && u.includes('/payload') && ++puts === 2) {
        stop.abort();
        throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
      }
      return next();
    };
    await expect(alice.client.revokeFile(file.id, bob.client.user, { signal: stop.signal })).rejects.toThrow();
    // The relay now claims to hold less of the new version than it acknowledged.
    alice.hook.fn = async (u, init, next) => {
      const res = await next();
      if (!u.endsWith(`/v1/files/${file.id}`) || (init?.method ?? 'GET') !== 'GET') return res;
      const body = (await res.json()) as { pending?: { received: number } };
      return Response.json(body.pending ? { ...body, pending: { ...body.pending, received: 0 } } : body);
    };
    const r = await alice.client.revokeFile(file.id, bob.client.user);
    alice.hook.fn = null;
    expect(r.file.readers).toEqual([carol.client.user]);
    expect(await alice.client.pendingUploads()).toEqual([]);
    await expect(bob.client.statFile(file.id)).rejects.toBeInstanceOf(NotFoundError);
    expect(same(await download(carol, file.id), f.bytes)).toBe(true);
  });

  it('an interrupted upload resumes from the bytes the relay holds', async () => {
    const alice = await newUser('alice');
    const f = await plainFile('big.bin', 2 * UPLOAD_PART_BYTES + 12_345);
    // The process stops (Ctrl-C) while the second part is on its way: that part never lands.
    let puts = 0;
    const stop = new AbortController();
    alice.hook.fn = async (u, init, next) => {
      if (init?.method === 'PUT' && u.includes('/payload') && ++puts === 2) {
        stop.abort();
        throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
      }
      return next();
    };
    await expect(alice.client.putFile(await fileSource(f.path), { signal: stop.signal })).rejects.toThrow();
    const pending = await alice.client.pendingUploads();
    expect(pending).toHaveLength(1);
    const partial = await alice.client.statFile(pending[0]?.fileId as string);
    expect(partial.complete).toBe(false);
    const held = partial.upload?.received as number;
    expect(held).toBeGreaterThanOrEqual(UPLOAD_PART_BYTES);
    expect(held).toBeLessThan(P.payloadSize(f.bytes.length));
    let sent = 0;
    alice.hook.fn = async (u, init, next) => {
      if (init?.method === 'PUT' && u.includes('/payload')) sent += (init.body as Uint8Array).length;
      return next();
    };
    const r = await alice.client.putFile(await fileSource(f.path));
    expect(r.resumed).toBe(true);
    expect(r.file.id).toBe(partial.id);
    expect(sent).toBe(P.payloadSize(f.bytes.length) - held);
    const got = await download(alice, r.file.id);
    expect(got.length).toBe(f.bytes.length);
    const firstDiff = got.findIndex((b, i) => b !== f.bytes[i]);
    expect(firstDiff).toBe(-1);
    expect(same(got, f.bytes)).toBe(true);
    expect(await alice.client.pendingUploads()).toEqual([]);
  });

  it('a tampered download is refused with nothing written; an existing output is not replaced', async () => {
    const alice = await newUser('alice');
    const f = await plainFile('secret.txt', 100_000);
    const { file } = await alice.client.putFile(await fileSource(f.path));
    const out = await mkdtemp(join(dir, 'tamper-'));
    for (const flipAt of [20, 70_000, P.payloadSize(100_000) - 1]) {
      alice.hook.fn = async (u, init, next) => {
        const res = await next();
        if (!u.includes('/payload') || init?.method === 'PUT') return res;
        const bytes = new Uint8Array(await res.arrayBuffer());
        bytes[flipAt] = (bytes[flipAt] as number) ^ 1;
        return new Response(bytes, { status: res.status, headers: res.headers });
      };
      await expect(saveFile(alice.client, file.id, { output: out })).rejects.toBeInstanceOf(FileCorruptError);
      expect(await readdir(out)).toEqual([]);
    }
    // Payload chunks swapped, truncated, or with data appended.
    const size = P.payloadSize(100_000);
    const chunk = P.ENCRYPTED_CHUNK_BYTES;
    const edits: [string, (b: Uint8Array) => Uint8Array][] = [
      ['chunks swapped', (b) => P.concat(b.subarray(0, 16), b.subarray(16 + chunk, 16 + 2 * chunk), b.subarray(16, 16 + chunk), b.subarray(16 + 2 * chunk))],
      ['truncated at a chunk boundary', (b) => b.subarray(0, 16 + chunk)],
      ['truncated mid-chunk', (b) => b.subarray(0, size - 10)],
      ['data appended', (b) => P.concat(b, new Uint8Array(17))],
      ['empty', () => new Uint8Array(0)],
    ];
    for (const [what, edit] of edits) {
      alice.hook.fn = async (u, init, next) => {
        const res = await next();
        if (!u.includes('/payload') || init?.method === 'PUT') return res;
        return new Response(Buffer.from(edit(new Uint8Array(await res.arrayBuffer()))), { status: res.status, headers: { 'content-length': String(size) } });
      };
      await expect(saveFile(alice.client, file.id, { output: out }), what).rejects.toBeInstanceOf(FileCorruptError);
      expect(await readdir(out), what).toEqual([]);
    }
    // Any header byte changed (stanza, MAC, version line): refused before any payload is read.
    const info = await alice.client.statFile(file.id);
    const headerLength = (await fetchJson(alice, file.id)).header.length;
    for (let at = 0; at < headerLength; at += 7) {
      alice.hook.fn = async (u, init, next) => {
        const res = await next();
        if (!u.endsWith(`/v1/files/${file.id}`) || (init?.method ?? 'GET') !== 'GET') return res;
        const body = (await res.json()) as { header: string };
        const header = Buffer.from(body.header, 'base64url');
        header[at] = (header[at] as number) ^ 0x01;
        return new Response(JSON.stringify({ ...body, header: header.toString('base64url') }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });
      };
      const e = await saveFile(alice.client, file.id, { output: out }).catch((x: unknown) => x);
      expect(e instanceof FileCorruptError || e instanceof FileAccessError, `header byte ${at}: ${String(e)}`).toBe(true);
      expect(await readdir(out)).toEqual([]);
    }
    expect(info.version).toBe(1);
    alice.hook.fn = null;
    const stored = file.name as string;
    await writeFile(join(out, stored), 'keep me');
    await expect(saveFile(alice.client, file.id, { output: out })).rejects.toBeInstanceOf(FileExistsError);
    expect(await readFile(join(out, stored), 'utf8')).toBe('keep me');
    expect(await readdir(out)).toEqual([stored]);
    const forced = await saveFile(alice.client, file.id, { output: out, overwrite: true });
    expect(new Uint8Array(await readFile(forced.path))).toEqual(f.bytes);
  });

  it('a newly linked device reads older files after a re-wrap', async () => {
    const alice = await newUser('alice');
    const f = await plainFile('notes.md', 5000);
    const { file } = await alice.client.putFile(await fileSource(f.path));
    const second = await linkDevice(alice);
    await expect(download(second, file.id)).rejects.toBeInstanceOf(FileAccessError);
    expect((await second.client.listFiles()).find((x) => x.id === file.id)?.access).toBe('no-key');
    await alice.client.rewrapFile(file.id);
    expect(await download(second, file.id)).toEqual(f.bytes);
    // Files stored from the new device are readable on the first one.
    const g = await plainFile('from-second.md', 777);
    const put = await second.client.putFile(await fileSource(g.path));
    expect(await download(alice, put.file.id)).toEqual(g.bytes);
  });

  it('export: a standard age file the age tool decrypts; age encrypts to the exported recipient', async () => {
    const alice = await newUser('alice');
    const f = await plainFile('export-me.bin', 130_000);
    const { file } = await alice.client.putFile(await fileSource(f.path));
    const out = await mkdtemp(join(dir, 'export-'));
    const r = await exportFileToPath(alice.client, file.id, { output: join(out, 'x.age'), identityOutput: join(out, 'key.txt') });
    expect(r.identity).toMatch(/^AGE-SECRET-KEY-1/);
    expect(r.recipient).toMatch(/^age1/);
    const keyText = await readFile(join(out, 'key.txt'), 'utf8');
    expect(keyText).toContain(r.identity);
    const decrypted = execFileSync('age', ['-d', '-i', join(out, 'key.txt'), join(out, 'x.age')]);
    expect(new Uint8Array(decrypted)).toEqual(f.bytes);
    execFileSync('age', ['-r', r.recipient, '-o', join(out, 'back.age'), f.path]);
    const identity = await P.X25519Identity.parse(p, r.identity);
    expect(await P.decryptFile(p, new Uint8Array(await readFile(join(out, 'back.age'))), [identity])).toEqual(f.bytes);
  });

  it('a profile from before files existed gets a file key and publishes it at its first file operation', async () => {
    const alice = await newUser('alice');
    // Strip the file key from the profile and publish a list without it, as an old version would have.
    const profile = await Profile.open(alice.storage, p);
    const old = await profile.transact(async (tx) => {
      const a = await tx.get('account');
      const { filePrivate: _f, filePublic: _g, ...rest } = a;
      tx.set('account', rest);
      return rest;
    });
    profile.close();
    const list = (await alice.client.devices()).version;
    const entry = await P.proveDeviceEntry(
      p,
      old.user,
      old.masterKey,
      { deviceId: old.deviceId, signingKey: old.signingKey, identityKey: old.identityPublic },
      old.signingSeed,
    );
    const bare = await P.signDeviceList(
      p,
      old.user,
      { seed: old.masterSeed as Uint8Array, publicKey: old.masterKey },
      { version: list + 1, issuedAt: Date.now() },
      [entry],
    );
    await new RelayApi({ servers: [url] }).putDeviceList(old.user, bare);
    alice.client.close();
    const reopened = await BlindrelayClient.open(alice.env);
    const f = await plainFile('legacy.txt', 1000);
    const { file } = await reopened.putFile(await fileSource(f.path));
    expect(await download({ ...alice, client: reopened }, file.id)).toEqual(f.bytes);
    const published = await reopened.devices();
    expect(published.version).toBe(list + 2);
  });
});
