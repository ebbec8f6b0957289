/**
 * `blindrelay account delete --yes`: delete this profile's account everywhere (docs/API.md §1a).
 * Primary device only (the master key signs the deletion statement); without --yes it refuses and
 * changes nothing. On success the relay holds nothing of the user any more and this profile
 * directory (keys, sessions, messages) is erased.
 */
import type { AccountDeletionResult, BlindrelayClient } from '@blindrelay/client';
import { ConfirmationRequiredError } from '@blindrelay/client/errors';
import type { Command } from 'commander';
import type { Output } from './output.js';

interface AccountCommandContext {
  output(cmd: Command): Output;
  open(cmd: Command): Promise<BlindrelayClient>;
}

function deletedLines(r: AccountDeletionResult): string[] {
  return [
    r.deletedOnRelay ? `deleted ${r.user}: the relay holds nothing of it any more` : `${r.user} was already deleted on the relay`,
    `erased this profile: ${r.profile}`,
  ];
}

/** Adds the account subcommands of this file to `account` (cli.ts). */
export function registerAccountCommands(account: Command, c: AccountCommandContext): void {
  account
    .command('delete')
    .description(
      'delete this account on the relay (directory entry, devices, prekeys, messages to and from it, files, tokens) and erase this profile; primary device only; irreversible',
    )
    .option('--yes', 'confirm: the account and everything of it are destroyed for good')
    .action(async (opts: { yes?: boolean }, cmd: Command) => {
      const out = c.output(cmd);
      if (!opts.yes) {
        throw new ConfirmationRequiredError('account delete destroys the account and this profile for good: run it again with --yes. Nothing was deleted');
      }
      const client = await c.open(cmd);
      const r = await client.deleteAccount();
      out.result({ deleted: r.user, deletedOnRelay: r.deletedOnRelay, profile: r.profile }, deletedLines(r));
    });
}
