/**
 * Output conventions of the `blindrelay` command: human text by default; with `--json` exactly one
 * JSON object on stdout (JSON lines for `receive`). Errors: one line on stderr, or
 * `{"error": {"code", "message"}}` on stdout with --json; never a stack trace for expected errors
 * (set BLINDRELAY_DEBUG=1 to see one for unexpected ones).
 */
import { errorInfo } from '@blindrelay/client';

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

/** Print an error the way the contract says; returns the exit code. */
export function reportError(e: unknown, json: boolean, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  const info = errorInfo(e);
  if (json) out.write(`${JSON.stringify({ error: { code: info.code, message: info.message } })}\n`);
  else err.write(`blindrelay: ${info.message}${info.expected ? '' : ` (${info.code})`}\n`);
  if (!info.expected && process.env.BLINDRELAY_DEBUG) err.write(`${(e as Error)?.stack ?? String(e)}\n`);
  return 1;
}
