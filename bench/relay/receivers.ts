// The receiving side of the relay bench in its own process (bench/relay/sdk-pairs.ts, option
// `receivers: 'process'`): real senders and receivers are different machines. N SDK receivers
// (in-memory profiles, all the cryptography: decrypt, dedup, profile transaction, signed acks)
// listen on the relay; the parent learns of each delivered message in batches over IPC, with the
// time it reached `onMessage` (performance.timeOrigin + performance.now(): one clock per machine).
//
// argv: RELAY_URL COUNT RUN_TAG. IPC in: {type:'cpu'}, {type:'stop'}. IPC out: {type:'ready', users},
// {type:'delivered', d:[[id, ms], ...]}, {type:'cpu', us} (this process's CPU time so far), {type:'stopped'}.
import { setMaxListeners } from 'node:events';
import { BlindrelayClient, MemoryStorage } from '@blindrelay/client';
import { nodeSealedSocketFactory, nodeSocketFactory } from '@blindrelay/client/node';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { REPLY, WARM } from './sdk-pairs.js';

const [url, countArg, run] = process.argv.slice(2) as [string, string, string];
const count = Number(countArg);
const send = (m: unknown) => process.send?.(m);
const p = createNodePrimitives();
const controller = new AbortController();
setMaxListeners(4 * count, controller.signal);
const listeners: Promise<void>[] = [];
const users: string[] = [];
let pending: [string, number][] = [];
const flush = () => {
  if (pending.length === 0) return;
  send({ type: 'delivered', d: pending });
  pending = [];
};
for (let i = 0; i < count; i++) {
  const to = await BlindrelayClient.createAccount(
    { primitives: p, storage: new MemoryStorage(), socket: nodeSocketFactory, sealedSocket: nodeSealedSocketFactory },
    { servers: [url], user: `r${i}-${run}` },
  );
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  listeners.push(
    to.listen({
      signal: controller.signal,
      onMessage: (m) => {
        // The first message is answered, so the sender's session is acknowledged (sdk-pairs.ts).
        if (m.text.startsWith(WARM)) void to.send(m.from, REPLY).catch((e: Error) => console.error(`  receiver error: ${e.message}`));
        if (pending.length === 0) setImmediate(flush);
        pending.push([m.text.slice(0, m.text.indexOf(' ')), performance.timeOrigin + performance.now()]);
      },
      onStatus: (s) => s.state === 'open' && open(),
      onError: (e) => console.error(`  receiver error: ${e.message}`),
    }),
  );
  await opened;
  users.push(to.user);
}
process.on('message', async (m: { type?: string }) => {
  if (m?.type === 'cpu') {
    const c = process.cpuUsage();
    send({ type: 'cpu', us: c.user + c.system });
  } else if (m?.type === 'stop') {
    controller.abort();
    await Promise.all(listeners);
    flush();
    send({ type: 'stopped' });
    process.disconnect?.();
  }
});
send({ type: 'ready', users });
