/**
 * Known weakness K3 (security-2026-12.md): file payloads were unsigned. age authenticates a payload
 * to whoever holds the file key, and every reader holds it: a reader colluding with the relay could
 * encrypt other content under the file key and have the relay serve it to the other readers (or to
 * the owner), and a revoked reader could have the relay feed other content to the owner's
 * re-encryption, which the owner then stored as the new version.
 *
 * The attacks, against a real relay process: a reader encrypts other content of the same size
 * under the file key (a valid age payload: it decrypts) and the relay serves it, with the owner's
 * seal, with the reader's own seal, or with no seal; the same substitution fed to a revocation;
 * and a relay presenting a signed file as one stored before signatures.
 *
 * What stops them now (docs/PROTOCOL.md §15.4): every version stored since 2026-12-03 carries the
 * owner's seal — an Ed25519 signature by the owner's master key over the file id, version, payload
 * size, a file-key binding and a SHA-256 chain over the payload's chunks. A download (and an export)
 * hashes the payload as it streams, writes the plaintext to a temporary file only, and fails with
 * FileSignatureError (ERR_FILE_SIGNATURE) before renaming it onto the output when the digest is
 * not the sealed one: nothing is left behind. A revocation checks the version it re-encrypts the
 * same way before sending the part that completes (and seals) the new one. A version whose
 * metadata is signed in format 2 but which comes without its seal is refused, never shown as old.
 * A file stored before 2026-12-03 (format 1) is shown as `contents: 'unsigned'` and downloads only
 * with `allowUnsigned`.
 */
import * as P from '@blindrelay/protocol';
import { describe, expect, it } from 'vitest';
import { toBase64url } from '../../packages/client/src/base64url.js';
import { FileSignatureError, UnsignedFileError } from '../../packages/client/src/errors.js';
import { sealFileMeta } from '../../packages/client/src/file-meta.js';
import { exportFileToPath, fileSource } from '../../packages/client/src/node.js';
import { Profile } from '../../packages/client/src/profile.js';
import { type Device, deviceApi } from '../../packages/client/test/devices.js';
import { download, entries, fileKeyFor, fileWorld, isFileGet, isPayloadGet, opensWith, p, rawPayload, relayFile, rewriteJson } from './file-fixture.js';

const world = fileWorld('k3');
const same = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && Buffer.from(a).equals(Buffer.from(b));

/** The relay serves `payload` for every payload download of file `id` by `d` (its status and headers as for the real one). */
function servePayload(d: Device, id: string, payload: Uint8Array): void {
  d.hook.fn = async (u, init, next) => {
    if (!isPayloadGet(u, init, id)) return next();
    const res = await next();
    await res.body?.cancel();
    return new Response(Buffer.from(payload), {
      status: 200,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(payload.length) },
    });
  };
}

/** Alice's file, read by Bob (the colluding reader) and Carol (the victim); Bob's forged payload of the same size. */
async function setup(size = 200_000) {
  const alice = await world.newUser('alice');
  const bob = await world.newUser('bob');
  const carol = await world.newUser('carol');
  const f = await world.plainFile('wire-instructions.txt', size);
  const { file } = await alice.client.putFile(await fileSource(f.path), { to: [bob.client.user, carol.client.user] });
  const fileKey = await fileKeyFor(bob, (await relayFile(world, bob, file.id)).header);
  const forgedPlaintext = new TextEncoder().encode('pay to account 0000 0000 0000'.padEnd(size, '.'));
  const forged = await P.encryptPayload(p, fileKey, forgedPlaintext);
  // A valid age payload under the file key: without the seal, nothing tells it from the owner's.
  expect(forged.length).toBe(P.payloadSize(size));
  expect(await opensWith(fileKey, forged)).toBe(true);
  return { alice, bob, carol, f, id: file.id, fileKey, forged, forgedPlaintext };
}

describe('K3: file contents are signed by their owner', () => {
  it('a payload a reader encrypted under the file key is refused before any plaintext reaches the output', async () => {
    const { alice, bob, carol, f, id, fileKey, forged } = await setup();
    const original = await relayFile(world, carol, id);
    const bobSeed = (await (await Profile.open(bob.storage, p)).read('account')).masterSeed as Uint8Array;
    const bobSeal = await P.signFileSeal(
      p,
      bobSeed,
      fileKey,
      { fileId: Buffer.from(id, 'base64url'), version: original.version, payloadSize: forged.length },
      await digestOf(forged),
    );
    for (const seal of ["the owner's seal", "the reader's own seal"] as const) {
      servePayload(carol, id, forged);
      if (seal === "the reader's own seal") {
        const inner = carol.hook.fn;
        carol.hook.fn = async (u, init, next) =>
          isFileGet(u, init, id)
            ? rewriteJson(await next(), (body) => ({ ...body, seal: toBase64url(bobSeal) }))
            : (inner as NonNullable<typeof inner>)(u, init, next);
      }
      const got = await download(world, carol, id);
      expect(got.error, seal).toBeInstanceOf(FileSignatureError);
      expect((got.error as FileSignatureError).code).toBe('ERR_FILE_SIGNATURE');
      // No output, no temporary file.
      expect(await entries(got.out), seal).toEqual([]);
    }
    // The owner is not fooled either, and neither is an export.
    servePayload(alice, id, forged);
    expect((await download(world, alice, id)).error).toBeInstanceOf(FileSignatureError);
    const out = await world.outDir();
    await expect(exportFileToPath(alice.client, id, { output: `${out}/x.age`, identityOutput: `${out}/key.txt` })).rejects.toBeInstanceOf(FileSignatureError);
    expect(await entries(out)).toEqual([]);
    alice.hook.fn = null;
    carol.hook.fn = null;
    expect(same((await download(world, carol, id)).bytes, f.bytes)).toBe(true);
  });

  it('a signed file served without its seal is refused, not shown as one stored before signatures', async () => {
    const { carol, id } = await setup(1000);
    carol.hook.fn = async (u, init, next) => (isFileGet(u, init, id) ? rewriteJson(await next(), ({ seal: _gone, ...rest }) => rest) : next());
    expect((await carol.client.statFile(id)).access).toBe('corrupt');
    const got = await download(world, carol, id, { allowUnsigned: true });
    expect(got.error).toBeInstanceOf(FileSignatureError);
    expect(await entries(got.out)).toEqual([]);
    carol.hook.fn = null;
    expect((await carol.client.statFile(id)).contents).toBe('signed');
  });

  it('a revocation does not seal content a revoked reader had the relay feed it', async () => {
    const { alice, bob, carol, f, id, forged } = await setup();
    // Alice revokes Bob; the relay serves Bob's payload as the version she re-encrypts.
    servePayload(alice, id, forged);
    await expect(alice.client.revokeFile(id, bob.client.user)).rejects.toBeInstanceOf(FileSignatureError);
    alice.hook.fn = null;
    // Nothing was sealed: the new version never completed, Carol still reads Alice's content, and
    // the upload that carried Bob's content is not resumed later.
    const during = await relayFile(world, alice, id);
    expect(during.version).toBe(1);
    expect(during.pending?.received ?? 0).toBeLessThan(during.pending?.payloadSize ?? 1);
    expect(await alice.client.pendingUploads()).toEqual([]);
    expect(same((await download(world, carol, id)).bytes, f.bytes)).toBe(true);
    // Revoking again with an honest relay finishes it, sealing Alice's content.
    const r = await alice.client.revokeFile(id, bob.client.user);
    expect(r.file).toMatchObject({ readers: [carol.client.user], contents: 'signed' });
    expect(same((await download(world, carol, id)).bytes, f.bytes)).toBe(true);
  });

  it('a file stored before 2026-12-03 shows as unsigned and downloads only when the caller accepts that; re-keying signs it', async () => {
    const alice = await world.newUser('alice');
    const carol = await world.newUser('carol');
    const bytes = p.randomBytes(3000);
    const id = await legacyFile(alice, carol, 'old-notes.txt', bytes);
    const info = await carol.client.statFile(id);
    expect(info).toMatchObject({ access: 'ok', name: 'old-notes.txt', contents: 'unsigned' });
    const refused = await download(world, carol, id);
    expect(refused.error).toBeInstanceOf(UnsignedFileError);
    expect((refused.error as UnsignedFileError).code).toBe('ERR_FILE_UNSIGNED');
    expect(await entries(refused.out)).toEqual([]);
    expect(same((await download(world, carol, id, { allowUnsigned: true })).bytes, bytes)).toBe(true);
    // A share keeps its format (nothing new is claimed about its contents); a re-key signs it.
    const dave = await world.newUser('dave');
    expect((await alice.client.shareFile(id, dave.client.user)).file.contents).toBe('unsigned');
    const rekeyed = await alice.client.rekeyFile(id);
    expect(rekeyed.file).toMatchObject({ contents: 'signed', readers: [carol.client.user, dave.client.user].sort() });
    expect(same((await download(world, carol, id)).bytes, bytes)).toBe(true);
    expect(await opensWith(await fileKeyFor(carol, (await relayFile(world, carol, id)).header), await rawPayload(world, carol, id))).toBe(true);
  });
});

async function digestOf(payload: Uint8Array): Promise<Uint8Array> {
  const d = P.PayloadDigest.create(p);
  await d.update(payload);
  return d.finish();
}

/**
 * A file as a client from before 2026-12-03 stored it: format-1 metadata (reader list signed for
 * the file key only), no seal; through the relay's API with the owner's own credentials.
 */
async function legacyFile(owner: Device, reader: Device, name: string, bytes: Uint8Array): Promise<string> {
  const account = await (await Profile.open(owner.storage, p)).read('account');
  const recipients = [];
  for (const d of [owner, reader]) {
    const a = await (await Profile.open(d.storage, p)).read('account');
    recipients.push(new P.X25519Recipient(a.filePublic as Uint8Array));
  }
  const fileKey = P.generateFileKey(p);
  const header = await P.rewrapHeader(p, fileKey, recipients);
  const access = await P.signLegacyFileAccess(p, account.masterSeed as Uint8Array, fileKey, owner.client.user, [reader.client.user]);
  const meta = await sealFileMeta(p, fileKey, { name, size: bytes.length, mtimeMs: 1_700_000_000_000 }, access, 1);
  const payload = await P.encryptPayload(p, fileKey, bytes);
  const api = await deviceApi(owner, world.url);
  const created = await api.createFile({ header, meta, payloadSize: payload.length, readers: [reader.client.user] });
  await api.putPayload(created.id, created.version, 0, payload);
  // The reader has met the owner (the owner's key is pinned when the file is first opened).
  return created.id;
}
