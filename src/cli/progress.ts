import { SingleBar, Presets } from 'cli-progress';

export interface Progress {
  start(label: string, total: number): void;
  update(value: number): void;
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
        bar = new SingleBar(
          {
            format: `${label.padEnd(10)} [{bar}] {percentage}% | {value}/{total} | {duration_formatted} | eta {eta_formatted}`,
            stream,
            hideCursor: true,
          },
          Presets.shades_classic,
        );
        bar.start(total, 0);
      },
      update: (value) => bar?.update(value),
      stop() {
        bar?.stop();
        bar = null;
      },
    };
  }
  let label = '';
  let total = 0;
  let last = 0;
  let value = 0;
  const print = () =>
    stream.write(
      `${new Date().toISOString()} ${label}: ${value}/${total}${total ? ` (${Math.floor((value / total) * 100)}%)` : ''}\n`,
    );
  return {
    start(nextLabel, nextTotal) {
      label = nextLabel;
      total = nextTotal;
      value = 0;
      last = 0;
    },
    update(next) {
      value = next;
      if (Date.now() - last >= intervalMs) {
        last = Date.now();
        print();
      }
    },
    stop() {
      print();
    },
  };
}
