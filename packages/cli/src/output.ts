/**
 * Output conventions of the `blindrelay` command: human text by default; with `--json` exactly one
 * JSON object on stdout (JSON lines for `receive`). Errors: one line on stderr, or
 * `{"error": {"code", "message"}}` on stdout with --json; never a stack trace for expected errors
 * (set BLINDRELAY_DEBUG=1 to see one for unexpected ones).
 */
import { errorInfo } from '@blindrelay/client/errors';

export interface Output {
  readonly json: boolean;
  /** A JSON value (with --json) or human lines. */
  result(json: unknown, human: string | string[]): void;
  /** One JSON line (with --json) or one human line. */
  line(json: unknown, human: string): void;
  /** Human-only information on stderr (warnings, progress). */
  note(text: string): void;
}

export function createOutput(json: boolean, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Output {
  return {
    json,
    result(value, human) {
      if (json) out.write(`${JSON.stringify(value)}\n`);
      else out.write(`${(Array.isArray(human) ? human : [human]).join('\n')}\n`);
    },
    line(value, human) {
      out.write(json ? `${JSON.stringify(value)}\n` : `${human}\n`);
    },
    note(text) {
      err.write(`${text}\n`);
    },
  };
}

/**
 * Text as one inert terminal line: control characters (C0 incl. newlines, DEL, C1 — so no ANSI/OSC
 * escape sequences), line and paragraph separators, bidi controls and invisible format characters
 * are shown as \u{…} escapes, so a sender cannot forge extra lines or rewrite the screen. Left as
 * they are (review ux-2026-12 F20): the zero-width joiner and non-joiner, which join emoji
 * sequences (👨‍👩‍👧) and shape scripts, and tag characters inside a flag sequence (🏴 + tags + cancel tag,
 * Unicode TS #51 §2.8); tag characters anywhere else are escaped.
 */
export function displayText(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
    /\u{1f3f4}[\u{e0020}-\u{e007e}]{1,32}\u{e007f}|[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff\u{e0000}-\u{e007f}]/gu,
    (c) => (c.length > 2 ? c : `\\u{${(c.codePointAt(0) as number).toString(16)}}`),
  );
}

/**
 * Message text for a terminal: like displayText, but a multi-line message prints on several lines,
 * each line after the first indented by `indent` (so no line of a message can pass for a line of
 * its own: those start at the first column). CR and every other control stay escaped.
 */
export function displayMessage(text: string, indent = '    '): string {
  return text
    .split('\n')
    .map((line) => displayText(line))
    .join(`\n${indent}`);
}

/** Print an error the way the contract says; returns the exit code. */
export function reportError(e: unknown, json: boolean, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  const info = errorInfo(e);
  if (json) out.write(`${JSON.stringify({ error: { code: info.code, message: info.message } })}\n`);
  // Messages can carry relay-supplied text: printed inert, like message text.
  else err.write(`blindrelay: ${displayText(info.message)}${info.expected ? '' : ` (${info.code})`}\n`);
  if (!info.expected && process.env.BLINDRELAY_DEBUG) err.write(`${(e as Error)?.stack ?? String(e)}\n`);
  return 1;
}
