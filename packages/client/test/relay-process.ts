/** Child process of relay-fixture.ts: a relay with the options in argv[2] (JSON); prints {url, port}, stops on SIGTERM. */
import { startServer } from '@blindrelay/server';
import { relayOptions } from './relay-fixture.js';

const server = await startServer(relayOptions(JSON.parse(process.argv[2] ?? '{}')));
process.stdout.write(`${JSON.stringify({ url: server.url, port: server.port })}\n`);
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
