/**
 * Storage failures the API answers with something better than a 500.
 */

/**
 * The database could not be reached, or its connection was lost under the operation (PostgreSQL
 * restarted, a backend was terminated, the network dropped). The store already retried what it
 * safely could; either nothing was written or it cannot know whether the last commit landed. The
 * request may be repeated: the API answers 503 `unavailable` with `Retry-After`, which the SDK
 * retries (on the next relay of its list). A repeated send can store a message twice; receivers
 * drop the identical ciphertext.
 */
export class StorageUnavailableError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('storage temporarily unavailable', options);
    this.name = 'StorageUnavailableError';
  }
}
