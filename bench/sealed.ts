// `npm run bench -- sealed`: the sealed-sender outer layer (docs/PROTOCOL.md §20.2), ours vs
// @signalapp/libsignal-client's sealed sender in the same run, around one ratchet message of
// PLAINTEXT bytes of an established session:
// - seal_open_per_s: seal + open per second (ours: sealEnvelope + openEnvelope, RFC 9180 HPKE
//   base mode to the recipient's identity key; libsignal: sealedSenderEncrypt +
//   sealedSenderDecryptToUsmc). The ratchet encryption inside is the protocol bench's business.
// - sealed_bytes: the sealed envelope's size (lower is better; ours carries our device
//   certificate and Padmé padding, libsignal its sender certificate chain).

import * as P from '@blindrelay/protocol';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { ratchetMessage } from './peers/blindrelay.js';
import { peerName, sealedSenderOuter } from './peers/libsignal.js';
import { rate } from './peers/timing.js';
import type { BenchOptions, BenchResult, Row } from './run.js';

const PLAINTEXT = 200;

async function ours(durationMs: number): Promise<{ perSecond: number; bytes: number }> {
  const p = createNodePrimitives();
  const master = await P.generateMasterKey(p);
  const alice = await P.generateDeviceKeys(p);
  const bob = await P.generateDeviceKeys(p);
  const certificate = await P.issueDeviceCertificate(p, 'alice', master, alice);
  const recipient = { user: 'bob', deviceId: bob.deviceId, identityKey: bob.identity.publicKey };
  const self = { ...recipient, identityPrivate: bob.identity.privateKey };
  // A real ratchet message of an established session, as libsignal's side gets a real Whisper message.
  const message = await ratchetMessage(PLAINTEXT);
  let bytes = 0;
  const perSecond = await rate(durationMs, async () => {
    const sealed = await P.sealEnvelope(p, recipient, certificate, message);
    bytes = sealed.length;
    const opened = await P.openEnvelope(p, self, sealed);
    if (opened.message.length !== message.length) throw new Error('sealed round trip mismatch');
  });
  return { perSecond, bytes };
}

export async function run(o: BenchOptions): Promise<BenchResult> {
  const ms = o.quick ? 200 : 3000;
  o.log(`sealed: ours, ${ms} ms`);
  const a = await ours(ms);
  o.log(`sealed: ${peerName}, ${ms} ms`);
  const b = await sealedSenderOuter(PLAINTEXT, ms);
  const row = (metric: string, unit: string, ours: number, peer: number): Row => ({ metric, unit, ours, peer, ratio: ours / peer });
  const rows: Row[] = [row('seal_open_per_s', 'envelopes/s', Math.round(a.perSecond), Math.round(b.perSecond)), row('sealed_bytes', 'bytes', a.bytes, b.bytes)];
  return { bench: 'sealed', peer: peerName, rows };
}
