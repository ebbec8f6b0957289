/** Records for profile-store tests: a random account and inbox messages, and cheap KDF parameters. */
import { createNodePrimitives } from '@blindrelay/protocol/node';
import type { AccountRecord, ReceivedMessage } from '../src/profile.js';
import type { KdfParams } from '../src/vault.js';

const p = createNodePrimitives();

/** Cheap Argon2id parameters for tests; DEFAULT_KDF is exercised where it matters. */
export const FAST_KDF: KdfParams = { algorithm: 'argon2id', m: 256, t: 1, p: 1 };

export function account(): AccountRecord {
  return {
    user: 'alice',
    deviceId: 7,
    deviceName: 'laptop',
    servers: ['http://127.0.0.1:1'],
    masterSeed: p.randomBytes(32),
    masterKey: p.randomBytes(32),
    signingSeed: p.randomBytes(32),
    signingKey: p.randomBytes(32),
    identityPrivate: p.randomBytes(32),
    identityPublic: p.randomBytes(32),
    certificate: p.randomBytes(100),
    createdAt: 1,
  };
}

export function message(id: string): ReceivedMessage {
  return { id, from: 'bob', fromDevice: 1, to: 'alice', text: `text ${id}`, sentAt: 1, sync: false, serverId: `server-${id}`, serverSentAt: 2 };
}
