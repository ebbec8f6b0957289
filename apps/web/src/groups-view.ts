/**
 * The group parts of the chat screen: the form that creates a group (a name and member user
 * names), and the header of an open group (its members, add or remove a member). The name is
 * seen by members only (it travels inside MLS, never to the relay: docs/PROTOCOL.md §22).
 */
import { h } from './dom.js';

export function newGroupForm(create: (name: string, members: string[]) => Promise<void>): HTMLElement {
  const name = h('input', { testid: 'new-group-name', placeholder: 'group name', ariaLabel: 'group name', autocomplete: 'off' });
  const members = h('input', { testid: 'new-group-members', placeholder: 'members: bob, carol', ariaLabel: 'group members', autocomplete: 'off' });
  const button = h('button', { testid: 'create-group', class: 'secondary' }, 'Create group');
  button.addEventListener('click', () => {
    const users = members.value
      .split(/[\s,]+/)
      .map((u) => u.trim())
      .filter(Boolean);
    if (!name.value.trim()) {
      name.focus();
      return;
    }
    button.disabled = true;
    create(name.value.trim(), users)
      .then(() => {
        name.value = '';
        members.value = '';
      })
      .catch(() => undefined)
      .finally(() => {
        button.disabled = false;
      });
  });
  return h('div', { class: 'new-group', testid: 'new-group' }, h('h3', {}, 'New group'), name, members, button);
}

export interface GroupHeaderActions {
  add(user: string): Promise<void>;
  remove(user: string): Promise<void>;
}

export function groupHeader(group: { group: string; title: string; members: readonly string[] }, me: string, actions: GroupHeaderActions): HTMLElement {
  const user = h('input', {
    testid: 'group-member-user',
    placeholder: 'user name to add or remove',
    ariaLabel: 'member to add or remove',
    autocomplete: 'off',
  });
  const act = (fn: (u: string) => Promise<void>, button: HTMLButtonElement) => () => {
    const u = user.value.trim();
    if (!u) return;
    button.disabled = true;
    fn(u)
      .then(() => {
        user.value = '';
      })
      .catch(() => undefined)
      .finally(() => {
        button.disabled = false;
      });
  };
  const add = h('button', { testid: 'group-add', class: 'secondary' }, 'Add');
  const remove = h('button', { testid: 'group-remove', class: 'danger' }, 'Remove');
  add.addEventListener('click', act(actions.add, add));
  remove.addEventListener('click', act(actions.remove, remove));
  return h(
    'div',
    { class: 'group-header', testid: 'group-header', data: { group: group.group } },
    h(
      'div',
      { class: 'row' },
      h('strong', { testid: 'group-title' }, group.title),
      h(
        'span',
        { class: 'members', testid: 'group-members' },
        group.members.length ? group.members.map((m) => (m === me ? `${m} (you)` : m)).join(', ') : 'members…',
      ),
    ),
    h('div', { class: 'row' }, user, add, remove),
  );
}
