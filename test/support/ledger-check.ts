import { type Kysely, sql, type Transaction } from 'kysely';
import { expect } from 'vitest';
import { itemKeys, modelFaultFree, type ModelState, type PublishedOperation } from './ledger-model.js';
import { checkUsageLedger, checkUsageState, SHOWN } from './ledger-check-usage.js';
import { checkOutcomes } from './outcome-check.js';

export type { PublishedOperation } from './ledger-model.js';

export interface LedgerCheckOptions {
  /**
   * Also compare applied / unchanged / superseded, and every item's outcome and history row, with
   * the fault-free run (on by default). Leave it off only where a test applies an operation out of
   * publication order on purpose (a failed operation retried late): the final state must still
   * match, but an item may then be `superseded` instead of `applied`.
   */
  exactCounts?: boolean;
  /** ARREARS_LOOKBACK_DAYS of the service under test (30 unless the test set another). */
  arrearsLookbackDays?: number;
}

export interface LedgerReport {
  operations: number;
  items: number;
  historyRows: number;
  rejections: number;
  superseded: number;
  members: number;
  coupons: number;
  packages: number;
  records: number;
}

const UPLOAD_SLICE = 50_000;

/**
 * The check every reliability test ends with, whatever its fault:
 * - every operation reached a final status, applied all its chunks and none failed; operations
 *   in the database that the test did not publish validly were refused at intake and applied nothing;
 * - every item of every operation has exactly one history row (sharing_history / coupon_history)
 *   or exactly one rejection (operation_rejections), and repeats of an applied key are `duplicate_item`;
 * - the operations' counters agree with those rows;
 * - member states, enterprise switches, coupon balances and holdings, packages, settled usage
 *   records with their lines (and the order they were settled in) equal those of a fault-free
 *   run, computed from the payloads by test/support/ledger-model.ts in publication (seq) order,
 *   and so do every item's outcome and history row (`outcome-check.ts`);
 * - the ledger's invariants hold, read straight from SQL: per package quantity = remaining +
 *   consumed = remaining + Σ its lines; per coupon face = balance + Σ unused + Σ spent, each spent
 *   equal to the lines drawing on it; per record quantity = Σ package lines + uncovered and
 *   priced = Σ coupon lines + pay-as-you-go, priced half-up from the amount (`checkUsageLedger`).
 */
export async function expectLedgerConsistent(
  db: Kysely<any>,
  published: readonly PublishedOperation[],
  options: LedgerCheckOptions = {},
): Promise<LedgerReport> {
  const unique = [...new Map(published.map((p) => [p.operationId, p])).values()];
  // One snapshot for every query, so a late write cannot make the parts disagree.
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (tx) => {
      const problems: string[] = [];
      const operations = await loadOperations(tx);
      const byId = new Map(operations.map((o) => [o.operation_id, o]));
      checkOperations(unique, operations, byId, problems);
      const items = await uploadItems(tx, unique);
      await checkItems(tx, problems);
      const totals = await checkCounters(tx, problems);
      const inOrder = unique
        .filter((p) => byId.has(p.operationId))
        .sort((a, b) => byId.get(a.operationId)!.seq - byId.get(b.operationId)!.seq);
      const model = modelFaultFree(inOrder, Date.now(), { arrearsLookbackDays: options.arrearsLookbackDays });
      await checkCounts(tx, unique, byId, model, options, problems);
      if (options.exactCounts ?? true)
        await checkOutcomes(
          tx,
          inOrder.map((p) => p.operationId),
          model,
          problems,
        );
      const state = await checkState(tx, model, problems);
      const usage = await checkUsageState(tx, model, problems);
      await checkUsageLedger(tx, problems);
      const shown =
        problems.length > SHOWN ? [...problems.slice(0, SHOWN), `… ${problems.length - SHOWN} more`] : problems;
      expect(shown, `ledger check:\n${shown.join('\n')}`).toEqual([]);
      return {
        operations: unique.length,
        items,
        historyRows: totals.history,
        rejections: totals.rejections,
        superseded: operations.reduce((n, o) => n + o.superseded, 0),
        ...state,
        ...usage,
      };
    });
}

interface OperationRow {
  operation_id: string;
  seq: number;
  kind: string;
  status: string;
  items_total: number;
  items_done: number;
  chunks_total: number | null;
  chunks_done: number;
  chunks_failed: number;
  applied: number;
  unchanged: number;
  superseded: number;
  rejected: number;
}

async function loadOperations(tx: Transaction<any>): Promise<OperationRow[]> {
  const { rows } = await sql<OperationRow>`
    SELECT operation_id, seq::int8 AS seq, kind, status, items_total, items_done, chunks_total, chunks_done, chunks_failed,
           applied, unchanged, superseded, rejected
    FROM operation_summaries`.execute(tx);
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

function checkOperations(
  published: readonly PublishedOperation[],
  operations: readonly OperationRow[],
  byId: ReadonlyMap<string, OperationRow>,
  problems: string[],
): void {
  const publishedIds = new Set(published.map((p) => p.operationId));
  for (const { operationId, payload } of published) {
    const row = byId.get(operationId);
    if (!row) {
      problems.push(`${operationId}: not recorded`);
      continue;
    }
    const itemsTotal = Math.max(itemKeys(payload).length, 1);
    const chunksTotal = Math.max(Math.ceil(itemKeys(payload).length / 100), 1);
    const seen = {
      status: row.status,
      items: [row.items_done, row.items_total],
      chunks: [row.chunks_done, row.chunks_failed, row.chunks_total],
      counted: row.applied + row.unchanged + row.superseded + row.rejected,
    };
    const wanted = {
      status: row.rejected > 0 ? 'completed_with_rejections' : 'completed',
      items: [itemsTotal, itemsTotal],
      chunks: [chunksTotal, 0, chunksTotal],
      counted: itemsTotal,
    };
    if (JSON.stringify(seen) !== JSON.stringify(wanted)) {
      problems.push(`${operationId}: ${JSON.stringify(seen)}, expected ${JSON.stringify(wanted)}`);
    }
  }
  for (const row of operations) {
    if (publishedIds.has(row.operation_id)) continue;
    // Only a payload refused at intake (raw queue) may be recorded without being published validly.
    if (row.status !== 'rejected' || row.items_total !== 0 || row.chunks_done !== 0) {
      problems.push(`${row.operation_id}: not published by the test, status ${row.status}, ${row.items_total} items`);
    }
  }
}

/** Puts (operation, position, key) of every published item in a temporary table for the SQL checks. */
async function uploadItems(tx: Transaction<any>, published: readonly PublishedOperation[]): Promise<number> {
  await sql`CREATE TEMP TABLE ledger_items (operation_id text NOT NULL, position int NOT NULL, key text NOT NULL,
            PRIMARY KEY (operation_id, position)) ON COMMIT DROP`.execute(tx);
  let ops: string[] = [];
  let positions: number[] = [];
  let keys: string[] = [];
  let total = 0;
  const flush = async () => {
    if (ops.length === 0) return;
    await sql`INSERT INTO ledger_items SELECT * FROM unnest(${ops}::text[], ${positions}::int[], ${keys}::text[])`.execute(
      tx,
    );
    total += ops.length;
    ops = [];
    positions = [];
    keys = [];
  };
  for (const { operationId, payload } of published) {
    const list = itemKeys(payload);
    for (let i = 0; i < list.length; i += 1) {
      ops.push(operationId);
      positions.push(i);
      keys.push(list[i]!);
      if (ops.length >= UPLOAD_SLICE) await flush();
    }
  }
  await flush();
  await sql`CREATE INDEX ON ledger_items (operation_id, key)`.execute(tx);
  await sql`ANALYZE ledger_items`.execute(tx);
  return total;
}

const HISTORY = sql`(SELECT operation_id, member_id AS key FROM sharing_history
                     UNION ALL SELECT operation_id, coalesce(member_id, coupon_id) FROM coupon_history
                     UNION ALL SELECT operation_id, package_id FROM package_history
                     UNION ALL SELECT operation_id, record_id FROM usage_history)`;
/** The item a rejection names: the package or record for those kinds, else the member, else the coupon. */
const REJECTED_KEY = sql`coalesce(r.package_id, r.record_id, r.member_id, r.coupon_id)`;

async function checkItems(tx: Transaction<any>, problems: string[]): Promise<void> {
  // A rejection for a position the operation does not have, or naming another member or coupon.
  const { rows: strayRejections } = await sql<{ operation_id: string; position: number; key: string; reason: string }>`
    SELECT r.operation_id, r.position, ${REJECTED_KEY} AS key, r.reason
    FROM operation_rejections r
    LEFT JOIN ledger_items i ON i.operation_id = r.operation_id AND i.position = r.position
    WHERE i.key IS DISTINCT FROM ${REJECTED_KEY}
    LIMIT ${SHOWN}`.execute(tx);
  for (const r of strayRejections)
    problems.push(`stray rejection ${r.operation_id}#${r.position} ${r.key} ${r.reason}`);

  // A history row for a member (or coupon) the operation does not name.
  const { rows: strayHistory } = await sql<{ operation_id: string; key: string }>`
    SELECT h.operation_id, h.key FROM ${HISTORY} h
    WHERE NOT EXISTS (SELECT 1 FROM ledger_items i WHERE i.operation_id = h.operation_id AND i.key = h.key)
    LIMIT ${SHOWN}`.execute(tx);
  for (const h of strayHistory) problems.push(`stray history row ${h.operation_id} ${h.key}`);

  // Per key of an operation named k times: history rows + rejections = k, at most one history
  // row, and when it was applied every other occurrence is a duplicate_item.
  const { rows: unaccounted } = await sql<{
    operation_id: string;
    key: string;
    k: number;
    h: number;
    r: number;
    d: number;
  }>`
    WITH items AS (SELECT operation_id, key, count(*)::int AS k FROM ledger_items GROUP BY 1, 2),
         hist AS (SELECT operation_id, key, count(*)::int AS h FROM ${HISTORY} x GROUP BY 1, 2),
         rej AS (SELECT i.operation_id, i.key, count(*)::int AS r, (count(*) FILTER (WHERE r.reason = 'duplicate_item'))::int AS d
                 FROM ledger_items i JOIN operation_rejections r ON r.operation_id = i.operation_id AND r.position = i.position
                 GROUP BY 1, 2)
    SELECT items.operation_id, items.key, k, coalesce(h, 0) AS h, coalesce(r, 0) AS r, coalesce(d, 0) AS d
    FROM items LEFT JOIN hist USING (operation_id, key) LEFT JOIN rej USING (operation_id, key)
    WHERE coalesce(h, 0) + coalesce(r, 0) <> k OR coalesce(h, 0) > 1 OR (coalesce(h, 0) = 1 AND coalesce(d, 0) <> k - 1)
    LIMIT ${SHOWN}`.execute(tx);
  for (const u of unaccounted) {
    problems.push(
      `${u.operation_id} ${u.key}: named ${u.k}×, ${u.h} history rows, ${u.r} rejections (${u.d} duplicate_item)`,
    );
  }
}

/** The operation's counters against its rows; one chunk row per chunk, all applied. */
async function checkCounters(
  tx: Transaction<any>,
  problems: string[],
): Promise<{ history: number; rejections: number }> {
  const { rows } = await sql<{
    operation_id: string;
    kind: string;
    done: number;
    rejected: number;
    history: number;
    rejections: number;
    chunks: number;
    chunks_total: number | null;
    applied_chunks: number;
  }>`
    WITH hist AS (SELECT operation_id, count(*)::int AS n FROM ${HISTORY} x GROUP BY 1),
         rej AS (SELECT operation_id, count(*)::int AS n FROM operation_rejections GROUP BY 1),
         chunks AS (SELECT operation_id, count(*)::int AS n, (count(*) FILTER (WHERE status = 'applied'))::int AS applied
                    FROM operation_chunks GROUP BY 1)
    SELECT o.operation_id, o.kind, o.applied + o.unchanged + o.superseded AS done, o.rejected,
           coalesce(hist.n, 0) AS history, coalesce(rej.n, 0) AS rejections,
           coalesce(chunks.n, 0) AS chunks, o.chunks_total, coalesce(chunks.applied, 0) AS applied_chunks
    FROM operation_summaries o
    LEFT JOIN hist USING (operation_id) LEFT JOIN rej USING (operation_id) LEFT JOIN chunks USING (operation_id)`.execute(
    tx,
  );
  let history = 0;
  let rejections = 0;
  for (const r of rows) {
    history += r.history;
    rejections += r.rejections;
    // The enterprise switch is one item with no history table of its own.
    const expectedHistory = r.kind === 'sharing.set-default' ? 0 : r.done;
    if (r.history !== expectedHistory || r.rejections !== r.rejected) {
      problems.push(
        `${r.operation_id}: counters say ${r.done} applied/unchanged/superseded and ${r.rejected} rejected, rows say ${r.history} and ${r.rejections}`,
      );
    }
    if (r.chunks !== (r.chunks_total ?? 0) || r.applied_chunks !== r.chunks) {
      problems.push(
        `${r.operation_id}: ${r.chunks} chunk rows (${r.applied_chunks} applied) for ${r.chunks_total} chunks`,
      );
    }
  }
  return { history, rejections };
}

async function checkCounts(
  tx: Transaction<any>,
  published: readonly PublishedOperation[],
  byId: ReadonlyMap<string, OperationRow>,
  model: ModelState,
  options: LedgerCheckOptions,
  problems: string[],
): Promise<void> {
  const { rows } = await sql<{ operation_id: string; reason: string; n: number }>`
    SELECT operation_id, reason, count(*)::int AS n FROM operation_rejections GROUP BY 1, 2 ORDER BY 1, 2`.execute(tx);
  const reasons = new Map<string, Record<string, number>>();
  for (const r of rows) reasons.set(r.operation_id, { ...reasons.get(r.operation_id), [r.reason]: r.n });
  for (const { operationId } of published) {
    const row = byId.get(operationId);
    const expected = model.counts.get(operationId);
    if (!row || !expected) continue;
    const seen = { rejectedByReason: sorted(reasons.get(operationId) ?? {}) } as Record<string, unknown>;
    const wanted = { rejectedByReason: sorted(expected.rejectedByReason) } as Record<string, unknown>;
    if (options.exactCounts ?? true) {
      Object.assign(seen, { applied: row.applied, unchanged: row.unchanged, superseded: row.superseded });
      Object.assign(wanted, { applied: expected.applied, unchanged: expected.unchanged, superseded: 0 });
    }
    if (JSON.stringify(seen) !== JSON.stringify(wanted)) {
      problems.push(`${operationId}: counts ${JSON.stringify(seen)}, a fault-free run gives ${JSON.stringify(wanted)}`);
    }
  }
}

const sorted = (record: Record<string, number>) =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));

async function checkState(
  tx: Transaction<any>,
  model: ModelState,
  problems: string[],
): Promise<{ members: number; coupons: number }> {
  const mismatch = (what: string, seen: unknown, wanted: unknown) => {
    if (JSON.stringify(seen) !== JSON.stringify(wanted))
      problems.push(`${what}: ${JSON.stringify(seen)}, fault-free ${JSON.stringify(wanted)}`);
  };
  const { rows: members } = await sql<{ member_id: string; enterprise_id: string | null; sharing_enabled: boolean }>`
    SELECT member_id, enterprise_id, sharing_enabled FROM members`.execute(tx);
  const inDb = new Map(
    members.map((m) => [m.member_id, { enterpriseId: m.enterprise_id, sharingEnabled: m.sharing_enabled }]),
  );
  for (const [memberId, member] of inDb) {
    mismatch(
      `member ${memberId}`,
      member,
      model.members.get(memberId) ?? { enterpriseId: null, sharingEnabled: false },
    );
  }
  for (const [memberId, member] of model.members) {
    if (!inDb.has(memberId) && member.enterpriseId !== null)
      problems.push(`member ${memberId}: missing, fault-free ${JSON.stringify(member)}`);
  }

  const { rows: enterprises } = await sql<{ enterprise_id: string; share_with_new_members: boolean }>`
    SELECT enterprise_id, share_with_new_members FROM enterprises`.execute(tx);
  for (const e of enterprises)
    mismatch(
      `enterprise ${e.enterprise_id}`,
      e.share_with_new_members,
      model.enterprises.get(e.enterprise_id) ?? false,
    );

  const { rows: coupons } = await sql<{
    coupon_id: string;
    enterprise_id: string;
    face: number;
    balance: number;
    taken_by: string | null;
    unused: number;
    spent: number;
    direct: number;
  }>`
    SELECT c.coupon_id, c.enterprise_id, c.face_value_cents::int8 AS face, c.balance_cents::int8 AS balance,
           c.allocation_operation_id AS taken_by, c.spent_cents::int8 AS direct,
           coalesce(sum(mc.unused_cents), 0)::int8 AS unused, coalesce(sum(mc.spent_cents), 0)::int8 AS spent
    FROM coupons c LEFT JOIN member_coupons mc USING (coupon_id) GROUP BY c.coupon_id`.execute(tx);
  mismatch('coupons', coupons.map((c) => c.coupon_id).sort(), [...model.coupons.keys()].sort());
  for (const c of coupons) {
    const wanted = model.coupons.get(c.coupon_id);
    mismatch(
      `coupon ${c.coupon_id}`,
      [c.enterprise_id, Number(c.face), Number(c.balance), c.taken_by, Number(c.direct)],
      wanted && [
        wanted.enterpriseId,
        wanted.faceValueCents,
        wanted.balanceCents,
        wanted.allocationOperationId,
        wanted.spentCents,
      ],
    );
    // The ledger: face value = master balance + members' unused + members' spent + spent from the balance.
    mismatch(
      `coupon ${c.coupon_id} ledger`,
      Number(c.face),
      Number(c.balance) + Number(c.unused) + Number(c.spent) + Number(c.direct),
    );
  }

  const { rows: holdings } = await sql<{
    key: string;
    allocated: number;
    revoked: number;
    spent: number;
    unused: number;
  }>`
    SELECT coupon_id || ' ' || member_id AS key, allocated_cents::int8 AS allocated, revoked_cents::int8 AS revoked,
           spent_cents::int8 AS spent, unused_cents::int8 AS unused
    FROM member_coupons`.execute(tx);
  mismatch('holdings', holdings.length, model.holdings.size);
  for (const h of holdings) {
    const wanted = model.holdings.get(h.key);
    mismatch(
      `holding ${h.key}`,
      [Number(h.allocated), Number(h.revoked), Number(h.spent), Number(h.unused)],
      wanted && [wanted.allocatedCents, wanted.revokedCents, wanted.spentCents, wanted.unusedCents],
    );
  }
  return { members: members.length, coupons: coupons.length };
}

/**
 * Publishes through a harness (read lazily: it is started in beforeAll) and remembers every
 * operation for the closing ledger check.
 */
export function ledgerPublisher(harness: () => { publish(body: Record<string, unknown>): Promise<string> }) {
  const published: PublishedOperation[] = [];
  return {
    published,
    async publish(payload: Record<string, unknown>): Promise<string> {
      const operationId = await harness().publish(payload);
      published.push({ operationId, payload });
      return operationId;
    },
  };
}
