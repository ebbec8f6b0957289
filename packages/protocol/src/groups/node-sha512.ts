/**
 * node:crypto's SHA-512 (FIPS 180-4) in the hash interface of @noble/hashes (`CHash`), so that
 * @noble's own HMAC (RFC 2104) and HKDF (RFC 5869) constructions run over the platform's SHA-512.
 *
 * Why: MLS expands given secrets (RFC 9420 §8 ExpandWithLabel), which node:crypto's HKDF
 * (`hkdfSync`, Extract-then-Expand only) cannot do, so HKDF comes from @noble/hashes
 * (mls-primitives.ts). Over @noble's pure-JS SHA-512 one Expand costs ~25 µs and an epoch of a
 * 1,000-member group makes ~6,100 of them (ts-mls's secret tree, §9). This adapter supplies only the
 * hash: the HMAC and HKDF steps stay @noble's (the primitive policy, ../shared/DESIGN.md). The
 * interface is the one @noble's `_HMAC` and `expand` drive: `create`, `update`, `digestInto`,
 * `_cloneInto` (a copy of the running state: node:crypto `Hash.copy()`), `destroy`.
 */
import type * as NodeCrypto from 'node:crypto';
import type { CHash, Hash } from '@noble/hashes/utils.js';

/** SHA-512's output and block lengths (FIPS 180-4 §1). */
const OUTPUT_LEN = 64;
const BLOCK_LEN = 128;

class NodeSha512 implements Hash<NodeSha512> {
  readonly blockLen = BLOCK_LEN;
  readonly outputLen = OUTPUT_LEN;
  readonly canXOF = false;
  private finished = false;
  private destroyed = false;

  constructor(
    private readonly c: typeof NodeCrypto,
    private h: NodeCrypto.Hash,
  ) {}

  private usable(): NodeCrypto.Hash {
    if (this.destroyed) throw new Error('hash was destroyed');
    if (this.finished) throw new Error('digest() was already called');
    return this.h;
  }

  update(buf: Uint8Array): this {
    this.usable().update(buf);
    return this;
  }

  digestInto(buf: Uint8Array): void {
    if (!(buf instanceof Uint8Array) || buf.length < OUTPUT_LEN) throw new RangeError(`"output" expected length >= ${OUTPUT_LEN}`);
    const d = this.usable().digest();
    this.finished = true;
    buf.set(d, 0);
    d.fill(0);
  }

  digest(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(OUTPUT_LEN);
    this.digestInto(out);
    return out;
  }

  /** Copies this running state into `to` (or a new instance), as @noble's hashes do. */
  _cloneInto(to?: NodeSha512): NodeSha512 {
    const copy = this.usable().copy();
    if (!to) return new NodeSha512(this.c, copy);
    to.h = copy;
    to.finished = false;
    to.destroyed = false;
    return to;
  }

  clone(): NodeSha512 {
    return this._cloneInto();
  }

  /** Drops the state (node:crypto frees it; its internal buffers cannot be wiped from here). */
  destroy(): void {
    this.destroyed = true;
  }
}

/** SHA-512 on `c` (node:crypto) as a @noble/hashes `CHash`. */
export function nodeSha512(c: typeof NodeCrypto): CHash<NodeSha512> {
  const create = () => new NodeSha512(c, c.createHash('sha512'));
  const hash = (msg: Uint8Array): Uint8Array<ArrayBuffer> => create().update(msg).digest();
  return Object.freeze(Object.assign(hash, { outputLen: OUTPUT_LEN, blockLen: BLOCK_LEN, canXOF: false, create }));
}
