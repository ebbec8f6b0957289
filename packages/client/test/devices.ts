/**
 * SDK devices for tests against a real relay: an environment whose `fetch` a test can intercept
 * (to play a misbehaving relay) and whose clock it can move, linking a second device, and a bare
 * API client holding a device's credentials (to act as that device outside the SDK).
 */
import * as P from '@blindrelay/protocol';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { RelayApi } from '../src/api.js';
import { BlindrelayClient, type ClientEnvironment } from '../src/client.js';
import { nodeSealedSocketFactory, nodeSocketFactory } from '../src/node.js';
import { Profile } from '../src/profile.js';
import { signatureHeader } from '../src/request-signing.js';
import { MemoryStorage } from '../src/storage/memory.js';
import type { ProfileStorage } from '../src/storage/types.js';

export const p = createNodePrimitives();

export type FetchHook = (url: string, init: RequestInit | undefined, next: () => Promise<Response>) => Promise<Response>;

export interface Device {
  client: BlindrelayClient;
  env: ClientEnvironment;
  storage: ProfileStorage;
  /** Replace to intercept this device's HTTP calls. */
  hook: { fn: FetchHook | null };
  /** Added to this device's clock (`env.now`). */
  clock: { offset: number };
}

export function environment(storage: ProfileStorage = new MemoryStorage()) {
  const hook: Device['hook'] = { fn: null };
  const clock = { offset: 0 };
  const wrapped: typeof fetch = (input, init) => {
    const next = () => fetch(input, init);
    return hook.fn ? hook.fn(String(input), init, next) : next();
  };
  const env: ClientEnvironment = {
    primitives: p,
    storage,
    fetch: wrapped,
    socket: nodeSocketFactory,
    sealedSocket: nodeSealedSocketFactory,
    now: () => Date.now() + clock.offset,
  };
  return { env, storage, hook, clock };
}

export async function newUserAt(name: string, servers: string | string[]): Promise<Device> {
  const e = environment();
  const client = await BlindrelayClient.createAccount(e.env, { servers, user: name, deviceName: 'first' });
  return { client, ...e };
}

export async function linkDevice(existing: Device): Promise<Device> {
  const e = environment();
  let approval: Promise<unknown> = Promise.resolve();
  const client = await BlindrelayClient.link(e.env, {
    servers: existing.client.servers,
    user: existing.client.user,
    onCode: (code, sas) => {
      // The user compares the comparison code on both screens (review L5).
      approval = existing.client.approve(code, { sas });
    },
  });
  await approval;
  return { client, ...e };
}

/** A bare API client with a device's credentials. */
export async function deviceApi(d: Pick<Device, 'storage'>, server: string): Promise<RelayApi> {
  const a = await (await Profile.open(d.storage, p)).read('account');
  return new RelayApi({
    servers: [server],
    credentials: {
      user: a.user,
      deviceId: a.deviceId,
      signChallenge: (c) => P.signAuthChallenge(p, a.signingSeed, c, a.user, a.deviceId),
      signRequest: (method, path, body, timestamp) => signatureHeader(p, a, method, path, body, timestamp),
    },
  });
}

/**
 * A device list of `user` signed by `master` listing `devices`, each with its proof of possession
 * (docs/PROTOCOL.md §5), issued at `issuedAt` (default now): what an attacker holding `master`
 * (or a test playing the relay) can make.
 */
export async function provenList(
  user: string,
  master: P.SigningKeyPair,
  version: number,
  devices: readonly P.DeviceKeys[],
  issuedAt = Date.now(),
): Promise<Uint8Array> {
  const entries = await Promise.all(devices.map((d) => P.proveDeviceEntry(p, user, master.publicKey, P.deviceEntryOf(d), d.signing.seed)));
  return P.signDeviceList(p, user, master, { version, issuedAt }, entries);
}
