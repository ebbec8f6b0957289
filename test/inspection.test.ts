/**
 * The adversarial inspection test: nothing readable leaves the client.
 *
 * A real relay process runs at debug log level behind a TCP proxy that records every byte of
 * HTTP and WebSocket traffic. Two users with three devices (one linked through the provisioning
 * channel) exchange messages both ways, each carrying a unique canary, with own-device sync and
 * live WebSocket push, then store, share, download, revoke and delete encrypted files whose names
 * and contents carry canaries, and back up and restore keys with a recovery code and a passphrase
 * (both canaries). Afterwards every server artifact — the SQLite database, its WAL and shared
 * memory files, the blob directory, the logs, and the captured traffic — is searched for every
 * canary and for every private key, seed, session secret and bearer token the clients hold, in raw,
 * hex, base64 and base64url form. A positive control shows the scanner finds what it looks for.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlindrelayClient, type ClientEnvironment, MemoryStorage } from '@blindrelay/client';
import { fileSource, nodeSocketFactory, saveFile } from '@blindrelay/client/node';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayApi } from '../packages/client/src/api.js';
import { Profile } from '../packages/client/src/profile.js';
import * as P from '../packages/protocol/test/internals.js';

const BIN = new URL('../packages/cli/bin/blindrelay.mjs', import.meta.url).pathname;
const p = createNodePrimitives();

let dir: string;
let relay: ChildProcess;
let logs = '';
let proxy: Server;
let proxyUrl: string;
const traffic: Buffer[] = [];

/** A loopback TCP proxy that records both directions of every connection. */
function startProxy(target: URL): Promise<{ server: Server; url: string }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (b: Buffer) => {
      traffic.push(Buffer.from(b));
      upstream.write(b);
    });
    upstream.on('data', (b: Buffer) => {
      traffic.push(Buffer.from(b));
      client.write(b);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })),
  );
}

function startRelay(dataDir: string): Promise<URL> {
  relay = spawn(process.execPath, [BIN, 'server', '--port', '0', '--data', dataDir, '--log-level', 'debug'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      logs += b.toString('utf8');
      const m = /listening on (http:\/\/\S+)/.exec(logs);
      if (m) resolve(new URL(m[1] as string));
    };
    relay.stdout?.on('data', onData);
    relay.stderr?.on('data', (b: Buffer) => {
      logs += b.toString('utf8');
    });
    relay.on('exit', (code) => reject(new Error(`relay exited early with ${code}: ${logs}`)));
  });
}

interface Device {
  client: BlindrelayClient;
  storage: MemoryStorage;
}

function environment(storage: MemoryStorage): ClientEnvironment {
  return { primitives: p, storage, socket: nodeSocketFactory };
}

/** Every form in which `secret` could appear in a dump: raw, hex, base64 and base64url at each alignment. */
function forms(secret: Uint8Array): Buffer[] {
  const raw = Buffer.from(secret);
  const out = [raw, Buffer.from(raw.toString('hex')), Buffer.from(raw.toString('hex').toUpperCase())];
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), raw]);
    for (const enc of ['base64', 'base64url'] as const) {
      // Drop the characters that depend on the neighbouring bytes.
      const s = padded.toString(enc);
      const start = Math.ceil((shift * 4) / 3) + 1;
      out.push(Buffer.from(s.slice(start, s.length - 3)));
    }
  }
  return out.filter((f) => f.length >= 16);
}

function findIn(haystack: Buffer, secrets: Map<string, Uint8Array>): string[] {
  const found: string[] = [];
  for (const [name, secret] of secrets) {
    if (forms(secret).some((f) => haystack.includes(f))) found.push(name);
  }
  return found;
}

async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

async function credentialsOf(d: Device) {
  const a = await (await Profile.open(d.storage, p)).read('account');
  return { user: a.user, deviceId: a.deviceId, signChallenge: (c: Uint8Array) => P.signAuthChallenge(p, a.signingSeed, c, a.user, a.deviceId) };
}

/** Every secret a device holds: seeds, private keys, session root/chain keys, tokens. */
async function secretsOf(name: string, d: Device, into: Map<string, Uint8Array>): Promise<void> {
  const profile = await Profile.open(d.storage, p);
  const account = await profile.read('account');
  if (account.masterSeed) into.set(`${name} master seed`, account.masterSeed);
  into.set(`${name} signing seed`, account.signingSeed);
  into.set(`${name} identity private key`, account.identityPrivate);
  const prekeys = await profile.read('prekeys');
  for (const k of prekeys.signed) into.set(`${name} signed prekey ${k.id}`, k.privateKey);
  for (const k of prekeys.oneTime.slice(0, 20)) into.set(`${name} one-time prekey ${k.id}`, k.privateKey);
  for (const k of prekeys.pq.slice(0, 5)) into.set(`${name} PQ prekey ${k.id}`, k.privateKey.subarray(1000, 1064));
  for (const [peer, entry] of await profile.readSessions()) {
    const s = P.deserializeSession(entry.current.bytes);
    into.set(`${name} session ${peer} root key`, s.rootKey);
    into.set(`${name} session ${peer} ratchet private key`, s.ratchet.privateKey);
    if (s.send) into.set(`${name} session ${peer} sending chain`, s.send.key);
    if (s.recv) into.set(`${name} session ${peer} receiving chain`, s.recv.key);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-inspect-'));
  const target = await startRelay(join(dir, 'data'));
  ({ server: proxy, url: proxyUrl } = await startProxy(target));
}, 60_000);

afterAll(async () => {
  proxy?.close();
  if (relay && relay.exitCode === null) relay.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('adversarial inspection: server artifacts hold nothing readable', () => {
  const canaries = new Map<string, Uint8Array>();
  const secrets = new Map<string, Uint8Array>();
  /** The owner's seals of the stored versions (public: PROTOCOL.md §15.4), to check they are stored and scanned. */
  const seals: Uint8Array[] = [];
  /** The send-mark signatures the relay keeps (public: API.md §5a), likewise. */
  const sendMarks: Uint8Array[] = [];
  const devices: Record<string, Device> = {};

  it('runs two users with three devices through the relay, every message carrying a canary', async () => {
    // Device names travel only end to end (the link code out of band, the sealed link state): canaries too.
    const nameCanary = (label: string) => {
      const name = `CANARY-${label}-${randomBytes(12).toString('hex')}`;
      canaries.set(name, P.utf8(name));
      return name;
    };
    const make = async (user: string, deviceName?: string) => {
      const storage = new MemoryStorage();
      return {
        client: await BlindrelayClient.createAccount(environment(storage), { servers: proxyUrl, user, ...(deviceName ? { deviceName } : {}) }),
        storage,
      };
    };
    devices.alice = await make('alice');
    devices.bob = await make('bob', nameCanary('device-name-bob'));
    const bob2Storage = new MemoryStorage();
    let approval: Promise<unknown> = Promise.resolve();
    const bob2 = await BlindrelayClient.link(environment(bob2Storage), {
      servers: proxyUrl,
      user: 'bob',
      deviceName: nameCanary('device-name-bob2'),
      onCode: (code, sas) => {
        approval = (devices.bob as Device).client.approve(code, { sas });
      },
    });
    await approval;
    devices.bob2 = { client: bob2, storage: bob2Storage };
    const { alice, bob } = devices as Record<'alice' | 'bob', Device>;

    // bob's second device listens on the WebSocket, so pushes cross the proxy too.
    const pushed: string[] = [];
    const controller = new AbortController();
    let open = false;
    const listening = bob2.listen({
      signal: controller.signal,
      minDelayMs: 50,
      maxDelayMs: 200,
      onMessage: (m) => void pushed.push(m.text),
      onStatus: (s) => {
        if (s.state === 'open') open = true;
      },
    });
    for (let i = 0; i < 100 && !open; i++) await new Promise((r) => setTimeout(r, 20));
    expect(open).toBe(true);

    const canary = (label: string) => {
      const text = `CANARY-${label}-${randomBytes(12).toString('hex')}`;
      canaries.set(text, P.utf8(text));
      return text;
    };
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = canary(`alice-to-bob-${i}`);
      await alice.client.send('bob', a);
      sent.push(a);
      const b = canary(`bob-to-alice-${i}`);
      await bob.client.send('alice', b);
      sent.push(b);
    }
    const fromBob2 = canary('bob2-to-alice');
    await bob2.send('alice', fromBob2);
    sent.push(fromBob2);
    // With the sessions in place, bob2's concurrent sends leave batched in WebSocket send frames
    // (docs/API.md §12), sync copies to bob included.
    const batch = [0, 1, 2].map((i) => canary(`bob2-to-alice-batch-${i}`));
    const results = await Promise.all(batch.map((t) => bob2.send('alice', t)));
    for (const r of results) expect(r).toMatchObject({ devices: 1, ownDevices: 1 });
    sent.push(...batch);

    const received = async (d: Device) => {
      const texts: string[] = [];
      await d.client.receive({ onMessage: (m) => void texts.push(m.text) });
      return texts;
    };
    const aliceGot = await received(alice);
    const bobGot = await received(bob);
    for (let i = 0; i < 100 && pushed.length < 7; i++) await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    await listening;
    // Every message arrived where it should: bob's devices see alice's messages, and each other's (sync).
    expect(aliceGot.sort()).toEqual(sent.filter((t) => t.includes('-to-alice')).sort());
    expect(bobGot).toEqual(expect.arrayContaining(sent.filter((t) => t.includes('alice-to-bob') || t.includes('bob2-to-alice'))));
    expect(pushed).toEqual(expect.arrayContaining(sent.filter((t) => t.includes('alice-to-bob') || t.includes('bob-to-alice'))));

    for (const [name, d] of Object.entries(devices)) await secretsOf(name, d, secrets);
    const tokens = await (await Profile.open(alice.storage, p)).read('tokens');
    for (const [server, t] of tokens.tokens) secrets.set(`alice token for ${server}`, Buffer.from(t.token, 'base64url'));
    expect(secrets.size).toBeGreaterThan(30);
  }, 120_000);

  it('stores, shares, downloads, revokes and deletes files carrying canaries in their names and contents', async () => {
    const { alice, bob, bob2 } = devices as Record<'alice' | 'bob' | 'bob2', Device>;
    const work = await mkdtemp(join(dir, 'files-'));
    const canary = (label: string) => {
      const text = `CANARY-${label}-${randomBytes(12).toString('hex')}`;
      canaries.set(text, P.utf8(text));
      return text;
    };
    const name = `${canary('file-name')}.txt`;
    // Canaries at the start, across a 64 KiB chunk boundary and at the end of a 200 KB file.
    const body = Buffer.concat([
      Buffer.from(canary('file-start')),
      randomBytes(65_520),
      Buffer.from(canary('file-boundary')),
      randomBytes(130_000),
      Buffer.from(canary('file-end')),
    ]);
    await writeFile(join(work, name), body);
    const put = await alice.client.putFile(await fileSource(join(work, name)), { to: ['bob'] });
    const small = `${canary('small-name')}.md`;
    await writeFile(join(work, small), canary('small-content'));
    const second = await bob2.client.putFile(await fileSource(join(work, small)), { to: ['alice'] });

    const got = await saveFile(bob.client, put.file.id, { output: await mkdtemp(join(dir, 'bob-')) });
    expect(Buffer.compare(await readFile(got.path), body)).toBe(0);
    const got2 = await saveFile(alice.client, second.file.id, { output: await mkdtemp(join(dir, 'alice-')) });
    expect((await readFile(got2.path, 'utf8')).startsWith('CANARY-small-content')).toBe(true);
    // The file keys (before and after revocation) and each device's file key are secrets too.
    const identity = await P.X25519Identity.fromPrivateKey(p, (await (await Profile.open(alice.storage, p)).read('account')).filePrivate as Uint8Array);
    const api = new RelayApi({ servers: [proxyUrl], credentials: await credentialsOf(alice) });
    secrets.set('file key before revocation', await P.unwrapFileKey(p, (await api.getFile(put.file.id)).header, [identity]));
    // Revocation re-encrypts through the proxy (download, decrypt, encrypt, upload), then a delete.
    await alice.client.shareFile(put.file.id, 'bob');
    const revoked = await alice.client.revokeFile(put.file.id, 'bob');
    expect(revoked.file.readers).toEqual([]);
    await bob2.client.removeFile(second.file.id);

    const afterRevocation = await api.getFile(put.file.id);
    const keyAfter = await P.unwrapFileKey(p, afterRevocation.header, [identity]);
    secrets.set('file key after revocation', keyAfter);
    // The signatures are public, but what they are bound to is derived from the file key: the
    // bindings never reach the relay (with the reader-list one, it could test guessed file names).
    for (const label of ['Blindrelay_FileAccess_v2', 'Blindrelay_FileContent_v1']) {
      secrets.set(`${label} binding`, await p.hkdfSha256(keyAfter, new Uint8Array(0), P.utf8(label), 32));
    }
    expect(afterRevocation.seal).toBeDefined();
    seals.push(afterRevocation.seal as Uint8Array);
    // Alice's send mark as the relay holds it (her last send was before the files).
    const held = await api.sendMark();
    expect(held.mark).toBeGreaterThan(0);
    sendMarks.push(held.signature as Uint8Array);
    for (const [name, d] of Object.entries(devices)) {
      const account = await (await Profile.open(d.storage, p)).read('account');
      secrets.set(`${name} file private key`, account.filePrivate as Uint8Array);
    }
  }, 120_000);

  it('stores, finds, shares and unshares encrypted records and searches message history, canaries in names, fields and words', async () => {
    const { alice, bob } = devices as Record<'alice' | 'bob', Device>;
    const canary = (label: string) => {
      const text = `CANARY-${label}-${randomBytes(12).toString('hex')}`;
      canaries.set(text, P.utf8(text));
      return text;
    };
    // Word canaries are single words (lower case, as the word index folds them): the relay must
    // see neither the word nor its full HMAC.
    const word = (label: string) => {
      const text = `canary${label}${randomBytes(10).toString('hex')}`;
      canaries.set(text, P.utf8(text));
      return text;
    };
    const name = canary('collection-name');
    const field = canary('field-name');
    const value = canary('field-value');
    const w = word('recordword');
    await alice.client.createCollection(name, {
      plannedRecords: 1000,
      indexes: [
        { kind: 'exact', fields: [field], transforms: ['lower'] },
        { kind: 'word', fields: ['note'] },
        { kind: 'compound', fields: [field, 'city'], transforms: ['lower'] },
      ],
    });
    const city = canary('city');
    const id = await alice.client.putRecord(name, { [field]: value, note: `some text with ${w} inside`, city });
    for (let i = 0; i < 20; i++) await alice.client.putRecord(name, { [field]: canary(`other-${i}`), note: word(`note${i}`), city });
    expect((await alice.client.findRecords(name, [{ field, value }])).records.map((r) => r.id)).toEqual([id]);
    expect((await alice.client.findRecords(name, [{ field: 'note', value: w.toUpperCase() }])).records.map((r) => r.id)).toEqual([id]);
    expect(
      (
        await alice.client.findRecords(name, [
          { field, value },
          { field: 'city', value: city },
        ])
      ).records.map((r) => r.id),
    ).toEqual([id]);
    await alice.client.shareCollection(name, 'bob');
    await bob.client.receive({ onMessage: () => {} });
    expect((await bob.client.getRecord(`alice/${name}`, id))[field]).toBe(value);
    await alice.client.unshareCollection(name, 'bob');
    await alice.client.putRecord(name, { [field]: canary('after-rekey'), note: word('afterrekey') });

    // Message history, with history search on (as the CLI runs).
    const withHistory = (d: Device) => BlindrelayClient.open({ ...environment(d.storage as MemoryStorage), historySearch: true });
    const aliceH = await withHistory(alice);
    const bobH = await withHistory(bob);
    const secret = word('historyword');
    await aliceH.send('bob', `meeting about ${secret} tomorrow`);
    await bobH.receive({ onMessage: () => {} });
    expect((await bobH.searchHistory(secret)).map((m) => m.from)).toEqual(['alice']);
    expect((await aliceH.searchHistory(secret.toUpperCase())).map((m) => m.to)).toEqual(['bob']);

    // Every collection key, data key and index key the devices hold is a secret, and so is the
    // full HMAC of each canary word (only its truncation may reach the relay).
    for (const [who, d] of Object.entries(devices)) {
      const held = await (await Profile.open(d.storage, p)).read('collections');
      for (const [cid, c] of held.collections) {
        const idBytes = Buffer.from(cid, 'base64url');
        for (const k of c.keys) {
          secrets.set(`${who} collection ${cid} key ${k.epoch}`, k.key);
          secrets.set(`${who} collection ${cid} data key ${k.epoch}`, await P.deriveDataKey(p, k.key, idBytes));
          const words: P.IndexSpec = { name: 'text:word', kind: 'word', parts: [{ field: 'text', transforms: [] }], bits: 23 };
          const indexKey = await P.deriveIndexKey(p, k.key, idBytes, words);
          secrets.set(`${who} collection ${cid} history index key ${k.epoch}`, indexKey);
          secrets.set(`${who} HMAC of the history canary under ${cid}/${k.epoch}`, await p.hmacSha256(indexKey, P.utf8(secret)));
        }
      }
    }
    expect([...secrets.keys()].filter((k) => k.includes('collection')).length).toBeGreaterThanOrEqual(6);
    // Alice sent again: the relay now holds her newer send mark (the older one is replaced).
    const api = new RelayApi({ servers: [proxyUrl], credentials: await credentialsOf(alice) });
    sendMarks.splice(0, sendMarks.length, (await api.sendMark()).signature as Uint8Array);
  }, 120_000);

  it('runs an MLS group (issue 14): canaries in the group name, texts and a group file, KeyPackage private keys held', async () => {
    const { alice, bob, bob2 } = devices as Record<'alice' | 'bob' | 'bob2', Device>;
    const canary = (label: string) => {
      const text = `CANARY-${label}-${randomBytes(12).toString('hex')}`;
      canaries.set(text, P.utf8(text));
      return text;
    };
    for (const d of [alice, bob, bob2]) await d.client.publishGroupKeyPackages();
    const name = canary('group-name');
    const id = await alice.client.createGroup(name, ['bob']);
    const texts = [canary('group-text-alice'), canary('group-text-bob2')];
    await alice.client.sendGroupMessage(id, texts[0] as string);
    await bob2.client.sendGroupMessage(id, texts[1] as string);
    expect((await bob.client.receiveGroupMessages()).map((m) => m.text)).toEqual(texts);
    expect((await bob.client.listGroups()).map((g) => g.name)).toEqual([name]);
    // A file shared with the group (§22.7): its name and contents are canaries too; removing bob re-keys it.
    const fileName = `${canary('group-file-name')}.txt`;
    const groupWork = await mkdtemp(join(dir, 'group-files-'));
    await writeFile(join(groupWork, fileName), canary('group-file-content'));
    const shared = await alice.client.putGroupFile(id, await fileSource(join(groupWork, fileName)));
    expect(shared.file.readers).toEqual(['bob']);
    expect(await alice.client.removeGroupMember(id, 'bob')).toEqual({ updated: [shared.file.id], failed: [] });
    const after = canary('group-text-after-removal');
    await alice.client.sendGroupMessage(id, after);
    expect(await bob.client.receiveGroupMessages()).toEqual([]);
    // The private halves of every KeyPackage and the group states' secrets stay on the devices.
    for (const [who, d] of Object.entries({ alice, bob, bob2 })) {
      const groups = await (await Profile.open(d.storage, p)).read('groups');
      for (const [ref, k] of groups.keyPackages) {
        secrets.set(`${who} KeyPackage ${ref} init key`, k.initPrivate);
        secrets.set(`${who} KeyPackage ${ref} leaf key`, k.hpkePrivate);
      }
    }
  }, 120_000);

  it('backs up with a recovery code and a passphrase, and restores both on new devices', async () => {
    const { alice, bob } = devices as Record<'alice' | 'bob', Device>;
    const backup = await alice.client.createBackup();
    const code = backup.recoveryCode as string;
    const canonical = code.replaceAll('-', '');
    canaries.set('recovery code', P.utf8(code));
    canaries.set('recovery code (canonical)', P.utf8(canonical));
    const passphrase = `CANARY-backup-passphrase-${randomBytes(12).toString('hex')}`;
    canaries.set(passphrase, P.utf8(passphrase));
    await bob.client.createBackup({ passphrase });
    // The backup keys, the code's wrap key, and the code's access secret (sent to the relay as the
    // proof of the code, so excluded from the traffic scan like the bearer tokens: the relay keeps
    // only its SHA-256).
    for (const [name, d] of [['alice', alice] as const, ['bob', bob] as const]) {
      secrets.set(`${name} backup key`, (await (await Profile.open(d.storage, p)).read('backup')).key as Uint8Array);
    }
    const label = (l: string, user: string) => P.concat(P.utf8(l), Uint8Array.of(0), P.utf8(user));
    const salt = P.utf8('blindrelay backup v1');
    secrets.set('alice backup code wrap key', await p.hkdfSha256(P.utf8(canonical), salt, label('blindrelay backup wrap code v1', 'alice'), 32));
    secrets.set('alice backup access token (code)', await p.hkdfSha256(P.utf8(canonical), salt, label('blindrelay backup access v1', 'alice'), 32));
    const restoredAlice = new MemoryStorage();
    const ra = await BlindrelayClient.restore(environment(restoredAlice), { servers: proxyUrl, user: 'alice', code });
    const restoredBob = new MemoryStorage();
    const rb = await BlindrelayClient.restore(environment(restoredBob), { servers: proxyUrl, user: 'bob', passphrase });
    expect(ra.fileKeys + rb.fileKeys).toBeGreaterThan(0);
    await secretsOf('alice restored', { client: ra.client, storage: restoredAlice }, secrets);
    await secretsOf('bob restored', { client: rb.client, storage: restoredBob }, secrets);
  }, 120_000);

  it('a user who deletes its account leaves no trace, and its deletion request carries no secret', async () => {
    const user = 'zebracanary7q';
    const storage = new MemoryStorage();
    const zebra: Device = { client: await BlindrelayClient.createAccount(environment(storage), { servers: proxyUrl, user }), storage };
    const alice = devices.alice as Device;
    const text = `CANARY-zebra-${randomBytes(12).toString('hex')}`;
    canaries.set(text, P.utf8(text));
    await zebra.client.send('alice', text);
    await alice.client.send(user, `CANARY-to-zebra-${randomBytes(4).toString('hex')}`);
    // That send raised alice's send mark: the relay now holds its new signature.
    const held = await new RelayApi({ servers: [proxyUrl], credentials: await credentialsOf(alice) }).sendMark();
    sendMarks.splice(0, sendMarks.length, held.signature as Uint8Array);
    // Its seeds and keys join the secrets: the traffic scan below shows the deletion sent none of them.
    await secretsOf('zebra', zebra, secrets);
    const account = await (await Profile.open(storage, p)).read('account');
    const traces = new Map<string, Uint8Array>([
      ['name', P.utf8(user)],
      ['master public key', account.masterKey],
      ['signing key', account.signingKey],
      ['identity key', account.identityPublic],
    ]);
    expect((await zebra.client.deleteAccount()).deletedOnRelay).toBe(true);
    expect(storage.files.size).toBe(0);
    for (const file of await filesUnder(join(dir, 'data'))) {
      if (!(await stat(file)).isFile()) continue;
      const bytes = await readFile(file);
      expect(
        [...traces].filter(([, t]) => bytes.includes(Buffer.from(t))).map(([what]) => what),
        file,
      ).toEqual([]);
    }
  }, 60_000);

  it('the scanner finds what it looks for (positive control)', async () => {
    // A canary leaked raw, or inside a base64/hex-encoded blob at any byte offset, is found.
    const [name, canary] = [...canaries][0] as [string, Uint8Array];
    for (const offset of [0, 1, 2, 5]) {
      const blob = Buffer.concat([randomBytes(offset), Buffer.from(canary), randomBytes(7)]);
      for (const enc of ['base64', 'base64url', 'hex'] as const) {
        expect(findIn(Buffer.from(`{"x":"${blob.toString(enc)}"}`), canaries), `${enc} at ${offset}`).toEqual([name]);
      }
      expect(findIn(blob, canaries)).toEqual([name]);
    }
    const account = await (await Profile.open((devices.alice as Device).storage, p)).read('account');
    const keyDump = Buffer.from(`prefix ${Buffer.from(account.masterSeed as Uint8Array).toString('base64')} suffix`);
    expect(findIn(keyDump, secrets)).toContain('alice master seed');
  });

  it('traffic carries no canary and no secret other than the bearer tokens', () => {
    const all = Buffer.concat(traffic);
    expect(all.length).toBeGreaterThan(10_000);
    expect(all.includes(Buffer.from('Upgrade: websocket', 'latin1')) || all.includes(Buffer.from('upgrade: websocket', 'latin1'))).toBe(true);
    expect(findIn(all, canaries)).toEqual([]);
    const keys = new Map([...secrets].filter(([name]) => !name.includes('token')));
    expect(findIn(all, keys)).toEqual([]);
  });

  it('the database, WAL, blob directory and debug logs hold no canary, key or token', async () => {
    const dataDir = join(dir, 'data');
    const inspect = async (when: string) => {
      const files = await filesUnder(dataDir);
      expect(files.some((f) => f.endsWith('relay.db'))).toBe(true);
      // The stored file's payload (alice's re-encrypted version) is among what is scanned.
      expect(files.some((f) => f.startsWith(join(dataDir, 'blobs')))).toBe(true);
      // So is its owner's seal (stored with the version's metadata).
      const stored = await Promise.all(files.map(async (f) => ((await stat(f)).isFile() ? readFile(f) : Buffer.alloc(0))));
      for (const seal of seals)
        expect(
          stored.some((b) => b.includes(Buffer.from(seal))),
          when,
        ).toBe(true);
      // And the send marks and request nonces (their tables are in relay.db, scanned whole below).
      for (const mark of sendMarks)
        expect(
          stored.some((b) => b.includes(Buffer.from(mark))),
          when,
        ).toBe(true);
      for (const file of files) {
        if (!(await stat(file)).isFile()) continue;
        const bytes = await readFile(file);
        expect(findIn(bytes, canaries), `${when}: ${file}`).toEqual([]);
        expect(findIn(bytes, secrets), `${when}: ${file}`).toEqual([]);
      }
    };
    await inspect('while running');
    expect(logs.length).toBeGreaterThan(1000); // debug logging really happened
    relay.kill('SIGTERM');
    await new Promise((r) => relay.once('exit', r));
    await inspect('after shutdown');
    const logBytes = Buffer.from(logs, 'utf8');
    expect(findIn(logBytes, canaries)).toEqual([]);
    expect(findIn(logBytes, secrets)).toEqual([]);
    for (const user of ['alice', 'bob']) expect(logs.includes(`"${user}"`), `user name ${user} in logs`).toBe(false);
    expect(logs.includes('zebracanary7q'), 'the deleted user in logs').toBe(false);
  }, 60_000);
});
