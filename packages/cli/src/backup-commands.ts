/**
 * `blindrelay backup …`: the encrypted key backup (docs/RECOVERY.md).
 *   create [--passphrase]     a new backup; prints the recovery code ONCE (or uses a passphrase)
 *   restore --server --user (--code CODE | --passphrase) [--device-name] [--revoke-others]
 *                             a new device of the account, on a machine with nothing else
 *   status                    what this device keeps and what the relay holds
 *   sync                      encrypt the backup again now if it changed (it also happens by itself)
 * The backup passphrase comes from $BLINDRELAY_BACKUP_PASSPHRASE or a prompt on the terminal (not
 * echoed); it is not the profile passphrase ($BLINDRELAY_PASSPHRASE).
 */
import { hostname } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import type { BlindrelayClient, ClientEnvironment } from '@blindrelay/client';
import { InvalidArgumentError } from '@blindrelay/client/errors';
import type { Command } from 'commander';
import type { CliIo } from './cli.js';
import type { Output } from './output.js';
import { loadClient } from './sdk.js';

interface BackupCommandContext {
  io: CliIo;
  output(cmd: Command): Output;
  open(cmd: Command): Promise<BlindrelayClient>;
  environment(cmd: Command): Promise<ClientEnvironment & { profileDir: string }>;
}

export const BACKUP_PASSPHRASE_ENV = 'BLINDRELAY_BACKUP_PASSPHRASE';

/** Read a line from the terminal without echoing it. */
async function promptHidden(io: CliIo, question: string): Promise<string> {
  const stdin = io.stdin;
  if (!stdin?.isTTY) throw new InvalidArgumentError(`no terminal to ask for the backup passphrase: set ${BACKUP_PASSPHRASE_ENV}`);
  io.stderr.write(question);
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: stdin, output: silent, terminal: true });
  try {
    return await rl.question('');
  } finally {
    rl.close();
    io.stderr.write('\n');
  }
}

async function backupPassphrase(io: CliIo, confirm: boolean): Promise<string> {
  const fromEnv = io.env[BACKUP_PASSPHRASE_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const { MIN_BACKUP_PASSPHRASE } = await loadClient();
  const first = await promptHidden(io, `backup passphrase (at least ${MIN_BACKUP_PASSPHRASE} characters): `);
  if (confirm && (await promptHidden(io, 'again: ')) !== first) throw new InvalidArgumentError('the two passphrases differ: nothing was changed');
  return first;
}

export function registerBackupCommands(program: Command, c: BackupCommandContext): void {
  const backup = program.command('backup').description('encrypted key backup: recovery code or passphrase (docs/RECOVERY.md)');

  backup
    .command('create')
    .description('back up the master key, contacts and file keys, encrypted here; prints a recovery code ONCE (or uses --passphrase)')
    .option('--passphrase', `protect it with a passphrase (from $${BACKUP_PASSPHRASE_ENV} or a prompt) instead of a recovery code`)
    .action(async (opts: { passphrase?: boolean }, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const passphrase = opts.passphrase ? await backupPassphrase(c.io, true) : undefined;
      const r = await client.createBackup(passphrase === undefined ? {} : { passphrase });
      const summary = `${r.files} file key(s), ${r.contacts} contact(s), ${r.size} bytes encrypted on the relay`;
      if (r.recoveryCode) {
        out.result({ recoveryCode: r.recoveryCode }, [
          'recovery code (shown once; write it down and keep it offline, it restores your account):',
          '',
          `  ${r.recoveryCode}`,
          '',
          `backup stored: ${summary}; it is kept up to date from this device. Messages are not backed up.`,
        ]);
      } else {
        out.result({ kind: 'passphrase', generation: r.generation }, [
          `backup stored under your passphrase: ${summary}; it is kept up to date from this device. Messages are not backed up.`,
          'The relay locks it after 10 wrong passphrases (run `backup create` again from this device to unlock).',
        ]);
      }
    });

  backup
    .command('restore')
    .description('restore your account on this new machine from its backup (a new device holding the master key)')
    .requiredOption('--server <url>', 'relay URL (a comma-separated list for failover)')
    .requiredOption('--user <name>', 'your user name')
    .option('--code <code>', 'the recovery code (groups, case and spaces do not matter)')
    .option('--passphrase', `use the backup passphrase (from $${BACKUP_PASSPHRASE_ENV} or a prompt)`)
    .option('--device-name <name>', 'a name for this device (local only)', hostname())
    .option('--revoke-others', 'remove every other device of the user (the lost ones) from its device list')
    .action(async (opts: { server: string; user: string; code?: string; passphrase?: boolean; deviceName: string; revokeOthers?: boolean }, cmd: Command) => {
      const out = c.output(cmd);
      if ((opts.code === undefined) === !opts.passphrase) throw new InvalidArgumentError('give either --code CODE or --passphrase');
      const env = await c.environment(cmd);
      const { BlindrelayClient } = await loadClient();
      const secret = opts.code !== undefined ? { code: opts.code } : { passphrase: await backupPassphrase(c.io, false) };
      const r = await BlindrelayClient.restore(env, {
        servers: opts.server,
        user: opts.user,
        deviceName: opts.deviceName,
        revokeOthers: Boolean(opts.revokeOthers),
        ...secret,
      });
      const w = r.client.whoami();
      for (const f of r.rewrapFailed)
        out.note(
          `warning: file ${f.id} was not ${r.revoked.length > 0 ? 're-keyed' : 're-wrapped for this device'} (${f.reason}); it stays readable here through the restored key`,
        );
      out.result(
        {
          user: w.user,
          deviceId: w.deviceId,
          deviceName: w.deviceName,
          server: w.server,
          profile: env.profileDir,
          encrypted: w.encrypted,
          revoked: r.revoked,
          contacts: r.contacts,
          fileKeys: r.fileKeys,
          rewrapped: r.rewrapped,
        },
        [
          `restored ${w.user}: this is device ${w.deviceId} (${w.deviceName})${r.revoked.length > 0 ? `; revoked device(s) ${r.revoked.join(', ')}` : ''}`,
          `${r.contacts} contact(s), ${r.fileKeys} file key(s) restored; ${r.rewrapped.length} of your own file(s) ${r.revoked.length > 0 ? 're-keyed (the revoked devices could open them)' : 're-wrapped for this device'}`,
          'Message history is not restored. Consider `blindrelay backup create` for a new recovery code.',
        ],
      );
    });

  backup
    .command('status')
    .description('what backup this device keeps up to date, and what the relay holds')
    .action(async (_opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const i = await client.backupInfo();
      const relay = i.relay;
      out.result(i, [
        i.enabled
          ? `this device keeps the ${i.kind} backup up to date (generation ${i.generation})`
          : 'this device keeps no backup (run `blindrelay backup create`)',
        relay
          ? `relay: ${relay.kind} backup, generation ${relay.generation}, ${relay.size} bytes${relay.kind === 'passphrase' ? `, ${relay.failedAttempts}/${relay.maxAttempts} failed attempts${relay.locked ? ' (LOCKED)' : ''}` : ''}`
          : 'relay: no backup',
      ]);
    });

  backup
    .command('sync')
    .description('encrypt the backup again now if what it holds changed')
    .option('--force', 'upload it even if nothing changed')
    .action(async (opts: { force?: boolean }, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const r = await client.syncBackup({ force: Boolean(opts.force) });
      out.result(r, r.uploaded ? `backup updated (generation ${r.generation})` : 'backup unchanged');
    });
}
