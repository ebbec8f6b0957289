/**
 * Single-bit tampering: flipping any bit of any serialized message, prekey bundle, device
 * certificate or device list must be rejected, never silently accepted.
 *
 * Every failing case is collected and reported with the field it hit, so one run shows the whole
 * picture instead of the first failure.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Primitives } from '../src/primitives/types.js';
import {
  bitsOf,
  bundleLayout,
  certificateLayout,
  deviceListLayout,
  type Field,
  field,
  fieldAt,
  flipBit,
  isDecryptError,
  preKeyMessageLayout,
  ratchetMessageLayout,
  sameBytes,
} from './adversary.js';
import { bundleOf, establish, lookupOf, makeUser, NOW, nobleWebPrimitives, nodePrimitives, type TestUser, webPrimitives } from './helpers.js';
import * as P from './internals.js';

type ErrorClass = abstract new (...args: never[]) => P.BlindrelayError;

/** Bits of `fields` to try: every bit, or (for `sampled` field names) one bit per byte at a rotating position. */
function bitsToTry(fields: readonly Field[], sampled: readonly string[] = [], stride = 1): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (sampled.includes(f.name)) {
      for (let byte = f.start; byte < f.end; byte++) out.push(byte * 8 + (byte % 8));
    } else {
      for (let bit = f.start * 8; bit < f.end * 8; bit += stride) out.push(bit);
    }
  }
  return out;
}

const describeBit = (fields: readonly Field[], bit: number) => {
  const f = fieldAt(fields, bit >> 3);
  return `${f.name}[byte ${(bit >> 3) - f.start}, bit ${bit & 7}]`;
};

/** Flip each bit of a ratchet message; `decryptMessage` must fail each time and leave `state` as it was. */
async function ratchetMessageFlips(p: Primitives, state: P.SessionState, message: Uint8Array, bits?: number[]): Promise<string[]> {
  const fields = ratchetMessageLayout(message);
  const before = P.serializeSession(state);
  const problems: string[] = [];
  for (const bit of bits ?? bitsOf(fields)) {
    try {
      await P.decryptMessage(p, state, flipBit(message, bit));
      problems.push(`${describeBit(fields, bit)}: accepted`);
    } catch (e) {
      if (!isDecryptError(e)) problems.push(`${describeBit(fields, bit)}: ${String(e)}`);
    }
    if (!sameBytes(P.serializeSession(state), before)) problems.push(`${describeBit(fields, bit)}: state changed`);
  }
  return problems;
}

interface Parties {
  alice: TestUser;
  bob: TestUser;
  aliceLocal: P.LocalDevice;
  bobLocal: P.LocalDevice & { preKeys: P.PreKeyLookup };
  aliceTrust: P.TrustedUser;
}

async function parties(p: Primitives): Promise<Parties> {
  const alice = await makeUser(p, 'alice');
  const bob = await makeUser(p, 'bob');
  return {
    alice,
    bob,
    aliceLocal: { identity: alice.device.identity, certificate: alice.certificate },
    bobLocal: { identity: bob.device.identity, certificate: bob.certificate, preKeys: lookupOf(bob) },
    aliceTrust: { user: 'alice', masterKey: alice.master.publicKey },
  };
}

/** The three paths of RatchetDecrypt: current chain, new ratchet key (DH step), stored skipped key. */
async function ratchetCases(p: Primitives, u: Parties) {
  const s = await establish(p, u.alice, u.bob);
  // (a) the next message of Alice's current receiving chain
  const current = await P.encryptMessage(p, s.bob, P.utf8('current chain'));
  // (b) a message on a new ratchet key: Alice speaks, Bob steps his DH ratchet and answers
  const fromAlice = await P.encryptMessage(p, s.alice, P.utf8('ping'));
  const bobStepped = await P.decryptMessage(p, s.bob, fromAlice.message);
  const newKey = await P.encryptMessage(p, bobStepped.state, P.utf8('new ratchet key'));
  // (c) a message whose key is in Alice's skipped-key store: m1 arrives before m0
  const m0 = await P.encryptMessage(p, s.bob, P.utf8('skipped zero'));
  const m1 = await P.encryptMessage(p, m0.state, P.utf8('skipped one'));
  const withSkipped = (await P.decryptMessage(p, s.alice, m1.message)).state;
  expect(withSkipped.skipped.size).toBe(1);
  return [
    { name: 'current chain', state: fromAlice.state, message: current.message, plaintext: 'current chain' },
    { name: 'new ratchet key', state: fromAlice.state, message: newKey.message, plaintext: 'new ratchet key' },
    { name: 'skipped key', state: withSkipped, message: m0.message, plaintext: 'skipped zero' },
  ];
}

describe('tampered ratchet messages (node)', () => {
  const p = nodePrimitives;
  let u: Parties;
  beforeAll(async () => {
    u = await parties(p);
  });

  it('every bit of the header and body, on each decryption path, is rejected with state unchanged', async () => {
    const cases = await ratchetCases(p, u);
    for (const c of cases) {
      expect(c.message.length).toBe(42 + 16 + P.padme(c.plaintext.length + 1));
      expect(await ratchetMessageFlips(p, c.state, c.message), c.name).toEqual([]);
      // The genuine message still decrypts from the untouched state.
      const ok = await P.decryptMessage(p, c.state, c.message);
      expect(P.fromUtf8(ok.plaintext)).toBe(c.plaintext);
    }
  });
});

describe('tampered prekey messages (node)', () => {
  const p = nodePrimitives;
  let u: Parties;
  beforeAll(async () => {
    u = await parties(p);
  });

  for (const oneTime of [true, false]) {
    it(`first message ${oneTime ? 'with' : 'without'} a one-time prekey: every non-KEM bit and a sample of KEM bits is rejected`, async () => {
      const a = await P.initiateSession(p, u.aliceLocal, bundleOf(u.bob, { oneTime }));
      const m = await P.encryptMessage(p, a, P.utf8('first'));
      const fields = preKeyMessageLayout(m.message);
      expect(fields.map((f) => f.name)).toContain('kemCipherText');
      expect(fields.some((f) => f.name === 'opkId')).toBe(oneTime);
      const problems: string[] = [];
      // The KEM ciphertext: one bit of every byte with the one-time prekey, of every fourth byte without.
      const kemBits = bitsToTry([field(fields, 'kemCipherText')], ['kemCipherText']).filter((b) => oneTime || (b >> 3) % 4 === 0);
      for (const bit of [...bitsToTry(fields.filter((f) => f.name !== 'kemCipherText')), ...kemBits]) {
        try {
          await P.acceptPreKeyMessage(p, u.bobLocal, u.aliceTrust, flipBit(m.message, bit));
          problems.push(`${describeBit(fields, bit)}: accepted`);
        } catch (e) {
          if (!isDecryptError(e)) problems.push(`${describeBit(fields, bit)}: ${String(e)}`);
        }
      }
      expect(problems).toEqual([]);
      const ok = await P.acceptPreKeyMessage(p, u.bobLocal, u.aliceTrust, m.message);
      expect(P.fromUtf8(ok.plaintext)).toBe('first');
    });
  }

  it('a later prekey message of an existing session: flips in the authenticated fields are rejected, state unchanged', async () => {
    const a = await P.initiateSession(p, u.aliceLocal, bundleOf(u.bob));
    const m1 = await P.encryptMessage(p, a, P.utf8('one'));
    const m2 = await P.encryptMessage(p, m1.state, P.utf8('two'));
    const bob = (await P.acceptPreKeyMessage(p, u.bobLocal, u.aliceTrust, m1.message)).state;
    const before = P.serializeSession(bob);
    const fields = preKeyMessageLayout(m2.message);
    const authenticated = fields.filter((f) => !['kemCipherText', 'spkId', 'opkId', 'pqId'].includes(f.name)).map((f) => f.name);
    const problems: string[] = [];
    for (const bit of bitsToTry(fields.filter((f) => authenticated.includes(f.name)))) {
      const bad = flipBit(m2.message, bit);
      for (const [path, run] of [
        ['acceptPreKeyMessage', () => P.acceptPreKeyMessage(p, u.bobLocal, u.aliceTrust, bad, bob)],
        ['decryptMessage', () => P.decryptMessage(p, bob, bad)],
      ] as const) {
        // decryptMessage does not read the certificate (acceptPreKeyMessage verifies it): skip those bits there.
        if (path === 'decryptMessage' && fieldAt(fields, bit >> 3).name.startsWith('certificate')) continue;
        try {
          await run();
          problems.push(`${path} ${describeBit(fields, bit)}: accepted`);
        } catch (e) {
          if (!isDecryptError(e)) problems.push(`${path} ${describeBit(fields, bit)}: ${String(e)}`);
        }
        if (!sameBytes(P.serializeSession(bob), before)) problems.push(`${path} ${describeBit(fields, bit)}: state changed`);
      }
    }
    expect(problems).toEqual([]);
    const ok = await P.acceptPreKeyMessage(p, u.bobLocal, u.aliceTrust, m2.message, bob);
    expect(ok.newSession).toBe(false);
    expect(P.fromUtf8(ok.plaintext)).toBe('two');
  });

  it('a prekey message whose certificate is swapped for another valid certificate of the same user (another device) is refused', async () => {
    const a = await P.initiateSession(p, u.aliceLocal, bundleOf(u.bob));
    const m1 = await P.encryptMessage(p, a, P.utf8('one'));
    const m2 = await P.encryptMessage(p, m1.state, P.utf8('two'));
    const bob = (await P.acceptPreKeyMessage(p, u.bobLocal, u.aliceTrust, m1.message)).state;
    const secondDevice = await P.generateDeviceKeys(p);
    const otherCert = await P.issueDeviceCertificate(p, 'alice', u.alice.master, secondDevice);
    await P.verifyDeviceCertificate(p, otherCert, u.aliceTrust); // genuinely valid
    const cert = field(preKeyMessageLayout(m2.message), 'certificate');
    expect(otherCert.length).toBe(cert.end - cert.start);
    const swap = (m: Uint8Array) => {
      const out = m.slice();
      out.set(otherCert, cert.start);
      return out;
    };
    const before = P.serializeSession(bob);
    for (const [what, run] of [
      ['existing session', () => P.acceptPreKeyMessage(p, u.bobLocal, u.aliceTrust, swap(m2.message), bob)],
      ['new session', () => P.acceptPreKeyMessage(p, u.bobLocal, u.aliceTrust, swap(m1.message))],
    ] as const) {
      let error: unknown;
      try {
        const r = await run();
        error = `accepted, attributed to device ${r.sender.deviceId}`;
      } catch (e) {
        error = e;
      }
      expect(isDecryptError(error), `${what}: ${String(error)}`).toBe(true);
    }
    expect(sameBytes(P.serializeSession(bob), before)).toBe(true);
  });

  // KNOWN BUG (reported): with an existing session, only the base key of a PreKeyMessage is compared
  // (session.ts acceptPreKeyMessage → decryptMessage), and no AD covers the PQXDH prefix, so a
  // later PreKeyMessage whose KEM ciphertext, prekey ids or (through decryptMessage) certificate
  // were altered in transit still decrypts. This test fails until the prefix is bound to the session.
  it('a later prekey message of an existing session: flips in the KEM ciphertext, prekey ids and certificate are rejected too', async () => {
    const a = await P.initiateSession(p, u.aliceLocal, bundleOf(u.bob));
    const m1 = await P.encryptMessage(p, a, P.utf8('one'));
    const m2 = await P.encryptMessage(p, m1.state, P.utf8('two'));
    const bob = (await P.acceptPreKeyMessage(p, u.bobLocal, u.aliceTrust, m1.message)).state;
    const fields = preKeyMessageLayout(m2.message);
    const accepted = new Set<string>();
    const cases: [string, (bad: Uint8Array) => Promise<unknown>, string[]][] = [
      ['acceptPreKeyMessage', (bad) => P.acceptPreKeyMessage(p, u.bobLocal, u.aliceTrust, bad, bob), ['kemCipherText', 'spkId', 'opkId', 'pqId']],
      ['decryptMessage', (bad) => P.decryptMessage(p, bob, bad), ['certificate', 'kemCipherText', 'spkId', 'opkId', 'pqId']],
    ];
    for (const [path, run, names] of cases) {
      for (const name of names) {
        const f = field(fields, name);
        // One bit per byte is plenty to show whether the field is checked at all.
        for (let byte = f.start; byte < f.end; byte++) {
          try {
            await run(flipBit(m2.message, byte * 8 + (byte % 8)));
            accepted.add(`${path}: ${name}`);
          } catch (e) {
            if (!isDecryptError(e)) accepted.add(`${path}: ${name} threw ${String(e)}`);
          }
        }
      }
    }
    expect([...accepted], 'tampered fields accepted by an existing session').toEqual([]);
  });
});

/** Each bundle field and the errors a flip in it may legitimately produce. 'session' = unsigned, must break the session. */
const BUNDLE_EXPECT: Record<string, ErrorClass[] | 'session'> = {
  version: [P.DecodeError],
  userLength: [P.DecodeError],
  user: [P.DecodeError],
  deviceId: [P.DecodeError, P.UnknownSignerError],
  signingKey: [P.DecodeError, P.UnknownSignerError],
  identityKey: [P.DecodeError, P.UnknownSignerError],
  spkId: [P.SignatureError],
  spk: [P.DecodeError, P.SignatureError],
  spkSignature: [P.SignatureError],
  hasOneTime: [P.DecodeError],
  opkId: 'session',
  opk: 'session',
  pqId: [P.SignatureError],
  pqLastResort: [P.DecodeError, P.SignatureError],
  pqpk: [P.SignatureError],
  pqSignature: [P.SignatureError],
};

async function bundleFlips(
  p: Primitives,
  u: Parties,
  oneTime: boolean,
  stride: number,
  sampled: string[] = [],
): Promise<{ problems: string[]; sessionChecks: number }> {
  const list = await P.verifyDeviceList(p, u.bob.deviceList, { user: 'bob', masterKey: u.bob.master.publicKey }, { now: NOW });
  const entry = list.devices[0] as P.DeviceEntry;
  const encoded = P.encodePreKeyBundle(bundleOf(u.bob, { oneTime }));
  const fields = bundleLayout(encoded);
  expect(fields.some((f) => f.name === 'opk')).toBe(oneTime);
  expect(field(fields, 'pqpk').end - field(fields, 'pqpk').start).toBe(1184);
  expect(encoded.length).toBe(fields[fields.length - 1]?.end);
  const problems: string[] = [];
  let sessionChecks = 0;
  for (const bit of bitsToTry(fields, sampled, stride)) {
    const where = describeBit(fields, bit);
    const expected = BUNDLE_EXPECT[fieldAt(fields, bit >> 3).name];
    const bad = flipBit(encoded, bit);
    let error: unknown;
    let bundle: P.PreKeyBundle | undefined;
    try {
      bundle = P.decodePreKeyBundle(bad);
      await P.verifyPreKeyBundle(p, bundle, entry, 'bob');
    } catch (e) {
      error = e;
    }
    if (error !== undefined) {
      const allowed = expected === 'session' ? [P.DecodeError] : (expected ?? []);
      if (!allowed.some((cls) => error instanceof cls)) problems.push(`${where}: unexpected ${String(error)}`);
      continue;
    }
    if (expected !== 'session') {
      problems.push(`${where}: bundle accepted`);
      continue;
    }
    // An unsigned one-time prekey field: the bundle verifies (by design), but the session must fail at Bob.
    sessionChecks++;
    try {
      const a = await P.initiateSession(p, u.aliceLocal, bundle as P.PreKeyBundle);
      const m = await P.encryptMessage(p, a, P.utf8('opk tampered'));
      await P.acceptPreKeyMessage(p, u.bobLocal, u.aliceTrust, m.message);
      problems.push(`${where}: session with a tampered one-time prekey succeeded`);
    } catch (e) {
      if (!isDecryptError(e)) problems.push(`${where}: session failed with ${String(e)} instead of DecryptError`);
    }
  }
  return { problems, sessionChecks };
}

describe('tampered prekey bundles (node)', () => {
  const p = nodePrimitives;
  let u: Parties;
  beforeAll(async () => {
    u = await parties(p);
  });

  it('every bit of a bundle with a one-time prekey (all 1184 KEM key bytes included) is rejected or breaks the session', async () => {
    const { problems, sessionChecks } = await bundleFlips(p, u, true, 1);
    expect(problems).toEqual([]);
    // Most of the 288 OPK bits give another valid key or id: those went through a full session attempt.
    expect(sessionChecks).toBeGreaterThan(200);
  });

  it('every non-KEM bit and one bit of every KEM key byte of a bundle without a one-time prekey is rejected', async () => {
    const { problems, sessionChecks } = await bundleFlips(p, u, false, 1, ['pqpk']);
    expect(problems).toEqual([]);
    expect(sessionChecks).toBe(0);
  });
});

/** Expected errors for a flipped device certificate, per field. */
const CERT_EXPECT: Record<string, ErrorClass[]> = {
  version: [P.DecodeError],
  userLength: [P.DecodeError],
  user: [P.DecodeError],
  masterKey: [P.DecodeError, P.UnknownSignerError],
  deviceId: [P.DecodeError, P.SignatureError],
  signingKey: [P.DecodeError, P.SignatureError],
  identityKey: [P.DecodeError, P.SignatureError],
  signature: [P.SignatureError],
};

async function certificateFlips(p: Primitives, u: TestUser, stride = 1): Promise<string[]> {
  const trusted = { user: u.user, masterKey: u.master.publicKey };
  await P.verifyDeviceCertificate(p, u.certificate, trusted);
  const fields = certificateLayout(u.certificate);
  expect(u.certificate.length).toBe(fields[fields.length - 1]?.end);
  const problems: string[] = [];
  for (const bit of bitsToTry(fields, [], stride)) {
    const where = describeBit(fields, bit);
    try {
      await P.verifyDeviceCertificate(p, flipBit(u.certificate, bit), trusted);
      problems.push(`${where}: accepted`);
    } catch (e) {
      const allowed = CERT_EXPECT[fieldAt(fields, bit >> 3).name] ?? [];
      if (!allowed.some((cls) => e instanceof cls)) problems.push(`${where}: unexpected ${String(e)}`);
    }
  }
  return problems;
}

const LIST_EXPECT = (name: string): ErrorClass[] => {
  if (['format', 'userLength', 'user', 'count'].includes(name)) return [P.DecodeError];
  // A flipped key bit may also make an invalid Ed25519 encoding (refused when decoding).
  if (name === 'masterKey') return [P.DecodeError, P.UnknownSignerError];
  if (['version', 'issuedAt'].includes(name) || name.endsWith('.id') || name.endsWith('.identityKey') || name.endsWith('.fileKey'))
    return [P.DecodeError, P.SignatureError];
  if (name.endsWith('.signingKey')) return [P.DecodeError, P.SignatureError];
  if (name.endsWith('.hasFileKey') || name.endsWith('.hasProof')) return [P.DecodeError]; // the layout shifts, or a flag other than 0/1
  return [P.SignatureError]; // proofs, signature
};

describe('tampered device certificates and device lists (node)', () => {
  const p = nodePrimitives;
  let u: Parties;
  beforeAll(async () => {
    u = await parties(p);
  });

  it('every bit of a device certificate is rejected by verifyDeviceCertificate', async () => {
    expect(await certificateFlips(p, u.alice)).toEqual([]);
  });

  it('every bit of a three-device list is rejected by verifyDeviceList', async () => {
    const devices = [];
    for (const id of [7, 300, 70000]) {
      const d = await P.generateDeviceKeys(p, id);
      // Device 300 has no file key (hasFileKey = 0), the others have one; each proves its keys.
      const { file: _f, ...noFile } = d;
      devices.push(await P.proveDeviceEntry(p, 'alice', u.alice.master.publicKey, P.deviceEntryOf(id === 300 ? noFile : d), d.signing.seed));
    }
    const trusted = { user: 'alice', masterKey: u.alice.master.publicKey };
    const list = await P.signDeviceList(p, 'alice', u.alice.master, { version: 5, issuedAt: NOW }, devices);
    const previous = await P.verifyDeviceList(p, list, trusted, { now: NOW });
    expect(deviceListLayout(list).filter((f) => f.name.endsWith('.proof'))).toHaveLength(3);
    const fields = deviceListLayout(list);
    expect(list.length).toBe(fields[fields.length - 1]?.end);
    const problems: string[] = [];
    for (const bit of bitsOf(fields)) {
      const where = describeBit(fields, bit);
      const bad = flipBit(list, bit);
      for (const prev of [undefined, previous]) {
        try {
          await P.verifyDeviceList(p, bad, trusted, { previous: prev, now: NOW });
          problems.push(`${where}: accepted${prev ? ' (with previous)' : ''}`);
        } catch (e) {
          const allowed = LIST_EXPECT(fieldAt(fields, bit >> 3).name);
          if (!allowed.some((cls) => e instanceof cls)) problems.push(`${where}: unexpected ${String(e)}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('tampering with the web primitives', () => {
  it('web: ratchet-message bits on each decryption path, and every bit of a device certificate', async () => {
    const p = webPrimitives;
    const u = await parties(p);
    // Every bit on the current-chain path; every third bit on the two paths that run a DH step or a skipped key.
    for (const [i, c] of (await ratchetCases(p, u)).entries()) {
      const bits = bitsOf(ratchetMessageLayout(c.message)).filter((b) => i === 0 || b % 3 === i);
      expect(await ratchetMessageFlips(p, c.state, c.message, bits), c.name).toEqual([]);
      expect(P.fromUtf8((await P.decryptMessage(p, c.state, c.message)).plaintext)).toBe(c.plaintext);
    }
    expect(await certificateFlips(p, u.alice)).toEqual([]);
  });

  it('web: a sample of prekey-message and bundle bits', async () => {
    const p = webPrimitives;
    const u = await parties(p);
    const a = await P.initiateSession(p, u.aliceLocal, bundleOf(u.bob));
    const m = await P.encryptMessage(p, a, P.utf8('first'));
    const fields = preKeyMessageLayout(m.message);
    const problems: string[] = [];
    for (const bit of bitsToTry(fields, [], 37)) {
      try {
        await P.acceptPreKeyMessage(p, u.bobLocal, u.aliceTrust, flipBit(m.message, bit));
        problems.push(`${describeBit(fields, bit)}: accepted`);
      } catch (e) {
        if (!isDecryptError(e)) problems.push(`${describeBit(fields, bit)}: ${String(e)}`);
      }
    }
    expect(problems).toEqual([]);
    const { problems: bundleProblems } = await bundleFlips(p, u, true, 41);
    expect(bundleProblems).toEqual([]);
  });

  it('web+noble: a sample of ratchet-message and certificate bits', async () => {
    const p = nobleWebPrimitives;
    const u = await parties(p);
    const [current] = await ratchetCases(p, u);
    if (!current) throw new Error('no case');
    expect(
      await ratchetMessageFlips(
        p,
        current.state,
        current.message,
        bitsOf(ratchetMessageLayout(current.message)).filter((b) => b % 5 === 0),
      ),
    ).toEqual([]);
    expect(await certificateFlips(p, u.alice, 7)).toEqual([]);
  });
});
