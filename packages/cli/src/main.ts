/** Entry point of the `blindrelay` command (bin/blindrelay.mjs loads this through tsx). */
import { type CliIo, runCli } from './cli.js';

// Output piped into a command that stops reading (`| head`): stop quietly, as other tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, stdin: process.stdin };
const code = await runCli(process.argv.slice(2), io);
if (!io.keepAlive) {
  // Flush stdout (pipes are asynchronous), then exit even if keep-alive sockets linger.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}
