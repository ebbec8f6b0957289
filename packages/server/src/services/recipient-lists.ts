/**
 * Recipients' device lists as a WebSocket connection last read them, for the Sesame coverage
 * check of its send frames (docs/API.md §12, services/send-batch.ts): one read of a recipient's
 * account per connection instead of one per frame. On the hot path that is one database round
 * trip fewer per send frame (docs/BENCHMARKS.md, "Relay CPU per message").
 *
 * Reusing a read changes no answer; the store decides, as before:
 * - a send checked against a list the recipient has since replaced is refused by the store
 *   (every enqueue names the list version it was checked against: `stale_list`, nothing stored),
 *   and the send is checked again against a fresh read (`read`), as it always was;
 * - a 409 `mismatched_devices` worked out from a remembered list is worked out again from a fresh
 *   read before it is answered (the sender may already know the newer list);
 * - an account that does not exist is never remembered: each send to it reads, and is charged to
 *   the lookup-miss budget, as before.
 * Only the version and the device ids are kept, for at most MAX_REMEMBERED recipients per
 * connection (the one read longest ago goes first), in a WeakMap keyed by the connection's
 * authenticated device: it goes with the connection.
 *
 * HTTP sends (`POST /v1/messages`) have no connection to keep them with: their lists are kept per
 * sending device instead (`ofSender`), for the MAX_HTTP_SENDERS devices that sent over HTTP most
 * recently, per store (one relay's storage; tests run several relays in one process). The same
 * rules hold, so reusing them changes no answer either.
 */
import type { AuthenticatedDevice } from '../context.js';
import { ApiError } from '../http/errors.js';
import type { Storage } from '../storage/types.js';

/** What the coverage check needs of an account. */
export interface RecipientList {
  readonly listVersion: number;
  readonly devices: readonly { readonly deviceId: number }[];
}

/** Recipients remembered per connection. */
export const MAX_REMEMBERED = 64;

/** Sending devices whose HTTP sends' lists are kept, per store (the least recent sender goes first). */
export const MAX_HTTP_SENDERS = 1024;

const byConnection = new WeakMap<AuthenticatedDevice, Map<string, RecipientList>>();
const bySender = new WeakMap<object, Map<string, Map<string, RecipientList>>>();

function memoryOf(map: WeakMap<AuthenticatedDevice, Map<string, RecipientList>>, connection: AuthenticatedDevice): Map<string, RecipientList> {
  let memory = map.get(connection);
  if (!memory) {
    memory = new Map();
    map.set(connection, memory);
  }
  return memory;
}

const slim = (a: RecipientList): RecipientList => ({ listVersion: a.listVersion, devices: a.devices.map((d) => ({ deviceId: d.deviceId })) });

export class RecipientLists {
  /** The lists kept for a WebSocket connection (its authenticated device object). */
  constructor(
    private readonly storage: Pick<Storage, 'accounts'>,
    connection: AuthenticatedDevice,
    private readonly memory: Map<string, RecipientList> = memoryOf(byConnection, connection),
  ) {}

  /** The lists kept for a sending device's HTTP sends (no connection to keep them with). */
  static ofSender(storage: Pick<Storage, 'accounts'>, device: AuthenticatedDevice): RecipientLists {
    let senders = bySender.get(storage.accounts);
    if (!senders) {
      senders = new Map();
      bySender.set(storage.accounts, senders);
    }
    const key = `${device.user}\u0000${device.deviceId}`;
    const memory = senders.get(key) ?? new Map<string, RecipientList>();
    // Most recent last: re-inserted on every use, the least recent dropped past the cap.
    senders.delete(key);
    senders.set(key, memory);
    if (senders.size > MAX_HTTP_SENDERS) senders.delete(senders.keys().next().value as string);
    return new RecipientLists(storage, device, memory);
  }

  /**
   * Runs `check` with `user`'s list (undefined: no such account): the remembered one, and if that
   * gives 409 `mismatched_devices`, once more with a fresh read; otherwise with a fresh read.
   */
  async check<T>(user: string, check: (list: RecipientList | undefined) => Promise<T>): Promise<T> {
    const held = this.memory.get(user);
    if (held) {
      try {
        return await check(held);
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 'mismatched_devices')) throw err;
      }
    }
    return check(await this.read(user));
  }

  /** `user`'s account read from storage, its list remembered (forgotten if there is no such account). */
  async read(user: string): Promise<Awaited<ReturnType<Storage['accounts']['get']>>> {
    const account = await this.storage.accounts.get(user);
    this.memory.delete(user);
    if (account) {
      this.memory.set(user, slim(account));
      if (this.memory.size > MAX_REMEMBERED) this.memory.delete(this.memory.keys().next().value as string);
    }
    return account;
  }
}
