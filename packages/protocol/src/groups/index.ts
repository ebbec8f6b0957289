/** Group (MLS, RFC 9420) pieces of the protocol core: `@blindrelay/protocol/groups`. */
export * from './mls-framing.js';
export * from './mls-primitives.js';
export * from './xwing.js';
