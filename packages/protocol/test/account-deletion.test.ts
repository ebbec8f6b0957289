/**
 * Account deletion statements (PROTOCOL.md §17): the encoding byte for byte, the signature checked
 * by node:crypto directly, domain separation from the other labels, and every field bound.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.js';
import { allPrimitives, nodePrimitives } from './helpers.js';

const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const nodeVerify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) =>
  verify(null, message, createPublicKey({ key: Buffer.concat([ED25519_SPKI, publicKey]), format: 'der', type: 'spki' }), signature);

const statement = (over: Partial<P.AccountDeletion> = {}): P.AccountDeletion => ({
  user: 'alice',
  timestamp: 1_700_000_000_123,
  nonce: new Uint8Array(16).fill(0xab),
  listDigest: new Uint8Array(createHash('sha256').update('list').digest()),
  ...over,
});

describe('account deletion statement', () => {
  it('is the documented layout', () => {
    const d = statement();
    const expected = Buffer.concat([Buffer.of(0x01, 5), Buffer.from('alice'), Buffer.from('0000018bcfe5687b', 'hex'), Buffer.alloc(16, 0xab), d.listDigest]);
    expect(Buffer.from(P.encodeAccountDeletion(d)).toString('hex')).toBe(expected.toString('hex'));
  });

  it('digests the device list with SHA-256', async () => {
    const list = P.utf8('signed list bytes');
    expect(Buffer.from(await P.deviceListDigest(nodePrimitives, list)).toString('hex')).toBe(createHash('sha256').update('signed list bytes').digest('hex'));
  });

  it('refuses out-of-range fields with InvalidArgumentError', () => {
    for (const bad of [{ user: 'Alice' }, { timestamp: -1 }, { timestamp: 2 ** 53 }, { nonce: new Uint8Array(15) }, { listDigest: new Uint8Array(31) }]) {
      expect(() => P.encodeAccountDeletion(statement(bad as Partial<P.AccountDeletion>)), JSON.stringify(bad)).toThrow(P.InvalidArgumentError);
    }
  });

  for (const p of allPrimitives) {
    it(`is signed by the master key under its own label (${p.name})`, async () => {
      const master = await P.generateMasterKey(p);
      const d = statement();
      const sig = await P.signAccountDeletion(p, master.seed, d);
      const message = Buffer.concat([Buffer.from('Blindrelay_AccountDeletion_v1'), Buffer.of(0), P.encodeAccountDeletion(d)]);
      expect(nodeVerify(master.publicKey, message, sig)).toBe(true);
      await expect(P.verifyAccountDeletion(p, master.publicKey, d, sig)).resolves.toBeUndefined();
      // Every field is bound.
      for (const other of [
        statement({ user: 'alicf' }),
        statement({ timestamp: d.timestamp + 1 }),
        statement({ nonce: new Uint8Array(16).fill(0xac) }),
        statement({ listDigest: new Uint8Array(32) }),
      ]) {
        await expect(P.verifyAccountDeletion(p, master.publicKey, other, sig)).rejects.toBeInstanceOf(P.SignatureError);
      }
      // Another key does not sign it; a device key's request signature over the same bytes is no deletion statement.
      const device = await P.generateMasterKey(p);
      await expect(P.verifyAccountDeletion(p, device.publicKey, d, sig)).rejects.toBeInstanceOf(P.SignatureError);
      const asRequestLabel = await p.ed25519Sign(master.seed, Buffer.concat([Buffer.from('Blindrelay_Request_v1'), Buffer.of(0), P.encodeAccountDeletion(d)]));
      await expect(P.verifyAccountDeletion(p, master.publicKey, d, asRequestLabel)).rejects.toBeInstanceOf(P.SignatureError);
    });
  }
});
