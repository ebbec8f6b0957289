/**
 * The encrypted key backup (docs/RECOVERY.md): the recovery code's checksum (every single-symbol
 * typo and neighbour swap caught), the blob and wrapped-key formats (tampering and wrong keys
 * refused), and through a real relay: restore with the code as a new device that reads the old
 * files, keeps contacts' verification and the same safety number; a typo refused locally, a wrong
 * code by the relay, both with nothing changed; the passphrase path through OPAQUE locked after
 * ten wrong attempts; the backup re-encrypted by the device when a new file becomes readable.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKUP_CONTENTS_VERSION,
  type BackupContents,
  codeSecrets,
  decodeContents,
  encodeContents,
  openBackup,
  passphraseWrapKey,
  sealBackup,
  unwrapBackupKey,
  wrapBackupKey,
} from '../src/backup/backup-format.js';
import { formatRecoveryCode, generateRecoveryCode, parseRecoveryCode, RECOVERY_CODE_ALPHABET, RECOVERY_CODE_BITS } from '../src/backup/recovery-code.js';
import { BlindrelayClient } from '../src/client.js';
import { fileSource, saveFile } from '../src/node.js';
import { environment, newUserAt, p } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

describe('recovery code', () => {
  it('has at least 128 bits, 7 groups of 4, and parses back (case, spaces and look-alikes forgiven)', () => {
    expect(RECOVERY_CODE_BITS).toBeGreaterThanOrEqual(128);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const c = generateRecoveryCode(p);
      expect(c.formatted).toMatch(/^([0-9A-HJKMNP-TV-Z]{4}-){6}[0-9A-HJKMNP-TV-Z]{4}$/);
      expect(parseRecoveryCode(c.formatted)).toBe(c.canonical);
      expect(parseRecoveryCode(` ${c.formatted.toLowerCase().replaceAll('-', ' ')} `)).toBe(c.canonical);
      seen.add(c.canonical);
    }
    expect(seen.size).toBe(200);
    // I, L → 1 and O → 0 (Crockford): a code with 1s and 0s typed with look-alikes.
    const c = generateRecoveryCode(p).canonical;
    const alike = c.replaceAll('1', 'l').replaceAll('0', 'O');
    expect(parseRecoveryCode(alike)).toBe(c);
  });

  it('catches EVERY single-symbol typo and every swap of two different neighbours', () => {
    for (let n = 0; n < 20; n++) {
      const code = generateRecoveryCode(p).canonical;
      for (let i = 0; i < code.length; i++) {
        for (const ch of RECOVERY_CODE_ALPHABET) {
          if (ch === code[i]) continue;
          const typo = code.slice(0, i) + ch + code.slice(i + 1);
          expect(() => parseRecoveryCode(typo), `${code} → ${typo}`).toThrow(expect.objectContaining({ code: 'ERR_RECOVERY_CODE_INVALID' }));
        }
        if (i + 1 < code.length && code[i] !== code[i + 1]) {
          const swapped = code.slice(0, i) + code[i + 1] + code[i] + code.slice(i + 2);
          expect(() => parseRecoveryCode(swapped)).toThrow(expect.objectContaining({ code: 'ERR_RECOVERY_CODE_INVALID' }));
        }
      }
    }
  });

  it('refuses the wrong length and foreign characters', () => {
    const code = generateRecoveryCode(p).formatted;
    expect(() => parseRecoveryCode(code.slice(0, -1))).toThrow(expect.objectContaining({ code: 'ERR_RECOVERY_CODE_INVALID' }));
    expect(() => parseRecoveryCode(`${code}A`)).toThrow(expect.objectContaining({ code: 'ERR_RECOVERY_CODE_INVALID' }));
    expect(() => parseRecoveryCode(`U${code.slice(1)}`)).toThrow(expect.objectContaining({ code: 'ERR_RECOVERY_CODE_INVALID' }));
    expect(formatRecoveryCode('ABCDEFGH')).toBe('ABCD-EFGH');
  });
});

describe('backup format', () => {
  const contents: BackupContents = {
    user: 'alice',
    masterSeed: p.randomBytes(32),
    contacts: [{ user: 'bob', masterKey: p.randomBytes(32), verified: true, pinnedAt: 1 }],
    files: [{ id: 'AAAAAAAAAAAAAAAAAAAAAA', version: 2, key: p.randomBytes(16) }],
    createdAt: 5,
  };

  it('round-trips, pads, and refuses a wrong key, another user, or any flipped byte', async () => {
    const key = p.randomBytes(32);
    const blob = await sealBackup(p, key, contents);
    expect(await openBackup(p, key, 'alice', blob)).toEqual(contents);
    await expect(openBackup(p, p.randomBytes(32), 'alice', blob)).rejects.toMatchObject({ code: 'ERR_BACKUP_CORRUPT' });
    await expect(openBackup(p, key, 'mallory', blob)).rejects.toMatchObject({ code: 'ERR_BACKUP_CORRUPT' });
    for (const i of [0, 5, 20, blob.length - 1]) {
      const bad = blob.slice();
      bad[i] = (bad[i] as number) ^ 1;
      await expect(openBackup(p, key, 'alice', bad)).rejects.toMatchObject({ code: 'ERR_BACKUP_CORRUPT' });
    }
    // Padmé: the ciphertext does not give the exact size of the contents.
    expect(blob.length - 32).toBeGreaterThanOrEqual(encodeContents(contents).length + 1);
  });

  it('refuses to seal a backup larger than the relay stores (1 MiB)', async () => {
    const files = Array.from({ length: 15_000 }, (_, i) => ({ id: `file-${i}`.padEnd(22, 'A'), version: 1, key: p.randomBytes(16) }));
    await expect(sealBackup(p, p.randomBytes(32), { ...contents, files })).rejects.toMatchObject({ code: 'ERR_BACKUP_TOO_LARGE' });
  });

  it('decodes strictly (unknown version, bad sizes)', () => {
    const good = JSON.parse(new TextDecoder().decode(encodeContents(contents)));
    const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
    expect(() => decodeContents(enc({ ...good, version: BACKUP_CONTENTS_VERSION + 1 }))).toThrow(expect.objectContaining({ code: 'ERR_BACKUP_CORRUPT' }));
    expect(() => decodeContents(enc({ ...good, masterSeed: 'AAAA' }))).toThrow(expect.objectContaining({ code: 'ERR_BACKUP_CORRUPT' }));
    expect(() => decodeContents(enc({ ...good, files: [{ id: 'x', version: 0, key: '' }] }))).toThrow(expect.objectContaining({ code: 'ERR_BACKUP_CORRUPT' }));
    expect(() => decodeContents(new Uint8Array([0xff]))).toThrow(expect.objectContaining({ code: 'ERR_BACKUP_CORRUPT' }));
  });

  it('wraps the backup key under the code or passphrase key, bound to kind and user', async () => {
    const backupKey = p.randomBytes(32);
    const code = generateRecoveryCode(p).canonical;
    const s = await codeSecrets(p, code, 'alice');
    expect(s.accessSecret).not.toEqual(s.wrapKey);
    expect((await codeSecrets(p, code, 'bob')).wrapKey).not.toEqual(s.wrapKey);
    const wrapped = await wrapBackupKey(p, s.wrapKey, 'code', 'alice', backupKey);
    expect(await unwrapBackupKey(p, s.wrapKey, 'code', 'alice', wrapped)).toEqual(backupKey);
    await expect(unwrapBackupKey(p, s.accessSecret, 'code', 'alice', wrapped)).rejects.toMatchObject({ code: 'ERR_BACKUP_WRONG_SECRET' });
    await expect(unwrapBackupKey(p, s.wrapKey, 'code', 'bob', wrapped)).rejects.toMatchObject({ code: 'ERR_BACKUP_WRONG_SECRET' });
    await expect(unwrapBackupKey(p, s.wrapKey, 'passphrase', 'alice', wrapped)).rejects.toMatchObject({ code: 'ERR_BACKUP_CORRUPT' });
    const pk = await passphraseWrapKey(p, p.randomBytes(64), 'alice');
    expect(pk.length).toBe(32);
  });
});

describe('backup and restore through a relay', () => {
  let dir: string;
  let server: TestRelay;
  let url: string;
  let counter = 0;
  const unique = (name: string) => `${name}-${process.pid}-${++counter}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'br-backup-'));
    server = await startRelay({
      host: '127.0.0.1',
      port: 0,
      dataDir: join(dir, 'data'),
      logLevel: 'silent',
      processMetrics: false,
      rateLimits: { accountsPerIp: false, backupRestorePerIp: false },
    });
    url = server.url;
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function storeFile(client: BlindrelayClient, to: string[]): Promise<{ id: string; bytes: Uint8Array }> {
    const bytes = p.randomBytes(70_000);
    const path = join(dir, `${++counter}.bin`);
    await writeFile(path, bytes);
    const r = await client.putFile(await fileSource(path), { to });
    return { id: r.file.id, bytes };
  }
  async function fetchFile(client: BlindrelayClient, id: string): Promise<Uint8Array> {
    const out = join(dir, `out-${++counter}`);
    await saveFile(client, id, { output: out });
    return new Uint8Array(await readFile(out));
  }

  it('restores with the recovery code: new device, old files readable, contacts and safety numbers kept', async () => {
    const alice = await newUserAt(unique('alice'), url);
    const bob = await newUserAt(unique('bob'), url);
    const carol = await newUserAt(unique('carol'), url);
    const mine = await storeFile(alice.client, [bob.client.user]);
    const theirs = await storeFile(carol.client, [alice.client.user]);
    const bobNumber = (await alice.client.safetyNumber(bob.client.user)).safetyNumber;
    await alice.client.verify(bob.client.user, bobNumber);
    const created = await alice.client.createBackup();
    expect(created.kind).toBe('code');
    expect(created.files).toBe(2);
    const code = created.recoveryCode as string;
    const before = await bob.client.safetyNumber(alice.client.user);

    // A typo: refused by the checksum, before anything is sent (no request at all).
    const typoEnv = environment();
    let requests = 0;
    typoEnv.hook.fn = (_u, _i, next) => {
      requests++;
      return next();
    };
    const i = code.search(/[0-9A-Z]/);
    const typo = code.slice(0, i) + (code[i] === 'A' ? 'B' : 'A') + code.slice(i + 1);
    await expect(BlindrelayClient.restore(typoEnv.env, { servers: url, user: alice.client.user, code: typo })).rejects.toMatchObject({
      code: 'ERR_RECOVERY_CODE_INVALID',
    });
    expect(requests).toBe(0);
    expect(await typoEnv.storage.exists()).toBe(false);
    // Another valid code: refused by the relay, nothing changed.
    const wrongEnv = environment();
    await expect(
      BlindrelayClient.restore(wrongEnv.env, { servers: url, user: alice.client.user, code: generateRecoveryCode(p).formatted }),
    ).rejects.toMatchObject({
      code: 'ERR_BACKUP_WRONG_SECRET',
    });
    expect(await wrongEnv.storage.exists()).toBe(false);
    expect((await alice.client.devices()).devices).toHaveLength(1);

    const oldDevice = alice.client.deviceId;
    const fresh = environment();
    const t0 = performance.now();
    const r = await BlindrelayClient.restore(fresh.env, { servers: url, user: alice.client.user, code, revokeOthers: true, deviceName: 'restored' });
    const restoreMs = performance.now() - t0;
    expect(r.revoked).toEqual([oldDevice]);
    expect(r.fileKeys).toBe(2);
    expect(r.rewrapped).toEqual([mine.id]);
    const restored = r.client;
    expect(restored.deviceId).not.toBe(oldDevice);
    expect(await fetchFile(restored, mine.id)).toEqual(mine.bytes);
    // Carol's file has no stanza for the new device: opened with the restored key.
    expect(await fetchFile(restored, theirs.id)).toEqual(theirs.bytes);
    // Same master key: bob's number for alice is unchanged; alice's verification of bob survived.
    expect((await bob.client.safetyNumber(alice.client.user)).safetyNumber).toBe(before.safetyNumber);
    expect(await restored.safetyNumber(bob.client.user)).toMatchObject({ safetyNumber: bobNumber, verified: true });
    // Bob still reads the file; messages from bob reach the new device.
    expect(await fetchFile(bob.client, mine.id)).toEqual(mine.bytes);
    await bob.client.send(alice.client.user, 'after restore');
    const got: string[] = [];
    await restored.receive({ onMessage: (m) => void got.push(m.text) });
    expect(got).toEqual(['after restore']);
    // The recovery code still opens the (re-encrypted) backup.
    const info = await restored.backupInfo();
    expect(info).toMatchObject({ enabled: true, kind: 'code' });
    expect(info.relay?.generation).toBeGreaterThan(created.generation);
    console.info(`restore with code: ${restoreMs.toFixed(0)} ms, backup ${created.size} bytes`);
  });

  it('re-encrypts the backup by itself when a file is stored, a contact verified, or (hourly, on receive) a file shared with us', async () => {
    const alice = await newUserAt(unique('alice'), url);
    const bob = await newUserAt(unique('bob'), url);
    await alice.client.createBackup();
    const generation = async () => (await alice.client.backupInfo()).relay?.generation as number;
    const g0 = await generation();
    await storeFile(alice.client, []);
    expect(await generation()).toBe(g0 + 1);
    expect(await alice.client.syncBackup()).toMatchObject({ uploaded: false });
    await alice.client.verify(bob.client.user, (await alice.client.safetyNumber(bob.client.user)).safetyNumber);
    expect(await generation()).toBe(g0 + 2);
    // Bob shares a file with alice: her device learns of it at the next receive once an hour passed.
    await storeFile(bob.client, [alice.client.user]);
    await alice.client.receive({ onMessage: () => {} });
    expect(await generation()).toBe(g0 + 2);
    alice.clock.offset += 61 * 60_000;
    await alice.client.receive({ onMessage: () => {} });
    expect(await generation()).toBe(g0 + 3);
  });

  it('a new backup replaces the old one: the old code no longer restores', async () => {
    const alice = await newUserAt(unique('alice'), url);
    const first = (await alice.client.createBackup()).recoveryCode as string;
    const second = (await alice.client.createBackup()).recoveryCode as string;
    expect(second).not.toBe(first);
    await expect(BlindrelayClient.restore(environment().env, { servers: url, user: alice.client.user, code: first })).rejects.toMatchObject({
      code: 'ERR_BACKUP_WRONG_SECRET',
    });
    const r = await BlindrelayClient.restore(environment().env, { servers: url, user: alice.client.user, code: second });
    expect(r.client.user).toBe(alice.client.user);
  });

  it('passphrase: OPAQUE login restores; ten wrong passphrases lock the backup, even for the right one', async () => {
    const alice = await newUserAt(unique('alice'), url);
    const f = await storeFile(alice.client, []);
    const passphrase = 'correct horse battery staple';
    const t0 = performance.now();
    const created = await alice.client.createBackup({ passphrase });
    const createMs = performance.now() - t0;
    expect(created.recoveryCode).toBeUndefined();
    await expect(alice.client.createBackup({ passphrase: 'short' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    const user = alice.client.user;
    // A wrong passphrase, then the right one: restores (and resets the count).
    const e1 = environment();
    await expect(BlindrelayClient.restore(e1.env, { servers: url, user, passphrase: 'wrong horse battery staple' })).rejects.toMatchObject({
      code: 'ERR_BACKUP_WRONG_SECRET',
    });
    expect(await e1.storage.exists()).toBe(false);
    expect((await alice.client.backupInfo()).relay?.failedAttempts).toBe(1);
    const e2 = environment();
    const t1 = performance.now();
    const r = await BlindrelayClient.restore(e2.env, { servers: url, user, passphrase });
    const restoreMs = performance.now() - t1;
    expect(await fetchFile(r.client, f.id)).toEqual(f.bytes);
    expect((await r.client.backupInfo()).relay?.failedAttempts).toBe(0);
    // Ten wrong: the eleventh attempt is refused as locked, the right passphrase too.
    for (let i = 0; i < 10; i++) {
      await expect(BlindrelayClient.restore(environment().env, { servers: url, user, passphrase: `wrong passphrase ${i}` })).rejects.toMatchObject({
        code: 'ERR_BACKUP_WRONG_SECRET',
      });
    }
    const locked = environment();
    await expect(BlindrelayClient.restore(locked.env, { servers: url, user, passphrase })).rejects.toMatchObject({ code: 'ERR_BACKUP_LOCKED' });
    expect(await locked.storage.exists()).toBe(false);
    expect((await r.client.backupInfo()).relay).toMatchObject({ locked: true, failedAttempts: 10 });
    // New access from a device unlocks it.
    await r.client.createBackup({ passphrase: 'a new passphrase here' });
    expect((await r.client.backupInfo()).relay).toMatchObject({ locked: false, failedAttempts: 0 });
    console.info(`passphrase backup: create ${createMs.toFixed(0)} ms, restore ${restoreMs.toFixed(0)} ms`);
  }, 120_000);
});
