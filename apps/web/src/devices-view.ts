/**
 * This account's devices, from the list signed by the master key: revoke one, or approve a new
 * companion (both need the primary device, which holds the master key: PROTOCOL.md §16).
 */
import type { BlindrelayClient } from '@blindrelay/client';
import { h, replace } from './dom.js';

type Say = (text: string, kind?: 'info' | 'error') => void;

export function devicesView(client: BlindrelayClient, say: Say): HTMLElement {
  const list = h('ul', { class: 'devices', testid: 'devices' }, h('li', { class: 'hint' }, 'Loading the signed device list…'));
  const refresh = () =>
    client.devices().then(
      ({ version, devices }) =>
        replace(
          list,
          ...devices.map((d) =>
            h(
              'li',
              { testid: `device-${d.deviceId}` },
              `device ${d.deviceId}${d.name ? ` · ${d.name}` : ''}${d.current ? ' (this browser)' : ''}`,
              client.primary && !d.current
                ? h(
                    'button',
                    {
                      class: 'danger',
                      testid: `revoke-${d.deviceId}`,
                      on: {
                        click: () =>
                          client.revoke(d.deviceId).then(
                            () => {
                              say(`Device ${d.deviceId} was revoked.`);
                              void refresh();
                            },
                            (e: Error) => say(e.message, 'error'),
                          ),
                      },
                    },
                    'Revoke',
                  )
                : null,
            ),
          ),
          h('li', { class: 'hint', testid: 'devices-version' }, `signed list version ${version}`),
        ),
      (e: Error) => replace(list, h('li', { class: 'status error' }, e.message)),
    );
  void refresh();
  const code = h('input', { testid: 'approve-code', placeholder: 'BR1.… code the new device shows', ariaLabel: 'link code' });
  const sas = h('input', { testid: 'approve-sas', placeholder: 'comparison code it shows', ariaLabel: 'comparison code' });
  const approve = () =>
    client.approve(code.value.trim(), { sas: sas.value }).then(
      (r) => {
        say(`Approved: device ${r.deviceId} is now linked.`);
        code.value = '';
        sas.value = '';
        setTimeout(() => void refresh(), 1500);
      },
      (e: Error) => say(e.message, 'error'),
    );
  return h(
    'section',
    { class: 'card', testid: 'devices-panel' },
    h('h2', {}, 'Devices'),
    list,
    client.primary
      ? h(
          'div',
          { class: 'approve' },
          h('h3', {}, 'Link a new device'),
          h('p', { class: 'hint' }, 'On the new device choose “link”, then enter the code and the comparison code it shows.'),
          h('div', { class: 'row' }, code, sas, h('button', { testid: 'approve', on: { click: () => void approve() } }, 'Approve')),
        )
      : h('p', { class: 'hint' }, 'This is a companion device: devices are added and removed on the primary.'),
    h('button', { class: 'secondary', testid: 'refresh-devices', on: { click: () => void refresh() } }, 'Refresh'),
  );
}
