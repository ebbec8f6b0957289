/**
 * Writing a large file front to back, fast and with bounded memory, whatever the page cache is
 * doing (Node only).
 *
 * Where the file system allows it the file is opened with O_DIRECT: each block goes from our
 * buffer to the device without being copied into page cache first. Why: a buffered write of fresh
 * data first needs page-cache pages, and on this project's virtual machines (virtio-balloon free
 * page reporting hands freed guest memory back to the host) each page the kernel reuses costs a
 * host fault on first touch, ~13 µs per 4 KiB: 512 MiB written buffered took 1.2-1.5 s of system
 * time, with O_DIRECT 0.27-0.5 s (docs/BENCHMARKS.md, "Files"). On any machine it also keeps bulk
 * output from evicting other data and from piling up as dirty pages.
 *
 * O_DIRECT wants the buffer address, the file offset and the length aligned to the device's
 * block size. The buffers are slices of a WebAssembly memory (page aligned by construction), every
 * write but the last covers whole ALIGN-byte blocks, the bytes past the last whole block are
 * carried to the front of the next buffer, and the final partial block is written padded and the
 * file then truncated to its exact length. Where O_DIRECT is refused (tmpfs, some network file
 * systems) the same writer does plain positional writes.
 *
 * Two ways in: `next()` lends the next buffer to fill in place and `commit(n)` queues it (no copy:
 * the age payload is sealed straight into it); `write(bytes)` copies into the current buffer and
 * queues it when full. Writes go out in order, one at a time; a buffer is reused once its write
 * completed, so `slots` buffers let the producer run that far ahead of the device.
 */
import { close, constants, fdatasync, ftruncate, open, write } from 'node:fs';
import { promisify } from 'node:util';

const ALIGN = 4096;
const WASM_PAGE = 65536;

const openAsync = promisify(open);
const closeAsync = promisify(close);
const ftruncateAsync = promisify(ftruncate);
const fdatasyncAsync = promisify(fdatasync);

function writeFull(fd: number, buf: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const more = () =>
      write(fd, buf, done, buf.length - done, position + done, (err, n) => {
        if (err) return reject(err);
        done += n;
        if (done === buf.length) resolve();
        else more();
      });
    more();
  });
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

export interface SequentialWriterOptions {
  /** The most bytes one buffer takes. */
  readonly blockBytes: number;
  /** Buffers in rotation (default 3). */
  readonly slots?: number;
  /** 'w' (create or truncate) or 'wx' (create, fail if it exists). */
  readonly flag?: 'w' | 'wx';
  readonly mode?: number;
  /** Plain buffered writes even where O_DIRECT works. */
  readonly buffered?: boolean;
}

export class SequentialFileWriter {
  /** Bytes queued so far (the file's final length once closed). */
  private length = 0;
  /** Bytes at the front of the current buffer carried over from the previous one (O_DIRECT only). */
  private carry = 0;
  private slot = 0;
  /** `write()`: the buffer being filled and how far. */
  private open: Uint8Array | undefined;
  private fill = 0;
  private readonly pending: Promise<void>[];
  private queueTail: Promise<void> = Promise.resolve();
  private failed: unknown;
  private closed = false;

  private constructor(
    private readonly fd: number,
    readonly direct: boolean,
    private readonly slots: Uint8Array[],
    private readonly blockBytes: number,
  ) {
    this.pending = slots.map(() => Promise.resolve());
  }

  static async open(path: string, options: SequentialWriterOptions): Promise<SequentialFileWriter> {
    const slots = options.slots ?? 3;
    if (!Number.isInteger(options.blockBytes) || options.blockBytes < 1 || !Number.isInteger(slots) || slots < 2) {
      throw new RangeError('SequentialFileWriter: blockBytes ≥ 1 and slots ≥ 2 required');
    }
    const base =
      (options.flag ?? 'w') === 'wx' ? constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL : constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC;
    const mode = options.mode ?? 0o666;
    let fd: number | undefined;
    if (!options.buffered && constants.O_DIRECT) {
      try {
        fd = await openAsync(path, base | constants.O_DIRECT, mode);
      } catch (e) {
        // EINVAL: this file system does not do O_DIRECT. Anything else is a real error.
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      }
    }
    const direct = fd !== undefined;
    fd ??= await openAsync(path, base, mode);
    const stride = roundUp(options.blockBytes + ALIGN, ALIGN);
    const memory = new WebAssembly.Memory({ initial: Math.ceil((stride * slots) / WASM_PAGE) });
    const buffers = Array.from({ length: slots }, (_, i) => new Uint8Array(memory.buffer, i * stride, stride));
    return new SequentialFileWriter(fd, direct, buffers, options.blockBytes);
  }

  /**
   * The buffer for the next up to `blockBytes` bytes of the file, once it is free (its earlier
   * write completed). Fill it from its start, then call `commit(n)`.
   */
  async next(): Promise<Uint8Array> {
    if (this.open) this.commitOpen();
    const i = this.slot;
    await this.pending[i];
    if (this.failed) throw this.failed;
    return (this.slots[i] as Uint8Array).subarray(this.carry, this.carry + this.blockBytes);
  }

  /** Queue the `n` bytes just written to the buffer `next()` lent. */
  commit(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.blockBytes) throw new RangeError('commit: bad length');
    if (this.closed) throw new Error('SequentialFileWriter: closed');
    const i = this.slot;
    const buf = this.slots[i] as Uint8Array;
    const total = this.carry + n;
    const position = this.length - this.carry;
    this.length += n;
    const whole = this.direct ? total - (total % ALIGN) : total;
    const next = (i + 1) % this.slots.length;
    // The bytes past the last whole block open the next buffer, once that one is free.
    const tail = buf.subarray(whole, total);
    this.carry = tail.length;
    this.pending[i] = whole > 0 ? this.queue(() => writeFull(this.fd, buf.subarray(0, whole), position)) : this.queueTail;
    this.pending[next] = (this.pending[next] as Promise<void>).then(() => {
      (this.slots[next] as Uint8Array).set(tail, 0);
    });
    this.slot = next;
  }

  /** Copy `bytes` in; queued whenever a buffer is full. */
  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      if (!this.open) {
        this.open = await this.next();
        this.fill = 0;
      }
      const n = Math.min(bytes.length - at, this.blockBytes - this.fill);
      this.open.set(bytes.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
      if (this.fill === this.blockBytes) this.commitOpen();
    }
  }

  private commitOpen(): void {
    const n = this.fill;
    this.open = undefined;
    this.fill = 0;
    this.commit(n);
  }

  private queue(op: () => Promise<void>): Promise<void> {
    this.queueTail = this.queueTail.then(op).catch((e: unknown) => {
      this.failed ??= e;
    });
    return this.queueTail;
  }

  /**
   * Write what is left, set the exact length, optionally flush to stable storage (`sync`), close.
   * Throws the first write error, if any; the file is closed either way.
   */
  async close(options: { sync?: boolean } = {}): Promise<void> {
    try {
      if (this.open) this.commitOpen();
      this.closed = true;
      await Promise.all(this.pending);
      if (!this.failed && this.carry > 0) {
        const buf = this.slots[this.slot] as Uint8Array;
        const padded = roundUp(this.carry, ALIGN);
        buf.fill(0, this.carry, padded);
        await this.queue(() => writeFull(this.fd, buf.subarray(0, padded), this.length - this.carry));
      }
      if (!this.failed && this.direct) await ftruncateAsync(this.fd, this.length);
      if (!this.failed && options.sync) await fdatasyncAsync(this.fd);
      if (this.failed) throw this.failed;
    } finally {
      await closeAsync(this.fd);
    }
  }

  /** Stop: let writes in flight finish, close, ignore their errors (the caller removes the file). */
  async abort(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.pending);
    await closeAsync(this.fd).catch(() => undefined);
  }
}
