/** Encrypted records and blind indexes (docs/PROTOCOL.md §19). */
export * from './blind-index.js';
export * from './normalize.js';
export * from './planner.js';
export * from './record-seal.js';
