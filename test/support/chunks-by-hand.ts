import type { Job } from 'bullmq';
import type { ChunkWork, ReadRows } from '../../src/db/chunk-transaction.js';
import { findOperation } from '../../src/db/operations.repository.js';
import { createLogger } from '../../src/logger.js';
import type { ChunkJob } from '../../src/producers/contract.js';
import type { OperationView } from '../../src/http/operation-view.js';
import { createChunkProcessor } from '../../src/workers/chunk.processor.js';
import type { Harness } from './harness.js';

/**
 * Chunk jobs delivered by hand, for a harness started without workers: tests choose the order,
 * and what happens between a chunk's read and its write.
 */
export function chunksByHand(h: Harness) {
  const processChunk = createChunkProcessor({ db: h.service.db, logger: createLogger('silent') });

  async function chunkJob(operationId: string, chunkIndex: number): Promise<Job<ChunkJob>> {
    const job = await h.service.queues.chunks.getJob(`${operationId}-chunk-${chunkIndex}`);
    if (!job) throw new Error(`chunk ${chunkIndex} of ${operationId} is not on the queue`);
    return job as Job<ChunkJob>;
  }

  /** Applies every chunk of the operation, in index order, and returns its final view. */
  async function runAll(operationId: string): Promise<OperationView> {
    const operation = await findOperation(h.service.db, operationId);
    for (let i = 0; i < (operation?.chunks_total ?? 0); i += 1) await processChunk(await chunkJob(operationId, i));
    return h.waitForOperation(operationId, 5_000);
  }

  return { chunkJob, runAll };
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
      reads: [...work.reads, { text: statement }],
      decide: (rows: ReadRows) => work.decide(rows),
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
