import type { Queue } from 'bullmq';
import { type Kysely, sql } from 'kysely';
import { chunkJobId, chunksPerJob } from '../domain/chunk-plan.js';
import { isFinal } from '../domain/operation-status.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { kindSpec } from '../kinds/index.js';
import {
  deleteExpiredItems,
  type StoredJob,
  storedJobs,
  unfinishedOperations,
} from '../operations/operation-items.sql.js';
import { isChunkRecorded, settleStatus } from '../operations/operation-records.js';
import { type ChunkJobTarget, enqueueChunkJobs, rangeJob } from '../producers/chunk-enqueuer.js';
import { promoteIfDelayed } from '../queue/promote.js';
import type { CompletionNotifier } from './completion-events.js';

/** Advisory lock of the reconciler: one process runs it at a time, the others skip their turn. */
const RECONCILER_LOCK = 72_410_022;
// Jobs whose state is asked at once; each is one round trip to the queue store.
const STATE_SLICE = 100;
// The retention deletes at most this many chunk jobs' items per statement, and per pass this many times.
const RETENTION_BATCH = 500;
const RETENTION_BATCHES = 20;

export interface ReconcilerSettings {
  /** How often each worker process tries to run a pass. */
  intervalMs: number;
  /** How long a chunk job may be missing from the queue before it counts as lost. */
  graceMs: number;
  /** Stored items of an operation final for longer than this are deleted. */
  itemRetentionDays: number;
}

export interface ReconcilerDeps extends ReconcilerSettings {
  db: Kysely<Database>;
  chunkQueue: Queue;
  chunkAttempts: number;
  logger: Logger;
  onOperationFinished?: CompletionNotifier;
  /** Counts chunks enqueued again, by kind (`/metrics`). */
  onReenqueued?: (kind: string, chunks: number) => void;
  onItemsDeleted?: (jobs: number) => void;
}

export interface ReconcilePass {
  operations: number;
  reenqueuedJobs: number;
  reenqueuedChunks: number;
  deletedItemJobs: number;
}

export interface Reconciler {
  /** One pass now, unless another process holds the lock (null then). */
  runOnce(): Promise<ReconcilePass | null>;
  /** Stops the timer and waits for a pass in progress. */
  close(): Promise<void>;
}

/**
 * Finds the chunks Redis lost and enqueues them again from Postgres: chunks of operations not
 * final that are neither recorded (applied, or given up) nor in the queue in any state, and were
 * seen missing for the grace time on passes of this process (a job being added by its publisher
 * right now is not lost). It never enqueues a recorded chunk or one whose job exists, and a job it
 * adds has the id the publisher would have given it. Ordered operations keep their order: only
 * the first job with an unrecorded chunk goes at once, the others wait for their handover, and a
 * job whose predecessor finished while it was being added is promoted. It also settles an
 * operation whose chunks are all recorded (its last worker died before settling it), and deletes
 * the items of operations final for ITEM_RETENTION_DAYS.
 */
export function startReconciler(deps: ReconcilerDeps): Reconciler {
  const { db, chunkQueue: queue, logger } = deps;
  const log = logger.child({ component: 'reconciler' });
  /** When this process first saw each job missing, on consecutive passes. */
  const missingSince = new Map<string, number>();
  let lastPass = 0;

  async function reconcileOperation(
    op: { operationId: string; kind: string; chunksTotal: number },
    now: number,
    seen: Set<string>,
  ): Promise<StoredJob[]> {
    const jobs = await storedJobs(db, op.operationId);
    // None stored: published before items were kept; only its publisher can finish it.
    if (jobs.length === 0) return [];
    const open = jobs.filter((job) => job.recorded < job.chunkCount);
    if (open.length === 0) {
      const status = await settleStatus(db, op.operationId);
      if (status !== null && isFinal(status)) await deps.onOperationFinished?.(op.operationId);
      return [];
    }
    const perJob = chunksPerJob(op.chunksTotal);
    const idOf = (job: StoredJob) => chunkJobId(op.operationId, job.chunkIndex, perJob);
    const states: string[] = [];
    for (let start = 0; start < open.length; start += STATE_SLICE)
      states.push(
        ...(await Promise.all(open.slice(start, start + STATE_SLICE).map((j) => queue.getJobState(idOf(j))))),
      );
    const lost = open.filter((job, i) => {
      if (states[i] !== 'unknown') return false;
      const id = idOf(job);
      seen.add(id);
      const since = missingSince.get(id) ?? now;
      missingSince.set(id, since);
      return now - since >= deps.graceMs;
    });
    if (lost.length === 0) return [];
    const target: ChunkJobTarget = { ...op, ordered: kindSpec(op.kind)?.ordered ?? false };
    // Every chunk before the first open job is recorded: it goes at once, the rest in order after it.
    const first = open[0]!.chunkIndex;
    const delayed = (chunkIndex: number) => target.ordered && chunkIndex > first;
    await enqueueChunkJobs(
      queue,
      target,
      lost.map((job) => rangeJob(target, job.chunkIndex, job.itemCount)),
      { attempts: deps.chunkAttempts, delayed },
    );
    for (const job of lost) {
      missingSince.delete(idOf(job));
      // Its predecessor may have handed over while it was missing: then nobody else will.
      if (delayed(job.chunkIndex) && (await isChunkRecorded(db, op.operationId, job.chunkIndex - 1)))
        await promoteIfDelayed(queue, idOf(job));
    }
    return lost;
  }

  async function pass(): Promise<ReconcilePass> {
    const now = Date.now();
    // Observations from passes long ago (another process held the lock since) prove nothing now.
    if (now - lastPass > 3 * deps.intervalMs) missingSince.clear();
    lastPass = now;
    const seen = new Set<string>();
    const result: ReconcilePass = { operations: 0, reenqueuedJobs: 0, reenqueuedChunks: 0, deletedItemJobs: 0 };
    for (const op of await unfinishedOperations(db, deps.graceMs)) {
      result.operations += 1;
      const lost = await reconcileOperation(op, now, seen);
      if (lost.length === 0) continue;
      const chunks = lost.reduce((n, job) => n + job.chunkCount - job.recorded, 0);
      result.reenqueuedJobs += lost.length;
      result.reenqueuedChunks += chunks;
      deps.onReenqueued?.(op.kind, chunks);
      log.warn(
        {
          operationId: op.operationId,
          kind: op.kind,
          jobs: lost.length,
          chunks,
          firstChunks: lost.slice(0, 20).map((job) => job.chunkIndex),
        },
        'chunk jobs missing from the queue enqueued again from Postgres',
      );
    }
    for (const id of missingSince.keys()) if (!seen.has(id)) missingSince.delete(id);
    for (let batch = 0; batch < RETENTION_BATCHES; batch += 1) {
      const deleted = await deleteExpiredItems(db, deps.itemRetentionDays, RETENTION_BATCH);
      result.deletedItemJobs += deleted;
      if (deleted < RETENTION_BATCH) break;
    }
    if (result.deletedItemJobs > 0) {
      deps.onItemsDeleted?.(result.deletedItemJobs);
      log.info({ jobs: result.deletedItemJobs, days: deps.itemRetentionDays }, 'stored items past retention deleted');
    }
    return result;
  }

  const runOnce = () =>
    db.transaction().execute(async (tx) => {
      const { rows } = await sql<{ locked: boolean }>`
        SELECT pg_try_advisory_xact_lock(${sql.lit(RECONCILER_LOCK)}) AS locked`.execute(tx);
      return rows[0]?.locked ? pass() : null;
    });

  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => {
      running = runOnce()
        .catch((error: unknown) => log.error({ err: error }, 'reconciler pass failed'))
        .finally(schedule);
    }, deps.intervalMs);
  };
  schedule();
  return {
    runOnce,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
