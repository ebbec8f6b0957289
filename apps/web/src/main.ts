/**
 * The web app's entry: opens this browser's profile (IndexedDB), or offers to create an account or
 * link this browser to an existing one, then shows the chat. The relay is this page's own origin.
 */
import { BlindrelayClient, NoProfileError, PassphraseRequiredError, WrongPassphraseError } from '@blindrelay/client';
import { browserEnvironment } from '@blindrelay/client/browser';
import { ChatApp } from './chat-app.js';
import { h, replace } from './dom.js';
import { welcomeView } from './welcome-view.js';

const root = document.getElementById('app') as HTMLElement;
const server = location.origin;

function status(text: string, kind: 'info' | 'error' = 'info'): HTMLElement {
  return h('p', { class: `status ${kind}`, testid: 'status' }, text);
}

export function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function start(passphrase?: string): Promise<void> {
  try {
    const client = await BlindrelayClient.open(browserEnvironment({ passphrase }));
    void new ChatApp(root, client, () => void start()).show();
  } catch (e) {
    if (e instanceof NoProfileError) {
      replace(root, welcomeView({ server, onReady: (client) => void new ChatApp(root, client, () => void start()).show() }));
      return;
    }
    if (e instanceof PassphraseRequiredError || e instanceof WrongPassphraseError) {
      replace(root, lockView(e instanceof WrongPassphraseError));
      return;
    }
    replace(root, h('section', { class: 'card' }, h('h1', {}, 'Blindrelay'), status(describe(e), 'error')));
  }
}

function lockView(wrong: boolean): HTMLElement {
  const input = h('input', { type: 'password', testid: 'unlock-passphrase', placeholder: 'passphrase', autocomplete: 'current-password' });
  const go = () => {
    replace(root, h('section', { class: 'card' }, status('Unlocking…')));
    void start(input.value);
  };
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') go();
  });
  return h(
    'section',
    { class: 'card', testid: 'locked' },
    h('h1', {}, 'Blindrelay is locked'),
    h('p', {}, 'This browser keeps its keys encrypted under your passphrase.'),
    input,
    h('button', { testid: 'unlock', on: { click: go } }, 'Unlock'),
    wrong ? status('That passphrase does not open this profile.', 'error') : null,
  );
}

void start();
