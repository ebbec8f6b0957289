/**
 * Bundled for the browser by ../backup-browser.test.ts: the backup's client side on the Web
 * primitives, and OPAQUE (`@serenity-kit/opaque`'s ESM build, WebAssembly inlined) in the page.
 */
import { createWebPrimitives } from '@blindrelay/protocol/web';
import { loadOpaque, OPAQUE_KEY_STRETCHING } from '../../src/backup/backup-api.js';
import { codeSecrets, openBackup, passphraseWrapKey, sealBackup, unwrapBackupKey, wrapBackupKey } from '../../src/backup/backup-format.js';
import { generateRecoveryCode, parseRecoveryCode } from '../../src/backup/recovery-code.js';
import { fromBase64url, toBase64url } from '../../src/base64url.js';

const p = createWebPrimitives();

const api = {
  /** A code made here, its secrets, and a backup sealed under a key wrapped with its wrap key. */
  async codeBackup(user: string) {
    const code = generateRecoveryCode(p);
    const canonical = parseRecoveryCode(code.formatted);
    const s = await codeSecrets(p, canonical, user);
    const backupKey = p.randomBytes(32);
    const wrapped = await wrapBackupKey(p, s.wrapKey, 'code', user, backupKey);
    const blob = await sealBackup(p, backupKey, {
      user,
      masterSeed: p.randomBytes(32),
      contacts: [{ user: 'bob', masterKey: p.randomBytes(32), verified: true, pinnedAt: 1 }],
      files: [{ id: 'AAAAAAAAAAAAAAAAAAAAAA', version: 1, key: p.randomBytes(16) }],
      createdAt: 2,
    });
    return { code: code.formatted, accessSecret: toBase64url(s.accessSecret), wrapped: toBase64url(wrapped), blob: toBase64url(blob) };
  },
  /** Open a backup made in Node. */
  async openCodeBackup(user: string, code: string, wrapped: string, blob: string) {
    const s = await codeSecrets(p, parseRecoveryCode(code), user);
    const key = await unwrapBackupKey(p, s.wrapKey, 'code', user, fromBase64url(wrapped));
    const c = await openBackup(p, key, user, fromBase64url(blob));
    return { files: c.files.length, contacts: c.contacts.length, masterSeed: toBase64url(c.masterSeed) };
  },
  /** OPAQUE registration and login in the page (client and server sides), timed. */
  async opaqueRoundTrip(password: string) {
    const opaque = await loadOpaque();
    const setup = opaque.server.createSetup();
    const t0 = performance.now();
    const r = opaque.client.startRegistration({ password });
    const resp = opaque.server.createRegistrationResponse({ serverSetup: setup, userIdentifier: 'alice', registrationRequest: r.registrationRequest });
    const reg = opaque.client.finishRegistration({
      clientRegistrationState: r.clientRegistrationState,
      registrationResponse: resp.registrationResponse,
      password,
      keyStretching: OPAQUE_KEY_STRETCHING,
    });
    const registerMs = performance.now() - t0;
    const login = (pw: string) => {
      const c = opaque.client.startLogin({ password: pw });
      const s = opaque.server.startLogin({
        serverSetup: setup,
        userIdentifier: 'alice',
        registrationRecord: reg.registrationRecord,
        startLoginRequest: c.startLoginRequest,
      });
      return opaque.client.finishLogin({
        clientLoginState: c.clientLoginState,
        loginResponse: s.loginResponse,
        password: pw,
        keyStretching: OPAQUE_KEY_STRETCHING,
      });
    };
    const ok = login(password);
    const wrong = login(`${password}x`);
    const wrapKey = ok ? toBase64url(await passphraseWrapKey(p, fromBase64url(ok.exportKey), 'alice')) : null;
    return { registerMs, sameExportKey: ok?.exportKey === reg.exportKey, wrongRefused: wrong === undefined, exportKey: reg.exportKey, wrapKey };
  },
};

(globalThis as unknown as { backup: typeof api }).backup = api;
