/**
 * `@blindrelay/protocol/platform` under the `node` export condition: the primitives of this runtime
 * (node:crypto). Bundlers targeting browsers resolve the same specifier to ./platform-web.ts.
 */

import { createNodePrimitives } from './node.js';
import type { Primitives } from './types.js';

export function createPlatformPrimitives(): Primitives {
  return createNodePrimitives();
}
