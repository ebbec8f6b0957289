import { describe, expect, it } from 'vitest';
import { allPrimitives } from './helpers.js';
import * as P from './internals.js';

describe.each(allPrimitives.map((p) => [p.name, p] as const))('device linking and relay auth with %s primitives', (_name, p) => {
  it('seals the account secrets to the new device, and only it can open them', async () => {
    const newDevice = await P.generateX25519(p);
    const master = await P.generateMasterKey(p);
    const state = P.utf8('{"contacts":[]}');
    const envelope = await P.sealProvisioning(p, newDevice.publicKey, { user: 'alice', masterKey: master.publicKey, state });
    const opened = await P.openProvisioning(p, newDevice, envelope);
    expect(opened.user).toBe('alice');
    expect(opened.masterKey).toEqual(master.publicKey);
    // Custody (§16): the envelope carries the master PUBLIC key, never the seed.
    expect(Object.keys(opened).sort()).toEqual(['masterKey', 'state', 'user']);
    expect(opened.state).toEqual(state);
    const other = await P.generateX25519(p);
    await expect(P.openProvisioning(p, other, envelope)).rejects.toBeInstanceOf(P.DecryptError);
  });

  it('rejects every single-bit change of an envelope and any truncation', async () => {
    const newDevice = await P.generateX25519(p);
    const envelope = await P.sealProvisioning(p, newDevice.publicKey, {
      user: 'alice',
      masterKey: (await P.generateMasterKey(p)).publicKey,
      state: new Uint8Array(0),
    });
    for (let bit = 0; bit < envelope.length * 8; bit += p.name === 'node' ? 1 : 7) {
      const bad = envelope.slice();
      bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7));
      await expect(P.openProvisioning(p, newDevice, bad)).rejects.toBeInstanceOf(P.DecryptError);
    }
    for (const n of [0, 1, 32, 33, envelope.length - 1]) {
      await expect(P.openProvisioning(p, newDevice, envelope.subarray(0, n))).rejects.toBeInstanceOf(P.DecryptError);
    }
  });

  it('refuses an envelope of format 1 (it carried the master seed) with ProvisioningVersionError, after it authenticated', async () => {
    // Built as the code before custody sealed it: payload 0x01 | user | masterSeed[32] | state.
    const newDevice = await P.generateX25519(p);
    const e = await P.generateX25519(p);
    const shared = await p.x25519(e.privateKey, newDevice.publicKey);
    const okm = await p.hkdfSha256(shared, P.concat(e.publicKey, newDevice.publicKey), P.PROVISIONING_INFO, 44);
    const body = P.concat(Uint8Array.of(1, 5), P.utf8('alice'), new Uint8Array(32).fill(7), Uint8Array.of(0, 0, 0, 0));
    const sealed = await p.aesGcmSeal(okm.subarray(0, 32), okm.subarray(32, 44), body, P.concat(Uint8Array.of(1), e.publicKey, newDevice.publicKey), 33);
    sealed[0] = 1;
    sealed.set(e.publicKey, 1);
    await expect(P.openProvisioning(p, newDevice, sealed)).rejects.toBeInstanceOf(P.ProvisioningVersionError);
  });

  it('refuses to seal to a low-order key', async () => {
    await expect(
      P.sealProvisioning(p, new Uint8Array(32), { user: 'alice', masterKey: (await P.generateMasterKey(p)).publicKey, state: new Uint8Array(0) }),
    ).rejects.toBeInstanceOf(P.InvalidKeyError);
  });

  it('signs auth challenges bound to the user and device', async () => {
    const device = await P.generateDeviceKeys(p, 7);
    const challenge = p.randomBytes(32);
    const sig = await P.signAuthChallenge(p, device.signing.seed, challenge, 'alice', 7);
    await P.verifyAuthChallenge(p, device.signing.publicKey, challenge, 'alice', 7, sig);
    await expect(P.verifyAuthChallenge(p, device.signing.publicKey, challenge, 'alice', 8, sig)).rejects.toBeInstanceOf(P.SignatureError);
    await expect(P.verifyAuthChallenge(p, device.signing.publicKey, challenge, 'bob', 7, sig)).rejects.toBeInstanceOf(P.SignatureError);
    await expect(P.verifyAuthChallenge(p, device.signing.publicKey, p.randomBytes(32), 'alice', 7, sig)).rejects.toBeInstanceOf(P.SignatureError);
  });
});
