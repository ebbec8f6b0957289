/** Master-key rotation statements (docs/PROTOCOL.md §16.4; src/master-key-rotation.ts). */
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.js';
import { allPrimitives } from './helpers.js';

describe.each(allPrimitives.map((p) => [p.name, p] as const))('master-key rotation with %s primitives', (_name, p) => {
  it('verifies only under the old key, with both signatures, and carries certificates under the new key', async () => {
    const oldKey = await P.generateMasterKey(p);
    const newKey = await P.generateMasterKey(p);
    const a = await P.generateDeviceKeys(p, 5);
    const b = await P.generateDeviceKeys(p, 3);
    const certs = [await P.issueDeviceCertificate(p, 'alice', newKey, a), await P.issueDeviceCertificate(p, 'alice', newKey, b)];
    const statement = await P.signMasterKeyRotation(p, 'alice', oldKey, newKey, 1_700_000_000_000, certs);
    const r = await P.verifyMasterKeyRotation(p, statement, { user: 'alice', masterKey: oldKey.publicKey });
    expect(r.newMasterKey).toEqual(newKey.publicKey);
    expect(r.certificates.map((c) => c.deviceId)).toEqual([3, 5]);
    expect(r.certificateBytes[0]).toEqual(certs[1]);
    expect(P.rotationNewKey(statement)).toEqual(newKey.publicKey);

    await expect(P.verifyMasterKeyRotation(p, statement, { user: 'alice', masterKey: newKey.publicKey })).rejects.toBeInstanceOf(P.UnknownSignerError);
    await expect(P.verifyMasterKeyRotation(p, statement, { user: 'bob', masterKey: oldKey.publicKey })).rejects.toBeInstanceOf(P.DecodeError);
    // Every bit matters: body, old signature, new signature.
    for (let i = 0; i < statement.length; i += p.name === 'node' ? 3 : 29) {
      const bad = statement.slice();
      bad[i] = (bad[i] as number) ^ 1;
      await expect(P.verifyMasterKeyRotation(p, bad, { user: 'alice', masterKey: oldKey.publicKey }), `byte ${i}`).rejects.toBeInstanceOf(P.BlindrelayError);
    }
    await expect(
      P.verifyMasterKeyRotation(p, statement.subarray(0, statement.length - 1), { user: 'alice', masterKey: oldKey.publicKey }),
    ).rejects.toBeInstanceOf(P.DecodeError);
  });

  it('refuses to sign a rotation to the same key, or with certificates not under the new key', async () => {
    const oldKey = await P.generateMasterKey(p);
    const newKey = await P.generateMasterKey(p);
    const d = await P.generateDeviceKeys(p, 1);
    await expect(P.signMasterKeyRotation(p, 'alice', oldKey, oldKey, 1, [])).rejects.toBeInstanceOf(P.InvalidArgumentError);
    const underOld = await P.issueDeviceCertificate(p, 'alice', oldKey, d);
    await expect(P.signMasterKeyRotation(p, 'alice', oldKey, newKey, 1, [underOld])).rejects.toBeInstanceOf(P.InvalidArgumentError);
    const twice = await P.issueDeviceCertificate(p, 'alice', newKey, d);
    await expect(P.signMasterKeyRotation(p, 'alice', oldKey, newKey, 1, [twice, twice])).rejects.toBeInstanceOf(P.InvalidArgumentError);
  });
});
