/** What the SDK's operations share: primitives, the open profile, the relay API, this account. */
import type { Primitives } from '@blindrelay/protocol';
import type { RelayApi } from './api.js';
import type { AccountRecord, Profile } from './profile.js';

export interface Context {
  readonly p: Primitives;
  readonly profile: Profile;
  readonly api: RelayApi;
  readonly account: AccountRecord;
  readonly now: () => number;
}
