/**
 * The safety number with a contact (60 digits from both master keys, the same on both sides:
 * PROTOCOL.md "Safety numbers"), as text and as a QR code, and a field to verify it.
 */
import type { BlindrelayClient, SafetyNumberInfo } from '@blindrelay/client';
import { h, replace } from './dom.js';
import { qrCanvas } from './qr.js';

export function safetyView(client: BlindrelayClient, peer: string, back: () => void): HTMLElement {
  const body = h('div', {}, h('p', { class: 'hint' }, 'Fetching and checking the key…'));
  const view = h(
    'section',
    { class: 'card safety', testid: 'safety-panel' },
    h('h2', {}, `Safety number with ${peer}`),
    body,
    h('button', { class: 'secondary', testid: 'back', on: { click: back } }, 'Back to the chat'),
  );
  const show = (info: SafetyNumberInfo, note?: string) => {
    const input = h('input', { testid: 'verify-input', placeholder: `the 60 digits ${peer} sees`, ariaLabel: 'safety number to compare' });
    const result = h('p', { class: 'status', testid: 'verify-result' }, note ?? '');
    const verify = () =>
      client.verify(peer, input.value).then(
        (v) => show(v, 'Verified: the numbers match.'),
        (e: Error) => {
          result.textContent = e.message;
          result.className = 'status error';
        },
      );
    replace(
      body,
      info.keyChanged
        ? h('p', { class: 'status error', testid: 'key-changed' }, `${peer}’s key changed. Compare the new number: ${info.newSafetyNumber ?? ''}`)
        : null,
      h('p', { class: 'digits', testid: 'safety-number' }, info.formatted),
      qrCanvas(info.safetyNumber, 'safety-qr'),
      h('p', { testid: 'verified', data: { verified: String(info.verified) } }, info.verified ? '✔ verified' : 'not verified yet'),
      h('p', { class: 'hint' }, `Compare with the number ${peer} sees (in person, or over a call). If they match, type or paste theirs:`),
      h('div', { class: 'row' }, input, h('button', { testid: 'verify', on: { click: () => void verify() } }, 'Mark verified')),
      result,
    );
  };
  client.safetyNumber(peer).then(
    (info) => show(info),
    (e: Error) => replace(body, h('p', { class: 'status error', testid: 'status' }, e.message)),
  );
  return view;
}
