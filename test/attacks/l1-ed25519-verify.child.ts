/**
 * Run by l1-small-order-ed25519.test.ts on an older Node (the system Node 20: OpenSSL 3.0, which
 * on its own accepts the small-order forgery): prints what each primitives implementation answers
 * for the review's weak key and signature, as one JSON line.
 */
import * as P from '../../packages/protocol/src/index.js';
import { createNodePrimitives } from '../../packages/protocol/src/primitives/node.js';
import { createWebPrimitives } from '../../packages/protocol/src/primitives/web.js';

const key = P.fromHex(`01${'00'.repeat(31)}`); // the identity point (small order)
const forgery = P.fromHex(`01${'00'.repeat(63)}`); // R = identity, S = 0
const out: Record<string, boolean> = {};
for (const p of [createNodePrimitives(), createWebPrimitives(), createWebPrimitives({ forceNobleCurves: true })]) {
  out[p.name] = await p.ed25519Verify(key, P.utf8('any message at all'), forgery);
}
console.log(JSON.stringify({ node: process.version, accepted: out }));
