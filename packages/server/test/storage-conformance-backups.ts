/**
 * The backup part of the storage conformance suite (docs/API.md §9): `BackupRepository`, through
 * the interface only. Registered by storageConformance(). The attempt counter and the generation
 * compare-and-set are checked under concurrency: with PostgreSQL the calls run on several pooled
 * connections at once, as several relay instances would.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BackupAccess, Storage } from '../src/storage/types.js';

const T0 = 1_700_000_000_000;
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const plain = (b: Uint8Array) => Object.getPrototypeOf(b) === Uint8Array.prototype;

export function backupsConformance(store: () => Storage): void {
  const s = () => store();
  async function user(name: string) {
    const r = await s().accounts.create(
      {
        user: name,
        masterKey: bytes(32),
        listVersion: 1,
        deviceList: bytes(100),
        device: { deviceId: 1, signingKey: bytes(32), identityKey: bytes(32) },
        prekeys: {},
        createdAt: T0,
      },
      { maxStoredOneTime: 100 },
    );
    expect(r).toBe('created');
  }
  const code = (): BackupAccess => ({ kind: 1, wrappedKey: bytes(65), codeHash: bytes(32) });
  const pass = (): BackupAccess => ({ kind: 2, wrappedKey: bytes(65), opaqueRecord: `record-${randomBytes(4).toString('hex')}` });

  describe('backups', () => {
    it('stores a backup for an account only, as plain bytes, and counts generations', async () => {
      expect(await s().backups.put('nobody', code(), bytes(10), T0)).toEqual({ status: 'not_found' });
      await user('alice');
      expect(await s().backups.get('alice')).toBeUndefined();
      const access = code();
      const blob = bytes(1000);
      expect(await s().backups.put('alice', access, blob, T0)).toEqual({ status: 'stored', generation: 1 });
      const r = await s().backups.get('alice');
      expect(r).toMatchObject({ user: 'alice', generation: 1, failedAttempts: 0, updatedAt: T0 });
      expect(r?.access).toEqual(access);
      expect(r?.blob).toEqual(blob);
      expect(plain(r?.blob as Uint8Array) && plain(r?.access.wrappedKey as Uint8Array)).toBe(true);
      // New access (a passphrase) replaces the code and counts on.
      const p2 = pass();
      expect(await s().backups.put('alice', p2, bytes(5), T0 + 1)).toEqual({ status: 'stored', generation: 2 });
      expect((await s().backups.get('alice'))?.access).toEqual(p2);
    });

    it('replaces the blob by compare-and-set on the generation', async () => {
      await user('alice');
      expect(await s().backups.replaceBlob('alice', bytes(3), 1, T0)).toEqual({ status: 'not_found' });
      await s().backups.put('alice', code(), bytes(3), T0);
      const next = bytes(7);
      expect(await s().backups.replaceBlob('alice', next, 1, T0 + 5)).toEqual({ status: 'stored', generation: 2 });
      expect(await s().backups.replaceBlob('alice', bytes(7), 1, T0 + 6)).toEqual({ status: 'stale', generation: 2 });
      expect(await s().backups.get('alice')).toMatchObject({ generation: 2, blob: next, updatedAt: T0 + 5 });
      // put with an expected generation: 0 means "none yet".
      expect(await s().backups.put('alice', code(), bytes(3), T0, 0)).toEqual({ status: 'stale', generation: 2 });
      // Concurrent replacements of one generation: exactly one wins.
      const results = await Promise.all(Array.from({ length: 8 }, () => s().backups.replaceBlob('alice', bytes(9), 2, T0 + 7)));
      expect(results.filter((r) => r.status === 'stored')).toHaveLength(1);
    });

    it('counts login attempts, locks at the limit, resets on success and on new access', async () => {
      await user('alice');
      const h = () => bytes(32);
      expect(await s().backups.startLogin('alice', h(), 'state', T0 + 60_000, 3, T0)).toEqual({ status: 'not_found' });
      await s().backups.put('alice', pass(), bytes(3), T0);
      const first = h();
      expect(await s().backups.startLogin('alice', first, 'state-1', T0 + 60_000, 3, T0)).toEqual({ status: 'started' });
      expect(await s().backups.takeLogin('alice', first, T0 + 1)).toBe('state-1');
      expect(await s().backups.takeLogin('alice', first, T0 + 1)).toBeUndefined();
      expect(await s().backups.startLogin('alice', h(), 's', T0 + 60_000, 3, T0)).toEqual({ status: 'started' });
      expect(await s().backups.startLogin('alice', h(), 's', T0 + 60_000, 3, T0)).toEqual({ status: 'started' });
      expect((await s().backups.get('alice'))?.failedAttempts).toBe(3);
      expect(await s().backups.startLogin('alice', h(), 's', T0 + 60_000, 3, T0)).toEqual({ status: 'locked' });
      expect((await s().backups.get('alice'))?.failedAttempts).toBe(3);
      await s().backups.loginSucceeded('alice');
      expect((await s().backups.get('alice'))?.failedAttempts).toBe(0);
      // An expired login state is not handed out; another user's id is not either.
      const late = h();
      await s().backups.startLogin('alice', late, 's', T0 + 10, 3, T0);
      expect(await s().backups.takeLogin('alice', late, T0 + 10)).toBeUndefined();
      const other = h();
      await s().backups.startLogin('alice', other, 's', T0 + 60_000, 3, T0);
      expect(await s().backups.takeLogin('bob', other, T0)).toBeUndefined();
      // New access resets the count and drops pending logins.
      const pending = h();
      await s().backups.startLogin('alice', pending, 's', T0 + 60_000, 3, T0);
      await s().backups.put('alice', pass(), bytes(3), T0);
      expect((await s().backups.get('alice'))?.failedAttempts).toBe(0);
      expect(await s().backups.takeLogin('alice', pending, T0)).toBeUndefined();
    });

    it('never starts more logins than the limit, however many arrive at once', async () => {
      await user('alice');
      await s().backups.put('alice', pass(), bytes(3), T0);
      const results = await Promise.all(Array.from({ length: 25 }, () => s().backups.startLogin('alice', bytes(32), 's', T0 + 60_000, 10, T0)));
      expect(results.filter((r) => r.status === 'started')).toHaveLength(10);
      expect(results.filter((r) => r.status === 'locked')).toHaveLength(15);
      expect((await s().backups.get('alice'))?.failedAttempts).toBe(10);
    });

    it('keeps the first OPAQUE server setup', async () => {
      expect(await s().backups.serverSetup('first')).toBe('first');
      expect(await s().backups.serverSetup('second')).toBe('first');
    });
  });
}
