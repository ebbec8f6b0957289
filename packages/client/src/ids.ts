/**
 * New ids (files, groups, collections, records): 16 random bytes whose base64url does not start
 * with "-". One id in 64 did, and a command line reads `-AbC…` as an option (`blindrelay file get
 * -AbC…` failed). Drawn again when it would; the ids stay uniform over the other 63/64 of the space.
 */
export function freshId(p: { randomBytes(n: number): Uint8Array }): Uint8Array {
  for (;;) {
    const b = p.randomBytes(16);
    if ((b[0] as number) >> 2 !== 62) return b;
  }
}
