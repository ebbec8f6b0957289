/**
 * The key under which per-address limits count a client (rate limits, open provisioning channels,
 * outstanding auth challenges). IPv4 addresses count on their own; an IPv4-mapped IPv6 address
 * (`::ffff:a.b.c.d`) counts as the IPv4 address; any other IPv6 address counts as its /64 prefix,
 * since one subscriber usually gets a whole /64 and could otherwise rotate through it.
 *
 * `request.ip` is the socket's peer, or with `trustProxy` the address Fastify takes from
 * `X-Forwarded-For`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyRequest } from 'fastify';

/** Expands an IPv6 address (no zone id) into its 8 hextets, or undefined if malformed. */
function hextets(address: string): number[] | undefined {
  let text = address;
  // A trailing dotted IPv4 part becomes two hextets.
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  let tail: number[] = [];
  if (v4) {
    const b = v4.slice(1, 5).map(Number) as [number, number, number, number];
    tail = [(b[0] << 8) | b[1], (b[2] << 8) | b[3]];
    text = text.slice(0, v4.index);
    if (!text.endsWith('::')) text = text.slice(0, -1); // "a:b:c:d:e:f:" → drop the separator
  }
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((h) => Number.parseInt(h, 16)));
  const want = 8 - tail.length;
  let groups: number[];
  const gap = text.indexOf('::');
  if (gap >= 0) {
    const head = parse(text.slice(0, gap));
    const rest = parse(text.slice(gap + 2));
    groups = [...head, ...new Array<number>(want - head.length - rest.length).fill(0), ...rest];
  } else {
    groups = parse(text);
  }
  groups = [...groups, ...tail];
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return undefined;
  return groups;
}

/** The rate-limit key of an address: IPv4 (also IPv4-mapped) as is, other IPv6 by /64 prefix. */
export function addressKey(ip: string): string {
  if (isIPv4(ip)) return ip;
  const bare = ip.replace(/%.*$/, '');
  if (!isIPv6(bare)) return ip;
  const h = hextets(bare.toLowerCase());
  if (!h) return ip;
  if (h.slice(0, 5).every((g) => g === 0) && h[5] === 0xffff) {
    const [a, b] = [h[6] as number, h[7] as number];
    return `${a >> 8}.${a & 0xff}.${b >> 8}.${b & 0xff}`;
  }
  return `${h
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The client's address key (see addressKey). */
export function clientKey(request: FastifyRequest): string {
  return addressKey(request.ip);
}
