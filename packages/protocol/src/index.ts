/** @blindrelay/protocol: pure protocol core. No I/O; randomness comes from the primitives. */

export * from './age/index.js';
export * from './auth-challenge.js';
export * from './bytes.js';
export * from './device-certificate.js';
export * from './device-list.js';
export * from './ed25519.js';
export * from './encoding.js';
export * from './errors.js';
export * from './file-access.js';
export * from './file-seal.js';
export * from './keys.js';
export * from './limits.js';
export * from './message.js';
export * from './padding.js';
export * from './payload-digest.js';
export * from './pqxdh.js';
export * from './prekeys.js';
export type { KemEncapsulation, KeyPair, Primitives } from './primitives/types.js';
export * from './provisioning.js';
export * from './ratchet.js';
export * from './records/index.js';
export * from './request-signature.js';
export * from './safety-number.js';
export * from './send-mark.js';
export * from './session.js';
export * from './session-state.js';
export * from './x25519.js';
