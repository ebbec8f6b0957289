/** What the SDK's operations share: primitives, the open profile, the relay API, this account. */
import type { Primitives } from '@blindrelay/protocol';
import type { RelayApi } from './api.js';
import type { DirectoryFetch } from './directory.js';
import type { AccountRecord, Profile } from './profile.js';
import type { VerifiedCertificates } from './verified-certificates.js';

export interface Context {
  readonly p: Primitives;
  readonly profile: Profile;
  readonly api: RelayApi;
  readonly account: AccountRecord;
  readonly now: () => number;
  /** The last verified directory fetch per user (directory.ts), in memory. */
  readonly directory: Map<string, DirectoryFetch>;
  /** Send with a list fetched this recently without fetching again (0: fetch on every send). */
  readonly directoryMaxAgeMs: number;
  /**
   * Signing keys of our own devices revoked by this operation, still trusted for our own files'
   * signatures while the revocation re-keys them (custody.ts rekeyOwnFiles); never otherwise.
   */
  readonly formerOwnSigners?: readonly Uint8Array[];
  /** Seal sends to other users when their devices' delivery tokens are known (default true; false: always the authenticated path). */
  readonly sealedSends?: boolean;
  /** Sealed senders' device certificates verified before (verified-certificates.ts), in memory; absent: verify every time. */
  readonly certificates?: VerifiedCertificates;
}
