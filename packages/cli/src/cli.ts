/**
 * The `blindrelay` command (packages/cli/README.md). Global options: --home DIR
 * ($BLINDRELAY_HOME), --profile NAME ($BLINDRELAY_PROFILE), --insecure-http
 * ($BLINDRELAY_INSECURE_HTTP=1), --json; the passphrase of an encrypted profile comes from
 * $BLINDRELAY_PASSPHRASE.
 */
import { hostname } from 'node:os';
import { createInterface } from 'node:readline/promises';
import type { ClientEnvironment, ReceivedMessage } from '@blindrelay/client';
import { errorInfo, InvalidArgumentError, LinkNotConfirmedError, LinkWrongUserError, NotPrimaryError } from '@blindrelay/client/errors';
import { DEFAULT_RATE_LIMITS, formatRateLimit, RATE_LIMIT_FLAGS, type RateLimitFlag, rateLimitEnv } from '@blindrelay/server/config';
import { Command, CommanderError, InvalidArgumentError as CommanderInvalidArgument } from 'commander';
import { registerAccountCommands } from './account-commands.js';
import { registerBackupCommands } from './backup-commands.js';
import { registerCustodyCommands } from './custody-commands.js';
import { registerFileCommands } from './file-commands.js';
import { registerGroupCommands } from './group-commands.js';
import { readMessageText } from './message-input.js';
import { createOutput, displayMessage, displayText, type Output, reportError } from './output.js';
import { checkNewProfilePassphrase, openProfile, PASSPHRASE_HELP } from './passphrase.js';
import { registerRecordsCommands } from './records-commands.js';
import { loadClient, loadNode } from './sdk.js';
import { registerSealedCommands } from './sealed-commands.js';
import { VERSION } from './version.js';

export { displayMessage, displayText };

interface GlobalOptions {
  home?: string;
  profile?: string;
  json?: boolean;
  insecureHttp?: boolean;
}

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Where interactive confirmations are read (default process.stdin; only when it is a terminal). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Set by `server`: the process must stay up after the command returns. */
  keepAlive?: boolean;
}

const defaultIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env, stdin: process.stdin });

/** `BLINDRELAY_INSECURE_HTTP=1` (or `true`) does what --insecure-http does. */
const envFlag = (value: string | undefined) => value === '1' || value?.toLowerCase() === 'true';

const formatSas = (sas: string) => `${sas.slice(0, 3)} ${sas.slice(3)}`;

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 86_400) throw new CommanderInvalidArgument('expected a number of seconds (0 to 86400)');
  return n;
}
function parseDeviceId(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n < 1 || n > 0xffffffff) throw new InvalidArgumentError(`not a device id: ${value}`);
  return n;
}

function formatTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

function messageJson(m: ReceivedMessage) {
  return { id: m.id, from: m.from, fromDevice: m.fromDevice, to: m.to, text: m.text, sentAt: m.sentAt, sync: m.sync };
}
function messageLine(m: ReceivedMessage): string {
  return m.sync
    ? `[${formatTime(m.sentAt)}] you (device ${m.fromDevice}) -> ${m.to}: ${displayMessage(m.text)}`
    : `[${formatTime(m.sentAt)}] ${m.from} (device ${m.fromDevice}): ${displayMessage(m.text)}`;
}

export function buildProgram(io: CliIo = defaultIo()): Command {
  const program = new Command();
  program
    .name('blindrelay')
    .description('Blindrelay: end-to-end encrypted messaging through a blind relay')
    .version(VERSION, '-V, --version', 'print the version (also: blindrelay version)')
    .option('--home <dir>', 'directory holding profiles (env BLINDRELAY_HOME, default ~/.blindrelay)')
    .option('--profile <name>', 'profile to use (env BLINDRELAY_PROFILE, default "default")')
    .option('--json', 'print JSON (one object; JSON lines for receive)')
    .option('--insecure-http', 'allow plain http:// to a relay on another machine (env BLINDRELAY_INSECURE_HTTP=1; tokens then cross the network in clear)')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals() as GlobalOptions;
  const output = (cmd: Command): Output => createOutput(Boolean(globals(cmd).json), io.stdout, io.stderr);
  const environment = async (cmd: Command): Promise<ClientEnvironment & { profileDir: string }> => {
    const g = globals(cmd);
    const { nodeEnvironment } = await loadNode();
    return {
      ...nodeEnvironment({ home: g.home, profile: g.profile, env: io.env }),
      allowInsecureHttp: Boolean(g.insecureHttp) || envFlag(io.env.BLINDRELAY_INSECURE_HTTP),
      onWarning: (message: string) => io.stderr.write(`${message}\n`),
      historySearch: true,
    };
  };
  const open = async (cmd: Command) => openProfile(await environment(cmd), (text) => io.stderr.write(`${text}\n`));

  program
    .command('version')
    .description('print the version of this command')
    .action((_opts: unknown, cmd: Command) => output(cmd).result({ version: VERSION }, VERSION));

  // ---- server ------------------------------------------------------------------------------------
  const server = program
    .command('server')
    .description('run a relay server (prints "listening on http://HOST:PORT")')
    .option('--host <host>', 'interface to bind (env BLINDRELAY_HOST, default 127.0.0.1)')
    .option('--port <port>', 'TCP port, 0 = any free port (env BLINDRELAY_PORT, default 8787)')
    .option('--data <dir>', 'data directory (env BLINDRELAY_DATA, default ./data)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env BLINDRELAY_LOG_LEVEL, default info)')
    .option('--database <url>', 'postgres://… to store in PostgreSQL instead of SQLite (env BLINDRELAY_DATABASE_URL)')
    .option('--nats <url>', 'nats://… to push across relays over NATS; needs --database (env BLINDRELAY_NATS_URL)')
    .option('--nats-prefix <prefix>', 'NATS subject prefix, shared by the relays of one cluster (env BLINDRELAY_NATS_PREFIX, default blindrelay)')
    .option('--trust-proxy <value>', 'true|false|HOPS|CIDR,… : client address from X-Forwarded-For (env BLINDRELAY_TRUST_PROXY, default false)')
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port (env BLINDRELAY_METRICS_PORT; default: no metrics endpoint)')
    .option('--max-file-size <bytes>', 'largest payload of one file version (env BLINDRELAY_MAX_FILE_SIZE, default 4 GiB)')
    .option('--user-quota <bytes>', 'file payload bytes one user may store (env BLINDRELAY_USER_QUOTA, default 20 GiB)');
  // Rate limits (docs/API.md): off, or CAPACITY,COUNT/UNIT (e.g. 4,4/h).
  const rateLimitFlags = Object.keys(RATE_LIMIT_FLAGS) as RateLimitFlag[];
  for (const key of rateLimitFlags) {
    server.option(
      `--${RATE_LIMIT_FLAGS[key]} <spec>`,
      `rate limit: off or CAPACITY,COUNT/UNIT (env ${rateLimitEnv(key)}, default ${formatRateLimit(DEFAULT_RATE_LIMITS[key])})`,
    );
  }
  server.action(
    async (
      opts: Record<
        'host' | 'port' | 'data' | 'logLevel' | 'database' | 'nats' | 'natsPrefix' | 'trustProxy' | 'metricsPort' | 'maxFileSize' | 'userQuota' | RateLimitFlag,
        string | undefined
      >,
      cmd: Command,
    ) => {
      const { runServerMain } = await import('@blindrelay/server');
      const flags: Record<string, string> = {};
      for (const key of [
        'host',
        'port',
        'data',
        'logLevel',
        'database',
        'nats',
        'natsPrefix',
        'trustProxy',
        'metricsPort',
        'maxFileSize',
        'userQuota',
        ...rateLimitFlags,
      ] as const) {
        const value = opts[key];
        if (value !== undefined) flags[key] = value;
      }
      const json = Boolean(globals(cmd).json);
      // With --json, the "listening on URL" line becomes {"url": URL}.
      const stdout = {
        write: (text: string) => io.stdout.write(json ? text.replace(/^listening on (\S+)\n?$/, (_m, u: string) => `${JSON.stringify({ url: u })}\n`) : text),
      };
      const running = await runServerMain(flags, io.env, { stdout, stderr: io.stderr });
      // The server runs until SIGINT/SIGTERM (its own handlers exit the process).
      if (running) io.keepAlive = true;
    },
  );

  // ---- account -----------------------------------------------------------------------------------
  const account = program.command('account').description("manage this profile's account");
  account
    .command('create')
    .description('register a new user with this device as its first device')
    .requiredOption('--server <url>', 'relay URL (a comma-separated list for failover)')
    .requiredOption('--user <name>', 'user name ([a-z0-9][a-z0-9._-]{0,63})')
    .option('--device-name <name>', 'a name for this device (local only)', hostname())
    .action(async (opts: { server: string; user: string; deviceName: string }, cmd: Command) => {
      const out = output(cmd);
      const env = await environment(cmd);
      checkNewProfilePassphrase(env.passphrase);
      const { BlindrelayClient } = await loadClient();
      const client = await BlindrelayClient.createAccount(env, { servers: opts.server, user: opts.user, deviceName: opts.deviceName });
      const w = client.whoami();
      const warning = client.encrypted
        ? undefined
        : `BLINDRELAY_PASSPHRASE is not set: the private keys in ${env.profileDir} are NOT encrypted, only protected by file permissions (0600, directory 0700)`;
      if (warning) out.note(`warning: ${warning}`);
      out.result(
        {
          user: w.user,
          deviceId: w.deviceId,
          deviceName: w.deviceName,
          server: w.server,
          servers: w.servers,
          profile: env.profileDir,
          encrypted: w.encrypted,
          primary: w.primary,
        },
        [
          `created ${w.user}, device ${w.deviceId} (${w.deviceName}) on ${w.servers.join(', ')}`,
          `profile: ${env.profileDir} (${w.encrypted ? 'encrypted with BLINDRELAY_PASSPHRASE' : 'NOT encrypted'})`,
        ],
      );
    });

  registerAccountCommands(account, { output, open });

  // ---- device ------------------------------------------------------------------------------------
  const device = program.command('device').description('link, approve, list and revoke devices');
  device
    .command('link')
    .description('make this new device a device of an existing user (prints a code to approve)')
    .requiredOption('--server <url>', 'relay URL (a comma-separated list for failover)')
    .requiredOption('--user <name>', 'the existing user')
    .option('--device-name <name>', 'a name for this device (local only)', hostname())
    .action(async (opts: { server: string; user: string; deviceName: string }, cmd: Command) => {
      const out = output(cmd);
      const env = await environment(cmd);
      checkNewProfilePassphrase(env.passphrase);
      const { BlindrelayClient } = await loadClient();
      const qrcode = !out.json && io.stdout.isTTY ? (await import('qrcode-terminal')).default : undefined;
      const client = await BlindrelayClient.link(env, {
        servers: opts.server,
        user: opts.user,
        deviceName: opts.deviceName,
        onCode: (code, sas) => {
          out.line({ code, sas }, code);
          if (qrcode) qrcode.generate(code, { small: true }, (qr) => io.stdout.write(`${qr}\n`));
          if (!out.json) {
            io.stdout.write(`comparison code: ${formatSas(sas)}\n`);
            io.stdout.write(
              `waiting for approval: on another device of ${opts.user}, run\n  blindrelay device approve ${code}\nand check that it shows the comparison code ${formatSas(sas)}\n`,
            );
          }
        },
      });
      // KeyPackages on the relay at once, so that the user's other devices add this one to their
      // groups at their next sync (docs/PROTOCOL.md §22.6a). Not fatal: `receive` publishes them too.
      await client.publishGroupKeyPackages().catch((e: Error) => out.note(`warning: group KeyPackages not published yet: ${e.message}`));
      const w = client.whoami();
      if (!client.encrypted) out.note(`warning: BLINDRELAY_PASSPHRASE is not set: the private keys in ${env.profileDir} are NOT encrypted`);
      out.result(
        {
          user: w.user,
          deviceId: w.deviceId,
          deviceName: w.deviceName,
          server: w.server,
          servers: w.servers,
          profile: env.profileDir,
          encrypted: w.encrypted,
          primary: w.primary,
        },
        `linked: this is device ${w.deviceId} (${w.deviceName}) of ${w.user}, a companion (approve and revoke devices on the primary)`,
      );
    });

  device
    .command('approve')
    .description('on the primary device: approve a new companion device of your user, given the code it shows (it can read and send as your user)')
    .argument('<code>', 'the BR1.… code')
    .option('--sas <digits>', 'the comparison code the new device shows (instead of confirming on the terminal)')
    .option('--yes', 'do not ask (scripts): needs --sas, the comparison code, which is the confirmation')
    .addHelpText(
      'after',
      `
It shows the user the new device asks to join and the name it gave, and refuses a code for another
user (ERR_LINK_WRONG_USER). On a terminal it asks you to confirm that the new device shows the same
comparison code; in scripts, --sas DIGITS is that confirmation (--yes alone is refused: it would
approve a code sent by anyone, not only the device in your hand).`,
    )
    .action(async (code: string, opts: { sas?: string; yes?: boolean }, cmd: Command) => {
      const out = output(cmd);
      const { request } = (await loadClient()).parseLinkCode(code);
      const client = await open(cmd);
      // Custody: refused on a companion before anything else (PROTOCOL.md §16).
      if (!client.primary) throw new NotPrimaryError('approving a new device');
      if (request && request.user !== client.user) throw new LinkWrongUserError(request.user, client.user);
      const asking = request
        ? `the new device "${displayText(request.deviceName)}" asks to join ${request.user}`
        : 'the new device (an older version: its code does not say its name)';
      const stdin = io.stdin;
      const interactive = opts.sas === undefined && !opts.yes && !out.json && stdin?.isTTY === true;
      if (opts.sas === undefined && !interactive) {
        throw new LinkNotConfirmedError(
          `${asking}; approving lets it read and send as ${client.user}: pass --sas with the comparison code it shows${opts.yes ? ' (--yes does not replace it)' : ' (or run this on a terminal to confirm it)'}. Nothing was sent`,
        );
      }
      const r = await client.approve(code, {
        ...(opts.sas === undefined ? {} : { sas: opts.sas }),
        ...(interactive
          ? {
              confirm: async ({ user, sas }) => {
                io.stderr.write(`${asking[0]?.toUpperCase()}${asking.slice(1)}.\n`);
                io.stderr.write(
                  `This makes the new device a companion of ${user}: it can read new messages and files and act as ${user} (it does not get the master key: only this device adds and removes devices).\nCompare: the new device must show the comparison code  ${formatSas(sas)}\nIf you did not start this link yourself, or the codes differ, answer no.\n`,
                );
                const rl = createInterface({ input: stdin as NodeJS.ReadableStream, output: io.stderr });
                try {
                  return /^y(es)?$/i.test((await rl.question('Does the new device show exactly this code? [y/N] ')).trim());
                } finally {
                  rl.close();
                }
              },
            }
          : {}),
      });
      const named = request ? ` ("${displayText(request.deviceName)}")` : '';
      out.result(
        { approved: true, user: client.user, channelId: r.channelId, sas: r.sas, deviceId: r.deviceId, ...(request ? { deviceName: request.deviceName } : {}) },
        `approved: the new device ${r.deviceId}${named} now publishes the device list that adds it to ${client.user}`,
      );
    });

  device
    .command('list')
    .description("list your user's devices (from the signed device list)")
    .action(async (_opts: unknown, cmd: Command) => {
      const out = output(cmd);
      const client = await open(cmd);
      const r = await client.devices();
      out.result({ user: client.user, version: r.version, devices: r.devices }, [
        `devices of ${client.user} (device list version ${r.version}):`,
        ...r.devices.map((d) =>
          d.current
            ? `  ${d.deviceId}  ${displayText(d.name ?? '')}  (this device)`
            : `  ${d.deviceId}  ${d.name === undefined ? '(name not known on this device: linked after it)' : displayText(d.name)}`,
        ),
      ]);
    });

  device
    .command('recover')
    .description('after "this profile is an older copy": start fresh sessions from this copy (when no newer copy is in use)')
    .action(async (_opts: unknown, cmd: Command) => {
      const out = output(cmd);
      const client = await open(cmd);
      const r = await client.recoverFromRollback();
      out.result(
        { recovered: r.recovered, sessions: r.sessions, mark: r.mark },
        r.recovered
          ? `recovered: dropped the sessions with ${r.sessions} device${r.sessions === 1 ? '' : 's'}; the next message to each contact starts a new session`
          : 'nothing to recover: this profile is not behind the relay',
      );
    });

  device
    .command('revoke')
    .description('on the primary device: remove another device from your device list and re-key your files without it')
    .argument('<deviceId>', 'the device id (see device list)')
    .option('--no-rekey', 'do not re-encrypt your files (the revoked device may still open copies of their current versions)')
    .action(async (id: string, opts: { rekey: boolean }, cmd: Command) => {
      const out = output(cmd);
      const deviceId = parseDeviceId(id);
      const client = await open(cmd);
      const r = await client.revoke(deviceId, { rekeyFiles: opts.rekey });
      const lines = [`revoked device ${deviceId}; device list is now version ${r.version}`];
      if (opts.rekey) lines.push(`re-keyed ${r.rekeyed.length} file${r.rekeyed.length === 1 ? '' : 's'} without it`);
      for (const f of r.rekeyFailed) {
        lines.push(
          `warning: file ${f.id} was not re-keyed (${f.code}: ${f.message}): try blindrelay file rekey ${f.id}; if device ${deviceId} signed its current version, that version no longer verifies: store the file again from a copy`,
        );
      }
      out.result({ revoked: deviceId, version: r.version, devices: r.devices, rekeyed: r.rekeyed, rekeyFailed: r.rekeyFailed }, lines);
    });

  // ---- messages ----------------------------------------------------------------------------------
  program
    .command('send')
    .description('send an end-to-end encrypted message (text up to 1 MB: larger content with file put)')
    .argument('<user>', 'recipient user')
    .argument('[text]', 'message text; "-" reads it from standard input (leave it out with --file)')
    .option('--file <path>', 'read the message text from this file (UTF-8)')
    .option('--accept-new-key', "send even though the recipient's master key changed (pins the new key unverified)")
    .addHelpText(
      'after',
      `
Message text: at most 1,000,000 bytes of UTF-8 (1 MB), and 1 MiB once encoded (a newline or quote
counts 2 bytes, another control character 6). A shell argument is limited to 128 KiB: for longer
text use "-" (standard input) or --file. From standard input or a file, one trailing newline is
dropped. Larger content: blindrelay file put PATH --to USER.`,
    )
    .action(async (user: string, textArg: string | undefined, opts: { acceptNewKey?: boolean; file?: string }, cmd: Command) => {
      const out = output(cmd);
      const text = await readMessageText(textArg, opts.file, io.stdin);
      const client = await open(cmd);
      const r = await client.send(user, text, { acceptNewKey: opts.acceptNewKey ?? false });
      // A note to self goes to our other devices only: with none, nothing was posted (review ux-2026-12 F10).
      if (r.to === client.user && r.devices === 0) {
        throw new InvalidArgumentError(
          `nothing was sent: a message to yourself (${client.user}) goes to your other devices, and this is your only device (link one with: blindrelay device link)`,
        );
      }
      if (r.syncError) out.note(`warning: sent, but your other devices did not get a copy: ${errorInfo(r.syncError).message}`);
      out.result(
        { id: r.id, to: r.to, sentAt: r.sentAt, devices: r.devices, ownDevices: r.ownDevices },
        r.to === client.user
          ? `sent to your other device${r.devices === 1 ? '' : 's'} (${r.devices})`
          : `sent to ${r.to} (${r.devices} device${r.devices === 1 ? '' : 's'})${r.ownDevices ? `, synced to ${r.ownDevices} other device${r.ownDevices === 1 ? '' : 's'} of yours` : ''}`,
      );
    });

  program
    .command('receive')
    .description('fetch and decrypt queued messages (with --wait, keep listening that long)')
    .option('--wait <seconds>', 'also listen for pushed messages for this many seconds', parseSeconds)
    .action(async (opts: { wait?: number }, cmd: Command) => {
      const out = output(cmd);
      const client = await open(cmd);
      let count = 0;
      const handlers = {
        onMessage: (m: ReceivedMessage) => {
          count++;
          out.line(messageJson(m), messageLine(m));
        },
        onFailure: (f: { serverId: string; from: string; fromDevice: number; code: string; message: string }) => {
          if (out.json) out.line({ failure: f }, '');
          else out.note(`warning: could not read a message from ${f.from} (device ${f.fromDevice}): ${f.message}`);
        },
        onError: (e: Error) => out.note(`warning: ${errorInfo(e).message}`),
      };
      await client.receive(handlers);
      // Group messages (MLS, docs/PROTOCOL.md §22): the group inbox, applied in relay order.
      await client.publishGroupKeyPackages();
      for (const g of await client.receiveGroupMessages()) {
        count++;
        out.line(
          { group: g.group, from: g.from, fromDevice: g.deviceId, text: g.text, sentAt: g.sentAt },
          `[${formatTime(g.sentAt)}] ${g.from} (device ${g.deviceId}) in group ${g.group}: ${displayText(g.text)}`,
        );
      }
      if (opts.wait && opts.wait > 0) {
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), opts.wait * 1000);
        let announced = false;
        const onStatus = (st: { state: string }) => {
          if (st.state === 'open' && !announced) {
            announced = true;
            out.note(`listening for new messages for ${opts.wait} s`);
          }
        };
        try {
          await client.listen({ ...handlers, onStatus, signal: controller.signal });
        } finally {
          clearTimeout(timer);
        }
      }
      if (count === 0 && !out.json) out.note('(no new messages)');
    });

  registerFileCommands(program, { io, output, open, displayText });
  registerCustodyCommands(program, { output, open });
  registerBackupCommands(program, { io, output, open, environment });
  registerRecordsCommands(program, { io, output, open, displayText });
  registerSealedCommands(program, { output, open });
  registerGroupCommands(program, { output, open, displayText });

  // ---- trust -------------------------------------------------------------------------------------
  program
    .command('safety-number')
    .description('show the safety number to compare with USER (in person or on a call)')
    .argument('<user>', 'the other user')
    .action(async (user: string, _opts: unknown, cmd: Command) => {
      const out = output(cmd);
      const client = await open(cmd);
      const s = await client.safetyNumber(user);
      const groups = (digits: string) => {
        const g = digits.match(/\d{5}/g) ?? [];
        return [g.slice(0, 4).join(' '), g.slice(4, 8).join(' '), g.slice(8, 12).join(' ')].map((l) => `  ${l}`);
      };
      const lines = [`safety number with ${user} (${s.verified ? 'verified' : 'not verified'}):`, ...groups(s.safetyNumber)];
      if (s.keyChanged && s.newSafetyNumber) {
        lines.push(`WARNING: the relay now serves a DIFFERENT master key for ${user}. Safety number for the new key:`, ...groups(s.newSafetyNumber));
        lines.push(`Sending to ${user} is blocked until you compare it with ${user} and run: blindrelay verify ${user} <number>`);
      } else if (!s.verified) {
        lines.push(`compare it with what ${user} sees (blindrelay safety-number ${client.user}), then run: blindrelay verify ${user} <number>`);
      }
      const json: Record<string, unknown> = { user, safetyNumber: s.safetyNumber, verified: s.verified, keyChanged: s.keyChanged };
      if (s.newSafetyNumber) json.newSafetyNumber = s.newSafetyNumber;
      out.result(json, lines);
    });

  program
    .command('verify')
    .description('mark USER verified if NUMBER matches your safety number with them')
    .argument('<user>', 'the other user')
    .argument('<number...>', 'the 60-digit safety number (spaces allowed)')
    .action(async (user: string, number: string[], _opts: unknown, cmd: Command) => {
      const out = output(cmd);
      const client = await open(cmd);
      const s = await client.verify(user, number.join(''));
      out.result({ user, verified: true, safetyNumber: s.safetyNumber }, `${user} is verified: the safety number matches`);
    });

  program
    .command('whoami')
    .description('show the user, device and relay of this profile')
    .action(async (_opts: unknown, cmd: Command) => {
      const out = output(cmd);
      const env = await environment(cmd);
      const client = await openProfile(env, (text) => io.stderr.write(`${text}\n`));
      const w = client.whoami();
      out.result(
        {
          user: w.user,
          deviceId: w.deviceId,
          deviceName: w.deviceName,
          server: w.server,
          servers: w.servers,
          profile: env.profileDir,
          encrypted: w.encrypted,
          primary: w.primary,
        },
        `${w.user}, device ${w.deviceId} (${w.deviceName}, ${w.primary ? 'primary: holds the master key' : 'companion'}) on ${w.servers.join(', ')}`,
      );
    });

  // Every subcommand's help lists the global options (--home, --profile, --json, --insecure-http)
  // and, where a profile is opened or made, the passphrase variable (review ux-2026-12 F18, F9).
  const withPassphraseHelp = (cmd: Command) => {
    for (const sub of cmd.commands) {
      if (sub.name() === 'server') continue;
      if (sub.commands.length > 0) withPassphraseHelp(sub);
      else sub.addHelpText('after', PASSPHRASE_HELP);
    }
  };
  withPassphraseHelp(program);
  return program;
}

/** `help file put` shows the help of `file put`, not of `file` (commander's help command goes one level only). */
function helpArguments(argv: readonly string[]): readonly string[] {
  const i = argv.indexOf('help');
  const isOptionValue = i > 0 && ['--home', '--profile'].includes(argv[i - 1] as string);
  if (i < 0 || isOptionValue || argv.length - i < 3 || argv.slice(i + 1).some((a) => a.startsWith('-'))) return argv;
  return [...argv.slice(0, i), ...argv.slice(i + 1), '--help'];
}

/** Run the command line; resolves to the exit code (0 ok, 1 error, 2 usage). */
export async function runCli(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  const json = argv.includes('--json');
  const program = buildProgram(io);
  program.exitOverride();
  if (json) program.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: () => undefined, outputError: () => undefined });
  const applyToAll = (cmd: Command) => {
    cmd.exitOverride();
    if (json) cmd.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: () => undefined, outputError: () => undefined });
    for (const sub of cmd.commands) applyToAll(sub);
  };
  applyToAll(program);
  try {
    await program.parseAsync([...helpArguments(argv)], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version' || e.exitCode === 0) return 0;
      if (json) io.stdout.write(`${JSON.stringify({ error: { code: 'ERR_USAGE', message: e.message.replace(/^error: /, '') } })}\n`);
      return 2;
    }
    return reportError(e, json, io.stdout, io.stderr);
  }
}
