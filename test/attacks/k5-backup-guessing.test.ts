/**
 * Attack K5: guessing a backup's secret through the relay, or from what the relay stores.
 *
 * The attacks, against two real relays sharing one PostgreSQL database (a cluster, so a limit kept
 * per process would give the attacker one budget per relay):
 *  - online guessing of a passphrase backup, spreading the guesses over both relays, and starting
 *    OPAQUE logins without ever finishing them;
 *  - offline, with a full dump of the database (every backup column and the relay's OPAQUE server
 *    setup): look for the passphrase, the code or the master key in it; open the blob or the
 *    wrapped key with anything stored; and run the OPAQUE exchange against the dumped record
 *    for each guess, which is what remains possible — each guess costs the Argon2id
 *    (64 MiB, 3 passes) inside OPAQUE's key stretching (docs/RECOVERY.md).
 *  - the recovery code path: a wrong code is refused by the relay, and the relay stores only
 *    SHA-256 of an access secret derived (HKDF) from the code under another label than the wrap key.
 *
 * What stops them (docs/RECOVERY.md, docs/API.md §9): the blob is released only after an OPAQUE
 * login; each login started counts in the database (shared by every relay) and the backup locks
 * after 10 without success, even for the right passphrase; the relay never sees the passphrase.
 */
import { createHash } from 'node:crypto';
import * as opaque from '@serenity-kit/opaque';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayApi } from '../../packages/client/src/api.js';
import { openBackup, unwrapBackupKey } from '../../packages/client/src/backup/backup-format.js';
import { generateRecoveryCode } from '../../packages/client/src/backup/recovery-code.js';
import { toBase64url } from '../../packages/client/src/base64url.js';
import { BlindrelayClient } from '../../packages/client/src/client.js';
import { environment, newUserAt, p } from '../../packages/client/test/devices.js';
import { startRelay, type TestRelay } from '../../packages/client/test/relay-fixture.js';
import { DATABASE_URL, dropSchema, randomSchema, requirePostgres } from '../../packages/server/test/postgres-service.js';

const available = await requirePostgres('k5-backup-guessing');

type BackupRow = {
  user_name: string;
  kind: number;
  blob: Buffer;
  wrapped_key: Buffer;
  code_hash: Buffer | null;
  opaque_record: string | null;
  failed_attempts: number;
};

const contains = (hay: Uint8Array | string, needle: Uint8Array | string): boolean => Buffer.from(hay).includes(Buffer.from(needle));

describe.skipIf(!available)('K5: guessing a backup secret', () => {
  const schema = randomSchema();
  let relays: TestRelay[] = [];
  const passphrase = 'k5-canary passphrase 4f1c9a';
  let alice: string;
  let masterSeed: Uint8Array;

  async function dump(user: string): Promise<{ row: BackupRow; setup: string }> {
    const c = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema}` });
    await c.connect();
    try {
      const row = (await c.query<BackupRow>('SELECT * FROM backups WHERE user_name = $1', [user])).rows[0] as BackupRow;
      const setup = (await c.query<{ setup: string }>('SELECT setup FROM backup_server')).rows[0]?.setup as string;
      return { row, setup };
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      relays.push(
        await startRelay({
          host: '127.0.0.1',
          port: 0,
          logLevel: 'silent',
          processMetrics: false,
          databaseUrl: DATABASE_URL,
          databaseSchema: schema,
          rateLimits: { accountsPerIp: false },
        }),
      );
    }
    const a = await newUserAt(`k5-alice-${process.pid}`, relays[0]?.url as string);
    alice = a.client.user;
    await a.client.createBackup({ passphrase });
    masterSeed = (await (await import('../../packages/client/src/profile.js')).Profile.open(a.storage, p).then((pr) => pr.read('account')))
      .masterSeed as Uint8Array;
  }, 60_000);
  afterAll(async () => {
    await Promise.all(relays.map((r) => r.close()));
    relays = [];
    await dropSchema(schema);
  });

  it('online: ten wrong passphrases spread over two relays lock the backup for everyone, the right passphrase included', async () => {
    const urls = relays.map((r) => r.url);
    for (let i = 0; i < 10; i++) {
      const e = environment();
      await expect(
        BlindrelayClient.restore(e.env, { servers: urls[i % 2] as string, user: alice, passphrase: `guess number ${i} here` }),
      ).rejects.toMatchObject({
        code: 'ERR_BACKUP_WRONG_SECRET',
      });
    }
    for (const url of urls) {
      const e = environment();
      await expect(BlindrelayClient.restore(e.env, { servers: url, user: alice, passphrase })).rejects.toMatchObject({ code: 'ERR_BACKUP_LOCKED' });
      expect(await e.storage.exists()).toBe(false);
    }
    expect((await dump(alice)).row.failed_attempts).toBe(10);
  }, 120_000);

  it('online: logins started and never finished count too', async () => {
    const bob = await newUserAt(`k5-bob-${process.pid}`, relays[1]?.url as string);
    await bob.client.createBackup({ passphrase: 'bob has a passphrase too' });
    await opaque.ready;
    const api = new RelayApi({ servers: [relays[0]?.url as string] });
    for (let i = 0; i < 10; i++) {
      const { startLoginRequest } = opaque.client.startLogin({ password: `x${i}` });
      await api.request('POST', `/v1/backups/${bob.client.user}/login`, { startLoginRequest });
    }
    const { startLoginRequest } = opaque.client.startLogin({ password: 'bob has a passphrase too' });
    await expect(api.request('POST', `/v1/backups/${bob.client.user}/login`, { startLoginRequest })).rejects.toMatchObject({
      status: 423,
      relayCode: 'backup_locked',
    });
  });

  it('offline: the dump holds no secret, and nothing stored opens the backup', async () => {
    const { row, setup } = await dump(alice);
    expect(row.kind).toBe(2);
    expect(row.code_hash).toBeNull();
    const stored: (Uint8Array | string)[] = [row.blob, row.wrapped_key, row.opaque_record as string, setup];
    for (const s of stored) {
      expect(contains(s, passphrase)).toBe(false);
      expect(contains(s, masterSeed)).toBe(false);
      expect(contains(s, toBase64url(masterSeed))).toBe(false);
    }
    // Every stored byte string tried as the wrap key, or hashed into one: the wrapped key stays shut.
    const candidates = [
      row.blob.subarray(0, 32),
      new Uint8Array(
        createHash('sha256')
          .update(row.opaque_record as string)
          .digest(),
      ),
      new Uint8Array(createHash('sha256').update(setup).digest()),
    ];
    for (const k of candidates) {
      await expect(unwrapBackupKey(p, new Uint8Array(k), 'passphrase', alice, new Uint8Array(row.wrapped_key))).rejects.toMatchObject({
        code: 'ERR_BACKUP_WRONG_SECRET',
      });
      await expect(openBackup(p, new Uint8Array(k), alice, new Uint8Array(row.blob))).rejects.toMatchObject({ code: 'ERR_BACKUP_CORRUPT' });
    }
  });

  it('offline: with the dump (record and server setup) each guess costs an OPAQUE login with its Argon2id', async () => {
    const { row, setup } = await dump(alice);
    await opaque.ready;
    /** One offline guess, the whole exchange run by the attacker against the dumped record. */
    const guess = (password: string): boolean => {
      const c = opaque.client.startLogin({ password });
      const s = opaque.server.startLogin({
        serverSetup: setup,
        userIdentifier: alice,
        registrationRecord: row.opaque_record,
        startLoginRequest: c.startLoginRequest,
      });
      return (
        opaque.client.finishLogin({ clientLoginState: c.clientLoginState, loginResponse: s.loginResponse, password, keyStretching: 'memory-constrained' }) !==
        undefined
      );
    };
    const t0 = performance.now();
    const wrong = ['password', 'letmein123', 'k5-canary passphrase'];
    for (const w of wrong) expect(guess(w)).toBe(false);
    const perGuessMs = (performance.now() - t0) / wrong.length;
    // The same exchange with a trivial key-stretching function would take a few ms: the Argon2id
    // (64 MiB, 3 passes) is what every guess pays.
    expect(perGuessMs).toBeGreaterThan(50);
    expect(guess(passphrase)).toBe(true);
    console.info(`K5 offline guess against a dumped OPAQUE record: ${perGuessMs.toFixed(0)} ms and 64 MiB per guess on this machine`);
  }, 60_000);

  it('recovery code: a wrong code is refused by the relay; the stored hash opens nothing', async () => {
    const carol = await newUserAt(`k5-carol-${process.pid}`, relays[0]?.url as string);
    const { recoveryCode } = await carol.client.createBackup();
    const user = carol.client.user;
    const e = environment();
    await expect(BlindrelayClient.restore(e.env, { servers: relays[1]?.url as string, user, code: generateRecoveryCode(p).formatted })).rejects.toMatchObject({
      code: 'ERR_BACKUP_WRONG_SECRET',
    });
    expect(await e.storage.exists()).toBe(false);
    const { row } = await dump(user);
    expect(row.kind).toBe(1);
    expect(row.opaque_record).toBeNull();
    const canonical = (recoveryCode as string).replaceAll('-', '');
    for (const s of [row.blob, row.wrapped_key, row.code_hash as Buffer]) {
      expect(contains(s, canonical)).toBe(false);
      expect(contains(s, recoveryCode as string)).toBe(false);
    }
    await expect(unwrapBackupKey(p, new Uint8Array(row.code_hash as Buffer), 'code', user, new Uint8Array(row.wrapped_key))).rejects.toMatchObject({
      code: 'ERR_BACKUP_WRONG_SECRET',
    });
    // The right code still works (nothing was changed by the refusals).
    const ok = await BlindrelayClient.restore(environment().env, { servers: relays[1]?.url as string, user, code: recoveryCode as string });
    expect(ok.client.user).toBe(user);
  });
});
