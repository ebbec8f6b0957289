/**
 * Review finding L5, security-2026-12.md: device linking handed over the master seed with no
 * confirmation and no short authentication string, so it was phishable ("scan this code to verify
 * your account" → the attacker's device gets the user's master key for good).
 *
 * The attack, against a real relay: Mallory starts a link for Alice's user name on her own
 * machine (a real `BlindrelayClient.link`, so she holds the ephemeral key the envelope would be
 * sealed to) and gets Alice to approve Mallory's code — while Alice is, or believes she is,
 * linking a new device of her own, whose screen shows its comparison code.
 *
 * What stops it now (docs/PROTOCOL.md §12.1, docs/API.md §7): both the new device and the
 * approving device derive a 6-digit comparison code from the link code (channel id and the new
 * device's key). The approving side is shown that code and what approving means ("FULL control
 * of <user>") and must confirm it matches the new device's screen (SDK `confirm`), or be given
 * the code the new device shows (`sas`, CLI `--sas`). Mallory's code has another comparison code
 * than Alice's device shows, so the approval is refused (LinkNotConfirmedError) before anything
 * is sealed or sent: no request reaches the provisioning channel and Mallory's link gets nothing.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlindrelayClient, type LinkApproval } from '../../packages/client/src/client.js';
import { LinkNotConfirmedError, LinkTimeoutError } from '../../packages/client/src/errors.js';
import { FileStorage } from '../../packages/client/src/storage/fs.js';
import { type Device, environment } from '../../packages/client/test/devices.js';
import { startRelay, type TestRelay } from '../../packages/client/test/relay-fixture.js';

const BIN = fileURLToPath(new URL('../../packages/cli/bin/blindrelay.mjs', import.meta.url));

let dir: string;
let relay: TestRelay;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-l5-'));
  relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'relay'), logLevel: 'silent', processMetrics: false });
});
afterAll(async () => {
  await relay?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A new device starting a link for `user`: its code and comparison code once shown, and the link's outcome. */
function startLink(user: string) {
  const e = environment();
  const controller = new AbortController();
  let shown: (v: { code: string; sas: string }) => void = () => {};
  const screen = new Promise<{ code: string; sas: string }>((resolve) => {
    shown = resolve;
  });
  const linked = BlindrelayClient.link(e.env, {
    servers: relay.url,
    user,
    signal: controller.signal,
    onCode: (code, sas) => shown({ code, sas }),
  }).then(
    (client) => ({ client, error: undefined }),
    (error: unknown) => ({ client: undefined, error }),
  );
  return { env: e, screen, linked, abort: () => controller.abort() };
}

describe('L5: phishing a device-link code', () => {
  it('the approving side sees the comparison code; a code that is not the new device’s moves no key material', async () => {
    // Alice's existing device, with a profile on disk (the CLI uses it below too).
    const home = join(dir, 'alice-home');
    const storage = new FileStorage(join(home, 'default'));
    const alice = await BlindrelayClient.createAccount(environment(storage).env, { servers: relay.url, user: `alice-${process.pid}` });
    const user = alice.user;
    const puts: string[] = [];
    const hooked = environment(storage);
    hooked.hook.fn = async (u, init, next) => {
      if ((init?.method ?? 'GET') === 'PUT' && new URL(u).pathname.startsWith('/v1/provisioning/')) puts.push(u);
      return next();
    };
    alice.close();
    const approver: Device = { client: await BlindrelayClient.open(hooked.env), ...hooked };

    const mallory = startLink(user);
    const genuine = startLink(user);
    const mal = await mallory.screen;
    const own = await genuine.screen;
    expect(mal.sas).toMatch(/^\d{6}$/);
    expect(own.sas).toMatch(/^\d{6}$/);
    expect(mal.sas).not.toBe(own.sas);

    // 1. No confirmation at all: refused.
    await expect(approver.client.approve(mal.code)).rejects.toBeInstanceOf(LinkNotConfirmedError);
    // 2. Alice types the code her own new device shows: it does not match Mallory's link code.
    await expect(approver.client.approve(mal.code, { sas: own.sas })).rejects.toMatchObject({ code: 'ERR_LINK_NOT_CONFIRMED' });
    // 3. Interactive: Alice is shown Mallory's comparison code and what it means, compares it with her screen, says no.
    const seen: LinkApproval[] = [];
    await expect(
      approver.client.approve(mal.code, {
        confirm: (a) => {
          seen.push(a);
          return a.sas === own.sas;
        },
      }),
    ).rejects.toBeInstanceOf(LinkNotConfirmedError);
    // It also names the user the code asks to join and the name the new device gave (review ux-2026-12 F5).
    expect(seen).toEqual([{ user, sas: mal.sas, requestedUser: user, deviceName: expect.any(String) }]);
    // 4. The CLI, non-interactively with the code from her screen: refused, exit 1.
    const cliRun = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, '--home', home, 'device', 'approve', mal.code, '--sas', own.sas, '--json'], {
        env: { ...process.env, BLINDRELAY_HOME: '', BLINDRELAY_PROFILE: '', BLINDRELAY_PASSPHRASE: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout?.on('data', (d) => {
        stdout += d;
      });
      child.on('close', (code) => resolve({ code, stdout }));
    });
    expect(cliRun.code).toBe(1);
    expect(JSON.parse(cliRun.stdout)).toMatchObject({ error: { code: 'ERR_LINK_NOT_CONFIRMED' } });

    // Nothing was sealed to Mallory's key or sent: no request to any provisioning channel, her
    // channel holds no envelope, and Alice's device list is unchanged.
    expect(puts).toEqual([]);
    const channel = mal.code.split('.')[1] as string;
    expect((await fetch(`${relay.url}/v1/provisioning/${channel}?wait=0`)).status).toBe(204);
    expect((await approver.client.devices()).devices).toHaveLength(1);
    mallory.abort();

    // Positive control: Alice's own device, confirmed with the code it shows, is linked.
    const r = await approver.client.approve(own.code, { confirm: (a) => a.sas === own.sas });
    expect(r.sas).toBe(own.sas);
    expect(puts).toHaveLength(1);
    const linked = await genuine.linked;
    expect(linked.error).toBeUndefined();
    expect((await approver.client.devices()).devices).toHaveLength(2);
    linked.client?.close();
    approver.client.close();
    // Mallory's link ends with nothing when she gives up (her long poll returns first).
    const malloryOutcome = await mallory.linked;
    expect(malloryOutcome.client).toBeUndefined();
    expect(malloryOutcome.error).toBeInstanceOf(LinkTimeoutError);
  });
});
