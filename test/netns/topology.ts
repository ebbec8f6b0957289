/**
 * Network namespaces for the cluster netns test: one bridge in the root namespace and one
 * namespace per relay, joined to the bridge by a veth pair. The root namespace holds the bridge's
 * address (.1) and reaches the relays directly on the bridge subnet; the relays reach PostgreSQL
 * and NATS (which listen on 127.0.0.1 of the root namespace) through a forwarder bound to .1
 * (test/netns/delay-proxy.ts). Names carry a random id, so parallel runs never collide, and
 * `remove()` deletes everything it made. Nothing system-wide is changed: no sysctl, no firewall.
 *
 * Added latency: `tc qdisc … netem delay` on both ends of every veth where the kernel has
 * sch_netem; `netem` reports whether it did (otherwise the forwarder adds the delay).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface Topology {
  /** The root namespace's address on the bridge (the forwarder binds here). */
  gateway: string;
  /** Per relay: namespace name and the address to bind inside it. */
  nodes: { ns: string; address: string }[];
  /** True when netem adds `delayMs` on each veth end (each direction of every link). */
  netem: boolean;
  remove(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const tc = (...args: string[]) => execFileSync('tc', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Why namespaces cannot be made here, or undefined when they can (as root, with iproute2). */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return '`ip` (iproute2) is not installed';
  }
  const probe = `brprobe-${randomBytes(3).toString('hex')}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return undefined;
  } catch (err) {
    return `ip netns add failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Makes the bridge and `count` relay namespaces, netem `delayMs` on each veth end where possible. */
export function createTopology(count: number, delayMs: number): Topology {
  const id = randomBytes(2).toString('hex');
  const subnet = `10.231.${1 + ((randomBytes(1)[0] as number) % 254)}`;
  const bridge = `brc${id}b`;
  const made: (() => void)[] = [];
  const remove = () => {
    for (const undo of made.splice(0).reverse()) {
      try {
        undo();
      } catch {
        // already gone
      }
    }
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    made.push(() => ip('link', 'del', bridge));
    ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    const nodes: { ns: string; address: string }[] = [];
    let netem = delayMs > 0;
    for (let i = 0; i < count; i++) {
      const ns = `brc-${id}-r${i}`;
      const host = `brc${id}h${i}`;
      const peer = `brc${id}n${i}`;
      const address = `${subnet}.${10 + i}`;
      ip('netns', 'add', ns);
      made.push(() => ip('netns', 'del', ns));
      ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
      made.push(() => ip('link', 'del', host));
      ip('link', 'set', host, 'master', bridge, 'up');
      ip('link', 'set', peer, 'netns', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', peer);
      ip('-n', ns, 'link', 'set', peer, 'up');
      if (netem) {
        try {
          tc('qdisc', 'add', 'dev', host, 'root', 'netem', 'delay', `${delayMs}ms`);
        } catch (err) {
          // A kernel without sch_netem ("Specified qdisc kind is unknown"): known at the first link.
          if (i > 0) throw err;
          netem = false;
        }
        if (netem) tc('-n', ns, 'qdisc', 'add', 'dev', peer, 'root', 'netem', 'delay', `${delayMs}ms`);
      }
      nodes.push({ ns, address });
    }
    return { gateway: `${subnet}.1`, nodes, netem, remove };
  } catch (err) {
    remove();
    throw err;
  }
}
