import pg from 'pg';
import { pollUntil } from './processes.js';

export interface HeldRowLock {
  /** Resolves once a transaction of the service waits on the lock: its chunk is mid-flight. */
  untilBlocking(timeoutMs?: number): Promise<void>;
  /** Commits the holding transaction: the blocked chunk goes on. */
  release(): Promise<void>;
  /** Closes the connection, whatever happened. */
  end(): Promise<void>;
}

/**
 * Holds the row lock of one member in a transaction of the test's own, so the chunk that writes
 * that member stays inside its transaction for as long as the test needs it there.
 */
export async function holdMemberLock(databaseUrl: string, memberId: string): Promise<HeldRowLock> {
  const lock = new pg.Client({ connectionString: databaseUrl, application_name: 'test-row-lock' });
  lock.on('error', () => {}); // dropping the database at the end terminates it
  await lock.connect();
  const {
    rows: [self],
  } = await lock.query('SELECT pg_backend_pid() AS pid');
  await lock.query('BEGIN');
  await lock.query('SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE', [memberId]);
  return {
    async untilBlocking(timeoutMs = 90_000) {
      await pollUntil(
        'a chunk waiting on the held row lock',
        async () => {
          const { rows } = await lock.query(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
            [self.pid],
          );
          return rows[0].n > 0 ? true : undefined;
        },
        { timeoutMs, intervalMs: 20 },
      );
    },
    release: async () => void (await lock.query('COMMIT')),
    end: () => lock.end().catch(() => {}),
  };
}
