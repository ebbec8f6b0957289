/**
 * `blindrelay group …`: group conversations on MLS (RFC 9420; packages/client/src/groups/,
 * docs/PROTOCOL.md §22). Every device of every member is a member; the relay only orders and
 * stores MLS messages. Every command takes --json.
 *
 *   group create NAME [--member USER]...   prints the group id ({"id": ...} with --json)
 *   group add ID USER / group remove ID USER / group leave ID
 *   group ls                                one group per line (--json: one object per line)
 *   group members ID                        one device per line
 *   group send ID TEXT
 *
 * Files shared with a group: `file put PATH --group ID` (file-commands.ts). `group add`/`group
 * remove` report the group files this device re-keyed or shared to follow the change.
 *
 * Group messages are read with `blindrelay receive` (their --json lines carry "group": ID).
 */
import type { BlindrelayClient } from '@blindrelay/client';
import type { Command } from 'commander';
import type { Output } from './output.js';

interface GroupCommandContext {
  output(cmd: Command): Output;
  open(cmd: Command): Promise<BlindrelayClient>;
  displayText(text: string): string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Opens the client and keeps this device's KeyPackages published (so others can add it). */
async function openGroups(ctx: GroupCommandContext, cmd: Command): Promise<BlindrelayClient> {
  const client = await ctx.open(cmd);
  await client.publishGroupKeyPackages();
  return client;
}

/** Group files (file put --group) this device brought in line with the change, on a terminal. */
function filesNote(out: Output, files: { updated: readonly string[]; failed: readonly { id: string; message: string }[] }, what: string): void {
  if (out.json) return;
  if (files.updated.length > 0) out.note(`group files ${what}: ${files.updated.join(', ')}`);
  for (const f of files.failed) out.note(`warning: group file ${f.id} not updated yet (tried again at the next receive): ${f.message}`);
}

export function registerGroupCommands(program: Command, ctx: GroupCommandContext): void {
  const group = program.command('group').description('group conversations (MLS, RFC 9420): every device of every member is a member');

  group
    .command('create <name>')
    .description('create a group (its name is seen by members only) with your other devices and the given members')
    .option('--member <user>', 'add this user (repeatable)', collect, [])
    .action(async (name: string, opts: { member: string[] }, cmd: Command) => {
      const out = ctx.output(cmd);
      const client = await openGroups(ctx, cmd);
      const id = await client.createGroup(name, opts.member);
      out.result({ id }, id);
    });

  group
    .command('add <id> <user>')
    .description('add every device of a user (one MLS commit; they join from the Welcome)')
    .action(async (id: string, user: string, _opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const files = await (await openGroups(ctx, cmd)).addGroupMember(id, user);
      out.result({ id, added: user, files }, `added ${user}`);
      filesNote(out, files, 'shared with them');
    });

  group
    .command('remove <id> <user>')
    .description('remove every device of a user: they cannot read anything sent afterwards')
    .action(async (id: string, user: string, _opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const files = await (await openGroups(ctx, cmd)).removeGroupMember(id, user);
      out.result({ id, removed: user, files }, `removed ${user}`);
      filesNote(out, files, 're-keyed without them');
    });

  group
    .command('leave <id>')
    .description('leave a group (your devices stop receiving it; a remaining member commits the removal)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      await (await openGroups(ctx, cmd)).leaveGroup(id);
      out.result({ id, left: true }, 'left the group');
    });

  group
    .command('ls')
    .description('groups this device is a member of')
    .action(async (_opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const groups = await (await openGroups(ctx, cmd)).listGroups();
      for (const g of groups) out.line(g, `${g.id}  ${ctx.displayText(g.name)}  (epoch ${g.epoch}; ${g.members.join(', ')})`);
      if (groups.length === 0 && !out.json) out.note('(no groups)');
    });

  group
    .command('members <id>')
    .description('member devices of a group')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      for (const m of await (await openGroups(ctx, cmd)).listGroupMembers(id)) out.line(m, `${m.user} (device ${m.deviceId})`);
    });

  group
    .command('send <id> <text>')
    .description('send a message to the group: encrypted once, stored once by the relay')
    .action(async (id: string, text: string, _opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      await (await openGroups(ctx, cmd)).sendGroupMessage(id, text);
      out.result({ id, sent: true }, 'sent');
    });
}
