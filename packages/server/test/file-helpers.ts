/** Fixtures for the files API (docs/API.md §8): age headers made with the protocol library, payload uploads and downloads. */
import * as P from '@blindrelay/protocol';
import { type Api, b64, p, type Response } from './helpers.js';

/** A real age v1 header (one X25519 stanza per key; MAC under a fresh file key). */
export async function ageHeader(...recipients: Uint8Array[]): Promise<Uint8Array> {
  const keys = recipients.length > 0 ? recipients : [(await P.generateDeviceKeys(p)).identity.publicKey];
  const { header } = await P.wrapFileKey(
    p,
    keys.map((k) => new P.X25519Recipient(k)),
  );
  return header;
}

export const randomMeta = () => b64(p.randomBytes(64));

/** PUT one payload piece as application/octet-stream. */
export async function putPayload(
  api: Api,
  token: string,
  id: string,
  version: number,
  offset: number,
  bytes: Uint8Array,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${api.url}/v1/files/${id}/versions/${version}/payload?offset=${offset}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', ...headers },
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  // biome-ignore lint/suspicious/noExplicitAny: test responses are asserted field by field
  return { status: res.status, body: body as any, text, headers: res.headers } satisfies Response;
}

/** Uploads `payload` in pieces of `piece` bytes from `from`; returns the last answer. */
export async function uploadAll(api: Api, token: string, id: string, version: number, payload: Uint8Array, piece = 64 * 1024, from = 0) {
  let last: Awaited<ReturnType<typeof putPayload>> | undefined;
  for (let off = from; off < payload.length; off += piece) {
    last = await putPayload(api, token, id, version, off, payload.subarray(off, Math.min(payload.length, off + piece)));
    if (last.status !== 200) throw new Error(`upload at ${off}: ${last.status} ${last.text}`);
  }
  if (!last) throw new Error('nothing to upload');
  return last;
}

export async function download(api: Api, token: string, id: string, version: number, headers: Record<string, string> = {}) {
  const res = await fetch(`${api.url}/v1/files/${id}/versions/${version}/payload`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, bytes, headers: res.headers, json: () => JSON.parse(Buffer.from(bytes).toString()) };
}

export async function createFile(api: Api, token: string, o: { size: number; readers?: string[]; header?: Uint8Array }) {
  return api.req('POST', '/v1/files', {
    token,
    body: { header: b64(o.header ?? (await ageHeader())), meta: randomMeta(), payloadSize: o.size, readers: o.readers ?? [] },
  });
}
