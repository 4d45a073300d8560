import type { Job } from 'bullmq';
import type { ChunkWork } from '../../src/operations/chunk-work.js';
import { chunkJobId, chunkJobIds, chunksPerJob, type PlannedChunk } from '../../src/domain/chunk-plan.js';
import { findOperation } from '../../src/operations/operation-records.js';
import { plain } from '../../src/db/statements.js';
import { createLogger } from '../../src/logger.js';
import type { ChunkJob } from '../../src/contract/index.js';
import type { OperationView } from '../../src/read/operations.read.js';
import { type ChunkResult, createChunkProcessor } from '../../src/workers/chunk.processor.js';
import type { Harness } from './harness.js';

/** The outcomes of the chunks of several job runs, sorted: deliveries at once finish in any order. */
export function sortedOutcomes(runs: ChunkResult[][]): string[] {
  return runs
    .flat()
    .map((r) => r.outcome)
    .sort();
}

/**
 * Chunk jobs delivered by hand, for a harness started without workers: tests choose the order,
 * and what happens between a chunk's read and its write.
 */
export function chunksByHand(h: Harness) {
  const processChunk = createChunkProcessor({ db: h.service.db, logger: createLogger('silent') });

  async function chunksTotal(operationId: string): Promise<number> {
    return (await findOperation(h.service.db, operationId))?.chunks_total ?? 0;
  }

  async function jobById(id: string): Promise<Job<ChunkJob>> {
    const job = await h.service.queues.chunks.getJob(id);
    if (!job) throw new Error(`chunk job ${id} is not on the queue`);
    return job as Job<ChunkJob>;
  }

  /** The job that carries the chunk, with its items (as a publisher of a batch in memory enqueues it). */
  async function chunkJob(operationId: string, chunkIndex: number): Promise<Job<ChunkJob & PlannedChunk<unknown>>> {
    const job = await jobById(chunkJobId(operationId, chunkIndex, chunksPerJob(await chunksTotal(operationId))));
    if (job.data.items === undefined) throw new Error(`chunk job ${job.id} names its range only`);
    return job as Job<ChunkJob & PlannedChunk<unknown>>;
  }

  /** Applies every chunk job of the operation, in index order, and returns its final view. */
  async function runAll(operationId: string): Promise<OperationView> {
    for (const id of chunkJobIds(operationId, await chunksTotal(operationId))) await processChunk(await jobById(id));
    return h.waitForOperation(operationId, 5_000);
  }

  return { processChunk, chunkJob, runAll };
}

/**
 * The work with `statement` run right after its reads, as another writer would between the
 * chunk's read and its write. The statement is part of the transaction that rolls back, so the
 * fallback finds the state as it was; `fallbackRuns` shows whether it ran.
 */
export function movedAfterRead(work: ChunkWork, statement: string): { work: ChunkWork; fallbackRuns: () => number } {
  let runs = 0;
  return {
    fallbackRuns: () => runs,
    work: {
      reads: [...work.reads, plain(statement)],
      decide: (rows) => work.decide(rows),
      fallback:
        work.fallback &&
        (() => {
          const fallback = work.fallback!();
          return {
            ...fallback,
            decide(rows) {
              runs += 1;
              return fallback.decide(rows);
            },
          };
        }),
    },
  };
}
