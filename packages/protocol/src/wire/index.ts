/** `@blindrelay/protocol/wire`: what the relay and the SDK agree on over HTTP, in one place both import. */
export { isRelayWireCode, RELAY_ERRORS, RELAY_WIRE_CODES, type RelaySdkCode, type RelayWireCode } from './errors.js';
