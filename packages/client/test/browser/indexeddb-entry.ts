/**
 * Bundled for the browser by ../indexeddb-browser.test.ts: IndexedDbStorage and the passphrase
 * vault above it, in a real page (IndexedDB, WebCrypto, Web Locks).
 */
import { createWebPrimitives } from '@blindrelay/protocol/web';
import { Profile } from '../../src/profile.js';
import { IndexedDbStorage } from '../../src/storage/indexeddb.js';

const p = createWebPrimitives();
const enc = new TextEncoder();
const dec = new TextDecoder();

function raw(profile: string): Promise<{ db: IDBDatabase }> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(`blindrelay:${profile}`);
    r.onsuccess = () => resolve({ db: r.result });
    r.onerror = () => reject(r.error);
  });
}
async function rawGet(profile: string, store: string, key: string): Promise<unknown> {
  const { db } = await raw(profile);
  const r = db.transaction(store).objectStore(store).get(key);
  const v = await new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  db.close();
  return v;
}
async function rawPut(profile: string, key: string, value: Uint8Array): Promise<void> {
  const { db } = await raw(profile);
  const tx = db.transaction('files', 'readwrite');
  tx.objectStore('files').put(value, key);
  await new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
  db.close();
}
const code = async (f: () => Promise<unknown>): Promise<string> => {
  try {
    await f();
    return 'ok';
  } catch (e) {
    const c = (e as { code?: unknown }).code;
    return typeof c === 'string' ? c : (e as Error).name;
  }
};

const api = {
  async storage() {
    const s = new IndexedDbStorage('unit');
    const before = await s.exists();
    await s.create();
    await s.write('account.json', enc.encode('{"secret":"SEED-CANARY-0123456789"}'));
    await s.write('profile.json', enc.encode('{"format":"x"}'));
    const after = await s.exists();
    const back = dec.decode((await s.read('account.json')) as Uint8Array);
    const stored = (await rawGet('unit', 'files', 'account.json')) as Uint8Array;
    const key = (await rawGet('unit', 'keys', 'wrap')) as CryptoKey;
    const plainInDb = dec.decode(stored).includes('SEED-CANARY');
    const missing = await s.read('nothing.json');
    const badName = await code(() => s.read('../x'));
    const createAgain = await code(() => new IndexedDbStorage('unit').create());
    // A second instance (another tab) reads the same bytes through the same stored key.
    const other = dec.decode((await new IndexedDbStorage('unit').read('account.json')) as Uint8Array);
    // Tampering: a flipped bit, and one file's ciphertext moved under another name.
    const flipped = stored.slice();
    flipped[20] = (flipped[20] as number) ^ 1;
    await rawPut('unit', 'account.json', flipped);
    const tampered = await code(() => new IndexedDbStorage('unit').read('account.json'));
    await rawPut('unit', 'account.json', (await rawGet('unit', 'files', 'profile.json')) as Uint8Array);
    const swapped = await code(() => new IndexedDbStorage('unit').read('account.json'));
    // The lock: two holders never overlap.
    const order: string[] = [];
    await Promise.all(
      [1, 2].map((i) =>
        s.withLock(async () => {
          order.push(`in${i}`);
          await new Promise((r) => setTimeout(r, 20));
          order.push(`out${i}`);
        }),
      ),
    );
    await s.erase();
    const names = (await indexedDB.databases()).map((d) => d.name);
    return {
      before,
      after,
      back,
      other,
      plainInDb,
      missing,
      badName,
      createAgain,
      tampered,
      swapped,
      order,
      extractable: key.extractable,
      algorithm: (key.algorithm as AesKeyAlgorithm).name,
      usages: key.usages,
      exported: await code(() => crypto.subtle.exportKey('raw', key)),
      erased: !names.includes('blindrelay:unit'),
    };
  },
  /** The passphrase lock (vault.ts) over IndexedDB, with light Argon2id parameters for the test. */
  async passphrase() {
    const storage = new IndexedDbStorage('locked');
    const { profile, commitNew } = await Profile.create(storage, p, {
      passphrase: 'correct horse battery staple',
      kdf: { algorithm: 'argon2id', m: 256, t: 1, p: 1 },
    });
    await profile.write('tokens', { tokens: new Map() });
    await commitNew();
    profile.close();
    const none = await code(() => Profile.open(new IndexedDbStorage('locked'), p));
    const wrong = await code(() => Profile.open(new IndexedDbStorage('locked'), p, { passphrase: 'wrong horse' }));
    const right = await code(async () =>
      (await Profile.open(new IndexedDbStorage('locked'), p, { passphrase: 'correct horse battery staple' })).read('tokens'),
    );
    await new IndexedDbStorage('locked').destroy();
    return { none, wrong, right };
  },
};

(globalThis as unknown as { idb: typeof api }).idb = api;
