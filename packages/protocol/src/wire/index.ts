/** `@blindrelay/protocol/wire`: what the relay and the SDK agree on over HTTP, in one place both import. */
export {
  BASE64URL_PATTERN,
  encodedLength,
  fromBase64url,
  fromBase64urlPortable,
  toBase64url,
  toBase64urlPortable,
  tryFromBase64url,
} from './base64url.js';
export * as bounds from './bounds.js';
export { isRelayWireCode, RELAY_ERRORS, RELAY_WIRE_CODES, type RelaySdkCode, type RelayWireCode } from './errors.js';
export * as shapes from './shapes.js';
export {
  type BoolShape,
  type BytesShape,
  type ChoiceShape,
  conforms,
  decodeBytes,
  type IntShape,
  type ListShape,
  type NullableShape,
  type OptionalShape,
  type Properties,
  type RecordShape,
  type Shape,
  type TextShape,
  type TrueShape,
  type TupleShape,
  type WireValue,
  wireFault,
} from './shapes.js';
