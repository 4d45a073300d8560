import { SingleBar, Presets } from 'cli-progress';

export interface Progress {
  /** `total` null: not known yet (checking a file counts its lines as it goes). */
  start(label: string, total: number | null): void;
  update(value: number): void;
  /** Ends the phase with its final count, printed once. */
  stop(): void;
}

/**
 * A progress bar on a terminal; plain periodic lines when the output is a file or a pipe, so
 * logs of a migration job stay readable.
 */
export function createProgress(stream: NodeJS.WriteStream = process.stderr, intervalMs = 2_000): Progress {
  if (stream.isTTY) {
    let bar: SingleBar | null = null;
    return {
      start(label, total) {
        bar?.stop();
        const counts = total === null ? '{value}' : '{percentage}% | {value}/{total}';
        bar = new SingleBar(
          {
            format: `${label.padEnd(10)} ${total === null ? '' : '[{bar}] '}${counts} | {duration_formatted}${total === null ? '' : ' | eta {eta_formatted}'}`,
            stream,
            hideCursor: true,
          },
          Presets.shades_classic,
        );
        bar.start(total ?? 0, 0);
      },
      update: (value) => bar?.update(value),
      stop() {
        bar?.stop();
        bar = null;
      },
    };
  }
  let label = '';
  let total: number | null = null;
  let value = 0;
  let lastAt = 0;
  let lastLine = '';
  const line = () =>
    total === null
      ? `${label}: ${value}`
      : `${label}: ${value}/${total}${total ? ` (${Math.floor((value / total) * 100)}%)` : ''}`;
  const print = () => {
    lastAt = Date.now();
    lastLine = line();
    stream.write(`${new Date().toISOString()} ${lastLine}\n`);
  };
  return {
    start(nextLabel, nextTotal) {
      label = nextLabel;
      total = nextTotal;
      value = 0;
      lastAt = 0;
      lastLine = '';
    },
    update(next) {
      value = next;
      if (Date.now() - lastAt >= intervalMs && line() !== lastLine) print();
    },
    stop() {
      if (line() !== lastLine) print();
    },
  };
}
