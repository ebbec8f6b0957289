/**
 * Device certificates of sealed senders already verified (receive.ts, docs/PROTOCOL.md §20.3).
 * Every sealed message carries its sender device's certificate: the same bytes in each message
 * from that device until it is issued again, and checking its Ed25519 signature by the sender's
 * master key was the largest single cost of receiving a sealed message (~150 µs of ~1 ms). The
 * check is a pure function of the certificate bytes, the user and the master key it must be
 * signed by, so its outcome is kept under all three: a changed master key, another user or other
 * bytes miss and are verified afresh. Only successes are kept; the most recent LIMIT of them.
 */
import { type DeviceCertificate, type Primitives, type TrustedUser, verifyDeviceCertificate } from '@blindrelay/protocol';
import { toBase64url } from './base64url.js';

const LIMIT = 1024;

export class VerifiedCertificates {
  readonly #verified = new Map<string, DeviceCertificate>();

  /** verifyDeviceCertificate, answered from memory for bytes verified before under the same user and master key. */
  async verify(p: Primitives, bytes: Uint8Array, trusted: TrustedUser): Promise<DeviceCertificate> {
    const key = `${trusted.user}\u0000${toBase64url(trusted.masterKey)}\u0000${toBase64url(bytes)}`;
    const hit = this.#verified.get(key);
    if (hit) {
      // Most recently used last: the first key is the one to evict.
      this.#verified.delete(key);
      this.#verified.set(key, hit);
      return hit;
    }
    const cert = Object.freeze(await verifyDeviceCertificate(p, bytes, trusted));
    this.#verified.set(key, cert);
    if (this.#verified.size > LIMIT) this.#verified.delete(this.#verified.keys().next().value as string);
    return cert;
  }

  get size(): number {
    return this.#verified.size;
  }
}
