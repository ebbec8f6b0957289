/**
 * Review finding L8 (security-2026-12.md): nothing bound a file's metadata to its file id, and its
 * name and size were not signed by the owner. The owner-signed reader list was bound to the file
 * key only, so a relay could serve the header, metadata and payload of one of an owner's files
 * under the id of another one a reader can open (the reader sees file A's content as file B), and
 * any reader, who holds the file key, could re-seal the metadata with another name or size.
 *
 * The attacks, against a real relay process: (1) the relay answers for file B with file A's header,
 * metadata, seal and payload (and the other way round), to a reader of both; (2) a reader re-seals
 * the metadata under the file key with another name, keeping the owner's signed reader list, and
 * the relay serves it to another reader.
 *
 * What stops them now (docs/PROTOCOL.md §15.3): the reader list is signed in format 2
 * (Blindrelay_FileAccess_v2) over the file id, the header MAC, the name, the size and the
 * modification time as well as the readers, bound to the file key; the client refuses anything
 * else with FileSignatureError (ERR_FILE_SIGNATURE), before a byte of payload is read.
 */
import { describe, expect, it } from 'vitest';
import { toBase64url } from '../../packages/client/src/base64url.js';
import { FileSignatureError } from '../../packages/client/src/errors.js';
import { openFileMeta, sealFileMeta } from '../../packages/client/src/file-meta.js';
import { fileSource } from '../../packages/client/src/node.js';
import { download, entries, fileKeyFor, fileWorld, isFileGet, isPayloadGet, p, relayFile, rewriteJson } from './file-fixture.js';

const world = fileWorld('l8');
const same = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && Buffer.from(a).equals(Buffer.from(b));

describe('L8: file metadata bound to the file and signed by the owner', () => {
  it('a relay serving one file of an owner under the id of another is refused', async () => {
    const alice = await world.newUser('alice');
    const bob = await world.newUser('bob');
    // Same size, so that nothing but the binding tells them apart.
    const salary = await world.plainFile('salary-2027.xlsx', 70_000);
    const menu = await world.plainFile('lunch-menu.txt', 70_000);
    const a = (await alice.client.putFile(await fileSource(salary.path), { to: [bob.client.user] })).file.id;
    const b = (await alice.client.putFile(await fileSource(menu.path), { to: [bob.client.user] })).file.id;

    // Every answer about B is A's (its header, metadata, seal, payload), and the other way round.
    const swap = { [a]: b, [b]: a } as Record<string, string>;
    bob.hook.fn = async (u, init, next) => {
      for (const [asked, served] of Object.entries(swap)) {
        if (isFileGet(u, init, asked)) return rewriteJson(await fetch(u.replace(asked, served), init), (body) => ({ ...body, id: asked }));
        if (isPayloadGet(u, init, asked)) return fetch(u.replace(asked, served), init);
      }
      return next();
    };
    for (const id of [a, b]) {
      const got = await download(world, bob, id);
      expect(got.error, id).toBeInstanceOf(FileSignatureError);
      expect((got.error as FileSignatureError).code).toBe('ERR_FILE_SIGNATURE');
      expect(await entries(got.out)).toEqual([]);
      expect((await bob.client.statFile(id)).access).toBe('corrupt');
    }
    // Only the metadata (and header) moved, the payload left in place: refused the same way.
    bob.hook.fn = async (u, init, next) => (isFileGet(u, init, b) ? rewriteJson(await fetch(u.replace(b, a), init), (body) => ({ ...body, id: b })) : next());
    expect((await download(world, bob, b)).error).toBeInstanceOf(FileSignatureError);
    bob.hook.fn = null;
    expect(same((await download(world, bob, a)).bytes, salary.bytes)).toBe(true);
    expect(same((await download(world, bob, b)).bytes, menu.bytes)).toBe(true);
  });

  it('a reader cannot rename or resize a file for the other readers by re-sealing its metadata', async () => {
    const alice = await world.newUser('alice');
    const bob = await world.newUser('bob');
    const carol = await world.newUser('carol');
    const f = await world.plainFile('contract.pdf', 5000);
    const { file } = await alice.client.putFile(await fileSource(f.path), { to: [bob.client.user, carol.client.user] });
    const stored = await relayFile(world, bob, file.id);
    // Bob holds the file key: he opens the metadata and seals it again with his own name for the file.
    const fileKey = await fileKeyFor(bob, stored.header);
    const opened = await openFileMeta(p, fileKey, stored.meta);
    for (const lie of [
      { name: 'contract-signed.pdf.exe', size: opened.meta.size, mtimeMs: opened.meta.mtimeMs },
      { name: opened.meta.name, size: opened.meta.size, mtimeMs: 1 },
    ]) {
      const forged = await sealFileMeta(p, fileKey, lie, opened.access, opened.format);
      // The relay serves Bob's metadata to Carol.
      carol.hook.fn = async (u, init, next) => {
        const res = await next();
        return isFileGet(u, init, file.id) ? rewriteJson(res, (body) => ({ ...body, meta: toBase64url(forged) })) : res;
      };
      const info = await carol.client.statFile(file.id);
      expect(info.access, lie.name).toBe('corrupt');
      expect(info.name).toBeNull();
      const got = await download(world, carol, file.id);
      expect(got.error, lie.name).toBeInstanceOf(FileSignatureError);
      expect(await entries(got.out)).toEqual([]);
    }
    carol.hook.fn = null;
    const info = await carol.client.statFile(file.id);
    expect(info).toMatchObject({ name: 'contract.pdf', access: 'ok', contents: 'signed' });
    expect(same((await download(world, carol, file.id)).bytes, f.bytes)).toBe(true);
  });
});
