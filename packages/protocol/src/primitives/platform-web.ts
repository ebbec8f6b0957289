/**
 * `@blindrelay/protocol/platform` under the `browser` export condition (and any runtime that is not
 * Node): WebCrypto, with @noble/* where the runtime lacks a primitive (./web.ts).
 */
import type { Primitives } from './types.js';
import { createWebPrimitives } from './web.js';

export function createPlatformPrimitives(): Primitives {
  return createWebPrimitives();
}
