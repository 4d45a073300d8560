import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../support/harness.js';
import { expectLedgerConsistent, ledgerPublisher } from '../support/ledger-check.js';
import { serviceEnv, spawnService, stopChildren } from '../support/processes.js';
import { waitForFinal } from '../support/progress.js';

// A fresh `members` table filled from empty: the worker's connections run the chunk statements
// many times while the table is tiny (Postgres then keeps a generic plan for each), and it grows
// by tens of thousands afterwards. No chunk may read the whole table. This machine's Postgres runs
// without autovacuum: nothing analyzes the table behind the service's back.
let h: Harness;
const { published, publish } = ledgerPublisher(() => h);
beforeAll(async () => {
  h = await startHarness('plans', { workers: false });
});
afterAll(async () => {
  await stopChildren();
  await h?.close();
});

/** Sequential scans of `members` so far; the worker's backends report theirs when they end. */
async function membersSeqScans(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT seq_scan::int AS n FROM pg_stat_user_tables WHERE relname = 'members'`.execute(h.service.db);
  return rows[0]!.n;
}

describe('plans made while a table was small', () => {
  it('never scan members whole once it has grown: no sequential scan during a 50,000-member sharing.set', async () => {
    // Two connections, so each runs every statement many times while the table is tiny.
    const worker = spawnService('worker', serviceEnv(h.config, { WORKER_CONCURRENCY: '2', PG_POOL_SIZE: '2' }));
    await worker.ready();
    const small = Array.from({ length: 24 }, (_, i) => memberIds(`tiny-${i}`, 5));
    for (const ids of small) {
      const operationId = await publish({ kind: 'members.associate', enterpriseId: 'E-plans', memberIds: ids });
      await waitForFinal(h.service.db, [operationId]);
      await waitForFinal(h.service.db, [
        await publish({ kind: 'sharing.set', enterpriseId: 'E-plans', enabled: true, memberIds: ids }),
      ]);
    }
    const large = memberIds('large', 50_000);
    await waitForFinal(h.service.db, [
      await publish({ kind: 'members.associate', enterpriseId: 'E-plans', memberIds: large }),
    ]);

    const before = await membersSeqScans();
    const sharing = await publish({ kind: 'sharing.set', enterpriseId: 'E-plans', enabled: true, memberIds: large });
    const [done] = await waitForFinal(h.service.db, [sharing], 180_000);
    expect(done!.status).toBe('completed');
    // Ending the worker ends its connections, and each reports its counts as it goes.
    await worker.stop();
    expect(await membersSeqScans()).toBe(before);
    await expectLedgerConsistent(h.service.db, published);
  }, 300_000);
});
