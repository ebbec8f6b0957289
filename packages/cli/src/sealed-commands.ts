/**
 * Sealed-sender commands (docs/PROTOCOL.md §20, docs/API.md §11). Registered from cli.ts with one
 * line. Sends go sealed by themselves once the recipient's delivery tokens are known (`send`); these
 * manage this device's token and blocking.
 *
 *   delivery-token rotate [--revoke]  a new delivery token; --revoke ends every previous one now
 *   block USER                        revoke this device's token (USER never gets the new one) and drop USER's messages
 *   unblock USER                      accept USER's messages again (they get our token with our next message)
 */
import type { BlindrelayClient } from '@blindrelay/client';
import type { Command } from 'commander';
import type { Output } from './output.js';

interface SealedCommandContext {
  output(cmd: Command): Output;
  open(cmd: Command): Promise<BlindrelayClient>;
}

export function registerSealedCommands(program: Command, ctx: SealedCommandContext): void {
  const token = program
    .command('delivery-token')
    .description("this device's delivery token (sealed sender: contacts send to you without naming themselves to the relay)");
  token
    .command('rotate')
    .description('a new delivery token, handed to contacts with your next messages; the previous one stays valid for 7 days unless --revoke')
    .option('--revoke', 'every previous token stops working now (contacts fall back to the authenticated path until your next message)')
    .action(async (opts: { revoke?: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      const client = await ctx.open(cmd);
      await client.rotateDeliveryToken({ revoke: opts.revoke === true });
      out.result({ rotated: true, revoked: opts.revoke === true }, [
        opts.revoke ? 'new delivery token; every previous token is revoked' : 'new delivery token; the previous one stays valid for 7 days',
      ]);
    });
  program
    .command('block')
    .description("block USER: revoke this device's delivery token (USER never gets the new one) and drop USER's messages")
    .argument('<user>')
    .action(async (user: string, _opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const client = await ctx.open(cmd);
      await client.blockUser(user);
      out.result({ blocked: user }, [`blocked ${user}: their messages are dropped, and your delivery token was revoked`]);
    });
  program
    .command('unblock')
    .description("accept USER's messages again (USER gets your delivery token with your next message)")
    .argument('<user>')
    .action(async (user: string, _opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const client = await ctx.open(cmd);
      await client.unblockUser(user);
      out.result({ unblocked: user }, [`unblocked ${user}`]);
    });
}
