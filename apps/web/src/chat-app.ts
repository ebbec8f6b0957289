/**
 * The signed-in app: conversations (1:1 and groups), the message list and composer (text and
 * files, drag and drop, progress), the safety number of the open conversation, and this account's
 * devices. The history is kept across reloads (history-store.ts).
 */
import { type BlindrelayClient, type ReceivedMessage, RevokedError } from '@blindrelay/client';
import { IndexedDbStorage } from '@blindrelay/client/browser';
import { type Conversation, Conversations, type Entry, type GroupConversation } from './conversations.js';
import { devicesView } from './devices-view.js';
import { formatBytes, h, replace } from './dom.js';
import { fileMessage, parseFileMessage } from './file-message.js';
import { browserFile, downloadFile } from './files.js';
import { type GroupMessage, type GroupSummary, GroupSync } from './group-sync.js';
import { groupHeader, newGroupForm } from './groups-view.js';
import { HistoryStore } from './history-store.js';
import { type PreKeyTopUp, schedulePreKeyTopUp } from './prekey-top-up.js';
import { safetyView } from './safety-view.js';

export class ChatApp {
  readonly #root: HTMLElement;
  readonly #client: BlindrelayClient;
  readonly #restart: () => void;
  readonly #conversations = new Conversations();
  readonly #history: HistoryStore;
  readonly #groups: GroupSync;
  readonly #stop = new AbortController();
  #topUp: PreKeyTopUp | undefined;
  #current: Conversation | null = null;
  #tab: 'chat' | 'devices' = 'chat';

  readonly #list = h('ul', { class: 'conversations', testid: 'conversations' });
  readonly #messages = h('ol', { class: 'messages', testid: 'messages' });
  readonly #recipient = h('input', { testid: 'recipient', placeholder: 'to: user name', ariaLabel: 'recipient', autocomplete: 'off' });
  readonly #message = h('input', { testid: 'message', placeholder: 'message', ariaLabel: 'message', autocomplete: 'off' });
  readonly #send = h('button', { testid: 'send' }, 'Send');
  readonly #fileInput = h('input', { type: 'file', testid: 'file-input', ariaLabel: 'attach a file' });
  readonly #progress = h('progress', { testid: 'progress', class: 'hidden' });
  readonly #status = h('p', { class: 'status', testid: 'status' });
  readonly #side = h('aside', { class: 'side' });
  readonly #newGroup = newGroupForm((name, members) => this.#createGroup(name, members));
  readonly #main = h('section', { class: 'main' });
  readonly #connection = h('span', { class: 'connection', testid: 'connection' }, 'connecting');

  constructor(root: HTMLElement, client: BlindrelayClient, restart: () => void) {
    this.#root = root;
    this.#client = client;
    this.#restart = restart;
    this.#history = new HistoryStore(
      { read: (name) => client.readAppFile(name), write: (name, data) => client.writeAppFile(name, data) },
      () => this.#conversations.save(),
      (e) => this.#say(`The chat history could not be saved: ${e.message}`, 'error'),
      new IndexedDbStorage('default'),
    );
    this.#groups = new GroupSync(client, {
      onMessages: (ms) => this.#onGroupMessages(ms),
      onGroups: (gs) => this.#onGroups(gs),
      onError: (e) => this.#say(`Groups: ${e.message}`, 'error'),
      onPublished: () => {
        this.#connection.dataset.groups = 'ready';
      },
    });
    this.#send.addEventListener('click', () => void this.#sendText());
    this.#message.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') void this.#sendText();
    });
    this.#recipient.addEventListener('change', () => this.#openRecipient());
    this.#fileInput.addEventListener('change', () => {
      const f = this.#fileInput.files?.[0];
      if (!f) return;
      void this.#sendFile(f).finally(() => {
        this.#fileInput.value = '';
      });
    });
  }

  /** Shows the app with the history this browser kept, then starts receiving. */
  async show(): Promise<void> {
    try {
      this.#conversations.restore(await this.#history.load());
      this.#current = this.#conversations.list()[0] ?? null;
      if (this.#current?.kind === 'direct') this.#recipient.value = this.#current.peer;
    } catch (e) {
      this.#say(`The saved chat history could not be read: ${(e as Error).message}`, 'error');
    }
    const me = this.#client.whoami();
    const tabs = h(
      'nav',
      { class: 'tabs' },
      h('button', { testid: 'tab-chat', on: { click: () => this.#showTab('chat') } }, 'Chats'),
      h('button', { testid: 'tab-devices', on: { click: () => this.#showTab('devices') } }, 'Devices'),
    );
    replace(
      this.#root,
      h(
        'header',
        { class: 'top' },
        h('strong', {}, 'Blindrelay'),
        h('span', { testid: 'whoami' }, `${me.user} · ${me.deviceName} (device ${me.deviceId}${me.primary ? ', primary' : ''})`),
        this.#connection,
        tabs,
      ),
      h('div', { class: 'layout' }, this.#side, this.#main),
      this.#status,
    );
    this.#showTab('chat');
    void this.#listen();
    this.#groups.start();
    this.#topUp = schedulePreKeyTopUp(
      this.#client,
      () => {
        this.#connection.dataset.prekeys = 'ready';
      },
      (e) => this.#say(`One-time prekeys could not be topped up: ${e.message}`, 'error'),
    );
  }

  #showTab(tab: 'chat' | 'devices'): void {
    this.#tab = tab;
    if (tab === 'devices') {
      replace(
        this.#main,
        devicesView(this.#client, (text, kind) => this.#say(text, kind)),
      );
      return;
    }
    const c = this.#current;
    const drop = h(
      'div',
      { class: 'chat', testid: 'drop-zone' },
      h(
        'div',
        { class: 'row' },
        this.#recipient,
        h('button', { class: 'secondary', testid: 'show-safety', on: { click: () => this.#showSafety() } }, 'Safety number'),
      ),
      c?.kind === 'group'
        ? groupHeader(c, this.#client.user, {
            add: (user) => this.#changeMembers(c, { add: user }),
            remove: (user) => this.#changeMembers(c, { remove: user }),
          })
        : null,
      this.#messages,
      this.#progress,
      h('div', { class: 'row composer' }, this.#message, this.#send, h('label', { class: 'attach' }, 'Attach ', this.#fileInput)),
      h('p', { class: 'hint' }, 'Drop a file here to send it encrypted.'),
    );
    drop.addEventListener('dragover', (ev) => {
      ev.preventDefault();
      drop.classList.add('dragging');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
    drop.addEventListener('drop', (ev) => {
      ev.preventDefault();
      drop.classList.remove('dragging');
      const f = ev.dataTransfer?.files[0];
      if (f) void this.#sendFile(f);
    });
    replace(this.#main, drop);
    this.#renderList();
    this.#renderMessages();
  }

  #say(text: string, kind: 'info' | 'error' = 'info'): void {
    this.#status.textContent = text;
    this.#status.className = `status ${kind}`;
  }

  // ---- conversations ---------------------------------------------------------------------------

  /** The 1:1 conversation with the user in the "to" field, or else the open group. */
  #openRecipient(): Conversation | null {
    const peer = this.#recipient.value.trim();
    if (!peer) return this.#current?.kind === 'group' ? this.#current : null;
    if (this.#current?.kind !== 'direct' || this.#current.peer !== peer) this.#select(this.#conversations.direct(peer));
    return this.#current;
  }

  #select(c: Conversation): void {
    const kindChanged = this.#current?.kind !== c.kind || (c.kind === 'group' && this.#current !== c);
    this.#current = c;
    c.unread = 0;
    this.#recipient.value = c.kind === 'direct' ? c.peer : '';
    if (this.#tab === 'chat') {
      if (kindChanged) this.#showTab('chat');
      else {
        this.#renderList();
        this.#renderMessages();
      }
    }
  }

  #renderList(): void {
    const items = this.#conversations.list().map((c) =>
      h(
        'li',
        {
          class: `${c === this.#current ? 'active' : ''} ${c.kind}`,
          testid: c.kind === 'direct' ? `conversation-${c.peer}` : `group-${c.group}`,
          data: { kind: c.kind },
          on: { click: () => this.#select(c) },
        },
        c.kind === 'group' ? h('span', { class: 'kind', title: 'group' }, '#') : null,
        h('span', { class: 'title' }, c.title),
        c.unread ? h('span', { class: 'badge' }, String(c.unread)) : null,
      ),
    );
    replace(
      this.#side,
      h('h2', {}, 'Conversations'),
      items.length ? this.#list : h('p', { class: 'hint' }, 'Type a user name above to start.'),
      this.#newGroup,
    );
    replace(this.#list, ...items);
  }

  #renderMessages(): void {
    const c = this.#current;
    replace(this.#messages, ...(c ? c.entries.map((e) => this.#entryView(e)) : []));
    this.#messages.scrollTop = this.#messages.scrollHeight;
  }

  #entryView(e: Entry): HTMLElement {
    const body: (Node | string)[] = [];
    if (e.file) {
      const f = e.file;
      body.push(`File: ${f.name} (${formatBytes(f.size)}) `);
      if (!e.mine) body.push(h('button', { class: 'secondary', testid: `download-${f.id}`, on: { click: () => void this.#download(f) } }, 'Download'));
    } else {
      body.push(e.text);
    }
    return h(
      'li',
      { class: e.mine ? 'mine' : 'theirs', testid: 'message-entry', data: { state: e.state, from: e.from } },
      h('span', { class: 'from' }, e.mine ? 'you' : e.from),
      h('span', { class: 'text' }, ...body),
      h('time', {}, new Date(e.at).toLocaleTimeString()),
    );
  }

  #add(c: Conversation, e: Entry): void {
    if (!this.#conversations.add(c, e)) return;
    this.#history.changed();
    if (c !== this.#current) {
      // An incoming message opens its conversation when nothing else is being written.
      if (!this.#current || (!this.#message.value && !e.mine)) this.#select(c);
      else c.unread++;
    }
    if (this.#tab === 'chat') {
      this.#renderList();
      if (c === this.#current) this.#renderMessages();
    }
  }

  // ---- sending ---------------------------------------------------------------------------------

  async #sendText(): Promise<void> {
    const text = this.#message.value;
    const c = this.#openRecipient();
    if (!c) return this.#say('Who to? Type a user name in the "to" field.', 'error');
    if (!text.trim()) return;
    this.#message.value = '';
    await this.#deliver(c, text, null);
  }

  async #deliver(c: Conversation, text: string, file: Entry['file']): Promise<void> {
    const me = this.#client.user;
    const entry: Entry = { key: `local:${crypto.randomUUID()}`, from: me, text, at: Date.now(), mine: true, file, state: 'sending' };
    this.#add(c, entry);
    try {
      if (c.kind === 'group') {
        await this.#groups.run((client) => client.sendGroupMessage(c.group, text));
        void this.#groups.poll();
      } else await this.#client.send(c.peer, text);
      entry.state = 'sent';
      this.#say('');
    } catch (e) {
      entry.state = 'failed';
      this.#say(`Not sent to ${c.title}: ${(e as Error).message}`, 'error');
    }
    this.#history.changed();
    if (c === this.#current && this.#tab === 'chat') this.#renderMessages();
  }

  async #sendFile(file: File): Promise<void> {
    const c = this.#openRecipient();
    if (!c) return this.#say('Who to? Type a user name in the "to" field before dropping a file.', 'error');
    this.#showProgress(0, file.size);
    this.#say(`Encrypting and uploading ${file.name}…`);
    try {
      // A group's file is shared with its members' devices (the file itself is no MLS message).
      const to = c.kind === 'group' ? c.members.filter((m) => m !== this.#client.user) : [c.peer];
      const put = await this.#client.putFile(browserFile(file), { to, onProgress: (done, total) => this.#showProgress(done, total) });
      this.#progress.classList.add('hidden');
      await this.#deliver(c, fileMessage({ id: put.file.id, name: file.name, size: file.size }), { id: put.file.id, name: file.name, size: file.size });
    } catch (e) {
      this.#progress.classList.add('hidden');
      this.#say(`${file.name} was not sent: ${(e as Error).message}`, 'error');
    }
  }

  #showProgress(done: number, total: number): void {
    this.#progress.classList.remove('hidden');
    this.#progress.max = total || 1;
    this.#progress.value = done;
    this.#progress.dataset.done = String(done === total);
  }

  async #download(f: { id: string; name: string; size: number }): Promise<void> {
    this.#showProgress(0, f.size);
    this.#say(`Downloading and decrypting ${f.name}…`);
    try {
      await downloadFile(this.#client, f.id, (done, total) => this.#showProgress(done, total));
      this.#progress.classList.add('hidden');
      this.#say(`${f.name}: decrypted and checked.`);
    } catch (e) {
      this.#progress.classList.add('hidden');
      this.#say(`${f.name}: ${(e as Error).message}`, 'error');
    }
  }

  #showSafety(): void {
    const c = this.#openRecipient();
    if (c?.kind !== 'direct') {
      this.#say('Open a conversation first.', 'error');
      return;
    }
    replace(
      this.#main,
      safetyView(this.#client, c.peer, () => this.#showTab('chat')),
    );
  }

  // ---- groups (MLS: group-sync.ts) -------------------------------------------------------------

  async #createGroup(name: string, members: string[]): Promise<void> {
    this.#say(`Creating ${name}…`);
    try {
      const id = await this.#groups.run((client) => client.createGroup(name, members));
      const c = this.#conversations.group(id, name);
      c.members = [this.#client.user, ...members];
      this.#history.changed();
      this.#select(c);
      const listed = (await this.#groups.refresh()).find((g) => g.id === id)?.members ?? [];
      // A user none of whose devices has published group keys yet cannot be added (add them later).
      const missing = members.filter((m) => !listed.includes(m));
      if (missing.length) this.#say(`Group ${name} created; not added yet (no device of theirs is ready for groups): ${missing.join(', ')}.`, 'error');
      else this.#say(`Group ${name} created.`);
    } catch (e) {
      this.#say(`The group was not created: ${(e as Error).message}`, 'error');
      throw e;
    }
  }

  async #changeMembers(c: GroupConversation, change: { add?: string; remove?: string }): Promise<void> {
    try {
      if (change.add) await this.#groups.run((client) => client.addGroupMember(c.group, change.add as string));
      if (change.remove) await this.#groups.run((client) => client.removeGroupMember(c.group, change.remove as string));
      // The member list first, then the status: what the status says is what the page shows.
      await this.#groups.refresh();
      this.#say(change.add ? `${change.add} was added to ${c.title}.` : `${change.remove} was removed from ${c.title}.`);
    } catch (e) {
      this.#say((e as Error).message, 'error');
      throw e;
    }
  }

  #onGroups(groups: GroupSummary[]): void {
    let changed = false;
    for (const g of groups) {
      const c = this.#conversations.group(g.id, g.name);
      if (c.title !== g.name || c.members.join() !== g.members.join()) {
        c.title = g.name;
        c.members = g.members;
        changed = true;
      }
    }
    if (!changed) return;
    this.#history.changed();
    if (this.#tab !== 'chat') return;
    // Re-render the header of the open group (its members), keeping what is being typed.
    if (this.#current?.kind === 'group') this.#showTab('chat');
    else this.#renderList();
  }

  #onGroupMessages(messages: GroupMessage[]): void {
    for (const m of messages) {
      const c = this.#conversations.group(m.group);
      this.#add(c, {
        key: `${m.group}:${m.from}:${m.deviceId}:${m.sentAt}:${m.text.length}`,
        from: m.from,
        text: m.text,
        at: m.sentAt,
        mine: m.from === this.#client.user,
        file: parseFileMessage(m.text),
        state: m.from === this.#client.user ? 'sent' : 'received',
      });
    }
  }

  // ---- receiving -------------------------------------------------------------------------------

  #onMessage(m: ReceivedMessage): void {
    const me = this.#client.user;
    const peer = m.sync || m.from === me ? m.to : m.from;
    const c = this.#conversations.direct(peer);
    const mine = m.from === me;
    this.#add(c, {
      key: `${m.from}:${m.id}`,
      from: m.from,
      text: m.text,
      at: m.sentAt,
      mine,
      file: parseFileMessage(m.text),
      state: mine ? 'sent' : 'received',
    });
  }

  async #listen(): Promise<void> {
    try {
      await this.#client.listen({
        signal: this.#stop.signal,
        onMessage: (m) => this.#onMessage(m),
        onFailure: (f) => this.#say(`A message could not be read: ${f.message ?? f.code}`, 'error'),
        onError: (e) => this.#say(e.message, 'error'),
        onStatus: (s) => {
          this.#connection.textContent = s.state;
          this.#connection.dataset.state = s.state;
        },
      });
    } catch (e) {
      if (e instanceof RevokedError) {
        this.#groups.stop();
        this.#topUp?.stop();
        this.#history.stop();
        this.#client.close();
        replace(
          this.#root,
          h(
            'section',
            { class: 'card', testid: 'revoked' },
            h('h1', {}, 'This device was removed'),
            h(
              'p',
              {},
              'Your primary device revoked this browser: it can no longer read or send messages. Its keys are still in this browser; clear them below.',
            ),
            h('button', { testid: 'forget', on: { click: () => void this.#forget() } }, 'Forget this device'),
          ),
        );
        return;
      }
      this.#say(`Disconnected: ${(e as Error).message}`, 'error');
    }
  }

  async #forget(): Promise<void> {
    await new IndexedDbStorage('default').erase();
    this.#restart();
  }
}
