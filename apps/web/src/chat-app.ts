/**
 * The signed-in app: conversations, the message list and composer (text and files, drag and drop,
 * progress), the safety number of the open conversation, and this account's devices.
 */
import { type BlindrelayClient, type ReceivedMessage, RevokedError } from '@blindrelay/client';
import { IndexedDbStorage } from '@blindrelay/client/browser';
import { type Conversation, Conversations, type Entry } from './conversations.js';
import { devicesView } from './devices-view.js';
import { formatBytes, h, replace } from './dom.js';
import { fileMessage, parseFileMessage } from './file-message.js';
import { browserFile, downloadFile } from './files.js';
import { safetyView } from './safety-view.js';

export class ChatApp {
  readonly #root: HTMLElement;
  readonly #client: BlindrelayClient;
  readonly #restart: () => void;
  readonly #conversations = new Conversations();
  readonly #stop = new AbortController();
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
  readonly #main = h('section', { class: 'main' });
  readonly #connection = h('span', { class: 'connection', testid: 'connection' }, 'connecting');

  constructor(root: HTMLElement, client: BlindrelayClient, restart: () => void) {
    this.#root = root;
    this.#client = client;
    this.#restart = restart;
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

  show(): void {
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
    const drop = h(
      'div',
      { class: 'chat', testid: 'drop-zone' },
      h(
        'div',
        { class: 'row' },
        this.#recipient,
        h('button', { class: 'secondary', testid: 'show-safety', on: { click: () => this.#showSafety() } }, 'Safety number'),
      ),
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

  #openRecipient(): Conversation | null {
    const peer = this.#recipient.value.trim();
    if (!peer) return null;
    if (this.#current?.peer !== peer) this.#select(this.#conversations.direct(peer));
    return this.#current;
  }

  #select(c: Conversation): void {
    this.#current = c;
    c.unread = 0;
    this.#recipient.value = c.peer;
    if (this.#tab === 'chat') {
      this.#renderList();
      this.#renderMessages();
    }
  }

  #renderList(): void {
    const items = this.#conversations
      .list()
      .map((c) =>
        h(
          'li',
          { class: c === this.#current ? 'active' : '', testid: `conversation-${c.peer}`, on: { click: () => this.#select(c) } },
          c.title,
          c.unread ? h('span', { class: 'badge' }, String(c.unread)) : null,
        ),
      );
    replace(this.#side, h('h2', {}, 'Conversations'), items.length ? this.#list : h('p', { class: 'hint' }, 'Type a user name above to start.'));
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
      await this.#client.send(c.peer, text);
      entry.state = 'sent';
      this.#say('');
    } catch (e) {
      entry.state = 'failed';
      this.#say(`Not sent to ${c.peer}: ${(e as Error).message}`, 'error');
    }
    if (c === this.#current && this.#tab === 'chat') this.#renderMessages();
  }

  async #sendFile(file: File): Promise<void> {
    const c = this.#openRecipient();
    if (!c) return this.#say('Who to? Type a user name in the "to" field before dropping a file.', 'error');
    this.#showProgress(0, file.size);
    this.#say(`Encrypting and uploading ${file.name}…`);
    try {
      const put = await this.#client.putFile(browserFile(file), { to: [c.peer], onProgress: (done, total) => this.#showProgress(done, total) });
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
    if (!c) {
      this.#say('Open a conversation first.', 'error');
      return;
    }
    replace(
      this.#main,
      safetyView(this.#client, c.peer, () => this.#showTab('chat')),
    );
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
