/**
 * X-Wing as an @hpke/core KEM (RFC 9180 §4 interface), over @blindrelay/protocol/groups (which
 * runs @noble/post-quantum's X-Wing), so ts-mls's suite 0x0053 uses no primitive outside the
 * primitive policy (DESIGN.md): @hpke/hybridkem-x-wing would bring the pure-JS `mlkem` package.
 */
import { XWING_KEM_ID, XWING_SIZES, xwingDecapsulate, xwingDeriveSeed, xwingEncapsulate, xwingPublicKey } from '@blindrelay/protocol/groups';
import type { KemInterface, RecipientContextParams, SenderContextParams } from '@hpke/core';

/** A key as @hpke/core and ts-mls pass it around (shaped like a CryptoKey; bytes inside). */
class XWingKey {
  readonly algorithm = { name: 'X-Wing' };
  readonly extractable = true;
  readonly usages: KeyUsage[];
  constructor(
    readonly key: Uint8Array,
    readonly type: 'public' | 'private',
  ) {
    this.usages = type === 'private' ? ['deriveBits'] : [];
  }
}

const bytesOf = (v: ArrayBufferLike | ArrayBufferView): Uint8Array =>
  ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice() : new Uint8Array(v).slice();
const buffer = (b: Uint8Array): ArrayBuffer => b.slice().buffer as ArrayBuffer;
const asKey = (k: XWingKey) => k as unknown as CryptoKey;
function keyOf(k: CryptoKey, type: 'public' | 'private', size: number): Uint8Array {
  const key = k as unknown as Partial<XWingKey>;
  if (!(key.key instanceof Uint8Array) || key.type !== type || key.key.length !== size) throw new Error(`X-Wing: not a ${type} key`);
  return key.key;
}
const pair = (seed: Uint8Array): CryptoKeyPair => ({
  privateKey: asKey(new XWingKey(seed, 'private')),
  publicKey: asKey(new XWingKey(xwingPublicKey(seed), 'public')),
});

export class XWingKem implements KemInterface {
  readonly id = XWING_KEM_ID as KemInterface['id'];
  readonly secretSize = XWING_SIZES.secret;
  readonly encSize = XWING_SIZES.enc;
  readonly publicKeySize = XWING_SIZES.publicKey;
  readonly privateKeySize = XWING_SIZES.privateKey;

  async serializePublicKey(key: CryptoKey): Promise<ArrayBuffer> {
    return buffer(keyOf(key, 'public', XWING_SIZES.publicKey));
  }
  async deserializePublicKey(key: ArrayBufferLike | ArrayBufferView): Promise<CryptoKey> {
    const bytes = bytesOf(key);
    if (bytes.length !== XWING_SIZES.publicKey) throw new Error('X-Wing: bad public key length');
    return asKey(new XWingKey(bytes, 'public'));
  }
  async serializePrivateKey(key: CryptoKey): Promise<ArrayBuffer> {
    return buffer(keyOf(key, 'private', XWING_SIZES.privateKey));
  }
  async deserializePrivateKey(key: ArrayBufferLike | ArrayBufferView): Promise<CryptoKey> {
    const bytes = bytesOf(key);
    if (bytes.length !== XWING_SIZES.privateKey) throw new Error('X-Wing: bad private key length');
    return asKey(new XWingKey(bytes, 'private'));
  }
  async importKey(format: 'raw' | 'jwk', key: ArrayBuffer | JsonWebKey, isPublic = true): Promise<CryptoKey> {
    if (format !== 'raw' || !(key instanceof ArrayBuffer)) throw new Error('X-Wing: only raw keys');
    return isPublic ? this.deserializePublicKey(key) : this.deserializePrivateKey(key);
  }
  async generateKeyPair(): Promise<CryptoKeyPair> {
    return pair(crypto.getRandomValues(new Uint8Array(XWING_SIZES.privateKey)));
  }
  async deriveKeyPair(ikm: ArrayBufferLike | ArrayBufferView): Promise<CryptoKeyPair> {
    return pair(xwingDeriveSeed(bytesOf(ikm)));
  }
  async encap(params: SenderContextParams): Promise<{ sharedSecret: ArrayBuffer; enc: ArrayBuffer }> {
    const { enc, sharedSecret } = xwingEncapsulate(keyOf(params.recipientPublicKey, 'public', XWING_SIZES.publicKey));
    return { sharedSecret: buffer(sharedSecret), enc: buffer(enc) };
  }
  async decap(params: RecipientContextParams): Promise<ArrayBuffer> {
    const r = params.recipientKey;
    const sk = keyOf('privateKey' in r ? r.privateKey : r, 'private', XWING_SIZES.privateKey);
    return buffer(xwingDecapsulate(bytesOf(params.enc), sk));
  }
}
