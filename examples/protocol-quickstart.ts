// Two devices, one session, messages both ways: `npx tsx examples/protocol-quickstart.ts`.
// (Tested by packages/protocol/test/examples.test.ts.)
import * as P from '@blindrelay/protocol';
import { createNodePrimitives } from '@blindrelay/protocol/node'; // browsers: createWebPrimitives from '@blindrelay/protocol/web'

export async function quickstart(): Promise<string[]> {
  const p = createNodePrimitives();
  const log: string[] = [];

  // Each user has a master key; each device its own keys, certified by the master key.
  const aliceMaster = await P.generateMasterKey(p);
  const aliceDevice = await P.generateDeviceKeys(p);
  const aliceCertificate = await P.issueDeviceCertificate(p, 'alice', aliceMaster, aliceDevice);

  // Bob publishes a master-signed device list and prekeys (in practice: to the relay's directory).
  // His device proves it holds its keys; the list says when it was issued (lists expire after 14 days).
  const bobMaster = await P.generateMasterKey(p);
  const bobDevice = await P.generateDeviceKeys(p);
  const bobCertificate = await P.issueDeviceCertificate(p, 'bob', bobMaster, bobDevice);
  const bobEntry = await P.proveDeviceEntry(p, 'bob', bobMaster.publicKey, P.deviceEntryOf(bobDevice), bobDevice.signing.seed);
  const bobList = await P.signDeviceList(p, 'bob', bobMaster, { version: 1, issuedAt: Date.now() }, [bobEntry]);
  const spk = await P.generateSignedPreKey(p, 'bob', bobDevice, 1);
  const [opk] = await P.generateOneTimePreKeys(p, 1, 1);
  const pq = await P.generatePqPreKey(p, 'bob', bobDevice, 1, false);
  const bundleBytes = P.encodePreKeyBundle(P.bundleFor('bob', bobDevice, spk, pq, opk));

  // Alice verifies Bob's list against the master key she trusts, then the bundle against the list.
  const list = await P.verifyDeviceList(p, bobList, { user: 'bob', masterKey: bobMaster.publicKey }, { now: Date.now() });
  const bundle = P.decodePreKeyBundle(bundleBytes);
  await P.verifyPreKeyBundle(p, bundle, list.devices[0] as P.DeviceEntry, 'bob');
  let alice = await P.initiateSession(p, { identity: aliceDevice.identity, certificate: aliceCertificate }, bundle);
  const first = await P.encryptMessage(p, alice, P.utf8('hello bob'));
  alice = first.state; // persist P.serializeSession(alice) after every call

  // Bob accepts the first message: PQXDH, then the Double Ratchet.
  const preKeys: P.PreKeyLookup = {
    signedPreKey: (id) => (id === spk.id ? spk : undefined),
    oneTimePreKey: (id) => (id === opk?.id ? opk : undefined),
    pqPreKey: (id) => (id === pq.id ? pq : undefined),
  };
  const accepted = await P.acceptPreKeyMessage(
    p,
    { identity: bobDevice.identity, certificate: bobCertificate, preKeys },
    { user: 'alice', masterKey: aliceMaster.publicKey },
    first.message,
  );
  let bob = accepted.state; // and delete the one-time prekeys it reports as used
  log.push(`bob received: ${P.fromUtf8(accepted.plaintext)}`);

  const reply = await P.encryptMessage(p, bob, P.utf8('hi alice'));
  bob = reply.state;
  const received = await P.decryptMessage(p, alice, reply.message);
  alice = received.state;
  log.push(`alice received: ${P.fromUtf8(received.plaintext)}`);

  // Both see the same safety number; they compare it in person or by scanning the QR payload.
  const mine = await P.safetyNumber(p, { user: 'alice', masterKey: aliceMaster.publicKey }, { user: 'bob', masterKey: bobMaster.publicKey });
  const theirs = await P.safetyNumber(p, { user: 'bob', masterKey: bobMaster.publicKey }, { user: 'alice', masterKey: aliceMaster.publicKey });
  log.push(`safety number: ${P.formatSafetyNumber(mine.digits)} (${mine.digits === theirs.digits ? 'matches' : 'MISMATCH'})`);
  return log;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await quickstart()) console.log(line);
}
