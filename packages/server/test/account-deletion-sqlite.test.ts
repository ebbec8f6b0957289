/**
 * Account deletion in the SQLite store at a size where every table spans many b-tree pages
 * (interior pages, overflow pages, a WAL holding older page images): after `accounts.delete` no
 * byte of the user's name, device id or keys is left in relay.db, relay.db-wal or blobs/
 * (storage/sqlite/sqlite-account-deletion.ts). The same scan before the deletion finds them all
 * (positive control), and without the scrub step the WAL still holds them (checked by reverting
 * `scrub()`: the test then fails).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStorage } from '../src/storage/sqlite/sqlite-storage.js';
import type { Storage } from '../src/storage/types.js';

const bytes = (n: number) => new Uint8Array(randomBytes(n));
const TARGET = 'zebracanary7q';
const USERS = 1500;

function filesUnder(root: string): string[] {
  return readdirSync(root).flatMap((f) => {
    const p = join(root, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}
function scan(root: string, needles: Map<string, Buffer>): string[] {
  const found: string[] = [];
  for (const file of filesUnder(root)) {
    const data = readFileSync(file);
    for (const [what, n] of needles) if (data.includes(n)) found.push(`${file.slice(root.length + 1)}: ${what}`);
  }
  return found;
}

describe('SQLite account deletion at size', () => {
  let dir: string;
  let s: Storage;
  afterEach(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`leaves no byte of the user among ${USERS} others (database, WAL, blobs)`, async () => {
    dir = mkdtempSync(join(tmpdir(), 'br-deletion-size-'));
    s = openSqliteStorage({ dataDir: dir, now: () => 0 });
    const names = Array.from({ length: USERS }, (_, i) => `u${String(i).padStart(5, '0')}`);
    names.splice(USERS / 2, 0, TARGET);
    const devices = new Map<string, { deviceId: number; signingKey: Uint8Array; identityKey: Uint8Array }>();
    const masterKeys = new Map<string, Uint8Array>();
    await Promise.all(
      names.map((user) => {
        const device = { deviceId: 1 + (randomBytes(4).readUInt32BE() >>> 1), signingKey: bytes(32), identityKey: bytes(32) };
        devices.set(user, device);
        masterKeys.set(user, bytes(32));
        return s.accounts.create(
          {
            user,
            masterKey: masterKeys.get(user) as Uint8Array,
            listVersion: 1,
            deviceList: bytes(300),
            device,
            prekeys: {
              signedPreKey: { id: 1, publicKey: bytes(32), signature: bytes(64) },
              oneTimePreKeys: Array.from({ length: 4 }, (_, i) => ({ id: i + 2, publicKey: bytes(32) })),
            },
            createdAt: 0,
          },
          { maxStoredOneTime: 100 },
        );
      }),
    );
    const target = devices.get(TARGET) as { deviceId: number; signingKey: Uint8Array; identityKey: Uint8Array };
    // Messages to and from the user, interleaved with everyone's; a file of its own; a file of another naming it.
    for (let i = 0; i < USERS; i += 2) {
      const other = names[i] as string;
      if (other === TARGET) continue;
      const o = devices.get(other) as { deviceId: number };
      await s.mailboxes.enqueue({
        to: other,
        expectedListVersion: 1,
        fromUser: TARGET,
        fromDevice: target.deviceId,
        sentAt: 0,
        messages: [{ id: bytes(16), deviceId: o.deviceId, body: bytes(300) }],
        maxQueued: 100,
      });
      await s.mailboxes.enqueue({
        to: TARGET,
        expectedListVersion: 1,
        fromUser: other,
        fromDevice: o.deviceId,
        sentAt: 0,
        messages: [{ id: bytes(16), deviceId: target.deviceId, body: bytes(300) }],
        maxQueued: 10_000,
      });
    }
    const limits = { maxFilesPerUser: 10, userQuotaBytes: 1e9 };
    const own = bytes(16);
    expect(
      (await s.files.create({ id: own, owner: TARGET, readers: ['u00001'], header: bytes(200), meta: bytes(40), payloadSize: 5000, createdAt: 0 }, limits))
        .status,
    ).toBe('created');
    await s.blobs.append({ fileId: own, version: 1 }, 0, bytes(5000));
    const theirs = bytes(16);
    expect(
      (
        await s.files.create(
          { id: theirs, owner: 'u00001', readers: [TARGET, 'u00002'], header: bytes(200), meta: bytes(40), payloadSize: 16, createdAt: 0 },
          limits,
        )
      ).status,
    ).toBe('created');

    const needles = new Map<string, Buffer>([
      ['name', Buffer.from(TARGET)],
      ['master key', Buffer.from(masterKeys.get(TARGET) as Uint8Array)],
      ['signing key', Buffer.from(target.signingKey)],
      ['identity key', Buffer.from(target.identityKey)],
    ]);
    const id = Buffer.alloc(4);
    id.writeUInt32BE(target.deviceId);
    if (target.deviceId >= 2 ** 23) needles.set('device id (u32 BE)', id);
    const before = scan(dir, needles);
    for (const what of needles.keys())
      expect(
        before.some((f) => f.endsWith(`: ${what}`)),
        what,
      ).toBe(true);
    expect(filesUnder(join(dir, 'blobs')).length).toBe(1);

    const started = performance.now();
    expect(await s.accounts.delete({ user: TARGET, expectedListVersion: 1 })).toEqual({ status: 'deleted', devices: [target.deviceId] });
    const ms = performance.now() - started;
    const size = statSync(join(dir, 'relay.db')).size;
    console.info(`account deletion among ${USERS} users: ${ms.toFixed(0)} ms, relay.db ${(size / 1e6).toFixed(1)} MB after`);

    expect(scan(dir, needles)).toEqual([]);
    expect(filesUnder(join(dir, 'blobs'))).toEqual([]);
    expect(statSync(join(dir, 'relay.db-wal')).size).toBe(0);
    // The others are intact.
    expect((await s.files.get(theirs))?.readers).toEqual(['u00002']);
    expect(await s.mailboxes.countAll()).toBe(0);
    expect((await s.accounts.get('u00001'))?.devices).toHaveLength(1);
  }, 60_000);
});
