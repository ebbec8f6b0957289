/** Errors of group conversations (docs/PROTOCOL.md §22): stable codes, no submitted values in messages. */
import { BlindrelayError } from '@blindrelay/protocol';

export type GroupErrorCode =
  /** A group message (commit, Welcome, application message) that does not decode or verify. */
  | 'ERR_GROUP_BAD_MESSAGE'
  /** A leaf whose credential is not a current device of its user's verified, master-signed list. */
  | 'ERR_GROUP_UNTRUSTED_MEMBER'
  /** This device is not (or no longer) a member of the group. */
  | 'ERR_GROUP_NOT_MEMBER'
  /** The operation names a member or group that does not exist here. */
  | 'ERR_GROUP_NOT_FOUND';

export class GroupError extends BlindrelayError<GroupErrorCode> {}
