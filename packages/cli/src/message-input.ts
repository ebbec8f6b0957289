/**
 * Where `send` takes the message text from (review ux-2026-12 F1): the argument, `-` (standard
 * input) or `--file PATH`. One argument is limited to 128 KiB by Linux (MAX_ARG_STRLEN), a message
 * to 1 MB (envelope.ts), so longer text comes from standard input or a file. Text read from a stream
 * or file must be UTF-8; one trailing newline is dropped (as the shell's `$(…)` drops it).
 */
import { open } from 'node:fs/promises';
import { InvalidArgumentError, MessageTooLargeError } from '@blindrelay/client/errors';

/** Read at most this much: a message's text is at most 1,000,000 bytes (plus a trailing CR LF). */
const READ_LIMIT = 1_000_002;

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function decode(bytes: Uint8Array, what: string): string {
  let text: string;
  try {
    text = utf8Strict.decode(bytes);
  } catch {
    throw new InvalidArgumentError(`${what} is not UTF-8 text: nothing was sent (send other content as a file: blindrelay file put PATH --to USER)`);
  }
  return text.replace(/\r?\n$/, '');
}

async function readStream(input: NodeJS.ReadableStream, what: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : (chunk as Uint8Array);
    size += bytes.length;
    if (size > READ_LIMIT) {
      // Stop reading: a message this large cannot be sent anyway.
      (input as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      throw new MessageTooLargeError(`the message is too large: ${what} has more than 1,000,000 bytes (the most one message carries)`);
    }
    chunks.push(bytes);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}

async function readFileText(path: string): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InvalidArgumentError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? 'error')}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new InvalidArgumentError(`cannot read ${path}: not a regular file`);
    if (st.size > READ_LIMIT) {
      throw new MessageTooLargeError(`the message is too large: ${path} has ${st.size} bytes, at most 1,000,000 (1 MB)`);
    }
    return decode(new Uint8Array(await handle.readFile()), path);
  } finally {
    await handle.close();
  }
}

/** The text to send: `text`, or standard input for `-`, or the file of `--file`; never empty. */
export async function readMessageText(text: string | undefined, file: string | undefined, stdin: NodeJS.ReadableStream | undefined): Promise<string> {
  const message = await readText(text, file, stdin);
  // An empty or blank message is almost always a mistake (an empty variable, review ux-2026-12 F23).
  if (message.trim() === '') throw new InvalidArgumentError('the message is empty: nothing was sent');
  return message;
}

async function readText(text: string | undefined, file: string | undefined, stdin: NodeJS.ReadableStream | undefined): Promise<string> {
  if (file !== undefined) {
    if (text !== undefined) throw new InvalidArgumentError('give the message text or --file, not both');
    return readFileText(file);
  }
  if (text === undefined) throw new InvalidArgumentError('no message text: give it as an argument, "-" to read standard input, or --file PATH');
  if (text !== '-') return text;
  if (!stdin) throw new InvalidArgumentError('no standard input to read the message from');
  if ((stdin as { isTTY?: boolean }).isTTY) process.stderr.write('(type the message, then Ctrl-D on a line of its own)\n');
  return decode(await readStream(stdin, 'standard input'), 'standard input');
}
