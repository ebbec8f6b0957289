/**
 * Custody commands (docs/PROTOCOL.md §16, packages/cli/README.md "Devices"): what only concerns the
 * primary / companion split. Registered from cli.ts with one line.
 *
 *   device demote              on a device linked before custody: erase its copy of the master key
 *                              (it then is a companion); see custody.ts for the checks
 *   account rotate-master-key  on the primary: a new master key, new certificates for the devices it
 *                              carries over, a new device list and a rotation statement signed by
 *                              both keys (master-key-rotation.ts); contacts must verify again
 *   file rekey-readers         re-key your files shared with users whose device list lost a device
 */
import type { BlindrelayClient } from '@blindrelay/client';
import type { Command } from 'commander';
import type { Output } from './output.js';

interface CustodyCommandContext {
  output(cmd: Command): Output;
  open(cmd: Command): Promise<BlindrelayClient>;
}

const sub = (program: Command, name: string): Command => {
  const found = program.commands.find((c) => c.name() === name);
  if (!found) throw new Error(`no ${name} command to extend`);
  return found;
};

export function registerCustodyCommands(program: Command, ctx: CustodyCommandContext): void {
  sub(program, 'file')
    .command('rekey-readers')
    .description('re-encrypt your files shared with users whose device list lost a device (revoked) since, without it')
    .action(async (_opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const client = await ctx.open(cmd);
      const r = await client.rekeyForRemovedReaderDevices();
      const lines =
        r.readers.length === 0
          ? ['no reader of your files lost a device since the last re-key']
          : [`readers that lost a device: ${r.readers.join(', ')}; re-keyed ${r.rekeyed.length} file${r.rekeyed.length === 1 ? '' : 's'}`];
      for (const f of r.rekeyFailed) lines.push(`warning: file ${f.id} was not re-keyed (${f.code}: ${f.message}); run this again`);
      out.result({ readers: r.readers, rekeyed: r.rekeyed, rekeyFailed: r.rekeyFailed }, lines);
    });

  sub(program, 'account')
    .command('rotate-master-key')
    .description('on the primary device: replace the master key (your contacts see a new safety number and must verify it again)')
    .action(async (_opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const client = await ctx.open(cmd);
      const r = await client.rotateMasterKey();
      const lines = [
        `rotated the master key of ${client.user}; device list is now version ${r.version} (devices ${r.kept.join(', ')})`,
        'your contacts now see a new safety number: their messages to you are refused until they verify it again (blindrelay safety-number, blindrelay verify)',
      ];
      if (r.dropped.length > 0) lines.push(`warning: device(s) ${r.dropped.join(', ')} could not be carried over (linked before custody): link them again`);
      out.result({ user: client.user, rotated: true, version: r.version, kept: r.kept, dropped: r.dropped }, lines);
    });

  sub(program, 'device')
    .command('demote')
    .description('on a device linked before custody: erase its copy of the master key once the device list lists it (it becomes a companion)')
    .action(async (_opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const client = await ctx.open(cmd);
      const { user, deviceId } = client.whoami();
      const changed = await client.demoteToCompanion();
      out.result(
        { user, deviceId, demoted: changed, primary: false },
        changed
          ? [
              `device ${deviceId} no longer holds the master key of ${user}: it is a companion`,
              'copies of the key made before (backups, other devices linked before custody) stay valid until you run on the primary: blindrelay account rotate-master-key',
            ]
          : `device ${deviceId} is already a companion: nothing to do`,
      );
    });
}
