/**
 * SequentialFileWriter: the same bytes on disk whichever way they went (O_DIRECT with carried,
 * padded and truncated blocks, or plain writes), for every length around the alignment.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SequentialFileWriter } from '../src/sequential-writer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-seqw-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
const path = () => join(dir, `f${++n}`);

describe.each([
  ['O_DIRECT where the file system allows', false],
  ['buffered', true],
])('SequentialFileWriter (%s)', (_name, buffered) => {
  it('writes exactly the bytes given through write(), for lengths around the 4 KiB alignment', async () => {
    for (const size of [0, 1, 4095, 4096, 4097, 8191, 65536, 1 << 20, (1 << 20) + 13, 3 * (1 << 20) + 4099]) {
      const data = randomBytes(size);
      const file = path();
      const w = await SequentialFileWriter.open(file, { blockBytes: 65536 + 100, buffered });
      if (!buffered) expect(typeof w.direct).toBe('boolean');
      // Uneven pieces, as a download's decrypted chunks arrive.
      for (let at = 0; at < size; ) {
        const piece = Math.min(size - at, 1 + ((at * 7919) % 70000));
        await w.write(data.subarray(at, at + piece));
        at += piece;
      }
      await w.close();
      expect((await stat(file)).size, `size ${size}`).toBe(size);
      expect(Buffer.compare(await readFile(file), data), `content ${size}`).toBe(0);
    }
  });

  it('next()/commit() in place, mixed with write() (a header, then sealed blocks)', async () => {
    const header = randomBytes(313);
    const blocks = Array.from({ length: 7 }, (_, i) => randomBytes(i === 6 ? 999 : 20000));
    const file = path();
    const w = await SequentialFileWriter.open(file, { blockBytes: 20000, slots: 2, buffered });
    await w.write(header);
    for (const b of blocks) {
      const out = await w.next();
      out.set(b, 0);
      w.commit(b.length);
    }
    await w.close({ sync: true });
    expect(Buffer.compare(await readFile(file), Buffer.concat([header, ...blocks]))).toBe(0);
  });
});

describe('SequentialFileWriter', () => {
  it("uses O_DIRECT on this machine kind's disk (ext4), and writes the same bytes on tmpfs", async () => {
    const w = await SequentialFileWriter.open(path(), { blockBytes: 4096 });
    await w.close();
    const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
    const root = mounts.split('\n').find((l) => l.split(' ')[1] === '/');
    if (root?.split(' ')[2] === 'ext4' && !mounts.split('\n').some((l) => l.split(' ')[1] === '/tmp')) expect(w.direct).toBe(true);
    if (existsSync('/dev/shm')) {
      const shm = join('/dev/shm', `br-seqw-${process.pid}`);
      const t = await SequentialFileWriter.open(shm, { blockBytes: 4096 });
      await t.write(Buffer.from('hello'));
      await t.close();
      expect((await readFile(shm)).toString()).toBe('hello');
      await rm(shm);
    }
  });

  it("'wx' refuses an existing file; bad arguments are refused; abort closes without writing more", async () => {
    const file = path();
    await writeFile(file, 'old');
    await expect(SequentialFileWriter.open(file, { blockBytes: 10, flag: 'wx' })).rejects.toMatchObject({ code: 'EEXIST' });
    expect((await readFile(file)).toString()).toBe('old');
    await expect(SequentialFileWriter.open(path(), { blockBytes: 0 })).rejects.toBeInstanceOf(RangeError);
    const w = await SequentialFileWriter.open(path(), { blockBytes: 10 });
    expect(() => w.commit(11)).toThrow(RangeError);
    await w.write(Buffer.from('abc'));
    await w.abort();
    expect(() => w.commit(1)).toThrow(/closed/);
  });
});
