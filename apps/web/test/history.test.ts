/** The web app's chat history across reloads (src/history-store.ts, src/conversations.ts), over an in-memory store. */
import { describe, expect, it } from 'vitest';
import { Conversations, type Entry, KEPT_ENTRIES } from '../src/conversations.js';
import { HistoryStore } from '../src/history-store.js';

/** Files in memory: the client's application files, or the profile store's own (where earlier versions kept the history). */
function memoryStore() {
  const files = new Map<string, Uint8Array>();
  return {
    files,
    read: async (name: string) => files.get(name) ?? null,
    write: async (name: string, data: Uint8Array) => {
      files.set(name, data.slice());
    },
    remove: async (name: string) => {
      files.delete(name);
    },
  };
}
const entry = (key: string, at: number, state: Entry['state'] = 'received'): Entry => ({
  key,
  from: 'bob',
  text: `text ${key}`,
  at,
  mine: false,
  file: null,
  state,
});

describe('web app history', () => {
  it('saves and restores 1:1 and group conversations; a message still sending is restored as failed', async () => {
    const storage = memoryStore();
    const a = new Conversations();
    a.add(a.direct('bob'), entry('1', 1));
    a.add(a.direct('bob'), { ...entry('2', 2, 'sending'), mine: true, from: 'alice' });
    const g = a.group('AAAAAAAAAAAAAAAAAAAAAA', 'Weekend plans');
    g.members = ['alice', 'bob'];
    a.add(g, { ...entry('3', 3), file: { id: 'f'.repeat(22), name: 'notes.txt', size: 5 } });
    const errors: Error[] = [];
    await new HistoryStore(
      storage,
      () => a.save(),
      (e) => errors.push(e),
    ).flush();
    expect(errors).toEqual([]);

    const b = new Conversations();
    b.restore(
      await new HistoryStore(
        storage,
        () => b.save(),
        () => undefined,
      ).load(),
    );
    const direct = b.direct('bob');
    expect(direct.entries.map((e) => [e.key, e.state])).toEqual([
      ['1', 'received'],
      ['2', 'failed'],
    ]);
    const group = b.group('AAAAAAAAAAAAAAAAAAAAAA');
    expect([group.title, group.members, group.entries[0]?.file?.name]).toEqual(['Weekend plans', ['alice', 'bob'], 'notes.txt']);
    // Restoring twice (the same messages delivered again) adds nothing.
    b.restore(
      await new HistoryStore(
        storage,
        () => b.save(),
        () => undefined,
      ).load(),
    );
    expect(b.direct('bob').entries.length).toBe(2);
  });

  it('a history kept the earlier way (the store’s own web-history.json) moves into the profile’s application file once', async () => {
    const legacy = memoryStore();
    const files = memoryStore();
    const a = new Conversations();
    a.add(a.direct('bob'), entry('1', 1));
    await new HistoryStore(
      legacy,
      () => a.save(),
      () => undefined,
    ).flush(); // (written as the earlier version did: the same document, under the store's own name)
    legacy.files.set('web-history.json', legacy.files.get('web-history') as Uint8Array);
    legacy.files.delete('web-history');
    const store = new HistoryStore(
      files,
      () => [],
      () => undefined,
      legacy,
    );
    expect((await store.load()).map((c) => [c.ref, c.entries.map((e) => e.key)])).toEqual([['bob', ['1']]]);
    expect([...files.files.keys()]).toEqual(['web-history']);
    expect(legacy.files.size).toBe(0);
    expect((await store.load()).map((c) => c.ref)).toEqual(['bob']);
    // An earlier file this app cannot read stays where it is, and nothing is written.
    legacy.files.set('web-history.json', new TextEncoder().encode('{not json'));
    const fresh = memoryStore();
    await expect(
      new HistoryStore(
        fresh,
        () => [],
        () => undefined,
        legacy,
      ).load(),
    ).rejects.toThrow('not in a format this app reads');
    expect([fresh.files.size, legacy.files.size]).toEqual([0, 1]);
  });

  it(`keeps the newest ${KEPT_ENTRIES} entries of a conversation`, () => {
    const c = new Conversations();
    for (let i = 0; i < KEPT_ENTRIES + 20; i++) c.add(c.direct('bob'), entry(String(i), i));
    const saved = c.save()[0]?.entries ?? [];
    expect([saved.length, saved[0]?.key]).toEqual([KEPT_ENTRIES, '20']);
  });

  it('a saved file it cannot read is a clear error, and nothing is written', async () => {
    const storage = memoryStore();
    const store = new HistoryStore(
      storage,
      () => [],
      () => undefined,
    );
    expect(await store.load()).toEqual([]);
    storage.files.set('web-history', new TextEncoder().encode(JSON.stringify({ format: 1, conversations: [{ kind: 'direct', ref: 'bob', entries: 'x' }] })));
    await expect(store.load()).rejects.toThrow('not in a format this app reads');
    storage.files.set('web-history', new TextEncoder().encode('{"format": 2, "conversations": []}'));
    await expect(store.load()).rejects.toThrow('not in a format this app reads');
    storage.files.set('web-history', new TextEncoder().encode('{not json'));
    await expect(store.load()).rejects.toThrow('not in a format this app reads');
    expect(storage.files.size).toBe(1);
  });
});
