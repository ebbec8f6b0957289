/**
 * Delivery tokens (docs/PROTOCOL.md §20.1). A device's delivery token is 32 random bytes it hands
 * to its contacts inside end-to-end encrypted messages; a sealed send to that device presents it.
 * The relay stores only the verifier SHA-256("blindrelay/delivery-token/v1" || token) and accepts a
 * sealed send to the device when SHA-256 of the presented token matches a stored verifier, so a
 * dump of the relay's database gives no token to send with.
 */
import { concat, utf8 } from '../bytes.js';
import { InvalidArgumentError } from '../errors.js';
import type { Primitives } from '../primitives/types.js';

export const DELIVERY_TOKEN_BYTES = 32;
const LABEL = utf8('blindrelay/delivery-token/v1');

export function newDeliveryToken(p: Primitives): Uint8Array {
  return p.randomBytes(DELIVERY_TOKEN_BYTES);
}

/** The verifier the relay stores for a token. */
export async function deliveryTokenVerifier(p: Primitives, token: Uint8Array): Promise<Uint8Array> {
  if (token.length !== DELIVERY_TOKEN_BYTES) throw new InvalidArgumentError('delivery token: must be 32 bytes');
  return p.sha256(concat(LABEL, token));
}
