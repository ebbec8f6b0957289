/** First run: create an account here, or link this browser as a companion of an existing account. */
import { BlindrelayClient, SHORT_ONE_TIME_PREKEY_SUPPLY } from '@blindrelay/client';
import { browserEnvironment } from '@blindrelay/client/browser';
import { h, replace } from './dom.js';
import { qrCanvas } from './qr.js';

export interface WelcomeOptions {
  readonly server: string;
  readonly onReady: (client: BlindrelayClient) => void;
}

export function welcomeView(o: WelcomeOptions): HTMLElement {
  const user = h('input', { testid: 'user', placeholder: 'user name (a-z, 0-9, . _ -)', autocomplete: 'username', ariaLabel: 'user name' });
  const device = h('input', { testid: 'device-name', placeholder: 'name of this device', value: 'browser', ariaLabel: 'device name' });
  const pass = h('input', {
    testid: 'passphrase',
    type: 'password',
    placeholder: 'passphrase (optional: locks this browser’s keys)',
    autocomplete: 'new-password',
    ariaLabel: 'passphrase',
  });
  const out = h('div', { class: 'out' });
  const create = h('button', { testid: 'create-account' }, 'Create account');
  const link = h('button', { testid: 'link-device', class: 'secondary' }, 'Link to an existing account');
  const busy = (on: boolean) => {
    create.disabled = on;
    link.disabled = on;
  };
  const fail = (e: unknown) => {
    busy(false);
    replace(out, h('p', { class: 'status error', testid: 'status' }, e instanceof Error ? e.message : String(e)));
  };
  const env = () => browserEnvironment({ passphrase: pass.value || undefined });
  // A short one-time prekey supply: the app tops it up once it shows (prekey-top-up.ts).
  const options = () => ({
    servers: o.server,
    user: user.value.trim(),
    deviceName: device.value.trim() || 'browser',
    oneTimePreKeys: SHORT_ONE_TIME_PREKEY_SUPPLY,
  });

  create.addEventListener('click', () => {
    busy(true);
    replace(out, h('p', { class: 'status', testid: 'status' }, 'Making your keys…'));
    BlindrelayClient.createAccount(env(), options()).then(o.onReady, fail);
  });
  link.addEventListener('click', () => {
    busy(true);
    replace(out, h('p', { class: 'status', testid: 'status' }, 'Asking the relay for a link channel…'));
    BlindrelayClient.link(env(), {
      ...options(),
      onCode: (code, sas) =>
        replace(
          out,
          h(
            'div',
            { class: 'link', testid: 'link-panel' },
            h('p', {}, `On ${options().user}’s primary device, approve this browser:`),
            h('pre', { testid: 'link-command' }, `blindrelay device approve ${code} --sas ${sas}`),
            qrCanvas(code, 'link-qr'),
            h('p', {}, 'Code: ', h('code', { testid: 'link-code' }, code)),
            h('p', {}, 'Comparison code (the approving device must show the same): ', h('strong', { testid: 'link-sas' }, sas)),
            h('p', { class: 'hint' }, 'Waiting for the approval…'),
          ),
        ),
    }).then(o.onReady, fail);
  });

  return h(
    'section',
    { class: 'card welcome', testid: 'welcome' },
    h('h1', {}, 'Blindrelay'),
    h('p', { class: 'hint' }, 'End-to-end encrypted messages and files. Your keys are made here and stay in this browser.'),
    h('label', {}, 'User name', user),
    h('label', {}, 'This device', device),
    h('label', {}, 'Passphrase', pass),
    h('div', { class: 'row' }, create, link),
    out,
  );
}
