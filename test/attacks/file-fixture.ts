/**
 * What the file attack tests (l2-stalled-revocation, l8-file-metadata-swap, k3-signed-contents)
 * share: a real relay process (packages/client/test/relay-fixture.ts), SDK devices whose fetch a
 * test intercepts to play the relay's part (packages/client/test/devices.ts), and the few ways an
 * attacker looks at stored files: the raw payload, and a device's own file key for a header.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '@blindrelay/protocol';
import { afterAll, beforeAll } from 'vitest';
import type { RelayFile } from '../../packages/client/src/api.js';
import { saveFile } from '../../packages/client/src/node.js';
import { Profile } from '../../packages/client/src/profile.js';
import { type Device, deviceApi, newUserAt, p } from '../../packages/client/test/devices.js';
import { startRelay, type TestRelay } from '../../packages/client/test/relay-fixture.js';

export { p };

export interface FileWorld {
  readonly dir: string;
  readonly url: string;
  newUser(name: string): Promise<Device>;
  /** A plaintext file of `size` random bytes (or `bytes`) on disk, named `name`. */
  plainFile(name: string, size: number, bytes?: Uint8Array): Promise<{ path: string; bytes: Uint8Array }>;
  /** A fresh, empty output directory. */
  outDir(): Promise<string>;
}

/** A relay process for the test file, started before its tests and stopped after them. */
export function fileWorld(prefix: string): FileWorld {
  let dir = '';
  let relay: TestRelay | undefined;
  let counter = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `br-${prefix}-`));
    relay = await startRelay({
      host: '127.0.0.1',
      port: 0,
      dataDir: join(dir, 'data'),
      logLevel: 'silent',
      processMetrics: false,
      rateLimits: { accountsPerIp: false },
    });
  });
  afterAll(async () => {
    await relay?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    get url() {
      return (relay as TestRelay).url;
    },
    newUser: (name) => newUserAt(`${name}-${process.pid}-${++counter}`, (relay as TestRelay).url),
    async plainFile(name, size, bytes) {
      const data = bytes ?? p.randomBytes(size);
      const path = join(await mkdtemp(join(dir, 'src-')), name);
      await writeFile(path, data);
      return { path, bytes: data };
    },
    outDir: () => mkdtemp(join(dir, 'out-')),
  };
}

/** Download to a fresh directory; the plaintext, or the error (and the directory, to check it is empty). */
export async function download(world: FileWorld, d: Device, id: string, options: { allowUnsigned?: boolean } = {}) {
  const out = await world.outDir();
  try {
    const r = await saveFile(d.client, id, { output: out, ...options });
    return { bytes: new Uint8Array(await readFile(r.path)), out, error: undefined };
  } catch (error) {
    return { bytes: undefined, out, error };
  }
}

/** Every entry of a directory (a temporary `.part` file included). */
export const entries = (dir: string) => readdir(dir);

/** The relay's description of a file, as device `d` is served it. */
export async function relayFile(world: FileWorld, d: Device, id: string): Promise<RelayFile> {
  return (await deviceApi(d, world.url)).getFile(id);
}

/** The raw payload the relay serves for the current version. */
export async function rawPayload(world: FileWorld, d: Device, id: string): Promise<Uint8Array> {
  const api = await deviceApi(d, world.url);
  const file = await api.getFile(id);
  const dl = await api.openPayload(id, file.version);
  return new Uint8Array(await new Response(dl.body).arrayBuffer());
}

/** The file key `d`'s own file identity opens in `header` (what any reader of the file holds). */
export async function fileKeyFor(d: Device, header: Uint8Array): Promise<Uint8Array> {
  const account = await (await Profile.open(d.storage, p)).read('account');
  const identity = await P.X25519Identity.fromPrivateKey(p, account.filePrivate as Uint8Array);
  return P.unwrapFileKey(p, header, [identity]);
}

/** Whether `payload` opens under `fileKey` (age STREAM authentication). */
export async function opensWith(fileKey: Uint8Array, payload: Uint8Array): Promise<boolean> {
  try {
    await P.decryptPayload(p, fileKey, payload);
    return true;
  } catch {
    return false;
  }
}

/** A JSON answer rewritten by `edit` (a relay's lie), everything else as the relay sent it. */
export async function rewriteJson(res: Response, edit: (body: Record<string, unknown>) => Record<string, unknown>): Promise<Response> {
  const body = (await res.json()) as Record<string, unknown>;
  return Response.json(edit(body), { status: res.status });
}

/** GET /v1/files/:id (not the payload, not a list). */
export const isFileGet = (u: string, init: RequestInit | undefined, id: string) =>
  (init?.method ?? 'GET') === 'GET' && new URL(u).pathname === `/v1/files/${id}`;
/** GET of a payload of file `id`. */
export const isPayloadGet = (u: string, init: RequestInit | undefined, id: string) =>
  (init?.method ?? 'GET') === 'GET' && new URL(u).pathname.startsWith(`/v1/files/${id}/versions/`);
