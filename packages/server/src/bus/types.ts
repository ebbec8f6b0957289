/**
 * The event bus: how the process that stores something wakes the process that holds the
 * interested connection. Embedded: in-process (memory.ts). Cluster: NATS, behind this interface.
 *
 * Events carry routing facts only, never ciphertext or keys: a woken WebSocket reads the message
 * from storage, so the bus never needs to be trusted with (or sized for) payloads.
 */

import { toHex, utf8 } from '@blindrelay/protocol';

export type DeviceEvent =
  /** Something was queued for the device: push what it has not seen yet. */
  | { readonly type: 'message' }
  /** The device left its user's list: tell it and close its sockets. */
  | { readonly type: 'revoked' }
  /** The device's account was deleted (docs/API.md §1a): tell it and close its sockets. */
  | { readonly type: 'account-deleted' }
  /** Its one-time prekeys dropped below the threshold after a bundle fetch. */
  | { readonly type: 'prekeys-low'; readonly oneTimePreKeys: number; readonly pqPreKeys: number };

export type ProvisioningEvent = { readonly type: 'envelope' };

export type BusEvent = DeviceEvent | ProvisioningEvent;

export type Unsubscribe = () => void;

export interface Bus {
  publish(topic: string, event: BusEvent): Promise<void>;
  /** Handlers run asynchronously after `publish`; a failing handler does not affect others. */
  subscribe(topic: string, handler: (event: BusEvent) => void): Unsubscribe;
  close(): Promise<void>;
}

/**
 * Topic names. Users are `[a-z0-9._-]`, so the name is hex-encoded to keep `.` (a NATS subject
 * separator) and any future character out of the subject's structure.
 */
export const deviceTopic = (user: string, deviceId: number): string => `device.${toHex(utf8(user))}.${deviceId}`;
export const provisioningTopic = (channelHashHex: string): string => `provisioning.${channelHashHex}`;
