/**
 * A one-line progress bar on a terminal (stderr), redrawn at most every 100 ms:
 *   `upload report.pdf  [██████████░░░░░░░░░░]  52%  260.0/500.0 MiB  310.4 MiB/s`
 * Nothing is drawn when the stream is not a TTY or with --json (scripts get clean output).
 */
export interface ProgressBar {
  update(done: number, total: number): void;
  /** Draw the final state and end the line. */
  finish(): void;
}

const WIDTH = 24;
const MiB = 1024 * 1024;

export function progressBar(stream: NodeJS.WritableStream & { isTTY?: boolean }, label: string, enabled: boolean): ProgressBar {
  if (!enabled || !stream.isTTY) return { update: () => {}, finish: () => {} };
  const started = Date.now();
  let last = 0;
  let drawn = false;
  let state = { done: 0, total: 0 };
  const draw = () => {
    const { done, total } = state;
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * WIDTH);
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    const line = `${label}  [${'█'.repeat(filled)}${'░'.repeat(WIDTH - filled)}]  ${String(Math.floor(ratio * 100)).padStart(3)}%  ${(done / MiB).toFixed(1)}/${(total / MiB).toFixed(1)} MiB  ${(done / MiB / seconds).toFixed(1)} MiB/s`;
    stream.write(`\r\u001b[2K${line}`);
    drawn = true;
  };
  return {
    update(done, total) {
      state = { done, total };
      const now = Date.now();
      if (now - last >= 100) {
        last = now;
        draw();
      }
    },
    finish() {
      if (!drawn && state.total === 0) return;
      draw();
      stream.write('\n');
    },
  };
}
