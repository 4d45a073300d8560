import { type Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config.js';
import { createDatabase } from '../db/database.js';
import { pruneHistory } from '../db/history-partitions.js';
import { parseMonth } from '../domain/history-months.js';
import { resolveClientEnv } from '../runtime/runtime-mode.js';

const month = (value: string): string => {
  const parsed = parseMonth(value);
  if (parsed === null) throw new InvalidArgumentError('expected a month, e.g. 2026-01');
  return parsed;
};

async function pruneCommand(flags: { before: string; json?: boolean }): Promise<number> {
  const config = loadConfig(await resolveClientEnv(process.env));
  const db = createDatabase({ connectionString: config.databaseUrl, poolSize: 1, onError: () => {} });
  try {
    const outcome = await pruneHistory(db, flags.before);
    if (flags.json) process.stdout.write(`${JSON.stringify(outcome)}\n`);
    if (outcome.result === 'unfinished_operations') {
      if (!flags.json)
        process.stderr.write(
          `refused: ${outcome.operations} operation(s) recorded before ${flags.before.slice(0, 7)} are still queued or running; their history is still being written\n`,
        );
      return 1;
    }
    if (!flags.json)
      process.stdout.write(
        outcome.dropped.length === 0
          ? `no history partition before ${flags.before.slice(0, 7)}\n`
          : `dropped ${outcome.dropped.length} partition(s): ${outcome.dropped.join(', ')}\n`,
      );
    return 0;
  } finally {
    await db.destroy();
  }
}

/** `benefits history prune --before 2026-01`: drops whole months of history. */
export function registerHistoryCommands(program: Command, run: (code: number) => void): void {
  program
    .command('history')
    .description('manage the history tables (partitioned by the month each operation was recorded in)')
    .command('prune')
    .description('drop every month of history before --before, in O(1) per month; operations and their counts stay')
    .requiredOption('--before <month>', 'first month to keep, e.g. 2026-01', month)
    .option('--json', 'print JSON')
    .action(async (flags: { before: string; json?: boolean }) => run(await pruneCommand(flags)));
}
