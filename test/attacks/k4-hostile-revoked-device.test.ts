/**
 * Issue 11, custody (docs/PROTOCOL.md §16): a revoked companion device turns hostile. It keeps a
 * full copy of its profile and runs its own modified client (here: the protocol functions and a
 * bare relay API client with its credentials, outside the SDK's checks). Before custody every
 * linked device held the master seed, so a stolen device could sign a device list that listed it
 * again after its revocation.
 *
 * Against a real relay process, after `revoke` on the primary, the revoked companion:
 * 1. cannot get itself listed again: its profile holds no master seed; a list signed with any
 *    secret it holds is refused by the relay (403), an old list that listed it is refused (409),
 *    and the SDK refuses to approve, revoke or sign (NotPrimaryError);
 * 2. cannot receive: the relay revoked its tokens and refuses its login (401/404), and peers stop
 *    encrypting to it (a send covers the primary only);
 * 3. cannot open file versions written after the revocation: the primary re-keyed every file of
 *    the user (new file key, no stanza for it), new files have no stanza for it either, and a file
 *    it had written (signed by its device key) is re-signed by the primary, while its own
 *    signatures stop verifying once it left the list.
 * Files other users own and shared with this user: the owner's SDK marks a reader whose verified
 * list lost a device, and `rekeyForRemovedReaderDevices` (CLI `file rekey-readers`) re-keys them.
 * Each step fails if custody is reverted (a companion holding the master seed re-lists itself).
 */
import * as P from '@blindrelay/protocol';
import { describe, expect, it } from 'vitest';
import { NotPrimaryError, NotRegisteredError, RelayError } from '../../packages/client/src/errors.js';
import { fileSource } from '../../packages/client/src/node.js';
import { Profile } from '../../packages/client/src/profile.js';
import { MemoryStorage } from '../../packages/client/src/storage/memory.js';
import { deviceApi, linkDevice } from '../../packages/client/test/devices.js';
import { download, fileKeyFor, fileWorld, opensWith, p, rawPayload, relayFile } from './file-fixture.js';

const world = fileWorld('k4');

/** A byte-for-byte copy of a profile (what a thief of the device keeps). */
function copyOf(storage: MemoryStorage): MemoryStorage {
  const copy = new MemoryStorage();
  for (const [name, bytes] of storage.files) copy.files.set(name, bytes.slice());
  return copy;
}

describe('K4: a revoked, hostile companion device', () => {
  it('cannot list itself again, receive, or open file versions written after its revocation', async () => {
    const alice = await world.newUser('alice');
    const bob = await world.newUser('bob');
    const companion = await linkDevice(alice);
    const user = alice.client.user;
    expect(alice.client.whoami().primary).toBe(true);
    expect(companion.client.whoami().primary).toBe(false);

    // Before: the companion works (messages, files both ways) without the master key.
    await bob.client.send(user, 'before');
    const got: string[] = [];
    await companion.client.receive({ onMessage: (m) => void got.push(m.text) });
    expect(got).toContain('before');
    const f1 = await world.plainFile('alice.txt', 5000);
    const { file: aliceFile } = await alice.client.putFile(await fileSource(f1.path), { to: [bob.client.user] });
    expect((await download(world, companion, aliceFile.id)).bytes).toEqual(f1.bytes);
    const f2 = await world.plainFile('companion.txt', 3000);
    const { file: companionFile } = await companion.client.putFile(await fileSource(f2.path), { to: [bob.client.user] });
    expect((await download(world, bob, companionFile.id)).bytes).toEqual(f2.bytes);
    const oldKey = await fileKeyFor(companion, (await relayFile(world, companion, aliceFile.id)).header);

    // The companion's full profile, as the thief keeps it; and the lists it saw listing it.
    const stolen = copyOf(companion.storage as MemoryStorage);
    const account = await (await Profile.open(stolen, p)).read('account');
    expect(account.masterSeed).toBeUndefined();
    const listedIt = (await (await deviceApi(companion, world.url)).getUser(user)).deviceList;
    const api = await deviceApi({ storage: stolen }, world.url);

    await expect(companion.client.approve('BR1.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', { sas: '000000' })).rejects.toBeInstanceOf(
      NotPrimaryError,
    );
    await expect(companion.client.revoke(alice.client.deviceId)).rejects.toBeInstanceOf(NotPrimaryError);

    const revoked = await alice.client.revoke(companion.client.deviceId);
    expect(revoked.devices.map((d) => d.deviceId)).toEqual([alice.client.deviceId]);
    expect(revoked.rekeyed.sort()).toEqual([aliceFile.id, companionFile.id].sort());
    expect(revoked.rekeyFailed).toEqual([]);

    // 1. Listing itself again. Every 32-byte value of its profile, tried as the master seed.
    const current = P.decodeDeviceList((await (await deviceApi(alice, world.url)).getUser(user)).deviceList);
    const ownEntry = P.decodeDeviceList(listedIt).devices.find((d) => d.deviceId === account.deviceId) as P.DeviceEntry;
    const secrets = Object.entries(account).filter(([, v]) => v instanceof Uint8Array && v.length === 32 && !P.equal(v, account.masterKey));
    expect(secrets.map(([k]) => k)).toContain('signingSeed');
    for (const [name, seed] of secrets) {
      const forged = await P.signDeviceList(
        p,
        user,
        { seed: seed as Uint8Array, publicKey: account.masterKey },
        { version: current.version + 1, issuedAt: Date.now() },
        [...current.devices, ownEntry],
      );
      const refused = await api.putDeviceList(user, forged).catch((e: unknown) => e);
      expect(refused, `a list signed with ${name}`).toBeInstanceOf(RelayError);
      expect((refused as RelayError).status, `a list signed with ${name}`).toBe(403);
    }
    // An old list the master key signed that lists it: a rollback, refused.
    const replay = await api.putDeviceList(user, listedIt).catch((e: unknown) => e);
    expect(replay).toBeInstanceOf(RelayError);
    expect((replay as RelayError).status).toBe(409);
    expect(P.decodeDeviceList((await (await deviceApi(alice, world.url)).getUser(user)).deviceList).devices.map((d) => d.deviceId)).toEqual([
      alice.client.deviceId,
    ]);

    // 2. Receiving: no login, no queue; bob's next message is encrypted for the primary only.
    const login = await api.fetchMessages(10).catch((e: unknown) => e);
    expect(login).toBeInstanceOf(NotRegisteredError);
    // The bearer token its profile still holds was revoked with it.
    const token = (await (await Profile.open(stolen, p)).read('tokens')).tokens.get(world.url)?.token;
    expect(token).toBeDefined();
    const withToken = await fetch(`${world.url}/v1/messages?limit=10`, { headers: { authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(401);
    const sent = await bob.client.send(user, 'after');
    // One ciphertext: the primary's (the relay refuses a send that still covers the revoked device).
    expect(sent.devices).toBe(1);
    const afterRevoke: string[] = [];
    await alice.client.receive({ onMessage: (m) => void afterRevoke.push(m.text) });
    expect(afterRevoke).toContain('after');

    // 3. Files: the current versions are under new keys without a stanza for it.
    for (const id of [aliceFile.id, companionFile.id]) {
      const header = (await relayFile(world, bob, id)).header;
      await expect(fileKeyFor({ storage: stolen } as never, header), `file ${id}`).rejects.toBeInstanceOf(P.BlindrelayError);
    }
    expect(await opensWith(oldKey, await rawPayload(world, bob, aliceFile.id))).toBe(false);
    // A file written after the revocation: no stanza for it either.
    const f3 = await world.plainFile('later.txt', 100);
    const { file: later } = await alice.client.putFile(await fileSource(f3.path), { to: [bob.client.user] });
    await expect(fileKeyFor({ storage: stolen } as never, (await relayFile(world, bob, later.id)).header)).rejects.toBeInstanceOf(P.BlindrelayError);
    // The file it wrote is re-signed by the primary: bob still reads it, verified.
    expect((await download(world, bob, companionFile.id)).bytes).toEqual(f2.bytes);
    expect((await bob.client.statFile(companionFile.id)).contents).toBe('signed');
  });

  it("another owner's file: the owner's SDK notices the reader's list lost the device and re-keys the file without it", async () => {
    const alice = await world.newUser('alice');
    const bob = await world.newUser('bob');
    const companion = await linkDevice(alice);
    const f = await world.plainFile('bob.txt', 4000);
    const { file } = await bob.client.putFile(await fileSource(f.path), { to: [alice.client.user] });
    expect((await download(world, companion, file.id)).bytes).toEqual(f.bytes);
    const stolen = copyOf(companion.storage as MemoryStorage);
    const oldKey = await fileKeyFor({ storage: stolen } as never, (await relayFile(world, bob, file.id)).header);
    await alice.client.revoke(companion.client.deviceId);
    // Nothing to do until bob's SDK has seen alice's new list: the stanza is still there.
    expect(await fileKeyFor({ storage: stolen } as never, (await relayFile(world, bob, file.id)).header)).toEqual(oldKey);
    bob.clock.offset = 11 * 60_000; // past the directory cache: the next send fetches alice's list
    await bob.client.send(alice.client.user, 'hi');
    const r = await bob.client.rekeyForRemovedReaderDevices();
    expect(r).toMatchObject({ readers: [alice.client.user], rekeyed: [file.id], rekeyFailed: [] });
    await expect(fileKeyFor({ storage: stolen } as never, (await relayFile(world, bob, file.id)).header)).rejects.toBeInstanceOf(P.BlindrelayError);
    expect(await opensWith(oldKey, await rawPayload(world, bob, file.id))).toBe(false);
    expect((await download(world, alice, file.id)).bytes).toEqual(f.bytes);
    // Done once: the mark is cleared.
    expect(await bob.client.rekeyForRemovedReaderDevices()).toMatchObject({ readers: [], rekeyed: [] });
  });

  it("a reader list or seal signed by a device that left the owner's list no longer verifies", async () => {
    const alice = await world.newUser('alice');
    const bob = await world.newUser('bob');
    const companion = await linkDevice(alice);
    const f = await world.plainFile('c.txt', 2000);
    const { file } = await companion.client.putFile(await fileSource(f.path), { to: [bob.client.user] });
    expect((await bob.client.statFile(file.id)).access).toBe('ok');
    // Revoked without re-keying: the companion's signatures on the stored version stop verifying.
    await alice.client.revoke(companion.client.deviceId, { rekeyFiles: false });
    const stat = await bob.client.statFile(file.id);
    expect(stat.access).toBe('corrupt');
    expect((await download(world, bob, file.id)).error).toBeInstanceOf(P.BlindrelayError);
  });
});
