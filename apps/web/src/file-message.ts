/**
 * How a shared file is announced in a conversation: an ordinary end-to-end encrypted text message
 * that names the file id (the file itself is an encrypted age file on the relay, shared with the
 * recipient's devices: PROTOCOL.md §15). A CLI user reads the same line and runs the command in it.
 */
export interface FileRef {
  readonly id: string;
  readonly name: string;
  readonly size: number;
}

const LINE = /^\[file\] (.{1,255}) · (\d{1,15}) bytes · blindrelay file get ([A-Za-z0-9_-]{16,64})$/;

export function fileMessage(f: FileRef): string {
  // A name is shown, never interpreted: newlines would break the one-line form, so they go.
  const name = f.name.replace(/[\r\n\u2028\u2029]+/g, ' ').slice(0, 255) || 'file';
  return `[file] ${name} · ${f.size} bytes · blindrelay file get ${f.id}`;
}

export function parseFileMessage(text: string): FileRef | null {
  const m = LINE.exec(text);
  if (!m) return null;
  return { name: m[1] as string, size: Number(m[2]), id: m[3] as string };
}
