import pg from 'pg';
import { OPERATION_FINISHED_CHANNEL } from '../operations/operation-records.js';

const RECONNECT_MS = 1_000;

/**
 * Hears operations reach a final status (`pg_notify` on OPERATION_FINISHED_CHANNEL, sent with the
 * status change), so that a chunk waiting for an earlier operation goes on the moment it
 * finishes instead of on its next look. One connection per process, outside the pool; while it is
 * down, waits simply run out their time.
 */
export function createFinishListener(connectionString: string, onError: (error: Error) => void) {
  const waiters = new Map<string, Set<() => void>>();
  let client: pg.Client | null = null;
  let closing = false;
  let retry: NodeJS.Timeout | null = null;

  async function connect(): Promise<void> {
    const next = new pg.Client({ connectionString });
    next.on('error', onError);
    next.on('notification', ({ payload }) => {
      for (const wake of waiters.get(payload ?? '') ?? []) wake();
    });
    next.on('end', () => {
      if (client === next) client = null;
      if (!closing) retry ??= setTimeout(reconnect, RECONNECT_MS);
    });
    await next.connect();
    await next.query(`LISTEN ${OPERATION_FINISHED_CHANNEL}`);
    client = next;
  }

  function reconnect(): void {
    retry = null;
    connect().catch((error: Error) => {
      onError(error);
      if (!closing) retry ??= setTimeout(reconnect, RECONNECT_MS);
    });
  }

  reconnect();

  return {
    /**
     * Resolves true once none of `operationIds` is unfinished (as `unfinished` reads them, asked
     * after listening so that no finish falls between the two), false after `timeoutMs`.
     */
    async waitFor(
      operationIds: readonly string[],
      timeoutMs: number,
      unfinished: (ids: readonly string[]) => Promise<string[]>,
    ): Promise<boolean> {
      if (client === null) return false;
      const pending = new Set(operationIds);
      let resolve!: (done: boolean) => void;
      const done = new Promise<boolean>((r) => (resolve = r));
      const wakers = new Map<string, () => void>();
      for (const id of operationIds) {
        const wake = () => {
          pending.delete(id);
          if (pending.size === 0) resolve(true);
        };
        wakers.set(id, wake);
        if (!waiters.has(id)) waiters.set(id, new Set());
        waiters.get(id)!.add(wake);
      }
      const timer = setTimeout(() => resolve(false), timeoutMs);
      try {
        const stillUnfinished = new Set(await unfinished(operationIds));
        for (const id of operationIds) if (!stillUnfinished.has(id)) wakers.get(id)!();
        return await done;
      } finally {
        clearTimeout(timer);
        for (const [id, wake] of wakers) {
          const set = waiters.get(id);
          set?.delete(wake);
          if (set?.size === 0) waiters.delete(id);
        }
      }
    },

    async close(): Promise<void> {
      closing = true;
      if (retry) clearTimeout(retry);
      await client?.end();
    },
  };
}

export type FinishListener = ReturnType<typeof createFinishListener>;
