/**
 * `blindrelay file …`: encrypted files in the age v1 format (packages/client/src/files.ts).
 * put / get / ls / share / revoke / rewrap / rekey / resume / rm / export; every one with --json.
 * Progress bars on a terminal (stderr) for the commands that move payload bytes.
 */
import type { BlindrelayClient, FileSummary } from '@blindrelay/client';
import { InvalidArgumentError, NotFoundError } from '@blindrelay/client/errors';
import type { Command } from 'commander';
import type { CliIo } from './cli.js';
import type { Output } from './output.js';

/** A file id: 16 bytes, base64url (22 characters), as file put and file ls print it; checked here so a typo is named, not a relay schema error (review ux-2026-12 F6). */
const FILE_ID = /^[A-Za-z0-9_-]{21}[AQgw]$/;
export function parseFileId(value: string): string {
  if (!FILE_ID.test(value)) {
    const shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    throw new InvalidArgumentError(`not a file id: ${shown} (a file id is 22 letters, digits, "-" or "_", as file put and file ls print it)`);
  }
  return value;
}

import { progressBar } from './progress.js';
import { loadNode } from './sdk.js';

interface FileCommandContext {
  io: CliIo;
  output(cmd: Command): Output;
  open(cmd: Command): Promise<BlindrelayClient>;
  /** Terminal-safe rendering of text that came from another user. */
  displayText(text: string): string;
}

function sizeText(n: number | null): string {
  if (n === null) return '?';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** What `contents: 'unsigned'` means, in --json and on a terminal. */
const UNSIGNED_NOTE = 'unsigned, stored before 2026-12-03: its owner did not sign its contents';

function fileJson(f: FileSummary) {
  return {
    id: f.id,
    name: f.name,
    size: f.size,
    owner: f.owner,
    readers: f.readers,
    version: f.version,
    complete: f.complete,
    access: f.access,
    contents: f.contents,
    ...(f.contents === 'unsigned' ? { note: UNSIGNED_NOTE } : {}),
    createdAt: f.createdAt,
    updatedAt: f.updatedAt,
    ...(f.upload ? { upload: f.upload } : {}),
  };
}

/** Run `fn`; on Ctrl-C or SIGTERM meanwhile, remove the half-written temporary files first, then exit 130. */
async function removingPartialOnSignal<T>(fn: () => Promise<T>): Promise<T> {
  const { removePartialFiles } = await loadNode();
  const onSignal = () => {
    removePartialFiles();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function registerFileCommands(program: Command, c: FileCommandContext): void {
  const file = program.command('file').description('encrypted files (age v1): store, fetch, share, revoke');
  const bar = (cmd: Command, label: string) => progressBar(c.io.stderr as NodeJS.WritableStream & { isTTY?: boolean }, label, !c.output(cmd).json);
  const skippedNote = (out: Output, skipped: readonly { user: string; deviceId: number }[]) => {
    for (const s of skipped) out.note(`warning: device ${s.deviceId} of ${s.user} has no file key yet and cannot read this file (re-wrap once it has one)`);
  };

  file
    .command('put')
    .description('encrypt PATH for your devices (and --to users) and store it; prints the file id. Run again to resume an interrupted upload')
    .argument('<path>', 'the file to store')
    .option('--to <user>', 'also readable by this user (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option(
      '--group <id>',
      "readable by the group's members (all their devices); re-keyed when a member is removed, shared with members added (by this device, when it syncs)",
    )
    .option('--accept-new-key', "encrypt even though a recipient's master key changed (pins the new key unverified)")
    .action(async (path: string, opts: { to: string[]; group?: string; acceptNewKey?: boolean }, cmd: Command) => {
      const out = c.output(cmd);
      if (opts.group !== undefined && opts.to.length > 0) throw new InvalidArgumentError('file put: give either --to users or --group ID, not both');
      const client = await c.open(cmd);
      const source = await (await loadNode()).fileSource(path);
      const progress = bar(cmd, `upload ${c.displayText(source.name)}`);
      const options = { acceptNewKey: opts.acceptNewKey ?? false, onProgress: (d: number, t: number) => progress.update(d, t) };
      const r = opts.group !== undefined ? await client.putGroupFile(opts.group, source, options) : await client.putFile(source, { ...options, to: opts.to });
      progress.finish();
      skippedNote(out, r.skipped);
      out.result({ ...fileJson(r.file), resumed: r.resumed, ...(opts.group !== undefined ? { group: opts.group } : {}) }, r.file.id);
      const readers =
        opts.group !== undefined ? `, readable by the members of group ${opts.group}` : opts.to.length ? `, readable by ${opts.to.join(', ')}` : '';
      if (!out.json)
        out.note(`${r.resumed ? 'resumed and stored' : 'stored'} ${c.displayText(r.file.name ?? source.name)} (${sizeText(r.file.size)})${readers}`);
    });

  file
    .command('get')
    .description("download and decrypt a file (written only once every byte verified and matched its owner's signature)")
    .argument('<id>', 'the file id (as file put and file ls print it)', parseFileId)
    .option('-o, --output <path>', 'where to write it (a directory: the stored name in it; default: the stored name here)')
    .option('--force', 'replace an existing file')
    .option('--allow-unsigned', 'accept a file stored before 2026-12-03, whose owner did not sign its contents')
    .action(async (id: string, opts: { output?: string; force?: boolean; allowUnsigned?: boolean }, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const progress = bar(cmd, `download ${id}`);
      const { saveFile } = await loadNode();
      const r = await removingPartialOnSignal(() =>
        saveFile(client, id, {
          ...(opts.output !== undefined ? { output: opts.output } : {}),
          overwrite: opts.force ?? false,
          allowUnsigned: opts.allowUnsigned ?? false,
          onProgress: (d, t) => progress.update(d, t),
        }),
      ).catch((e: unknown) => {
        // The relay answers the same for a file that does not exist and one not shared with us.
        if (e instanceof NotFoundError)
          throw new NotFoundError(
            'ERR_RELAY_NOT_FOUND',
            e.status,
            e.relayCode,
            `no file ${id} readable by you: it does not exist, or it is not shared with you (a file put with --group is readable by the group's current members only)`,
          );
        throw e;
      });
      progress.finish();
      if (r.file.contents === 'unsigned' && !out.json) out.note(`warning: ${UNSIGNED_NOTE}`);
      out.result({ ...fileJson(r.file), path: r.path }, `wrote ${c.displayText(r.path)} (${sizeText(r.file.size)}, from ${r.file.owner})`);
    });

  file
    .command('ls')
    .description('list your files and the files shared with you')
    .action(async (_opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const files = await client.listFiles();
      const pending = await client.pendingUploads();
      const lines = files.map((f) => {
        const name = f.name === null ? '(no key for this device: ask the owner to run `blindrelay file rewrap`)' : c.displayText(f.name);
        const state = f.upload ? `  [upload ${Math.floor((100 * f.upload.received) / Math.max(1, f.upload.payloadSize))}%]` : '';
        const unsigned = f.contents === 'unsigned' ? '  [unsigned: stored before 2026-12-03]' : '';
        const who = f.owner === client.user ? (f.readers.length ? `shared with ${f.readers.join(', ')}` : 'only you') : `from ${f.owner}`;
        return `${f.id}  ${sizeText(f.size).padStart(10)}  ${name}  (${who})${state}${unsigned}`;
      });
      for (const u of pending) {
        lines.push(
          u.kind === 'new'
            ? `unfinished upload ${u.fileId} of ${c.displayText(u.source)}: run \`blindrelay file put\` on it again to resume`
            : `unfinished revocation of ${u.fileId}: run \`blindrelay file resume\` to finish it (the file is still stored under the old key)`,
        );
      }
      out.result(
        { files: files.map(fileJson), pendingUploads: pending.map((u) => ({ id: u.fileId, kind: u.kind, source: u.source })) },
        lines.length ? lines : ['(no files)'],
      );
    });

  file
    .command('share')
    .description('give USER (all their devices) access to a file you own; the payload is not re-encrypted')
    .argument('<id>', 'the file id (as file put and file ls print it)', parseFileId)
    .argument('<user>', 'the user to share with')
    .option('--accept-new-key', "share even though the user's master key changed (pins the new key unverified)")
    .action(async (id: string, user: string, opts: { acceptNewKey?: boolean }, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const r = await client.shareFile(id, user, { acceptNewKey: opts.acceptNewKey ?? false });
      skippedNote(out, r.skipped);
      out.result(fileJson(r.file), `shared ${id} with ${user}; readers: ${r.file.readers.join(', ')}`);
    });

  file
    .command('revoke')
    .description(
      "take USER's access away: re-encrypts the file under a new key and deletes the old copy on the relay (an unfinished revocation of the file is finished first)",
    )
    .argument('<id>', 'the file id (as file put and file ls print it)', parseFileId)
    .argument('<user>', 'the reader to remove')
    .action(async (id: string, user: string, _opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const progress = bar(cmd, `re-encrypt ${id}`);
      const r = await client.revokeFile(id, user, { onProgress: (d, t) => progress.update(d, t) });
      progress.finish();
      skippedNote(out, r.skipped);
      out.result(
        { ...fileJson(r.file), revoked: user },
        `revoked ${user}: ${id} is re-encrypted (version ${r.file.version}); readers: ${r.file.readers.length ? r.file.readers.join(', ') : 'none'}`,
      );
    });

  file
    .command('rewrap')
    .description('give the current devices of the owner and every reader access (devices linked since the file was stored)')
    .argument('<id>', 'the file id (as file put and file ls print it)', parseFileId)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const r = await client.rewrapFile(id);
      skippedNote(out, r.skipped);
      out.result(fileJson(r.file), `re-wrapped ${id} for the current devices of ${[client.user, ...r.file.readers].join(', ')}`);
    });

  file
    .command('rekey')
    .description('re-encrypt a file you own under a new key for its current readers (signs a file stored before 2026-12-03)')
    .argument('<id>', 'the file id (as file put and file ls print it)', parseFileId)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const progress = bar(cmd, `re-encrypt ${id}`);
      const r = await client.rekeyFile(id, { onProgress: (d, t) => progress.update(d, t) });
      progress.finish();
      skippedNote(out, r.skipped);
      out.result(fileJson(r.file), `re-encrypted ${id} (version ${r.file.version}, contents signed)`);
    });

  file
    .command('resume')
    .description(
      'finish the revocations this device left unfinished (interrupted, or their new version dropped by the relay): resumed, or restarted under a fresh key',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const progress = bar(cmd, 're-encrypt');
      const done = await client.resumeRevocations((d, t) => progress.update(d, t));
      progress.finish();
      out.result({ finished: done }, done.length ? done.map((id) => `finished the revocation of ${id}`) : ['(no unfinished revocation)']);
    });

  file
    .command('rm')
    .description('delete a file you own (every version, on the relay)')
    .argument('<id>', 'the file id (as file put and file ls print it)', parseFileId)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      await client.removeFile(id);
      out.result({ id, deleted: true }, `deleted ${id}`);
    });

  file
    .command('export')
    .description(
      "write a standard age file and an identity (AGE-SECRET-KEY-1…) that decrypts it: `age -d -i KEYFILE FILE.age` (checked against its owner's signature first; the age file itself carries none)",
    )
    .argument('<id>', 'the file id (as file put and file ls print it)', parseFileId)
    .requiredOption('-o, --output <file.age>', 'the age file to write')
    .requiredOption('--identity-out <keyfile>', 'where to write the identity (a SECRET, written 0600)')
    .option('--force', 'replace existing files')
    .option('--allow-unsigned', 'accept a file stored before 2026-12-03, whose owner did not sign its contents')
    .action(async (id: string, opts: { output: string; identityOut: string; force?: boolean; allowUnsigned?: boolean }, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const progress = bar(cmd, `export ${id}`);
      const { exportFileToPath } = await loadNode();
      const r = await removingPartialOnSignal(() =>
        exportFileToPath(client, id, {
          output: opts.output,
          identityOutput: opts.identityOut,
          overwrite: opts.force ?? false,
          allowUnsigned: opts.allowUnsigned ?? false,
          onProgress: (d, t) => progress.update(d, t),
        }),
      );
      progress.finish();
      const [path, keyPath] = [c.displayText(r.path), c.displayText(r.identityPath)];
      const warning = `warning: ${keyPath} is a SECRET key: anyone who has it and ${path} can read the file (and the stored copy, until a reader is revoked). Keep it safe; delete it when done.`;
      out.note(warning);
      out.result({ ...fileJson(r.file), path: r.path, identityPath: r.identityPath, recipient: r.recipient, warning }, [
        `wrote ${path} (age v1) and ${keyPath} (identity ${r.recipient})`,
        `decrypt with: age -d -i ${keyPath} ${path}`,
      ]);
    });
}
