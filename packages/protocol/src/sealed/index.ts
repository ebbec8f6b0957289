export * from './delivery-token.js';
export * from './dhkem-x25519.js';
export * from './sealed-envelope.js';
