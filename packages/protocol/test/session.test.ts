import { describe, expect, it } from 'vitest';
import { allPrimitives, bundleOf, establish, lookupOf, makeUser, NOW } from './helpers.js';
import * as P from './internals.js';

describe.each(allPrimitives.map((p) => [p.name, p] as const))('session round trip with %s primitives', (_name, p) => {
  it('sets up a session from a verified bundle and exchanges messages both ways', async () => {
    const alice = await makeUser(p, 'alice');
    const bob = await makeUser(p, 'bob');
    const list = await P.verifyDeviceList(p, bob.deviceList, { user: 'bob', masterKey: bob.master.publicKey }, { now: NOW });
    const bundle = P.decodePreKeyBundle(P.encodePreKeyBundle(bundleOf(bob)));
    await P.verifyPreKeyBundle(p, bundle, list.devices[0] as P.DeviceEntry, 'bob');
    let a = await P.initiateSession(p, { identity: alice.device.identity, certificate: alice.certificate }, bundle);
    const m1 = await P.encryptMessage(p, a, P.utf8('first'));
    a = m1.state;
    expect(P.messageType(m1.message)).toBe(P.MESSAGE_TYPE_PREKEY);
    const acc = await P.acceptPreKeyMessage(
      p,
      { identity: bob.device.identity, certificate: bob.certificate, preKeys: lookupOf(bob) },
      { user: 'alice', masterKey: alice.master.publicKey },
      m1.message,
    );
    expect(P.fromUtf8(acc.plaintext)).toBe('first');
    expect(acc.newSession).toBe(true);
    expect(acc.usedOneTimePreKeyId).toBe(bob.opks[0]?.id);
    expect(acc.usedPqPreKeyId).toBe(bob.pq.id);
    expect(acc.sender.deviceId).toBe(alice.device.deviceId);
    let b = acc.state;
    for (let i = 0; i < 4; i++) {
      const r = await P.encryptMessage(p, b, P.utf8(`b${i}`));
      b = r.state;
      expect(P.messageType(r.message)).toBe(P.MESSAGE_TYPE_RATCHET);
      const d = await P.decryptMessage(p, a, r.message);
      a = d.state;
      expect(P.fromUtf8(d.plaintext)).toBe(`b${i}`);
      const s = await P.encryptMessage(p, a, P.utf8(`a${i}`));
      a = s.state;
      expect(P.messageType(s.message)).toBe(P.MESSAGE_TYPE_RATCHET);
      const e = await P.decryptMessage(p, b, s.message);
      b = e.state;
      expect(P.fromUtf8(e.plaintext)).toBe(`a${i}`);
    }
  });

  it('keeps using the session for further prekey messages sent before the first reply', async () => {
    const alice = await makeUser(p, 'alice');
    const bob = await makeUser(p, 'bob');
    let a = await P.initiateSession(p, { identity: alice.device.identity, certificate: alice.certificate }, bundleOf(bob));
    const m1 = await P.encryptMessage(p, a, P.utf8('one'));
    const m2 = await P.encryptMessage(p, m1.state, P.utf8('two'));
    a = m2.state;
    const local = { identity: bob.device.identity, certificate: bob.certificate, preKeys: lookupOf(bob) };
    const trust = { user: 'alice', masterKey: alice.master.publicKey };
    const first = await P.acceptPreKeyMessage(p, local, trust, m1.message);
    const second = await P.acceptPreKeyMessage(p, local, trust, m2.message, first.state);
    expect(second.newSession).toBe(false);
    expect(P.fromUtf8(second.plaintext)).toBe('two');
    // Replaying the first message against the live session is rejected.
    await expect(P.acceptPreKeyMessage(p, local, trust, m1.message, second.state)).rejects.toBeInstanceOf(P.DecryptError);
  });

  it('works without a one-time prekey and with a last-resort PQ prekey', async () => {
    const alice = await makeUser(p, 'alice');
    const bob = await makeUser(p, 'bob');
    const a = await P.initiateSession(
      p,
      { identity: alice.device.identity, certificate: alice.certificate },
      bundleOf(bob, { oneTime: false, lastResort: true }),
    );
    const m1 = await P.encryptMessage(p, a, P.utf8('no opk'));
    const acc = await P.acceptPreKeyMessage(
      p,
      { identity: bob.device.identity, certificate: bob.certificate, preKeys: lookupOf(bob) },
      { user: 'alice', masterKey: alice.master.publicKey },
      m1.message,
    );
    expect(P.fromUtf8(acc.plaintext)).toBe('no opk');
    expect(acc.usedOneTimePreKeyId).toBeUndefined();
    expect(acc.usedPqPreKeyId).toBeUndefined();
  });

  it('refuses a first message whose certificate is not signed by the trusted master key', async () => {
    const alice = await makeUser(p, 'alice');
    const mallory = await makeUser(p, 'alice');
    const bob = await makeUser(p, 'bob');
    const a = await P.initiateSession(p, { identity: mallory.device.identity, certificate: mallory.certificate }, bundleOf(bob));
    const m1 = await P.encryptMessage(p, a, P.utf8('spoof'));
    await expect(
      P.acceptPreKeyMessage(
        p,
        { identity: bob.device.identity, certificate: bob.certificate, preKeys: lookupOf(bob) },
        { user: 'alice', masterKey: alice.master.publicKey },
        m1.message,
      ),
    ).rejects.toBeInstanceOf(P.DecryptError);
  });

  it('serialises state so a session resumes after a round trip through bytes', async () => {
    const alice = await makeUser(p, 'alice');
    const bob = await makeUser(p, 'bob');
    const s = await establish(p, alice, bob);
    const a = P.deserializeSession(P.serializeSession(s.alice));
    const b = P.deserializeSession(P.serializeSession(s.bob));
    expect(P.serializeSession(a)).toEqual(P.serializeSession(s.alice));
    const m = await P.encryptMessage(p, a, P.utf8('resumed'));
    expect(P.fromUtf8((await P.decryptMessage(p, b, m.message)).plaintext)).toBe('resumed');
  });
});

describe('cross-implementation', () => {
  it('a session set up with node primitives continues with web primitives and back', async () => {
    const [node, web] = allPrimitives as [P.Primitives, P.Primitives];
    const alice = await makeUser(node, 'alice');
    const bob = await makeUser(web, 'bob');
    const s = await establish(node, alice, bob);
    const m = await P.encryptMessage(web, s.bob, P.utf8('from web'));
    const d = await P.decryptMessage(node, s.alice, m.message);
    expect(P.fromUtf8(d.plaintext)).toBe('from web');
    const back = await P.encryptMessage(node, d.state, P.utf8('from node'));
    expect(P.fromUtf8((await P.decryptMessage(web, m.state, back.message)).plaintext)).toBe('from node');
  });
});

describe('safety numbers', () => {
  it('are identical on both sides, 60 digits, and change with the master key', async () => {
    const [p] = allPrimitives as [P.Primitives];
    const a = { user: 'alice', masterKey: (await P.generateMasterKey(p)).publicKey };
    const b = { user: 'bob', masterKey: (await P.generateMasterKey(p)).publicKey };
    const ab = await P.safetyNumber(p, a, b);
    const ba = await P.safetyNumber(p, b, a);
    expect(ab.digits).toMatch(/^\d{60}$/);
    expect(ab.digits).toBe(ba.digits);
    expect(ab.qrPayload).toEqual(ba.qrPayload);
    expect(P.safetyNumberMatches(ab, P.formatSafetyNumber(ba.digits))).toBe(true);
    const b2 = { user: 'bob', masterKey: (await P.generateMasterKey(p)).publicKey };
    const ab2 = await P.safetyNumber(p, a, b2);
    expect(ab2.digits).not.toBe(ab.digits);
    expect(P.safetyNumberMatches(ab2, ab.digits)).toBe(false);
  });

  it('agree across primitive implementations', async () => {
    const [node, web] = allPrimitives as [P.Primitives, P.Primitives];
    const a = { user: 'alice', masterKey: (await P.generateMasterKey(node)).publicKey };
    const b = { user: 'bob', masterKey: (await P.generateMasterKey(node)).publicKey };
    expect((await P.safetyNumber(web, a, b)).digits).toBe((await P.safetyNumber(node, a, b)).digits);
  });
});
