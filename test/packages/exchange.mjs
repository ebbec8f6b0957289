// Run inside a directory that installed the packed tarballs (test/packages/install.test.ts): Alice
// and Bob, two fresh profiles of the installed @blindrelay/client, exchange a message through the
// relay at argv[2]. Prints one JSON line: what each side received.
import { BlindrelayClient } from '@blindrelay/client';
import { nodeEnvironment } from '@blindrelay/client/node';

const [server, home] = process.argv.slice(2);
const env = (who) => ({ ...nodeEnvironment({ home, profile: who, env: {} }), onWarning: () => undefined });
const alice = await BlindrelayClient.createAccount(env('alice'), { servers: server, user: 'alice', deviceName: 'script' });
const bob = await BlindrelayClient.createAccount(env('bob'), { servers: server, user: 'bob', deviceName: 'script' });
await alice.send('bob', 'hello bob, from the installed tarballs');
const bobGot = [];
await bob.receive({ onMessage: (m) => bobGot.push(`${m.from}: ${m.text}`) });
await bob.send('alice', 'hello alice');
const aliceGot = [];
await alice.receive({ onMessage: (m) => aliceGot.push(`${m.from}: ${m.text}`) });
process.stdout.write(`${JSON.stringify({ bob: bobGot, alice: aliceGot })}\n`);
process.exit(0);
