/**
 * Review findings M3 (deployment half) and L9 (first half), security-2026-12.md: the shipped
 * compose file served the relays over plain HTTP, and the relays trusted `X-Forwarded-For` from
 * all of RFC 1918 — so any client on those networks that could reach a relay directly could claim
 * any address and escape the per-address limits (accounts, auth, provisioning, look-ups).
 *
 * The attack: a client that is not the proxy sends requests with a different made-up
 * `X-Forwarded-For` each time, hoping each counts as a new client (here against the per-address
 * cap of 5 open provisioning channels); and a client of the proxy sends its own
 * `X-Forwarded-For`, hoping the proxy passes it on.
 *
 * What stops it now:
 * - the relay believes `X-Forwarded-For` only from the proxy addresses it is given
 *   (`--trust-proxy` / BLINDRELAY_TRUST_PROXY), checked with real TCP connections from a proxy and
 *   a non-proxy loopback address;
 * - deploy/compose.yaml trusts exactly nginx's fixed address, and keeps the relays on an internal
 *   network with nothing published, checked by starting a relay with the compose file's own
 *   setting and sending it requests from another address of that network and from nginx's;
 * - deploy/nginx.conf terminates TLS and replaces (never appends to) `X-Forwarded-For`, checked by
 *   running the shipped file under nginx (`nginx -t`, then for real) in front of a relay, with a
 *   certificate from deploy/make-cert.sh. Without nginx installed that part skips loudly, and
 *   fails under BLINDRELAY_REQUIRE_SERVICES=1.
 * (Docker itself does not run here: the compose file is checked, not started.)
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveServerOptions } from '../../../packages/server/src/config.js';
import { type RunningServer, startServer } from '../../../packages/server/src/server.js';
import { REQUIRED } from '../../../packages/server/test/postgres-service.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NGINX = '/usr/sbin/nginx';
const PROXY = '127.0.0.2'; // stands in for nginx's address
const run = promisify(execFile);

interface Answer {
  status: number;
  text: string;
}

/** One request from `localAddress` (a loopback address of our choosing), over HTTP or HTTPS. */
function send(url: string, o: { localAddress: string; headers?: Record<string, string>; method?: string; ca?: string }): Promise<Answer> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      {
        method: o.method ?? 'POST',
        localAddress: o.localAddress,
        headers: o.headers ?? {},
        agent: false,
        ...(o.ca ? { ca: o.ca, servername: 'localhost' } : {}),
      },
      (res) => {
        let text = '';
        res.on('data', (b: Buffer) => {
          text += b.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Opens provisioning channels (5 per client address may be open) with a made-up X-Forwarded-For each. */
async function openChannels(url: string, localAddress: string, n: number, spoof: (i: number) => string, ca?: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++)
    statuses.push((await send(`${url}/v1/provisioning`, { localAddress, headers: { 'x-forwarded-for': spoof(i) }, ...(ca ? { ca } : {}) })).status);
  return statuses;
}

const servers: RunningServer[] = [];
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-m3-'));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

/** A relay configured as `blindrelay server` would be from these flags and environment. */
async function relay(flags: Parameters<typeof resolveServerOptions>[0], env: Record<string, string>): Promise<RunningServer> {
  const options = resolveServerOptions(flags, env);
  const s = await startServer({ ...options, port: 0, dataDir: join(dir, `relay${servers.length}`), logLevel: 'silent', processMetrics: false });
  servers.push(s);
  return s;
}

describe('M3/L9: the client address behind a proxy', () => {
  it('believes X-Forwarded-For from the trusted proxy only (real connections from two addresses)', async () => {
    const s = await relay({ trustProxy: PROXY }, {});
    // Not the proxy: every made-up address is ignored; the sixth channel from this peer is refused.
    expect(await openChannels(s.url, '127.0.0.1', 6, (i) => `203.0.113.${i + 1}`)).toEqual([200, 200, 200, 200, 200, 429]);
    // The proxy: each forwarded client counts on its own.
    expect(await openChannels(s.url, PROXY, 8, (i) => `198.51.100.${i + 1}`)).toEqual(Array(8).fill(200));
    // Through the proxy, a client's own claim appended before the proxy's entry does not count either.
    expect(await openChannels(s.url, PROXY, 6, (i) => `203.0.113.${i + 1}, 198.51.100.77`)).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it('deploy/compose.yaml trusts exactly nginx, and keeps the relays off every published port', async () => {
    const compose = await readFile(join(ROOT, 'deploy/compose.yaml'), 'utf8');
    const trust = /BLINDRELAY_TRUST_PROXY:\s*"([^"]*)"/.exec(compose)?.[1];
    const nginx = /\n {2}lb:\n[\s\S]*?ipv4_address:\s*([\d.]+)/.exec(compose)?.[1];
    expect(nginx).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(resolveServerOptions({}, { BLINDRELAY_TRUST_PROXY: trust ?? '' }).trustProxy).toEqual([nginx]);
    // The relays (the x-relay anchor) sit on the internal network only, and publish nothing.
    const relayBlock = /\nx-relay: &relay\n([\s\S]*?)\n\S/.exec(compose)?.[1] ?? '';
    expect(relayBlock).toMatch(/\n {2}networks: \[internal\]/);
    expect(relayBlock).not.toMatch(/\n {2}ports:/);
    expect(compose).toMatch(/\n {2}internal:\n {4}internal: true\n/);
    // Only nginx publishes a port, and it is the TLS one.
    expect([...compose.matchAll(/\n\s+ports:\s*(.*)/g)].map((m) => m[1])).toEqual(['["8443:443"]']);

    // A relay with the compose file's own setting, asked from another address of that network
    // (what a container there, or the host's bridge, would be) and from nginx's.
    const s = await relay({}, { BLINDRELAY_TRUST_PROXY: trust ?? '' });
    const subnet = /subnet:\s*([\d.]+)\/24/.exec(compose)?.[1]?.split('.').slice(0, 3).join('.');
    const neighbour = `${subnet}.130`;
    const inject = (remoteAddress: string, xff: string) =>
      s.app.inject({ method: 'POST', url: '/v1/provisioning', remoteAddress, headers: { 'x-forwarded-for': xff } }).then((r) => r.statusCode);
    const fromNeighbour: number[] = [];
    for (let i = 0; i < 6; i++) fromNeighbour.push(await inject(neighbour, `10.1.2.${i + 1}`));
    expect(fromNeighbour).toEqual([200, 200, 200, 200, 200, 429]);
    const fromNginx: number[] = [];
    for (let i = 0; i < 8; i++) fromNginx.push(await inject(nginx as string, `192.0.2.${i + 1}`));
    expect(fromNginx).toEqual(Array(8).fill(200));
  });
});

const nginxAvailable = existsSync(NGINX);
if (!nginxAvailable) {
  if (REQUIRED) {
    describe('deploy/nginx.conf under nginx (required by BLINDRELAY_REQUIRE_SERVICES=1)', () => {
      it('needs nginx', () => {
        throw new Error(`${NGINX} is missing: apt-get install nginx-light`);
      });
    });
  } else {
    const bar = '!'.repeat(100);
    console.warn(
      `\n${bar}\n!!! NGINX TESTS SKIPPED: ${NGINX} is missing; deploy/nginx.conf did NOT get run. apt-get install nginx-light;\n!!! set BLINDRELAY_REQUIRE_SERVICES=1 to make this a failure.\n${bar}\n`,
    );
  }
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

describe.skipIf(!nginxAvailable)('deploy/nginx.conf under nginx, in front of a relay', () => {
  let nginx: ChildProcess | undefined;
  let url: string;
  let ca: string;
  let conf: string;

  beforeAll(async () => {
    const tls = join(dir, 'tls');
    await run('sh', [join(ROOT, 'deploy/make-cert.sh'), 'localhost', tls]);
    ca = await readFile(join(tls, 'cert.pem'), 'utf8');
    const s = await relay({ trustProxy: PROXY }, {});
    const port = await freePort();
    url = `https://127.0.0.1:${port}`;
    // The shipped file, with only what differs here: the relay's address instead of the compose
    // services, a free port instead of 443, the certificate's directory, and nginx's outgoing
    // address (in compose, its fixed address on the internal network).
    const shipped = await readFile(join(ROOT, 'deploy/nginx.conf'), 'utf8');
    expect(shipped).toMatch(/\n {2}listen 443 ssl;\n/);
    expect(shipped).not.toMatch(/\n\s*listen (?!443 ssl)/); // no other (plain) listener
    // The relays get exactly one address, nginx's peer: a client's own header is not passed on.
    expect(shipped).toMatch(/\n\s*proxy_set_header X-Forwarded-For \$remote_addr;\n/);
    const site = shipped
      .replace(/server relay\d:8787[^;]*;\n/g, '')
      .replace('upstream relays {\n', `upstream relays {\n  server 127.0.0.1:${s.port};\n`)
      .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
      .replaceAll('/etc/nginx/tls/', `${tls}/`)
      .replace('    proxy_pass http://relays;\n', `    proxy_pass http://relays;\n    proxy_bind ${PROXY};\n`);
    expect(site).toContain(`server 127.0.0.1:${s.port};`);
    expect(site).toContain(`proxy_bind ${PROXY};`);
    await writeFile(join(dir, 'site.conf'), site);
    conf = join(dir, 'nginx.conf');
    await writeFile(
      conf,
      `daemon off;\nmaster_process off;\npid ${dir}/nginx.pid;\nerror_log stderr warn;\nevents {}\nhttp {\n` +
        `  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n` +
        `  access_log off;\n  include ${dir}/site.conf;\n}\n`,
    );
  });

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx?.once('exit', resolve));
      nginx.kill('SIGTERM');
      await exited;
    }
  });

  it('passes nginx -t', async () => {
    const { stderr } = await run(NGINX, ['-t', '-e', 'stderr', '-p', dir, '-c', conf]);
    expect(stderr).toMatch(/syntax is ok/);
  });

  it('serves the relay over TLS only, and the relay sees the client nginx saw, whatever it claimed', async () => {
    nginx = spawn(NGINX, ['-e', 'stderr', '-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    nginx.stderr?.on('data', (b: Buffer) => {
      log += b.toString();
    });
    await expect
      .poll(async () => (await send(`${url}/healthz`, { method: 'GET', localAddress: '127.0.0.1', ca }).catch(() => ({ status: 0 }))).status, {
        timeout: 10_000,
      })
      .toBe(200);
    // One client through nginx, a different made-up address each time: counted as itself.
    expect(await openChannels(url, '127.0.0.3', 6, (i) => `203.0.113.${i + 1}`, ca)).toEqual([200, 200, 200, 200, 200, 429]);
    // Another client through nginx has its own count.
    expect(await openChannels(url, '127.0.0.4', 1, () => '127.0.0.3', ca)).toEqual([200]);
    // Plain HTTP on the TLS port gets no API answer.
    const plain = await send(`${url.replace('https:', 'http:')}/healthz`, { method: 'GET', localAddress: '127.0.0.1' });
    expect(plain.status).toBe(400);
    expect(plain.text).not.toContain('"status":"ok"');
    expect(log).not.toMatch(/\[(emerg|alert|crit)\]/);
  });
});
