/**
 * What an account deletion must leave nowhere (docs/DECISIONS.md, "Account deletion: what the scan
 * means"): the byte strings by which a user's records can be recognised in the relay's files, and
 * a scanner over every file of a directory.
 *
 * - the user name in UTF-8 (how SQLite stores TEXT, and how the signed device list, certificates
 *   and request records encode it), and its hex form;
 * - each device id as a 4-byte big-endian integer: the u32 of the signed device list and of every
 *   protocol record, and SQLite's record encoding of an INTEGER in [2^23, 2^31) (serial type 4);
 *   for an id below 2^23 (p ≈ 0.4 % for a random 31-bit id) SQLite stores 3 bytes, added too
 *   (about a 1 % chance that 3 random bytes also occur in a 200 KB dump: the test then names it);
 * - the master public key and each device's signing and identity public keys (32 bytes each):
 *   every row of the account, its devices, prekey signatures' context, the device list, carries
 *   at least one of them.
 * A positive control runs the same scan before the deletion and must find every one of them.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeEnvironment } from '@blindrelay/client/node';
import { Profile } from '../../client/src/profile.js';

export interface AccountTraces {
  readonly user: string;
  readonly deviceIds: readonly number[];
  readonly keys: ReadonlyMap<string, Uint8Array>;
}

/** The byte strings to look for, by what they are. */
export function traceBytes(t: AccountTraces): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  out.set('user name (UTF-8)', Buffer.from(t.user, 'utf8'));
  out.set('user name (hex)', Buffer.from(Buffer.from(t.user, 'utf8').toString('hex')));
  for (const id of t.deviceIds) {
    const u32 = Buffer.alloc(4);
    u32.writeUInt32BE(id);
    out.set(`device id ${id} (u32 BE)`, u32);
    if (id < 2 ** 23) out.set(`device id ${id} (SQLite 3-byte)`, u32.subarray(1));
  }
  for (const [name, key] of t.keys) out.set(name, Buffer.from(key));
  return out;
}

/** Device id and public keys of the default profile under `home` (read before it is erased). */
export async function profileTraces(home: string): Promise<{ deviceId: number; keys: Map<string, Uint8Array> }> {
  const env = nodeEnvironment({ home, env: {} });
  const profile = await Profile.open(env.storage, env.primitives);
  try {
    const a = await profile.read('account');
    return {
      deviceId: a.deviceId,
      keys: new Map([
        ['master public key', a.masterKey],
        [`device ${a.deviceId} signing key`, a.signingKey],
        [`device ${a.deviceId} identity key`, a.identityPublic],
      ]),
    };
  } finally {
    profile.close();
  }
}

export async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

/** `file: what` for every trace found in any file under `root` (empty: none). */
export async function scanDirectory(root: string, traces: Map<string, Buffer>): Promise<string[]> {
  const found: string[] = [];
  for (const file of await filesUnder(root)) {
    const bytes = await readFile(file);
    for (const [what, needle] of traces) if (bytes.includes(needle)) found.push(`${file.slice(root.length + 1)}: ${what}`);
  }
  return found;
}
