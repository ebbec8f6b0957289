/**
 * The relay's MLS group routes (docs/API.md §13), each answer checked against its shape in the
 * wire contract (`@blindrelay/protocol/wire`, the data the relay's schemas are built from) and
 * each body typed by its request shape. groups.ts does the MLS.
 */
import { shapes } from '@blindrelay/protocol/wire';
import { answer, type Body, type RelayApi } from '../api.js';

export type GroupInboxItem = Body<typeof shapes.GROUP_INBOX>['messages'][number];

/** Uploads KeyPackages (none: only asks); how many one-time ones the relay now holds for this device. */
export async function putKeyPackages(api: RelayApi, body: Body<typeof shapes.KEY_PACKAGES_REQUEST>): Promise<number> {
  return answer(shapes.KEY_PACKAGES_HELD, await api.groups('PUT', '/v1/groups/key-packages', body), 'key packages').oneTime;
}

/** One KeyPackage for each (or each named) device of `user`. */
export async function claimKeyPackages(
  api: RelayApi,
  body: Body<typeof shapes.CLAIM_REQUEST>,
): Promise<Body<typeof shapes.KEY_PACKAGES_CLAIMED>['keyPackages']> {
  return answer(shapes.KEY_PACKAGES_CLAIMED, await api.groups('POST', '/v1/groups/key-packages/claim', body), 'key packages').keyPackages;
}

/** Up to `limit` inbox items, oldest first. */
export async function groupInbox(api: RelayApi, limit: number): Promise<GroupInboxItem[]> {
  return answer(shapes.GROUP_INBOX, await api.groups('GET', `/v1/groups/inbox?limit=${limit}`), 'group inbox').messages;
}

/** Signed: drop the inbox up to and including `upTo`. */
export async function ackGroupInbox(api: RelayApi, body: Body<typeof shapes.INBOX_ACK_REQUEST>): Promise<void> {
  await api.groups('POST', '/v1/groups/inbox/ack', body, true);
}

export async function groupInfo(api: RelayApi, id: string): Promise<Body<typeof shapes.GROUP_INFO>> {
  return answer(shapes.GROUP_INFO, await api.groups('GET', `/v1/groups/${id}`), 'group');
}

export async function postGroup(api: RelayApi, body: Body<typeof shapes.GROUP_CREATE_REQUEST>): Promise<Body<typeof shapes.GROUP_INFO>> {
  return answer(shapes.GROUP_INFO, await api.groups('POST', '/v1/groups', body), 'group');
}

/** The group's epoch after the commit. */
export async function postCommit(api: RelayApi, id: string, body: Body<typeof shapes.COMMIT_REQUEST>): Promise<number> {
  return answer(shapes.GROUP_WRITTEN, await api.groups('POST', `/v1/groups/${id}/commits`, body), 'commit').epoch;
}

/** An application message or proposal; the group's epoch after it. */
export async function postGroupMessage(api: RelayApi, id: string, body: Body<typeof shapes.GROUP_MESSAGE_REQUEST>): Promise<number> {
  return answer(shapes.GROUP_WRITTEN, await api.groups('POST', `/v1/groups/${id}/messages`, body), 'message').epoch;
}
